"""The node-hours ledger: what the worker pool cost, compared with keeping every node on.

The reconcile flow appends one JSON line per run with the state it observed *after* applying
its plan::

    {"v": 1, "at": "2025-04-07T08:30:04+09:00", "workers": 5,
     "running": ["10.0.0.1", "10.0.0.2"], "powered_off": ["10.0.0.3"], "run": "<flow run id>"}

Only the reconcile changes the pool, so the state recorded by one run holds until the next
record; node-hours are the integral of that step function. Recording snapshots instead of
per-run hour totals means a missed, repeated or concurrent run can neither lose nor double-count
hours. "Always on" is ``workers`` nodes for the same time. Weeks are ISO weeks on the local
clock of the report's time zone, and hours are real elapsed hours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cwh.safe_input import InputRefused, InputRules, decode_utf8, parse_json
from cwh.timetable.model import Problem

LEDGER_VERSION = 1
MAX_LEDGER_BYTES = 64 << 20
"""Largest ledger read (years of runs every 15 minutes)."""
LEDGER_YEARS = (2000, 2100)
"""Entries dated outside these years (inclusive) are skipped as damaged."""
_LINE_DEPTH = 8
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class LedgerEntry:
    """The pool as one reconcile run left it."""

    at: datetime
    workers: int
    running: tuple[str, ...]
    powered_off: tuple[str, ...] = ()
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("ledger times must carry a time zone offset")
        first, last = LEDGER_YEARS
        if not first <= self.at.astimezone(UTC).year <= last:
            raise ValueError(f"ledger times must lie in the years {first} to {last}")
        if self.workers < 0:
            raise ValueError("the number of workers cannot be negative")

    def to_line(self) -> str:
        data: dict[str, object] = {
            "v": LEDGER_VERSION,
            "at": self.at.isoformat(),
            "workers": self.workers,
            "running": list(self.running),
            "powered_off": list(self.powered_off),
        }
        if self.run_id is not None:
            data["run"] = self.run_id
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def saved_share(saved_node_hours: float, always_on_node_hours: float) -> float:
    """Saved node-hours as a share of always-on node-hours (0 for a week without any)."""
    return saved_node_hours / always_on_node_hours if always_on_node_hours else 0.0


@dataclass(frozen=True)
class WeekSavings:
    """Node-hours of one ISO week."""

    week: str
    monday: date
    observed_hours: float
    used_node_hours: float
    powered_off_node_hours: float
    always_on_node_hours: float

    @property
    def saved_node_hours(self) -> float:
        return self.always_on_node_hours - self.used_node_hours

    @property
    def saved_ratio(self) -> float:
        return saved_share(self.saved_node_hours, self.always_on_node_hours)

    def to_json(self) -> dict[str, object]:
        return {
            "week": self.week,
            "monday": self.monday.isoformat(),
            "observed_hours": round(self.observed_hours, 3),
            "used_node_hours": round(self.used_node_hours, 3),
            "powered_off_node_hours": round(self.powered_off_node_hours, 3),
            "always_on_node_hours": round(self.always_on_node_hours, 3),
            "saved_node_hours": round(self.saved_node_hours, 3),
            "saved_ratio": round(self.saved_ratio, 4),
        }


def append_ledger_entry(path: Path, entry: LedgerEntry) -> None:
    """Append one line with a single ``O_APPEND`` write, so concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, entry.to_line().encode("utf-8"))
    finally:
        os.close(descriptor)


def load_ledger(path: Path) -> tuple[list[LedgerEntry], list[Problem]]:
    """The ledger file's entries and problems, as :func:`parse_ledger` gives them.

    The file is read through :mod:`cwh.safe_input` (a regular file of at most
    :data:`MAX_LEDGER_BYTES`); each line is decoded on its own, so a line that is not UTF-8
    is one problem and the others still count.
    """
    data = InputRules(MAX_LEDGER_BYTES).read_bytes(path, str(path)).data
    return _parse_lines(enumerate(data.split(b"\n"), start=1))


