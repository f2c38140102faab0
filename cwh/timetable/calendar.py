"""Calendar arithmetic for timetable windows, on naive local wall-clock datetimes.

A window recurs once per *cycle* (a day, a Monday-based week, a month, a year). Each occurrence
starts at the begin anchor placed in its cycle and ends at the end anchor placed in the same
cycle, or in the next one when the end comes first in the cycle (22:00-7:00). A day of month
beyond a month's length means that month's last day; a period whose
clamped end does not come after its clamped begin is skipped for that month.

Wall-clock time and instants meet in :func:`wall_clock` and :func:`first_instant`, which hold
the one rule for clock changes (see ``docs/workers.md``): a time the clock skips takes effect at
the first instant after the gap, and a time the clock passes twice takes effect once, at its
first occurrence; while the hour repeats, the timetable's clock stays where the first pass ended.

Which dates are class days at all is :class:`~cwh.timetable.academic.AcademicCalendar`'s
rule (explicit exceptions, national holidays, terms); every function here takes that rule, or
any other container of dates, as ``exceptions``: a recurring occurrence beginning on a date the
container holds is cancelled.

Overlap detection enumerates real occurrences over a horizon long enough for the calendar to
repeat: two weeks for daily/weekly pairs and 28 years (the Gregorian weekday-and-leap-year cycle
between 1901 and 2099) as soon as a monthly or yearly window is involved.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Container, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cwh.timetable.model import Anchor, Granularity, Window

INSTANT = timedelta(microseconds=1)
HORIZON_START = datetime(2024, 1, 1)  # a Monday, so weekly cycles line up with it
_GREGORIAN_REPEAT_YEARS = 28
_COARSENESS: dict[Granularity, int] = {
    Granularity.DAILY: 0,
    Granularity.WEEKLY: 1,
    Granularity.MONTHLY: 2,
    Granularity.YEARLY: 3,
    Granularity.ONCE: 4,
}


def wall_clock(at: datetime, zone: ZoneInfo) -> datetime:
    """The timetable's clock at the aware instant ``at``: naive wall-clock time in ``zone``.

    During the second pass of a repeated hour (clocks set back) the clock stays just before
    the wall time at which that hour ends, so what began in the first pass is not undone and
    nothing in the hour happens twice. The clock never runs backwards.
    """
    local = at.astimezone(zone)
    if not local.fold:
        return local.replace(tzinfo=None)
    back = (local.replace(fold=0).utcoffset() or timedelta(0)) - (local.utcoffset() or timedelta(0))
    start = at.astimezone(UTC)
    end = _first_instant_where(start, start + back, lambda u: not u.astimezone(zone).fold)
    return end.astimezone(zone).replace(tzinfo=None) - INSTANT


def first_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which the timetable's clock in ``zone`` reaches the naive ``local``.

    A time that exists is its first occurrence (the earlier of two in a repeated hour); a time
    in a gap (clocks set forward) is the first instant after the gap.
    """
    earlier = local.replace(tzinfo=zone, fold=0)
    utc = earlier.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == local:
        return utc.astimezone(zone)
    before_gap = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((before_gap, utc))
    after = _first_instant_where(
        low, high, lambda u: u.astimezone(zone).replace(tzinfo=None) > local
    )
    return after.astimezone(zone)


def _first_instant_where(
    low: datetime, high: datetime, holds: Callable[[datetime], bool]
) -> datetime:
    """The first instant in ``(low, high]`` where ``holds`` turns true (it holds at ``high`` and
    stays true once true); bisection to the microsecond."""
    while high - low > INSTANT:
        middle = low + (high - low) / 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def cycle_start(granularity: Granularity, moment: datetime) -> datetime:
    """Start of the cycle that contains ``moment``."""
    midnight = datetime(moment.year, moment.month, moment.day)
    match granularity:
        case Granularity.DAILY:
            return midnight
        case Granularity.WEEKLY:
            return midnight - timedelta(days=moment.weekday())
        case Granularity.MONTHLY:
            return datetime(moment.year, moment.month, 1)
        case Granularity.YEARLY:
            return datetime(moment.year, 1, 1)
        case Granularity.ONCE:
            raise ValueError("one-off dates have no cycle")


