"""Prefect cron schedules for the ``reconcile-workers`` deployment, derived from a timetable.

One cron schedule per phase transition fires the reconcile exactly when the timetable changes,
not at the next tick of a periodic timer. Each schedule carries the
transition's counts (``active``, ``pause`` and ``drain``, the nodes taken out, powered off or
deleted per ``down_type``) and its ``phase`` as parameters, so the Prefect UI shows what each
run is for. A 15-minute safety-net schedule without counts lets the
flow derive the target from the timetable, which repairs any missed or failed run.

Cron cannot skip exception dates, national holidays or the weeks between terms, cannot say "last
day of the month" and cannot express one-off dates, and prefect.yaml may be older than the
timetable file. The flow therefore resolves every scheduled run through
:meth:`cwh.timetable.Timetable.resolve_run_target`, where the timetable wins: on a holiday the
class phase's schedule still fires, and that run keeps the off-day state (its note names the
holiday). The counts of each schedule are those of the next *class day* occurrence, by the same
calendar rule (:mod:`cwh.timetable.academic`). The cases cron cannot express are listed as notes
and left to the safety net.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cwh.timetable.calendar import INSTANT, cycle_start, place, shift_cycle
from cwh.timetable.model import Anchor, Granularity, NodeCounts, Window
from cwh.timetable.table import Timetable

SAFETY_NET_SLUG = "safety-net"
_SEARCH_CYCLES = 60


@dataclass(frozen=True)
class PrefectSchedule:
    """One entry of the ``schedules:`` list of a Prefect deployment."""

    slug: str
    cron: str
    timezone: str
    parameters: dict[str, object]
    comment: str


@dataclass(frozen=True)
class _Rule:
    anchor: Anchor
    phase: str
    counts: NodeCounts
    early: bool


def prefect_schedules(
    timetable: Timetable,
    *,
    reference: datetime,
    safety_net_minutes: int = 15,
) -> tuple[list[PrefectSchedule], list[str]]:
    """Schedules for every transition of ``timetable``, plus the safety net; and notes.

    ``reference`` (timezone-aware) is the time the counts are evaluated from: each rule's counts
    are those of its next regular occurrence after it, which is also what the flow will check.
    """
    if not 1 <= safety_net_minutes <= 60 or 60 % safety_net_minutes:
        raise ValueError("the safety-net interval must divide an hour (1, 5, 10, 15, 30, 60)")
    zone = timetable.timezone.key
    local_reference = reference.astimezone(timetable.timezone).replace(tzinfo=None, fold=0)
    notes: list[str] = []
    rules: list[_Rule] = []
    for anchor, entered, early in dict.fromkeys(_candidate_anchors(timetable)):
        if anchor is None:
            notes.append(
                f"the early pause before '{entered}' crosses a month boundary; "
                "cron cannot express it, the safety net applies it"
            )
            continue
        if anchor.granularity is Granularity.ONCE:
            notes.append(f"one-off transition at {anchor} is applied by the safety net")
            continue
        rule = _evaluate(timetable, anchor, local_reference, entered if early else None)
        if rule is not None:
            rules.append(rule)
    terms = timetable.academic_calendar.terms
    if terms and max(term.last for term in terms) < local_reference.date():
        notes.append(
            f"every term ended by {max(term.last for term in terms)}: no class day is left, "
            "so only the safety net is scheduled; add the coming terms to the timetable"
        )
    schedules = _group(rules, timetable, zone, notes)
    notes.extend(_skipped_by_the_clock(timetable, rules, local_reference))
    interval = f"*/{safety_net_minutes}" if safety_net_minutes < 60 else "0"
    schedules.append(
        PrefectSchedule(
            slug=SAFETY_NET_SLUG,
            cron=f"{interval} * * * *",
            timezone=zone,
            parameters={},
            comment=f"every {safety_net_minutes} min: derive the target from the timetable",
        )
    )
    return schedules, notes


def _skipped_by_the_clock(
    timetable: Timetable, rules: Sequence[_Rule], reference: datetime
) -> list[str]:
    """Notes for transitions that fall in an hour the clock skips within the coming year.

    On that day a cron schedule cannot fire at the written time (Prefect fires it early or not
    at all); the flow follows the timetable, which applies the change at the first instant
    after the gap, and the safety net makes that run. A time the clock passes twice needs no
    note: cron, like the timetable, acts at its first occurrence only.
    """
    zone = timetable.timezone
    notes: list[str] = []
    for day in _clock_change_days(zone, reference.date()):
        for rule in rules:
            anchor = rule.anchor
            moment = place(anchor, cycle_start(anchor.granularity, datetime.combine(day, time())))
            if moment.date() != day or timetable.is_off_day(day):
                continue
            if timetable.instant_of(moment).replace(tzinfo=None) != moment:
                applied = timetable.instant_of(moment)
                notes.append(
                    f"on {day} the clock skips {anchor.hour}:{anchor.minute:02d}: '{rule.phase}'"
                    f" takes effect at {applied:%H:%M}, the first instant after the gap (the"
                    " safety net applies it)"
                )
    return notes


def _clock_change_days(zone: ZoneInfo, first: date, days: int = 366) -> list[date]:
    """Days within ``days`` from ``first`` on which ``zone``'s UTC offset changes."""
    found: list[date] = []
    previous = datetime.combine(first, time(12), zone).utcoffset()
    for step in range(1, days + 1):
        day = first + timedelta(days=step)
        offset = datetime.combine(day, time(12), zone).utcoffset()
        if offset != previous:
            found.append(day)
        previous = offset
    return found


