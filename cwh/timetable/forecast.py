"""The node-hours forecast: what the timetable plans for a range of dates, against always-on.

Planned node-hours are the hours each worker is *up* (active or paused: a running machine) by
the timetable's desired state, holidays, terms and exceptions included, integrated exactly
over its transitions; always-on is every worker address for the same hours. Hours are real
elapsed hours (a day a clock change shortens has 23), split into ISO weeks on the timetable's
local clock, like the ledger report of :mod:`cwh.timetable.savings`. Beside each week, where a
ledger is given, stand the node-hours the reconcile actually left running in that week and how
many hours the ledger covers, so a plan and its outcome can be compared week by week.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cwh.messages import Language, text
from cwh.timetable.day_text import weekday_name
from cwh.timetable.model import NodeState
from cwh.timetable.savings import LedgerEntry, saved_share
from cwh.timetable.table import Timetable

_HOUR = timedelta(hours=1)
MAX_FORECAST_DAYS = 3 * 366
"""Longest range forecast at once (a few academic years)."""


@dataclass(frozen=True)
class ForecastWeek:
    """One ISO week (or the part of it inside the range); ``actual_*`` are None without a
    ledger."""

    week: str
    monday: date
    hours: float
    off_days: tuple[date, ...]
    planned_node_hours: float
    paused_node_hours: float
    always_on_node_hours: float
    actual_node_hours: float | None = None
    ledger_hours: float | None = None

    @property
    def saved_node_hours(self) -> float:
        return self.always_on_node_hours - self.planned_node_hours

    @property
    def saved_ratio(self) -> float:
        return saved_share(self.saved_node_hours, self.always_on_node_hours)

    def to_json(self) -> dict[str, object]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "week": self.week,
            "monday": self.monday.isoformat(),
            "hours": round(self.hours, 3),
            "off_days": [day.isoformat() for day in self.off_days],
            "planned_node_hours": round(self.planned_node_hours, 3),
            "paused_node_hours": round(self.paused_node_hours, 3),
            "always_on_node_hours": round(self.always_on_node_hours, 3),
            "saved_node_hours": round(self.saved_node_hours, 3),
            "saved_ratio": round(self.saved_ratio, 4),
            "actual_node_hours": rounded(self.actual_node_hours),
            "ledger_hours": rounded(self.ledger_hours),
        }


def forecast_node_hours(
    timetable: Timetable,
    first: date,
    last: date,
    *,
    ledger: Sequence[LedgerEntry] | None = None,
    until: datetime | None = None,
) -> list[ForecastWeek]:
    """Planned node-hours per ISO week for the local dates ``first`` to ``last`` (inclusive).

    ``ledger`` (entries of the node-hours ledger) adds the actual hours; the last entry holds
    until ``until`` (default: the end of the range).
    """
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_FORECAST_DAYS:
        raise ValueError(f"the range is longer than {MAX_FORECAST_DAYS} days; split it")
    start = timetable.instant_of(datetime.combine(first, time()))
    end = timetable.instant_of(datetime.combine(last + timedelta(days=1), time()))
    workers = len(timetable.ip_addresses)
    totals: dict[date, list[float]] = {}
    states = timetable.transitions(start, end)
    for index, state in enumerate(states):
        stop = states[index + 1].at if index + 1 < len(states) else end
        up_count = sum(1 for node in state.nodes.values() if node.is_up)
        pause_count = sum(1 for node in state.nodes.values() if node is NodeState.PAUSE)
        for monday, hours in _by_week(state.at, stop, timetable):
            week = totals.setdefault(monday, [0.0, 0.0, 0.0, 0.0])
            week[0] += hours
            week[1] += hours * up_count
            week[2] += hours * pause_count
            week[3] += hours * workers
    actual = _actual(ledger, start, min(end, until or end), timetable) if ledger is not None else {}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    result = []
    for monday in sorted(totals):
        hours, planned, paused, always_on = totals[monday]
        year, number, _ = monday.isocalendar()
        in_week = [day for day in days if monday <= day < monday + timedelta(days=7)]
        used, covered = actual.get(monday, (0.0, 0.0))
        result.append(
            ForecastWeek(
                week=f"{year}-W{number:02d}",
                monday=monday,
                hours=hours,
                off_days=tuple(day for day in in_week if timetable.is_off_day(day)),
                planned_node_hours=planned,
                paused_node_hours=paused,
                always_on_node_hours=always_on,
                actual_node_hours=None if ledger is None else used,
                ledger_hours=None if ledger is None else covered,
            )
        )
    return result


def forecast_total(weeks: Sequence[ForecastWeek]) -> ForecastWeek:
    """The weeks added up (``week`` is "total")."""
    with_ledger = [week for week in weeks if week.ledger_hours is not None]
    return ForecastWeek(
        week="total",
        monday=weeks[0].monday if weeks else date.min,
        hours=sum(week.hours for week in weeks),
        off_days=tuple(day for week in weeks for day in week.off_days),
        planned_node_hours=sum(week.planned_node_hours for week in weeks),
        paused_node_hours=sum(week.paused_node_hours for week in weeks),
        always_on_node_hours=sum(week.always_on_node_hours for week in weeks),
        actual_node_hours=(
            sum(week.actual_node_hours or 0.0 for week in with_ledger) if with_ledger else None
        ),
        ledger_hours=sum(week.ledger_hours or 0.0 for week in with_ledger) if with_ledger else None,
    )


def render_forecast_table(
    weeks: Sequence[ForecastWeek],
    timetable: Timetable,
    first: date,
    last: date,
    language: Language,
) -> str:
    """A heading, a Markdown table (one line per week, then the total) and the off days."""
    heading = text(
        "schedule.forecast.heading",
        language,
        first=first.isoformat(),
        last=last.isoformat(),
        zone=timetable.timezone.key,
        workers=len(timetable.ip_addresses),
    )
    columns = text("schedule.forecast.columns", language).split("|")
    lines = [heading, "", "| " + " | ".join(columns) + " |"]
    lines.append("|---|---|" + "---:|" * (len(columns) - 2))
    total = forecast_total(weeks)
    for week in [*weeks, total]:
        name = text("schedule.forecast.total", language) if week is total else week.week
        monday = "" if week is total else week.monday.isoformat()
        actual = "—" if not week.ledger_hours else f"{week.actual_node_hours or 0.0:.1f}"
        covered = "—" if week.ledger_hours is None else f"{week.ledger_hours:.1f}"
        lines.append(
            f"| {name} | {monday} | {len(week.off_days)} | {week.planned_node_hours:.1f} | "
            f"{week.paused_node_hours:.1f} | {week.always_on_node_hours:.1f} | "
            f"{week.saved_node_hours:.1f} ({week.saved_ratio:.0%}) | {actual} | {covered} |"
        )
    if total.off_days:
        shown = ", ".join(
            f"{weekday_name(day, language)} {day.isoformat()}" for day in total.off_days
        )
        lines.extend(["", text("schedule.forecast.off_days", language, days=shown)])
    if total.ledger_hours is None:
        lines.extend(["", text("schedule.forecast.no_ledger", language)])
    return "\n".join(lines) + "\n"


def _actual(
    entries: Sequence[LedgerEntry], start: datetime, end: datetime, timetable: Timetable
) -> dict[date, tuple[float, float]]:
    """``{monday: (running node-hours, hours covered)}`` from the ledger within [start, end)."""
    ordered = sorted(entries, key=lambda entry: entry.at)
    found: dict[date, tuple[float, float]] = {}
    for index, entry in enumerate(ordered):
        held_until = ordered[index + 1].at if index + 1 < len(ordered) else end
        low, high = max(entry.at, start), min(held_until, end)
        for monday, hours in _by_week(low, high, timetable):
            used, covered = found.get(monday, (0.0, 0.0))
            found[monday] = (used + hours * len(entry.running), covered + hours)
    return found


def _by_week(start: datetime, stop: datetime, timetable: Timetable) -> Iterator[tuple[date, float]]:
    """``[start, stop)`` cut at the local Mondays, in real hours (arithmetic in UTC)."""
    zone = timetable.timezone
    current, stop = start.astimezone(UTC), stop.astimezone(UTC)
    while current < stop:
        local = current.astimezone(zone)
        monday = local.date() - timedelta(days=local.weekday())
        week_end = timetable.instant_of(datetime.combine(monday + timedelta(days=7), time()))
        piece_end = min(stop, week_end.astimezone(UTC))
        yield monday, (piece_end - current) / _HOUR
        current = piece_end