def shift_cycle(granularity: Granularity, start: datetime, steps: int) -> datetime:
    """The cycle ``steps`` cycles after (or before, when negative) the one starting at ``start``."""
    match granularity:
        case Granularity.DAILY:
            return start + timedelta(days=steps)
        case Granularity.WEEKLY:
            return start + timedelta(weeks=steps)
        case Granularity.MONTHLY:
            months = start.year * 12 + start.month - 1 + steps
            return datetime(months // 12, months % 12 + 1, 1)
        case Granularity.YEARLY:
            return datetime(start.year + steps, 1, 1)
        case Granularity.ONCE:
            raise ValueError("one-off dates have no cycle")


def place(anchor: Anchor, cycle: datetime | None = None) -> datetime:
    """The instant of ``anchor`` inside the cycle starting at ``cycle`` (ignored for ``once``)."""
    clock = timedelta(hours=anchor.hour, minutes=anchor.minute)
    if anchor.granularity is Granularity.ONCE:
        return datetime(_get(anchor.year), _get(anchor.month), _get(anchor.day)) + clock
    if cycle is None:
        raise ValueError("a recurring anchor needs a cycle to be placed in")
    match anchor.granularity:
        case Granularity.DAILY:
            return cycle + clock
        case Granularity.WEEKLY:
            return cycle + timedelta(days=_get(anchor.weekday)) + clock
        case Granularity.MONTHLY:
            return _clamped(cycle.year, cycle.month, _get(anchor.day)) + clock
        case _:
            return _clamped(cycle.year, _get(anchor.month), _get(anchor.day)) + clock


def day_is_clamped(anchor: Anchor) -> bool:
    """True when the anchor names a day that some months (or years) do not have."""
    if anchor.granularity is Granularity.MONTHLY:
        return _get(anchor.day) > 28
    if anchor.granularity is Granularity.YEARLY:
        return (anchor.month, anchor.day) == (2, 29)
    return False


def wraps(window: Window) -> bool:
    """True when an occurrence ends in the cycle after the one it begins in."""
    return window.granularity is not Granularity.ONCE and window.end.key() <= window.begin.key()


class Recurrence:
    """How one window repeats. Build it once per window and reuse it: daily and weekly windows
    become fixed offsets from their cycle's start, which keeps every lookup cheap."""

    __slots__ = ("_begin", "_end", "_period", "_wraps", "window")

    def __init__(self, window: Window) -> None:
        self.window = window
        self._wraps = wraps(window)
        self._period: timedelta | None = None
        self._begin = self._end = timedelta(0)
        if window.granularity in (Granularity.DAILY, Granularity.WEEKLY):
            days = 1 if window.granularity is Granularity.DAILY else 7
            self._period = timedelta(days=days)
            self._begin, self._end = _offset(window.begin), _offset(window.end)
            if self._end <= self._begin:
                self._end += self._period

    def occurrences(
        self, start: datetime, stop: datetime, exceptions: Container[date] = ()
    ) -> Iterator[tuple[datetime, datetime]]:
        """Occurrences ``(begin, end)`` overlapping ``[start, stop)``, in time order.

        A recurring occurrence that *begins* on an exception date is left out: the exception
        cancels the class of that date, including the part of it that runs past midnight.
        One-off windows are explicit and always apply.
        """
        window, period = self.window, self._period
        if period is not None:
            cycle = cycle_start(window.granularity, start) - period
            while (begin := cycle + self._begin) < stop:
                end = cycle + self._end
                if end > start and begin.date() not in exceptions:
                    yield begin, end
                cycle += period
            return
        if window.granularity is Granularity.ONCE:
            begin, end = place(window.begin), place(window.end)
            if begin < stop and end > start and end > begin:
                yield begin, end
            return
        granularity = window.granularity
        cycle = shift_cycle(granularity, cycle_start(granularity, start), -1)
        last = cycle_start(granularity, stop)
        while cycle <= last:
            begin = place(window.begin, cycle)
            end = place(window.end, shift_cycle(granularity, cycle, 1) if self._wraps else cycle)
            if end > begin and begin < stop and end > start and begin.date() not in exceptions:
                yield begin, end
            cycle = shift_cycle(granularity, cycle, 1)

    def occurrence_at(
        self, moment: datetime, exceptions: Container[date] = ()
    ) -> tuple[datetime, datetime] | None:
        """The occurrence in force at ``moment`` (begin <= moment < end), if any."""
        period = self._period
        if period is not None:
            cycle = cycle_start(self.window.granularity, moment)
            for start in (cycle, cycle - period):
                begin, end = start + self._begin, start + self._end
                if begin <= moment < end and begin.date() not in exceptions:
                    return begin, end
            return None
        for begin, end in self.occurrences(moment, moment + INSTANT, exceptions):
            if begin <= moment < end:
                return begin, end
        return None


def occurrences(
    window: Window,
    start: datetime,
    stop: datetime,
    exceptions: Container[date] = (),
) -> Iterator[tuple[datetime, datetime]]:
    """Occurrences of ``window`` overlapping ``[start, stop)``; see :class:`Recurrence`."""
    return Recurrence(window).occurrences(start, stop, exceptions)


def occurrence_at(
    window: Window, moment: datetime, exceptions: Container[date] = ()
) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` in force at ``moment``, if any."""
    return Recurrence(window).occurrence_at(moment, exceptions)


def _offset(anchor: Anchor) -> timedelta:
    return timedelta(days=anchor.weekday or 0, hours=anchor.hour, minutes=anchor.minute)


def first_overlap(
    first: Window, second: Window, exceptions: Container[date] = ()
) -> datetime | None:
    """An instant at which both windows are in force, or ``None`` when they never overlap.

    The coarser window's occurrences are enumerated over a horizon after which the calendar
    repeats, and the finer window is looked up inside each of them. Exception dates only count
    against a one-off window: they can make room for a special day inside a recurring pattern,
    but cannot resolve a clash that recurs forever.
    """
    fixed = (Granularity.DAILY, Granularity.WEEKLY)
    if first.granularity in fixed and second.granularity in fixed:
        return _first_weekly_overlap(first, second)
    coarse, fine = sorted((first, second), key=lambda w: _COARSENESS[w.granularity], reverse=True)
    recurring_inside_one_off = (
        coarse.granularity is Granularity.ONCE and fine.granularity is not Granularity.ONCE
    )
    applied: Container[date] = exceptions if recurring_inside_one_off else ()
    for begin, end in occurrences(coarse, *_horizon(coarse)):
        for fine_begin, _fine_end in occurrences(fine, begin, end, applied):
            return max(begin, fine_begin)
    return None


def _first_weekly_overlap(first: Window, second: Window) -> datetime | None:
    """Daily and weekly windows compared as spans of one week, without enumerating dates."""
    starts = [
        max(begin_a, begin_b)
        for begin_a, end_a in _week_spans(first)
        for begin_b, end_b in _week_spans(second)
        if begin_a < end_b and begin_b < end_a
    ]
    return HORIZON_START + min(starts) if starts else None


def _week_spans(window: Window) -> list[tuple[timedelta, timedelta]]:
    """``[begin, end)`` offsets from Monday 0:00 covering the window in one week, unwrapped."""
    week = timedelta(weeks=1)
    begin, end = _offset(window.begin), _offset(window.end)
    days = range(7) if window.granularity is Granularity.DAILY else range(1)
    if end <= begin:
        end += timedelta(days=1) if window.granularity is Granularity.DAILY else week
    spans: list[tuple[timedelta, timedelta]] = []
    for day in days:
        low, high = begin + timedelta(days=day), end + timedelta(days=day)
        if high <= week:
            spans.append((low, high))
        else:
            spans.extend([(low, week), (timedelta(0), high - week)])
    return spans


def _horizon(coarse: Window) -> tuple[datetime, datetime]:
    if coarse.granularity is Granularity.ONCE:
        return place(coarse.begin), place(coarse.end)
    if coarse.granularity in (Granularity.MONTHLY, Granularity.YEARLY):
        end_year = HORIZON_START.year + _GREGORIAN_REPEAT_YEARS
        return HORIZON_START, HORIZON_START.replace(year=end_year)
    days = 14 if coarse.granularity is Granularity.WEEKLY else 2
    return HORIZON_START, HORIZON_START + timedelta(days=days)


def _clamped(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, min(day, calendar.monthrange(year, month)[1]))


def _get(value: int | None) -> int:
    if value is None:
        raise ValueError("anchor is missing a field its granularity needs")
    return value