def render_schedules_yaml(
    schedules: Sequence[PrefectSchedule],
    notes: Sequence[str],
    *,
    indent: int = 4,
    source: str = "",
) -> str:
    """The ``schedules:`` block, indented to sit under a deployment of prefect.yaml."""
    pad = " " * indent
    origin = f" Generated from {source}." if source else ""
    lines = [f"{pad}# Paste under the reconcile-workers deployment of prefect.yaml.{origin}"]
    lines.extend(f"{pad}# note: {note}" for note in notes)
    lines.append(f"{pad}schedules:")
    for schedule in schedules:
        lines.append(f"{pad}  # {schedule.comment}")
        lines.append(f"{pad}  - cron: {_quoted(schedule.cron)}")
        lines.append(f"{pad}    timezone: {_quoted(schedule.timezone)}")
        lines.append(f"{pad}    slug: {_quoted(schedule.slug)}")
        if schedule.parameters:
            parameters = json.dumps(schedule.parameters, ensure_ascii=False)
            lines.append(f"{pad}    parameters: {parameters}")
    return "\n".join(lines) + "\n"


def _candidate_anchors(
    timetable: Timetable,
) -> list[tuple[Anchor | None, str, bool]]:
    """Anchors where the state may change: begins, ends, and early pauses before scale-downs."""
    found: list[tuple[Anchor | None, str, bool]] = []
    for window in timetable.windows:
        following = _window_beginning_at(timetable, window.end)
        for anchor, entered in ((window.begin, window), (window.end, following)):
            name = entered.name if entered is not None else timetable.default_name
            found.append((anchor, name, False))
            drain = timetable.drain_before(entered)
            if drain:
                found.append((_earlier(anchor, drain), name, True))
    return found


def _window_beginning_at(timetable: Timetable, anchor: Anchor) -> Window | None:
    for window in timetable.windows:
        if window.begin == anchor:
            return window
    return None


