"""What one reconcile run decides and reports, without touching anything.

The run's instant, its removal policy and the hub's culling variables; how a plan splits into
provider and swarm steps; and the typed report: per-node rows (before -> after, actions,
status, seconds), the nodes waiting for their users, blocked or failed. The words a person
reads of it are in :mod:`cwh.timetable.reconcile_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

from cwh.messages import Language, text
from cwh.timetable.model import Culling
from cwh.timetable.observed import ObservedNode
from cwh.timetable.previews import describe_action
from cwh.timetable.reason_text import plan_reason, reason_in
from cwh.timetable.reconcile_text import describe_node
from cwh.timetable.table import RunTarget, Timetable
from cwh.timetable.worker_plan import Action, ActionKind, Plan, RemovalPolicy

# JupyterHub's idle culler default (CULL_SERVER_IDLE_TIMEOUT) when culling is on without one.
DEFAULT_CULL_IDLE_SECONDS = 600

NodeStatus = Literal["unchanged", "planned", "done", "busy", "blocked", "skipped", "failed"]

_MACHINE_UP = (ActionKind.CREATE_VM, ActionKind.POWER_ON)
_MACHINE_DOWN = (ActionKind.DELETE_VM, ActionKind.POWER_OFF)


class AddressReason(TypedDict):
    """A node waiting (busy), blocked or left alone, and why."""

    address: str
    reason: str


class AddressError(TypedDict):
    """Something that failed: a node, the hub service or the ledger, and the error."""

    address: str
    error: str


class CullingChange(TypedDict):
    """The hub's culling variables as the run set them."""

    service: str
    env: dict[str, str]
    changed: bool


class StuckEntry(TypedDict):
    """A busy node paused for longer than the grace period (event ``cwh.workers.stuck``)."""

    address: str
    node: str
    servers: list[str]
    since: str


class NodeRow(TypedDict):
    """One worker address in the run's table."""

    address: str
    hostname: str
    wanted: str
    before: str
    after: str
    actions: str
    status: NodeStatus
    seconds: float
    note: str


class ReconcileReport(TypedDict):
    """What a reconcile run returns, publishes and ``cwh reconcile`` prints."""

    at: str
    timezone: str
    phase: str
    target_source: str
    note: str
    provider: str
    dry_run: bool
    converged: bool
    desired: dict[str, str]
    actions: list[dict[str, object]]
    nodes: list[NodeRow]
    busy: list[AddressReason]
    blocked: list[AddressReason]
    failed: list[AddressError]
    untouched: list[AddressReason]
    stuck: list[StuckEntry]
    servers_stopped: list[AddressReason]
    culling: CullingChange | None
    ledger: str | None
    durations: dict[str, float]


@dataclass(frozen=True)
class PoolObservation:
    """Everything one observation saw: per address, plus the swarm's host names."""

    nodes: Mapping[str, ObservedNode]
    hostnames: Mapping[str, str]
    seconds: float


@dataclass(frozen=True)
class NodeOutcome:
    """What happened to one worker address in the apply step."""

    address: str
    status: NodeStatus
    message: str = ""
    seconds: float = 0.0


@dataclass
class NodeSteps:
    """One address's actions, split by who carries them out (``hub``: JupyterHub)."""

    machine_up: list[Action] = field(default_factory=list)
    swarm: list[Action] = field(default_factory=list)
    machine_down: list[Action] = field(default_factory=list)
    hub: list[Action] = field(default_factory=list)


def split_actions(plan: Plan) -> dict[str, NodeSteps]:
    """Per address (plan order kept): provider steps before, swarm steps, provider steps after;
    servers to stop through the hub apart (they go before everything else)."""
    steps: dict[str, NodeSteps] = {}
    for action in plan.actions:
        node = steps.setdefault(action.address, NodeSteps())
        if action.kind is ActionKind.STOP_SERVER:
            node.hub.append(action)
        elif action.kind in _MACHINE_UP:
            node.machine_up.append(action)
        elif action.kind in _MACHINE_DOWN:
            node.machine_down.append(action)
        else:
            node.swarm.append(action)
    return steps


