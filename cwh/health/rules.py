"""The rules of the pipeline-health check: from what was observed now and at the last run, what
is wrong and which events say so.

Counters are totals read from the store (dead letters by reason, suspect executions, stored
executions) and from the live delivery's stats file; what happened *since the last run* is the
difference between two readings, so the check needs no time filter the store might not have
and counts every dead letter once, however late it was stamped. The first run has nothing to
compare with: it records the totals and raises no counting event.

Everything here is plain data so the rules are tested without Prefect or a store; the tasks
gather the readings and emit the events this module names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cwh.enrich import DeliveryStats
from cwh.health.state import Baseline, HealthState

UNHEALTHY_EVENT = "cwh.pipeline.unhealthy"
DEADLETTERS_EVENT = "cwh.deadletters.rising"
PIPELINE_RESOURCE_PREFIX = "cwh.pipeline."
DEADLETTERS_RESOURCE = "cwh.deadletters"
NEWEST_DOCUMENT_CHECK = "newest-document"
CRASHED_RUNS_CHECK = "crashed-runs"
DELIVERY_CHECK = "live-delivery"


@dataclass(frozen=True)
class CheckOutcome:
    """One checked system: its name (a resource id suffix), whether it is fine, and one line
    saying what was seen (endpoints redacted, never a secret)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class StoreFigures:
    """Totals read from the store that holds the executions."""

    store: str
    executions: int
    suspect: int
    dead_letters: Mapping[str, int]
    newest: float | None
    """Epoch seconds of the newest stored execution (None: the store is empty)."""


@dataclass(frozen=True)
class CrashedRun:
    """A run of a deployment that ended CRASHED since the last check."""

    flow_run_id: str
    name: str
    deployment: str
    message: str


@dataclass(frozen=True)
class HealthLimits:
    """When counts become a problem."""

    dead_letter_threshold: int = 10
    """Dead letters since the last run at or above which ``cwh.deadletters.rising`` fires."""
    stale_after_seconds: float | None = None
    """The newest document may be this old; None: its age is reported, not judged."""


@dataclass(frozen=True)
class HealthEvent:
    """A Prefect event to emit: name, resource labels (``prefect.resource.id`` first) and
    payload, all plain JSON values."""

    event: str
    resource: Mapping[str, str]
    payload: Mapping[str, object]


@dataclass(frozen=True)
class Counts:
    """What happened since the last run (None: unknown, e.g. the first run or no reading)."""

    seconds: float | None
    dead_letters: int | None
    dead_letters_by_reason: Mapping[str, int]
    previous_dead_letters: int | None
    suspect: int | None
    executions: int | None
    delivered_documents: int | None
    newest_age_seconds: float | None

    @property
    def executions_per_minute(self) -> float | None:
        if self.executions is None or not self.seconds:
            return None
        return self.executions * 60.0 / self.seconds


@dataclass(frozen=True)
class HealthReport:
    """The outcome of one run: every check, the counts, the events and the next state."""

    checked_at: float
    checks: Sequence[CheckOutcome]
    counts: Counts
    events: Sequence[HealthEvent]
    state: HealthState
    threshold: int
    store: str | None = None

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks) and not self.counts_alarm

    @property
    def counts_alarm(self) -> bool:
        return any(event.event == DEADLETTERS_EVENT for event in self.events)