def _earlier(anchor: Anchor, minutes: int) -> Anchor | None:
    """``anchor`` moved ``minutes`` earlier within its cycle; None when cron cannot follow."""
    match anchor.granularity:
        case Granularity.DAILY:
            moment = (anchor.minute_of_day - minutes) % (24 * 60)
            return Anchor(Granularity.DAILY, moment // 60, moment % 60)
        case Granularity.WEEKLY:
            week = 7 * 24 * 60
            moment = ((anchor.weekday or 0) * 24 * 60 + anchor.minute_of_day - minutes) % week
            day, rest = divmod(moment, 24 * 60)
            return Anchor(Granularity.WEEKLY, rest // 60, rest % 60, weekday=day)
        case Granularity.ONCE:
            return Anchor.once_at(place(anchor) - timedelta(minutes=minutes))
        case _:
            days_back, rest = divmod(anchor.minute_of_day - minutes, 24 * 60)
            day = (anchor.day or 1) + days_back
            if day < 1:
                return None
            return Anchor(anchor.granularity, rest // 60, rest % 60, day=day, month=anchor.month)


def _evaluate(
    timetable: Timetable, anchor: Anchor, reference: datetime, ahead_of: str | None
) -> _Rule | None:
    """The rule at the next regular occurrence of ``anchor``; None when nothing changes there.

    ``ahead_of`` names the phase an early pause prepares for; other rules are named after the
    phase they enter.
    """
    granularity = anchor.granularity
    cycle = cycle_start(granularity, reference)
    for _ in range(_SEARCH_CYCLES):
        moment = place(anchor, cycle)
        cycle = shift_cycle(granularity, cycle, 1)
        if moment < reference or timetable.is_off_day(moment.date()):
            continue
        at = timetable.instant_of(moment)
        state = timetable.state_at(at)
        before = timetable.state_at(at.astimezone(UTC) - INSTANT)
        if (state.nodes, state.phase) == (before.nodes, before.phase):
            return None
        phase = state.phase if ahead_of is None else ahead_of
        return _Rule(anchor, phase, state.counts, ahead_of is not None)
    return None


def _group(
    rules: list[_Rule], timetable: Timetable, zone: str, notes: list[str]
) -> list[PrefectSchedule]:
    """Merge weekly rules that differ only in their weekday into one cron line."""
    merged: dict[tuple[object, ...], list[_Rule]] = {}
    for rule in rules:
        anchor = rule.anchor
        key: tuple[object, ...] = (
            anchor.granularity,
            anchor.hour,
            anchor.minute,
            None if anchor.granularity is Granularity.WEEKLY else anchor.key(),
            rule.phase,
            rule.counts,
            rule.early,
        )
        merged.setdefault(key, []).append(rule)
    schedules: list[PrefectSchedule] = []
    used: set[str] = {SAFETY_NET_SLUG}
    total = len(timetable.ip_addresses)
    ordered = sorted(merged.values(), key=lambda group: _sort_key(group[0]))
    for group in ordered:
        first = group[0]
        cron, when = _cron(group, notes)
        base = _slug(f"pause-before-{first.phase}" if first.early else first.phase)
        slug = _unique(base, used)
        counts = first.counts
        drain = total - counts.up
        verb = "pause ahead of" if first.early else "enter"
        schedules.append(
            PrefectSchedule(
                slug=slug,
                cron=cron,
                timezone=zone,
                parameters={
                    "phase": slug,
                    "active": counts.active,
                    "pause": counts.pause,
                    "drain": drain,
                },
                comment=f"{when}: {verb} '{first.phase}' -> {counts}",
            )
        )
    return schedules


def _cron(group: list[_Rule], notes: list[str]) -> tuple[str, str]:
    anchor = group[0].anchor
    clock = f"{anchor.hour}:{anchor.minute:02d}"
    match anchor.granularity:
        case Granularity.DAILY:
            return f"{anchor.minute} {anchor.hour} * * *", f"daily {clock}"
        case Granularity.WEEKLY:
            days = sorted({rule.anchor.weekday or 0 for rule in group})
            cron_days = ",".join(str((day + 1) % 7) for day in days)
            names = ", ".join(str(rule.anchor).split()[0] for rule in _by_weekday(group))
            return f"{anchor.minute} {anchor.hour} * * {cron_days}", f"{names} {clock}"
        case Granularity.MONTHLY:
            if (anchor.day or 1) > 28:
                notes.append(
                    f"the transition on day {anchor.day} {clock} does not exist in shorter "
                    "months; there the safety net applies it on the month's last day"
                )
            return f"{anchor.minute} {anchor.hour} {anchor.day} * *", f"monthly {anchor}"
        case _:
            if (anchor.month, anchor.day) == (2, 29):
                notes.append(
                    "the transition on 2/29 exists only in leap years; in other years the "
                    "safety net applies it on 2/28"
                )
            cron = f"{anchor.minute} {anchor.hour} {anchor.day} {anchor.month} *"
            return cron, f"yearly {anchor}"


def _by_weekday(group: list[_Rule]) -> list[_Rule]:
    unique = {rule.anchor.weekday: rule for rule in group}
    return [unique[day] for day in sorted(unique, key=lambda day: day or 0)]


def _sort_key(rule: _Rule) -> tuple[int, tuple[int, ...], bool]:
    order = list(Granularity).index(rule.anchor.granularity)
    return order, rule.anchor.key(), rule.early


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "phase"


def _unique(base: str, used: set[str]) -> str:
    slug, number = base, 2
    while slug in used:
        slug, number = f"{base}-{number}", number + 1
    used.add(slug)
    return slug


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
