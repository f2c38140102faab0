"""Prefect events of the worker pool: ``cwh.workers.stuck`` for busy nodes waiting too long.

A reconcile run emits one event per stuck node on every run until the node is freed, with
the resource ``cwh.workers.node.<hostname>`` (and ``cwh.node``) and the payload ``node``,
``servers`` (the user-server services keeping it) and ``since`` (when it was paused), so an
automation can tell an operator or a teacher. Which nodes are stuck is decided by
:func:`cwh.timetable.stuck_nodes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.events import emit_event

from cwh.timetable import STUCK_EVENT, StuckNode
from tasks.common import NOT_CACHED, run_logger


@task(name="report-stuck-workers", **NOT_CACHED)
def emit_stuck_nodes(stuck: Sequence[StuckNode]) -> int:
    """Emit ``cwh.workers.stuck`` for each node; returns how many events were emitted."""
    log = run_logger(__name__)
    emitted = 0
    for node in stuck:
        event = emit_event(event=STUCK_EVENT, resource=node.resource(), payload=node.payload())
        log.warning(
            "%s (%s) has waited since %s for %d user server(s) to end",
            node.node,
            node.address,
            node.since.isoformat(),
            len(node.servers),
        )
        emitted += event is not None
    return emitted
