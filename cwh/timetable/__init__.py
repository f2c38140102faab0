"""The worker-node timetable: its model, one reader per accepted document format, calendar
arithmetic, previews, savings, the Prefect cron schedules it implies and the worker plan that
brings the pool from what is observed to what the timetable wants.
"""

from cwh.timetable.calendar import HORIZON_START, first_overlap, occurrence_at
from cwh.timetable.cron import SAFETY_NET_SLUG, prefect_schedules, render_schedules_yaml
from cwh.timetable.load import load_timetable, parse_timetable
from cwh.timetable.model import (
    Anchor,
    Culling,
    DownType,
    Granularity,
    NodeCounts,
    NodeState,
    Target,
    TimetableError,
    Window,
)
from cwh.timetable.observed import (
    STATIC_PROVIDER,
    Availability,
    NodeRole,
    ObservedNode,
    ProviderCapabilities,
    SwarmNode,
    SwarmNodeState,
    VmState,
    assemble_observation,
    converged_observation,
    observed_from_json,
    observed_to_json,
)
from cwh.timetable.previews import plan_on_paper, preview, render_plan_text, render_preview_markdown
from cwh.timetable.savings import (
    LedgerEntry,
    append_ledger_entry,
    parse_ledger,
    render_savings_table,
    weekly_savings,
)
from cwh.timetable.table import RunTarget, Timetable
from cwh.timetable.text import FieldError, Opaque, parse_anchor, parse_clock, parse_weekday
from cwh.timetable.worker_plan import (
    Action,
    ActionKind,
    Guard,
    Plan,
    PlanRefused,
    RemovalPolicy,
    plan_reconcile,
)

__all__ = [
    "HORIZON_START",
    "SAFETY_NET_SLUG",
    "STATIC_PROVIDER",
    "Action",
    "ActionKind",
    "Anchor",
    "Availability",
    "Culling",
    "DownType",
    "FieldError",
    "Granularity",
    "Guard",
    "LedgerEntry",
    "NodeCounts",
    "NodeRole",
    "NodeState",
    "ObservedNode",
    "Opaque",
    "Plan",
    "PlanRefused",
    "ProviderCapabilities",
    "RemovalPolicy",
    "RunTarget",
    "SwarmNode",
    "SwarmNodeState",
    "Target",
    "Timetable",
    "TimetableError",
    "VmState",
    "Window",
    "append_ledger_entry",
    "assemble_observation",
    "converged_observation",
    "first_overlap",
    "load_timetable",
    "observed_from_json",
    "observed_to_json",
    "occurrence_at",
    "parse_anchor",
    "parse_clock",
    "parse_ledger",
    "parse_timetable",
    "parse_weekday",
    "plan_on_paper",
    "plan_reconcile",
    "prefect_schedules",
    "preview",
    "render_plan_text",
    "render_preview_markdown",
    "render_savings_table",
    "render_schedules_yaml",
    "weekly_savings",
]