def _delta(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """Per-key growth; a total that shrank (indices deleted, file reset) counts as zero."""
    grown = {key: value - before.get(key, 0) for key, value in now.items()}
    return {key: value for key, value in sorted(grown.items()) if value > 0}


def _grown(now: int, before: int | None) -> int | None:
    return None if before is None else max(0, now - before)


def delivery_check(stats: DeliveryStats | None, since: float | None) -> CheckOutcome | None:
    """The live delivery failed after its last success, and did so since the last run: it
    cannot store what fluentd hands it (fluentd keeps retrying; nothing is lost yet)."""
    if stats is None or stats.last_failure is None:
        return None
    failing = stats.last_failure > (stats.last_delivery or 0.0)
    recent = since is None or stats.last_failure > since
    if failing and recent:
        return CheckOutcome(DELIVERY_CHECK, False, stats.last_failure_reason or "delivery failed")
    return CheckOutcome(DELIVERY_CHECK, True, f"{stats.chunks} chunk(s) delivered")


def newest_document_check(
    newest: float | None, now: float, limits: HealthLimits
) -> CheckOutcome | None:
    """The newest stored execution is older than the limit (judged only with a limit)."""
    if limits.stale_after_seconds is None:
        return None
    if newest is None:
        return CheckOutcome(NEWEST_DOCUMENT_CHECK, False, "the store holds no execution")
    age = now - newest
    ok = age <= limits.stale_after_seconds
    return CheckOutcome(NEWEST_DOCUMENT_CHECK, ok, f"{age / 60:.0f} min old")


def crashed_runs_check(crashed: Sequence[CrashedRun]) -> CheckOutcome:
    if not crashed:
        return CheckOutcome(CRASHED_RUNS_CHECK, True, "none")
    shown = ", ".join(f"{run.deployment}/{run.name}" for run in crashed[:10])
    more = f" (+{len(crashed) - 10})" if len(crashed) > 10 else ""
    return CheckOutcome(CRASHED_RUNS_CHECK, False, f"{len(crashed)} crashed: {shown}{more}")


def _unhealthy_event(check: CheckOutcome, checked_at: float) -> HealthEvent:
    return HealthEvent(
        UNHEALTHY_EVENT,
        {"prefect.resource.id": PIPELINE_RESOURCE_PREFIX + check.name, "cwh.check": check.name},
        {"check": check.name, "detail": check.detail, "checked_at": checked_at},
    )


def assess(
    *,
    now: float,
    previous: HealthState | None,
    checks: Sequence[CheckOutcome],
    store: StoreFigures | None,
    delivery: DeliveryStats | None,
    crashed: Sequence[CrashedRun],
    limits: HealthLimits,
) -> HealthReport:
    """Judge one run's readings against the last run's; see the module docstring."""
    since = previous.checked_at if previous is not None else None
    base = previous.baseline if previous is not None else Baseline()
    all_checks = list(checks)
    reported = {check.name for check in all_checks}
    for extra in (
        delivery_check(delivery, since),
        newest_document_check(store.newest if store else None, now, limits) if store else None,
        crashed_runs_check(crashed),
    ):
        if extra is not None and extra.name not in reported:
            all_checks.append(extra)

    baseline = Baseline(
        executions=store.executions if store else base.executions,
        suspect=store.suspect if store else base.suspect,
        dead_letters=dict(store.dead_letters) if store else dict(base.dead_letters),
        delivered_documents=delivery.documents if delivery else base.delivered_documents,
        delivered_dead_letters=(
            dict(delivery.dead_letters) if delivery else dict(base.delivered_dead_letters)
        ),
    )
    by_reason: dict[str, int] = {}
    dead: int | None = None
    if previous is not None and store is not None and base.executions is not None:
        by_reason = _delta(store.dead_letters, base.dead_letters)
        dead = sum(by_reason.values())
    elif previous is not None and delivery is not None and base.delivered_documents is not None:
        # No store reading: the live delivery's own totals still say what it dead-lettered.
        by_reason = _delta(delivery.dead_letters, base.delivered_dead_letters)
        dead = sum(by_reason.values())
    counts = Counts(
        seconds=None if since is None else max(0.0, now - since),
        dead_letters=dead,
        dead_letters_by_reason=by_reason,
        previous_dead_letters=previous.dead_letters_since_previous if previous else None,
        suspect=_grown(store.suspect, base.suspect) if store and previous else None,
        executions=_grown(store.executions, base.executions) if store and previous else None,
        delivered_documents=(
            _grown(delivery.documents, base.delivered_documents) if delivery and previous else None
        ),
        newest_age_seconds=(now - store.newest) if store and store.newest is not None else None,
    )
    events = [_unhealthy_event(check, now) for check in all_checks if not check.ok]
    if dead is not None and dead >= max(1, limits.dead_letter_threshold):
        previous_dead = counts.previous_dead_letters
        events.append(
            HealthEvent(
                DEADLETTERS_EVENT,
                {"prefect.resource.id": DEADLETTERS_RESOURCE},
                {
                    "since_last_run": dead,
                    "by_reason": dict(by_reason),
                    "previous": previous_dead,
                    "rising": previous_dead is not None and dead > previous_dead,
                    "threshold": limits.dead_letter_threshold,
                    "seconds": counts.seconds,
                },
            )
        )
    state = HealthState(
        checked_at=now,
        baseline=baseline,
        dead_letters_since_previous=dead if dead is not None else 0,
    )
    return HealthReport(
        checked_at=now,
        checks=tuple(all_checks),
        counts=counts,
        events=tuple(events),
        state=state,
        threshold=limits.dead_letter_threshold,
        store=store.store if store else None,
    )