def run_instant(at: datetime | None, timetable: Timetable) -> datetime:
    """The instant a run plans for; a time without offset is read in the timetable's zone
    (by :meth:`~cwh.timetable.Timetable.instant_of`, so a skipped or repeated wall-clock time
    means what it means in previews)."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        return timetable.instant_of(at)
    return at


def removal_policy(timetable: Timetable, target: RunTarget, at: datetime) -> RemovalPolicy:
    """What the timetable says about busy nodes: the grace of the phase entered (after which
    a busy node is reported stuck) and ``force_idle_after``.

    The hub's culling settings play no part: a server that outlives the culling window is in
    use, so no elapsed time and no culling setting ever stops it.
    """
    entered = next((w for w in timetable.windows if w.name == target.state.phase), None)
    grace = timedelta(minutes=timetable.drain_before(entered))
    return RemovalPolicy(grace=grace, force_idle_after=timetable.force_idle_after)


def culling_env(culling: Culling) -> dict[str, str]:
    """The hub's culling variables for the settings that are given (others left alone)."""
    env: dict[str, str] = {}
    if culling.enabled is not None:
        env["CULL_SERVER"] = "yes" if culling.enabled else "no"
    for name, value in (
        ("CULL_SERVER_IDLE_TIMEOUT", culling.idle_timeout),
        ("CULL_SERVER_MAX_AGE", culling.max_age),
        ("CULL_SERVER_EVERY", culling.every),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def node_rows(
    plan: Plan,
    before: PoolObservation,
    after: PoolObservation | None,
    outcomes: Mapping[str, NodeOutcome],
    manages_vms: bool,
    language: Language = "en",
) -> list[NodeRow]:
    """One table row per worker address: before -> after, actions, status and seconds; the
    descriptions of the nodes and actions in ``language``, the keys and codes as they are."""
    rows: list[NodeRow] = []
    for address, wanted in plan.desired.items():
        actions = plan.actions_for(address)
        outcome = outcomes.get(address)
        hostname = (after.hostnames.get(address) if after else None) or before.hostnames.get(
            address, ""
        )
        rows.append(
            {
                "address": address,
                "hostname": hostname,
                "wanted": wanted.value,
                "before": describe_node(before.nodes.get(address), manages_vms, language),
                "after": (
                    describe_node(after.nodes.get(address), manages_vms, language) if after else ""
                ),
                "actions": "; ".join(describe_action(a, language) for a in actions) or "-",
                "status": outcome.status if outcome else "unchanged",
                "seconds": round(outcome.seconds, 2) if outcome else 0.0,
                "note": outcome.message if outcome else "",
            }
        )
    return rows


def unfinished(remaining: Plan, outcomes: Mapping[str, NodeOutcome]) -> list[AddressError]:
    """Verification: actions still planned on nodes that did not already fail or wait."""
    reported = {a for a, o in outcomes.items() if o.status in ("failed", "skipped", "busy")}
    return [
        {"address": action.address, "error": plan_reason("still_to_do", action=action.describe())}
        for action in remaining.actions
        if action.address not in reported
    ]


def waiting(
    plan: Plan, before: PoolObservation, outcomes: Mapping[str, NodeOutcome]
) -> tuple[list[AddressReason], list[AddressReason]]:
    """Nodes waiting for their user servers (not a failure), and nodes blocked otherwise."""
    busy: list[AddressReason] = []
    blocked: list[AddressReason] = []
    for item in plan.blocked:
        node = before.nodes.get(item.address)
        leaving = not plan.desired[item.address].is_up
        entry: AddressReason = {"address": item.address, "reason": item.reason}
        if leaving and node is not None and node.running_user_tasks:
            busy.append(entry)
        else:
            blocked.append(entry)
    for address, outcome in outcomes.items():
        if outcome.status == "busy":
            busy.append({"address": address, "reason": outcome.message})
    return busy, blocked


def mark_waiting(
    outcomes: dict[str, NodeOutcome], busy: list[AddressReason], blocked: list[AddressReason]
) -> None:
    """A node waiting for its users shows as busy, with the reason, even though its pause
    step was done; a node the plan could not touch shows as blocked."""
    for item in busy:
        address = item["address"]
        seconds = outcomes[address].seconds if address in outcomes else 0.0
        outcomes[address] = NodeOutcome(address, "busy", item["reason"], seconds)
    for item in blocked:
        address = item["address"]
        outcomes.setdefault(address, NodeOutcome(address, "blocked", item["reason"]))


def failures(
    outcomes: Mapping[str, NodeOutcome], problems: list[AddressError]
) -> list[AddressError]:
    """Nodes that failed or were skipped, then the run's other problems."""
    failed: list[AddressError] = [
        {"address": address, "error": outcome.message}
        for address, outcome in outcomes.items()
        if outcome.status in ("failed", "skipped")
    ]
    return failed + problems


def failure_message(report: ReconcileReport, language: Language = "en") -> str:
    """Why a run did not converge, one entry per failed or blocked address."""
    problems = [(item["address"], item["error"]) for item in report["failed"]]
    problems += [(item["address"], item["reason"]) for item in report["blocked"]]
    lines = "; ".join(f"{address}: {reason_in(why, language)}" for address, why in problems)
    return text("reconcile.failure", language, problems=lines)
