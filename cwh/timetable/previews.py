"""Previews and plans on paper: what the timetable will do, before anything runs.

A preview lists every transition in a time range with the node states and the actions a
reconcile would take at that instant, assuming the previous transition was fully applied. The
same rows render as a terminal/Markdown table (also published as a Prefect artifact) and as
JSON, one object per transition instant: ``{"at", "phase", "nodes", "actions"}``. The table and
the plan text speak the reader's language (``preview.*`` messages); JSON stays English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cwh.messages import Language, text
from cwh.timetable.calendar import INSTANT
from cwh.timetable.day_text import weekday_name
from cwh.timetable.model import NodeState
from cwh.timetable.observed import ObservedNode, ProviderCapabilities, converged_observation
from cwh.timetable.reason_text import reason_in
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


def render_preview_markdown(
    rows: Sequence[PreviewRow], timetable: Timetable, language: Language = "en"
) -> str:
    """A Markdown table of the preview, one line per transition."""
    zone = timetable.timezone.key
    names = [
        text("preview.column.when", language, zone=zone),
        text("preview.column.phase", language),
    ]
    names += [text(f"preview.column.{state.value}", language) for state in NodeState]
    names.append(text("preview.column.actions", language))
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        state = row.state
        columns = [_addresses(state.nodes, wanted) for wanted in NodeState]
        phase = state.phase + _note(state, language)
        if not row.has_active_worker:
            phase += f" — {text('preview.no_active_worker', language)}"
        when = _when(state.at, language)
        summary = _summary(row, language)
        lines.append(f"| {when} | {phase} | " + " | ".join(columns) + f" | {summary} |")
    return "\n".join(lines) + "\n"


def render_plan_text(plan: Plan, language: Language = "en") -> str:
    """A short human-readable plan: one line per action, then the blocked nodes."""
    lines = [text("preview.plan.at", language, at=plan.at.isoformat())]
    if not plan.actions:
        lines.append(f"  {text('preview.plan.nothing', language)}")
    for action in plan.actions:
        why = reason_in(action.reason, language)
        lines.append(f"  {describe_action(action, language)}: {why}")
    for key, items in (("blocked", plan.blocked), ("untouched", plan.untouched)):
        for item in items:
            why = reason_in(item.reason, language)
            lines.append(
                "  " + text(f"preview.plan.{key}", language, address=item.address, reason=why)
            )
    return "\n".join(lines) + "\n"


def _when(at: datetime, language: Language) -> str:
    if language == "en":
        return f"{at:%a %Y-%m-%d %H:%M}"
    return f"{at:%Y-%m-%d}（{weekday_name(at.date(), language)}）{at:%H:%M}"


def _note(state: TimetableState, language: Language) -> str:
    """`` — why`` when the state is not simply the phase's (nodes paused ahead)."""
    ahead = state.paused_ahead
    if language != "en" and ahead is not None:
        boundary = f"{ahead.boundary:%Y-%m-%d %H:%M}"
        fields = {"nodes": ahead.nodes, "phase": ahead.phase, "boundary": boundary}
        return " — " + text("preview.paused_ahead", language, **fields)
    return f" — {state.note}" if state.note else ""


def _kind(action: Action, language: Language) -> str:
    """The action's step, with the availability it sets."""
    word = text(f"preview.action.{action.kind.value}", language)
    if action.kind is ActionKind.SET_AVAILABILITY and action.availability is not None:
        word += " " + text(f"preview.availability.{action.availability.value}", language)
    return word


def describe_action(action: Action, language: Language) -> str:
    """What :meth:`Action.describe` says, in ``language``."""
    if language == "en":
        return action.describe()
    server = ""
    if action.hub_user is not None:
        server = f" {action.hub_user}" + (f"/{action.hub_server}" if action.hub_server else "")
    return f"{_kind(action, language)}{server} {action.address}"


def _addresses(nodes: Mapping[str, NodeState], wanted: NodeState) -> str:
    """Addresses in one state; they are a contiguous slice of the list, so long runs shorten."""
    chosen = [address for address, state in nodes.items() if state is wanted]
    if len(chosen) <= 4:
        return " ".join(chosen)
    return f"{chosen[0]} … {chosen[-1]} ({len(chosen)})"


def _summary(row: PreviewRow, language: Language = "en") -> str:
    steps: dict[str, list[str]] = {}
    for action in row.actions:
        steps.setdefault(action.address, []).append(_kind(action, language))
    grouped: dict[str, list[str]] = {}
    for address, kinds in steps.items():
        grouped.setdefault(" → ".join(kinds), []).append(address)
    if not grouped:
        return "—"
    return "; ".join(f"{kinds} ({', '.join(addresses)})" for kinds, addresses in grouped.items())
