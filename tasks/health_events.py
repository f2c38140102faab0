"""Emit the health check's events (``cwh.pipeline.unhealthy``, ``cwh.deadletters.rising``).

The events, their resources and payloads are decided by :func:`cwh.health.assess`; this task
only hands them to Prefect, related to the health check's own flow run so the UI links them.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.events import emit_event

from cwh.health import HealthEvent
from tasks.common import NOT_CACHED, run_logger


@task(name="health-emit-events", **NOT_CACHED)
def emit_health_events(events: Sequence[HealthEvent]) -> int:
    """Emit every event; the number emitted."""
    emitted = 0
    for item in events:
        sent = emit_event(
            event=item.event,
            resource=dict(item.resource),
            payload=dict(item.payload),
        )
        if sent is not None:
            emitted += 1
        run_logger(__name__).info("event %s %s", item.event, item.resource["prefect.resource.id"])
    return emitted
