"""The Prefect automations this project ships, as data: what each one watches and what it does.

``cwh alerts apply`` turns these rules into Prefect automations (one per rule, found again
by name, so applying twice changes nothing) and the tests compare what the server holds
with them. Every rule but the stale-run one notifies through the one notification block the
operator names; the stale-run rule is Prefect's documented recipe for runs whose process
died: after a run's heartbeat, another heartbeat or a final state must follow within a
window, else the run is set CRASHED, which also frees its deployment concurrency slot (a
``limit: 1, CANCEL_NEW`` deployment would otherwise cancel every later run). The crash is
then notified by the failed-runs rule and reported by the pipeline-health check.

The window is three heartbeats: :data:`HEARTBEAT_SECONDS` is what ``cwh serve`` and the
documented worker set, so a live run misses two heartbeats before it could be judged dead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cwh.health.rules import (
    DEADLETTERS_EVENT,
    DEADLETTERS_RESOURCE,
    PIPELINE_RESOURCE_PREFIX,
    UNHEALTHY_EVENT,
)
from cwh.messages import Language, text

HEARTBEAT_SECONDS = 60
"""Seconds between flow-run heartbeats in the serving and worker processes."""
MISSED_HEARTBEATS = 3
"""A run is stale after this many heartbeat periods without a sign of life."""
STUCK_EVENT = "cwh.workers.stuck"
DRIFT_EVENT = "cwh.schedule.drift"
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
FAILED_RUN_EVENTS = (
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.TimedOut",
)
FINAL_RUN_EVENTS = (
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.TimedOut",
)
REPEAT_NOTICE_SECONDS = 3600
"""A problem that persists is notified again at most this often (per resource)."""

Posture = Literal["Reactive", "Proactive"]


@dataclass(frozen=True)
class Notice:
    """What the notification says (Prefect templates such as ``{{ event.resource.id }}``)."""

    subject: str
    body: str


@dataclass(frozen=True)
class AlertRule:
    """One automation: an event trigger and its actions."""

    name: str
    description: str
    expect: tuple[str, ...]
    match: Mapping[str, tuple[str, ...]]
    match_related: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    for_each: tuple[str, ...] = ("prefect.resource.id",)
    posture: Posture = "Reactive"
    threshold: int = 1
    within_seconds: int = 0
    notice: Notice | None = None
    """Send this through the operator's notification block (None: no notification)."""
    crash_run: str | None = None
    """Set the run CRASHED with this message (None: leave the run alone)."""


def _notice(slug: str, language: Language) -> Notice:
    return Notice(
        subject=text(f"health.alert.{slug}.subject", language),
        body=text(f"health.alert.{slug}.body", language),
    )


def stale_run_window(heartbeat_seconds: int = HEARTBEAT_SECONDS) -> int:
    """Seconds without a heartbeat after which a run is judged dead."""
    return MISSED_HEARTBEATS * heartbeat_seconds


def alert_rules(
    deployments: Sequence[str],
    language: Language,
    *,
    stale_run_after: int | None = None,
) -> tuple[AlertRule, ...]:
    """Every automation of the project; ``deployments`` are the names whose failed runs are
    notified (those of ``prefect.yaml``), ``stale_run_after`` the stale-run window in seconds
    (default: :func:`stale_run_window`; at least 10, the server's smallest)."""
    window = max(10, stale_run_after if stale_run_after is not None else stale_run_window())
    names = tuple(sorted(set(deployments)))
    return (
        AlertRule(
            name="cwh-pipeline-unhealthy",
            description=text("health.alert.unhealthy.description", language),
            expect=(UNHEALTHY_EVENT,),
            match={"prefect.resource.id": (PIPELINE_RESOURCE_PREFIX + "*",)},
            within_seconds=REPEAT_NOTICE_SECONDS,
            notice=_notice("unhealthy", language),
        ),
        AlertRule(
            name="cwh-deadletters-rising",
            description=text("health.alert.deadletters.description", language),
            expect=(DEADLETTERS_EVENT,),
            match={"prefect.resource.id": (DEADLETTERS_RESOURCE,)},
            notice=_notice("deadletters", language),
        ),
        AlertRule(
            name="cwh-workers-stuck",
            description=text("health.alert.stuck.description", language),
            expect=(STUCK_EVENT,),
            match={"prefect.resource.id": ("cwh.workers.node.*",)},
            within_seconds=REPEAT_NOTICE_SECONDS,
            notice=_notice("stuck", language),
        ),
        AlertRule(
            name="cwh-schedule-drift",
            description=text("health.alert.drift.description", language),
            expect=(DRIFT_EVENT,),
            match={"prefect.resource.id": ("cwh.schedule.*",)},
            within_seconds=REPEAT_NOTICE_SECONDS,
            notice=_notice("drift", language),
        ),
        AlertRule(
            name="cwh-run-failed",
            description=text("health.alert.failed.description", language),
            expect=FAILED_RUN_EVENTS,
            match={"prefect.resource.id": ("prefect.flow-run.*",)},
            match_related={
                "prefect.resource.role": ("deployment",),
                "prefect.resource.name": names,
            },
            notice=_notice("failed", language),
        ),
        AlertRule(
            name="cwh-run-heartbeat-lost",
            description=text("health.alert.stale.description", language, seconds=window),
            after=(HEARTBEAT_EVENT,),
            expect=(HEARTBEAT_EVENT, *FINAL_RUN_EVENTS),
            match={"prefect.resource.id": ("prefect.flow-run.*",)},
            match_related={"prefect.resource.role": ("deployment",)},
            posture="Proactive",
            within_seconds=window,
            crash_run=text("health.alert.stale.crash", language, seconds=window),
        ),
    )
