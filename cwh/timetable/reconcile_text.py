"""What a person reads of a reconcile run, in Japanese or English: a node's state, the
summary Markdown the run publishes and ``cwh reconcile`` prints, and the per-node table.

The run's returned rows keep their keys and codes (``status: done``), which code reads back;
only what is shown is put into words here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cwh.messages import Language, text
from cwh.timetable.observed import ObservedNode, SwarmNodeState, VmState
from cwh.timetable.reason_text import note_in, reason_in

if TYPE_CHECKING:
    from cwh.timetable.reconcile_report import AddressReason, NodeRow, ReconcileReport

NODE_COLUMNS = (
    "address",
    "hostname",
    "wanted",
    "before",
    "after",
    "actions",
    "status",
    "seconds",
    "note",
)


def describe_node(node: ObservedNode | None, manages_vms: bool, language: Language = "en") -> str:
    """``vm running · active`` and the like, for the report."""
    no_vm = text("reconcile.node.no_vm", language)
    outside = text("reconcile.node.not_in_swarm", language)
    if node is None:
        return no_vm if manages_vms else outside
    parts = []
    if manages_vms:
        vm = text("reconcile.node.vm", language, state=_vm(node.vm, language))
        parts.append(vm if node.vm is not VmState.ABSENT else no_vm)
    members = [
        _availability(str(entry.availability), language)
        + ("" if entry.state is SwarmNodeState.READY else f" ({_swarm(entry.state, language)})")
        for entry in node.swarm
    ]
    parts.append(", ".join(members) if members else outside)
    if node.running_user_tasks:
        parts.append(text("reconcile.node.user_servers", language, count=node.running_user_tasks))
    return " · ".join(parts)


def summary_markdown(report: ReconcileReport, language: Language = "en") -> str:
    """The run's summary artifact."""
    if report["dry_run"]:
        headline = text("reconcile.headline.dry_run", language)
    elif report["failed"] or report["blocked"]:
        headline = text("reconcile.headline.not_converged", language)
    elif report["busy"]:
        headline = text("reconcile.headline.waiting", language, count=len(report["busy"]))
    else:
        headline = text("reconcile.headline.converged", language)
    steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in report["durations"].items())
    source = report["target_source"]
    if language != "en":
        source = text(f"reconcile.source.{source}", language)
    lines = [
        text("reconcile.summary.title", language, headline=headline),
        "",
        text("reconcile.summary.at", language, at=report["at"], zone=report["timezone"]),
        text(
            "reconcile.summary.target",
            language,
            phase=report["phase"],
            source=source,
            note=note_in(report["note"], language),
        ),
        text("reconcile.summary.provider", language, provider=report["provider"]),
        text("reconcile.summary.actions", language, count=len(report["actions"])),
        text("reconcile.summary.seconds", language, steps=steps),
    ]
    for item in report.get("servers_stopped", []):
        lines.append(text("reconcile.summary.server_stopped", language, **_why(item, language)))
    for item in report["busy"]:
        lines.append(text("reconcile.summary.busy", language, **_why(item, language)))
    for stuck in report.get("stuck", []):
        servers = ", ".join(stuck["servers"]) or "?"
        fields = {"since": stuck["since"], "node": stuck["node"], "address": stuck["address"]}
        lines.append(text("reconcile.summary.stuck", language, servers=servers, **fields))
    for item in report["blocked"]:
        lines.append(text("reconcile.summary.blocked", language, **_why(item, language)))
    for failure in report["failed"]:
        error = reason_in(failure["error"], language)
        lines.append(
            text("reconcile.summary.failed", language, address=failure["address"], error=error)
        )
    for item in report["untouched"]:
        lines.append(text("reconcile.summary.untouched", language, **_why(item, language)))
    culling = report["culling"]
    if culling:
        state = "culling_updated" if culling["changed"] else "culling_kept"
        lines.append(
            text(
                "reconcile.summary.culling",
                language,
                service=culling["service"],
                state=text(f"reconcile.summary.{state}", language),
                env=culling["env"],
            )
        )
    if report["ledger"]:
        lines.append(text("reconcile.summary.ledger", language, path=report["ledger"]))
    return "\n".join(lines) + "\n"


def node_table(rows: list[NodeRow], language: Language = "en") -> list[dict[str, object]]:
    """The per-node table artifact: the rows as they are in English; in Japanese with
    translated headers, targets and statuses."""
    if language == "en":
        return [dict(row) for row in rows]
    shown: list[dict[str, object]] = []
    for row in rows:
        cells: dict[str, object] = {**row, "wanted": _wanted(row["wanted"], language)}
        cells["status"] = _status(row["status"], language)
        cells["note"] = reason_in(row["note"], language)
        shown.append(
            {text(f"reconcile.column.{key}", language): cells[key] for key in NODE_COLUMNS}
        )
    return shown


def node_table_markdown(rows: list[NodeRow], language: Language = "en") -> str:
    """The per-node table ``cwh reconcile`` prints under the summary."""
    lines = [text("reconcile.table.header", language), "|---|---|---|---|---|---|---:|"]
    for row in rows:
        wanted = _wanted(row["wanted"], language)
        status = _status(row["status"], language)
        lines.append(
            f"| {row['address']} | {wanted} | {row['before']} | {row['after'] or '-'} | "
            f"{row['actions']} | {status} | {row['seconds']} |"
        )
    return "\n".join(lines) + "\n"


def _why(item: AddressReason, language: Language) -> dict[str, str]:
    return {"address": item["address"], "reason": reason_in(item["reason"], language)}


def _wanted(value: str, language: Language) -> str:
    return value if language == "en" else text(f"reconcile.wanted.{value}", language)


def _status(value: str, language: Language) -> str:
    return value if language == "en" else text(f"reconcile.status.{value}", language)


def _availability(value: str, language: Language) -> str:
    return value if language == "en" else text(f"preview.availability.{value}", language)


def _vm(state: VmState, language: Language) -> str:
    return str(state) if language == "en" else text(f"reconcile.vm.{state.value}", language)


def _swarm(state: SwarmNodeState, language: Language) -> str:
    return str(state) if language == "en" else text(f"reconcile.swarm.{state.value}", language)