def parse_ledger(text: str) -> tuple[list[LedgerEntry], list[Problem]]:
    """Entries in time order, and one problem per line that could not be read.

    A half-written last line (a crash mid-append) or a hand edit gives a problem naming the line;
    the other lines still count, so nothing already recorded is lost.
    """
    return _parse_lines(enumerate(text.splitlines(), start=1))


def _parse_lines(
    lines: Iterable[tuple[int, str | bytes]],
) -> tuple[list[LedgerEntry], list[Problem]]:
    entries: list[LedgerEntry] = []
    problems: list[Problem] = []
    for number, line in lines:
        where = f"line {number}"
        try:
            text = line if isinstance(line, str) else decode_utf8(line, where)
            if not text.strip():
                continue
            entries.append(_entry_from_json(parse_json(text, where, max_depth=_LINE_DEPTH)))
        except InputRefused as exc:
            problems.append(Problem(where, f"skipped: the line {exc.reason}"))
        except (ValueError, TypeError) as exc:
            problems.append(Problem(where, f"skipped: {exc}"))
    entries.sort(key=lambda entry: entry.at)
    return entries, problems


def weekly_savings(
    entries: Sequence[LedgerEntry], *, until: datetime, timezone: ZoneInfo
) -> list[WeekSavings]:
    """Node-hours per ISO week from the first entry until ``until``."""
    ordered = sorted(entries, key=lambda entry: entry.at)
    totals: dict[date, list[float]] = {}
    for index, entry in enumerate(ordered):
        stop = ordered[index + 1].at if index + 1 < len(ordered) else until
        for monday, hours in _split_by_week(entry.at, stop, timezone):
            week = totals.setdefault(monday, [0.0, 0.0, 0.0, 0.0])
            week[0] += hours
            week[1] += hours * len(entry.running)
            week[2] += hours * len(entry.powered_off)
            week[3] += hours * entry.workers
    result = []
    for monday in sorted(totals):
        observed, used, powered_off, always_on = totals[monday]
        year, number, _ = monday.isocalendar()
        result.append(
            WeekSavings(f"{year}-W{number:02d}", monday, observed, used, powered_off, always_on)
        )
    return result


def render_savings_table(weeks: Sequence[WeekSavings]) -> str:
    """A Markdown table, readable in a terminal and in a Prefect artifact."""
    lines = [
        "| week | from | hours observed | node-hours used | powered off | always on | saved |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for week in weeks:
        lines.append(
            f"| {week.week} | {week.monday} | {week.observed_hours:.1f} | "
            f"{week.used_node_hours:.1f} | {week.powered_off_node_hours:.1f} | "
            f"{week.always_on_node_hours:.1f} | "
            f"{week.saved_node_hours:.1f} ({week.saved_ratio:.0%}) |"
        )
    return "\n".join(lines) + "\n"


def _split_by_week(start: datetime, stop: datetime, timezone: ZoneInfo) -> list[tuple[date, float]]:
    """Split ``[start, stop)`` at local Mondays; all arithmetic in UTC, so hours are real hours
    (aware datetimes sharing a tzinfo subtract as wall-clock times, wrong across DST)."""
    pieces: list[tuple[date, float]] = []
    current, stop = start.astimezone(UTC), stop.astimezone(UTC)
    while current < stop:
        local = current.astimezone(timezone)
        monday = local.date() - timedelta(days=local.weekday())
        week_end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), timezone)
        end = min(stop, week_end.astimezone(UTC))
        pieces.append((monday, (end - current) / _HOUR))
        current = end
    return pieces


def _entry_from_json(data: object) -> LedgerEntry:
    if not isinstance(data, dict):
        raise ValueError("a ledger line must be a JSON object")
    if data.get("v") != LEDGER_VERSION:
        raise ValueError(f"unknown ledger version {data.get('v')!r}")
    at = datetime.fromisoformat(str(data["at"])) if "at" in data else None
    if at is None:
        raise ValueError("missing 'at'")
    workers = data.get("workers")
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ValueError("'workers' must be a whole number")
    running = _addresses(data.get("running", []), "running")
    powered_off = _addresses(data.get("powered_off", []), "powered_off")
    run = data.get("run")
    return LedgerEntry(at, workers, running, powered_off, None if run is None else str(run))


def _addresses(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'{name}' must be a list of addresses")
    return tuple(value)
