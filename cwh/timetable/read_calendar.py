"""Reader of a timetable's academic calendar: ``holidays:``, ``terms:`` and the exceptions.

Every problem is collected with where it was written, before anything is built: a country code
the ``holidays`` package does not know, a term that ends before it starts, two terms sharing a
date, or a date outside the years a calendar may use.
"""

from __future__ import annotations

from cwh.timetable.academic import (
    FIRST_YEAR,
    LAST_YEAR,
    AcademicCalendar,
    Term,
    supported_countries,
)
from cwh.timetable.read_common import Collector, Spec
from cwh.timetable.text import parse_term, suggest

HOLIDAY_ZONES: dict[str, str] = {"JP": "Asia/Tokyo"}
"""The zone whose dates a country's holiday list gives, where a mismatch is worth a note."""


def read_calendar(spec: Spec, collector: Collector) -> AcademicCalendar:
    """The calendar the document describes; problems go to ``collector``."""
    return AcademicCalendar(
        exceptions=frozenset(spec.exceptions),
        makeup_days=frozenset(spec.makeup_days),
        holidays=_country(spec, collector),
        terms=_terms(spec, collector),
        reasons=tuple(sorted(spec.reasons.items())),
    )


def _country(spec: Spec, collector: Collector) -> str | None:
    value = spec.holidays
    if value is None:
        return None
    countries = supported_countries()
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in countries:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        hint = suggest(value[:40], countries) if isinstance(value, str) else ""
        collector.add(
            "holidays",
            f"{shown} is not a country whose national holidays are known{hint}; "
            "write an ISO 3166 country code, e.g. JP",
        )
        return None
    zone = HOLIDAY_ZONES.get(code)
    if zone is not None and isinstance(spec.timezone, str) and spec.timezone != zone:
        spec.notes.append(
            f"holidays: {code} lists dates in {zone}; this timetable compares them with its "
            f"own dates in {spec.timezone}"
        )
    return code


MAX_TERMS = 200
"""Most terms a timetable lists (decades of semesters or quarters)."""


def _terms(spec: Spec, collector: Collector) -> tuple[Term, ...]:
    terms: list[tuple[str, Term]] = []
    if len(spec.terms) > MAX_TERMS:
        collector.add(
            "terms", f"lists {len(spec.terms)} terms, more than {MAX_TERMS}; keep the coming years"
        )
        return ()
    for where, value in spec.terms:
        entry = collector.read(where, parse_term, value)
        if entry is None:
            continue
        if entry.first.year < FIRST_YEAR or entry.last.year > LAST_YEAR:
            collector.add(where, f"lies outside the years {FIRST_YEAR}-{LAST_YEAR}; check the year")
            continue
        if (entry.last - entry.first).days > 366:
            collector.add(
                where,
                f"runs from {entry.first} to {entry.last}, more than a year; "
                "check the years, or list each term on its own",
            )
            continue
        term = Term(entry.first, entry.last, entry.reason)
        clash = next((other for other in terms if _overlap(other[1], term)), None)
        if clash is not None:
            other_where, other = clash
            collector.add(
                where,
                f"{term.first}..{term.last} overlaps {other_where} ({other.first}..{other.last}); "
                "terms must not share a date",
            )
            continue
        terms.append((where, term))
    return tuple(sorted((term for _where, term in terms), key=lambda term: term.first))


def _overlap(first: Term, second: Term) -> bool:
    return first.first <= second.last and second.first <= first.last
