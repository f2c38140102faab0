"""Previews and plans on paper: what the timetable will do, before anything runs.

A preview lists every transition in a time range with the node states and the actions a
reconcile would take at that instant, assuming the previous transition was fully applied. The
same rows render as a terminal/Markdown table (also published as a Prefect artifact) and as
JSON, one object per transition instant: ``{"at", "phase", "nodes", "actions"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cwh.timetable.calendar import INSTANT
from cwh.timetable.model import NodeState
from cwh.timetable.observed import ObservedNode, ProviderCapabilities, converged_observation
from cwh.timetable.table import Timetable, TimetableState
from cwh.timetable.worker_plan import Action, ActionKind, Plan, plan_reconcile


@dataclass(frozen=True)
class PreviewRow:
    state: TimetableState
    actions: tuple[Action, ...]

    @property
    def has_active_worker(self) -> bool:
        return NodeState.ACTIVE in self.state.nodes.values()

    def to_json(self) -> dict[str, object]:
        data = self.state.to_json()
        data["actions"] = [action.to_json() for action in self.actions]
        return data


def preview(
    timetable: Timetable,
    start: datetime,
    end: datetime,
    *,
    provider: ProviderCapabilities,
) -> list[PreviewRow]:
    """The state at ``start`` and every transition until ``end``, with their actions."""
    rows: list[PreviewRow] = []
    previous: Mapping[str, NodeState] | None = None
    for state in timetable.transitions(start, end):
        actions: tuple[Action, ...] = ()
        if previous is not None:
            observed = converged_observation(previous, provider)
            plan = plan_reconcile(
                state.nodes, observed, at=state.at, provider=provider, allow_zero_active=True
            )
            actions = plan.actions
        rows.append(PreviewRow(state, actions))
        previous = state.nodes
    return rows


def plan_on_paper(
    timetable: Timetable,
    at: datetime,
    *,
    provider: ProviderCapabilities,
    observed: Mapping[str, ObservedNode] | None = None,
    allow_zero_active: bool = False,
) -> Plan:
    """The plan a reconcile at ``at`` would make; nothing is applied.

    Without an observation the pool is assumed to be exactly as the timetable wanted it just
    before ``at`` (the previous run succeeded).
    """
    if observed is None:
        just_before = at.astimezone(UTC) - INSTANT
        observed = converged_observation(timetable.desired_state(just_before), provider)
    return plan_reconcile(
        timetable.desired_state(at),
        observed,
        at=at,
        provider=provider,
        allow_zero_active=allow_zero_active,
    )


def render_preview_markdown(rows: Sequence[PreviewRow], timetable: Timetable) -> str:
    """A Markdown table of the preview, one line per transition."""
    zone = timetable.timezone.key
    header = f"| when ({zone}) | phase | active | pause | power_down | deleted | actions |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for row in rows:
        state = row.state
        columns = [_addresses(state.nodes, wanted) for wanted in NodeState]
        phase = state.phase + (f" — {state.note}" if state.note else "")
        if not row.has_active_worker:
            phase += " — no active worker: a reconcile refuses this unless allowed"
        when = f"{state.at:%a %Y-%m-%d %H:%M}"
        lines.append(f"| {when} | {phase} | " + " | ".join(columns) + f" | {_summary(row)} |")
    return "\n".join(lines) + "\n"


def render_plan_text(plan: Plan) -> str:
    """A short human-readable plan: one line per action, then the blocked nodes."""
    lines = [f"plan at {plan.at.isoformat()}:"]
    if not plan.actions:
        lines.append("  nothing to do: the pool already matches the timetable")
    lines.extend(f"  {action.describe()}: {action.reason}" for action in plan.actions)
    lines.extend(f"  blocked {item.address}: {item.reason}" for item in plan.blocked)
    lines.extend(f"  untouched {item.address}: {item.reason}" for item in plan.untouched)
    return "\n".join(lines) + "\n"


def _addresses(nodes: Mapping[str, NodeState], wanted: NodeState) -> str:
    """Addresses in one state; they are a contiguous slice of the list, so long runs shorten."""
    chosen = [address for address, state in nodes.items() if state is wanted]
    if len(chosen) <= 4:
        return " ".join(chosen)
    return f"{chosen[0]} … {chosen[-1]} ({len(chosen)})"


def _summary(row: PreviewRow) -> str:
    steps: dict[str, list[str]] = {}
    for action in row.actions:
        steps.setdefault(action.address, []).append(action.describe().split(" ")[0])
        if action.kind is ActionKind.SET_AVAILABILITY:
            steps[action.address][-1] += f" {action.availability}"
    grouped: dict[str, list[str]] = {}
    for address, kinds in steps.items():
        grouped.setdefault(" → ".join(kinds), []).append(address)
    if not grouped:
        return "—"
    return "; ".join(f"{kinds} ({', '.join(addresses)})" for kinds, addresses in grouped.items())
