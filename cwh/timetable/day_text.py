"""Words for the academic calendar's verdict on a day, in the reader's language.

The preview's day list, the week picture and the forecast all say why a day is off through
these functions, from the catalogue's ``schedule.*`` messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from cwh.messages import Language, text
from cwh.timetable.academic import DayKind, DayStatus
from cwh.timetable.table import Timetable


def weekday_name(day: date, language: Language) -> str:
    return text("schedule.weekdays", language).split()[day.weekday()]


def describe_day(status: DayStatus, language: Language) -> str:
    """A sentence: class day, or off and why (holiday name, outside term, exception reason)."""
    match status.kind:
        case DayKind.HOLIDAY:
            return text("schedule.day.holiday", language, name=status.name)
        case DayKind.OUTSIDE_TERM:
            return text("schedule.day.outside_term", language)
        case DayKind.EXCEPTION:
            if status.name:
                return text("schedule.day.exception_reason", language, reason=status.name)
            return text("schedule.day.exception", language)
        case DayKind.MAKEUP:
            if status.overrides is DayKind.HOLIDAY:
                name = status.overridden_name
                return text("schedule.day.makeup_holiday", language, name=name)
            if status.overrides is DayKind.OUTSIDE_TERM:
                return text("schedule.day.makeup_outside_term", language)
            if status.name:
                return text("schedule.day.makeup_reason", language, reason=status.name)
            return text("schedule.day.makeup", language)
        case _:
            if status.name:
                return text("schedule.day.teaching_term", language, term=status.name)
            return text("schedule.day.teaching", language)


def short_label(status: DayStatus, language: Language) -> str:
    """A few words for a picture: the holiday's name, "outside term", the exception's reason."""
    match status.kind:
        case DayKind.HOLIDAY:
            return status.name or text("schedule.week.short_holiday", language)
        case DayKind.OUTSIDE_TERM:
            return text("schedule.week.short_outside_term", language)
        case DayKind.EXCEPTION:
            return status.name or text("schedule.week.short_exception", language)
        case DayKind.MAKEUP:
            makeup = text("schedule.week.short_makeup", language)
            return f"{makeup} ({status.overridden_name})" if status.overridden_name else makeup
        case _:
            return ""


def days_between(start: datetime, end: datetime, timetable: Timetable) -> list[date]:
    """The local dates from ``start``'s to the one just before ``end`` (instants)."""
    first = start.astimezone(timetable.timezone).date()
    last = end.astimezone(timetable.timezone).date()
    if end.astimezone(timetable.timezone).time() == datetime.min.time():
        last = date.fromordinal(last.toordinal() - 1)
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


def render_days(days: Sequence[date], timetable: Timetable, language: Language) -> str:
    """One line per date: weekday, date, and whether classes run there and why not."""
    lines = [text("schedule.preview.days", language, zone=timetable.timezone.key)]
    for day in days:
        status = timetable.day_status(day, language)
        marker = "×" if status.off else "○"
        described = describe_day(status, language)
        lines.append(f"  {marker} {weekday_name(day, language)} {day.isoformat()}  {described}")
    return "\n".join(lines) + "\n"
