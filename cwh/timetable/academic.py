"""The academic calendar: which dates are class days, and why a date is not.

One rule, used by everything that asks the timetable about a date (the desired state, previews
and plans, the reconcile, the cron export, savings forecasts and the week picture), so they can
never disagree. On a date that is *off*, the recurring class phases and periods do not start and
the off-day state (the last phase of the day, or the default) stays in force; one-off periods
always apply. In order of precedence:

1. an explicit ``exceptions:`` entry wins both ways: a plain entry cancels classes (even on a
   teaching day of a term), a ``makeup: true`` entry holds them (even on a holiday or outside
   every term);
2. a national holiday of the ``holidays:`` country (the maintained ``holidays`` package) is off;
3. with ``terms:``, a date outside every term is off;
4. any other date is a class day.

A holiday list is a table of *dates*; a timetable in another zone than the country's compares
its own local dates with them (the loader notes the mismatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from cwh.messages import Language

FIRST_YEAR = 2000
LAST_YEAR = 2099
"""Dates of a calendar (terms, exceptions) must lie in these years (inclusive)."""


class DayKind(StrEnum):
    """Why a date is, or is not, a class day."""

    TEACHING = "teaching"
    MAKEUP = "makeup"
    HOLIDAY = "holiday"
    OUTSIDE_TERM = "outside_term"
    EXCEPTION = "exception"

    @property
    def off(self) -> bool:
        return self in (DayKind.HOLIDAY, DayKind.OUTSIDE_TERM, DayKind.EXCEPTION)


@dataclass(frozen=True, slots=True)
class Term:
    """A teaching period, both ends included."""

    first: date
    last: date
    name: str = ""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


@dataclass(frozen=True, slots=True)
class DayStatus:
    """One date as the calendar sees it.

    ``name`` is the holiday's name, the term's name or the exception's reason; ``overrides``
    says what a makeup day turns back on (a holiday's name, or that it lies outside the terms).
    """

    day: date
    kind: DayKind
    name: str = ""
    overrides: DayKind | None = None
    overridden_name: str = ""

    @property
    def off(self) -> bool:
        return self.kind.off


@dataclass(frozen=True)
class AcademicCalendar:
    """The rule of the module docstring; ``date in calendar`` is True on an off date.

    ``reasons`` maps explicit exception dates (off or makeup) to the reason written with them.
    """

    exceptions: frozenset[date] = frozenset()
    makeup_days: frozenset[date] = frozenset()
    holidays: str | None = None
    terms: tuple[Term, ...] = ()
    reasons: tuple[tuple[date, str], ...] = ()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day in self.exceptions:
            return True
        if day in self.makeup_days:
            return False
        if self.holidays is not None and day in _holiday_dates(self.holidays, day.year):
            return True
        return bool(self.terms) and not any(day in term for term in self.terms)

    def status(self, day: date, language: Language = "en") -> DayStatus:
        """What the calendar says about ``day``, with names in ``language`` where it has them."""
        reason = dict(self.reasons).get(day, "")
        if day in self.exceptions:
            return DayStatus(day, DayKind.EXCEPTION, reason)
        natural = self._natural(day, language)
        if day in self.makeup_days:
            overrides = natural.kind if natural.off else None
            overridden = natural.name if natural.off else ""
            return DayStatus(day, DayKind.MAKEUP, reason, overrides, overridden)
        return natural

    def _natural(self, day: date, language: Language) -> DayStatus:
        """The status without explicit exceptions."""
        if self.holidays is not None and day in _holiday_dates(self.holidays, day.year):
            return DayStatus(day, DayKind.HOLIDAY, holiday_name(self.holidays, day, language))
        for term in self.terms:
            if day in term:
                return DayStatus(day, DayKind.TEACHING, term.name)
        if self.terms:
            return DayStatus(day, DayKind.OUTSIDE_TERM)
        return DayStatus(day, DayKind.TEACHING)


def supported_countries() -> list[str]:
    """Country codes the ``holidays`` package knows, ISO 3166-1 alpha-2 only."""
    import holidays as holiday_tables  # its country tables load in a noticeable time

    return sorted(code for code in holiday_tables.list_supported_countries() if len(code) == 2)


def holiday_name(country: str, day: date, language: Language) -> str:
    """The holiday's name in ``language`` when the country's table has it, else in English,
    else in the table's own language; an empty string on an ordinary day."""
    return _holiday_names(country, day.year, language).get(day, "")


@lru_cache(maxsize=256)
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return frozenset()
    return frozenset(_holiday_names(country, year, "en"))


@lru_cache(maxsize=256)
def _holiday_names(country: str, year: int, language: Language) -> dict[date, str]:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return {}
    import holidays as holiday_tables

    table = holiday_tables.country_holidays(country, years=year)
    supported = tuple(getattr(table, "supported_languages", ()))
    wanted = "ja" if language == "ja" else "en_US"
    chosen = wanted if wanted in supported else ("en_US" if "en_US" in supported else None)
    if chosen is not None:
        table = holiday_tables.country_holidays(country, years=year, language=chosen)
    return {day: str(name) for day, name in table.items()}
