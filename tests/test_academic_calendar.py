"""The academic calendar of a timetable: national holidays, terms and exceptions both ways.

2026-11-23 is a Monday and Labor Thanksgiving Day (勤労感謝の日) in Japan: with
``holidays: JP`` the Monday class phases do not start, a ``makeup: true`` exception brings them
back, and every consumer (state, preview, cron export, run target) follows the same rule.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_tables
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.timetable import (
    DayKind,
    TimetableError,
    parse_timetable,
    prefect_schedules,
    preview,
)
from cwh.timetable.observed import STATIC_PROVIDER
from deployments.cli import schedule

TOKYO = ZoneInfo("Asia/Tokyo")
HOLIDAY = date(2026, 11, 23)
SEED: dict[str, Any] = {
    "timezone": "Asia/Tokyo",
    "ip_addresses": ["10.7.0.1", "10.7.0.2", "10.7.0.3"],
    "class_days": ["mon", "thu"],
    "holidays": "JP",
    "phases": [
        {"name": "class", "start": "9:00", "active": 3},
        {"name": "off-hours", "start": "12:00", "active": 1, "drain": 2},
    ],
}


def tokyo(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOKYO)  # type: ignore[misc]


def document(**changes: object) -> dict[str, Any]:
    return {**SEED, **changes}


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cwh")
    schedule.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["schedule", *argv])
    code = args.handler(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "timetable.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_national_holiday_keeps_the_off_day_state_and_is_named_in_both_languages() -> None:
    timetable = parse_timetable(document())
    assert timetable.state_at(tokyo(2026, 11, 23, 10)).phase == "off-hours"
    assert timetable.state_at(tokyo(2026, 11, 30, 10)).phase == "class"
    status = timetable.day_status(HOLIDAY, "ja")
    assert (status.kind, status.name, status.off) == (DayKind.HOLIDAY, "勤労感謝の日", True)
    assert timetable.day_status(HOLIDAY, "en").name == "Labor Thanksgiving Day"
    assert timetable.is_off_day(HOLIDAY) and not timetable.is_exception(HOLIDAY)


def test_a_makeup_exception_turns_the_holiday_back_on() -> None:
    makeup = {"date": "2026-11-23", "makeup": True, "reason": "補講日"}
    timetable = parse_timetable(document(exceptions=[makeup]))
    assert timetable.state_at(tokyo(2026, 11, 23, 10)).phase == "class"
    status = timetable.day_status(HOLIDAY, "ja")
    assert (status.kind, status.overrides, status.overridden_name) == (
        DayKind.MAKEUP,
        DayKind.HOLIDAY,
        "勤労感謝の日",
    )
    assert not status.off


def test_preview_of_the_week_shows_the_holiday_off_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, document())
    code, out, _ = cli(["preview", str(path), "--from", "2026-11-23", "--language", "ja"], capsys)
    assert code == 0
    assert "× 月 2026-11-23  休み：祝日（勤労感謝の日）" in out
    assert "| 2026-11-23（月）09:00 | class" not in out
    assert "| 2026-11-26（木）09:00 | class" in out
    code, out, _ = cli(["preview", str(path), "--from", "2026-11-23", "--language", "en"], capsys)
    assert "× Mon 2026-11-23  off: holiday, Labor Thanksgiving Day" in out


def test_preview_with_a_makeup_entry_shows_the_holiday_back_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    makeup = {"date": "2026-11-23", "makeup": True}
    path = write(tmp_path, document(exceptions=[makeup]))
    code, out, _ = cli(["preview", str(path), "--from", "2026-11-23", "--language", "ja"], capsys)
    assert code == 0
    assert "| 2026-11-23（月）09:00 | class" in out
    assert "○ 月 2026-11-23  補講日：祝日（勤労感謝の日）ですが時間割どおり授業を行います" in out
    rows = preview(
        parse_timetable(document(exceptions=[makeup])),
        tokyo(2026, 11, 23),
        tokyo(2026, 11, 24),
        provider=STATIC_PROVIDER,
    )
    assert [row.state.phase for row in rows] == ["off-hours", "class", "off-hours"]


def test_terms_limit_classes_to_teaching_periods_and_exceptions_win_both_ways() -> None:
    terms = [
        {"name": "後期", "from": "2026-10-01", "to": "2027-02-05"},
        "2026-04-08..2026-07-31",
    ]
    exceptions = [
        {"date": "2026-08-03", "makeup": True, "reason": "集中講義"},
        {"date": "2026-12-03", "reason": "大学祭"},
    ]
    timetable = parse_timetable(document(terms=terms, exceptions=exceptions))
    assert timetable.state_at(tokyo(2026, 10, 1, 10)).phase == "class"  # Thursday, term
    assert timetable.state_at(tokyo(2026, 9, 3, 10)).phase == "off-hours"  # break
    assert timetable.day_status(date(2026, 9, 3)).kind is DayKind.OUTSIDE_TERM
    assert timetable.day_status(date(2026, 10, 1), "ja").name == "後期"
    assert timetable.state_at(tokyo(2026, 8, 3, 10)).phase == "class"  # makeup in the break
    assert timetable.day_status(date(2026, 8, 3)).overrides is DayKind.OUTSIDE_TERM
    assert timetable.state_at(tokyo(2026, 12, 3, 10)).phase == "off-hours"  # cancelled term day
    assert timetable.day_status(date(2026, 12, 3), "ja").name == "大学祭"
    assert timetable.state_at(tokyo(2026, 11, 23, 10)).phase == "off-hours"  # holiday in term


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"holidays": "XJ"}, "holidays: 'XJ' is not a country whose national holidays are known"),
        ({"holidays": 81}, "holidays: 81 is not a country"),
        (
            {"terms": [{"from": "2026-10-01", "to": "2026-09-01"}]},
            "terms[0]: the range ends (2026-09-01) before it starts (2026-10-01); swap them",
        ),
        (
            {"terms": ["2026-04-01..2026-07-31", "2026-07-01..2026-09-30"]},
            "terms[1]: 2026-07-01..2026-09-30 overlaps terms[0] (2026-04-01..2026-07-31)",
        ),
        ({"terms": ["1900-04-01..1900-07-31"]}, "terms[0]: lies outside the years 2000-2099"),
        ({"terms": ["2026-04-01..2028-07-31"]}, "terms[0]: runs from 2026-04-01 to 2028-07-31"),
        ({"terms": ["2026-02-30..2026-03-31"]}, "terms[0]: '2026-02-30' is not a calendar date"),
        ({"terms": "2026-04-01..2026-07-31"}, "terms: must be a list"),
        ({"terms": ["2026-04-01..2026-04-02"] * 201}, "terms: lists 201 terms, more than 200"),
        ({"exceptions": ["2999-01-01"]}, "exceptions[0]: lies outside the years 2000-2099"),
        (
            {"exceptions": ["2026-11-23", {"date": "2026-11-23", "makeup": True}]},
            "exceptions[1]: exceptions[0] already cancels classes on 2026-11-23",
        ),
        (
            {"exceptions": [{"date": "2026-11-23", "makeup": "yes"}]},
            "exceptions[0]: makeup must be true or false",
        ),
    ],
)
def test_a_bad_calendar_is_refused_with_a_specific_message(
    changes: dict[str, object], expected: str
) -> None:
    with pytest.raises(TimetableError) as caught:
        parse_timetable(document(**changes))
    assert expected in str(caught.value)


def test_every_calendar_problem_is_listed_at_once_and_nothing_is_built() -> None:
    bad = document(holidays="XX", terms=["2026-10-01..2026-09-01"], exceptions=["1999-12-31"])
    with pytest.raises(TimetableError) as caught:
        parse_timetable(bad)
    assert len(caught.value.problems) == 3


def test_a_holiday_country_whose_zone_differs_is_noted() -> None:
    timetable = parse_timetable(document(timezone="Europe/Berlin"))
    assert any("holidays: JP lists dates in Asia/Tokyo" in note for note in timetable.notes)


def test_run_target_on_a_holiday_follows_the_timetable_and_says_why() -> None:
    timetable = parse_timetable(document())
    result = timetable.resolve_run_target(
        tokyo(2026, 11, 23, 9), active=3, pause=0, drain=0, phase="class"
    )
    assert result.source == "timetable"
    assert result.state.phase == "off-hours"
    assert "2026-11-23 is a holiday (Labor Thanksgiving Day)" in result.note


def test_cron_export_is_the_same_from_a_holiday_week() -> None:
    """The counts of each schedule come from the next class day, so exporting during the
    holiday week gives the same schedules as a week later (no rule is lost on 11-23)."""
    timetable = parse_timetable(document())
    on_holiday, _ = prefect_schedules(timetable, reference=tokyo(2026, 11, 23, 0, 1))
    week_later, _ = prefect_schedules(timetable, reference=tokyo(2026, 11, 30, 0, 1))
    assert [(s.slug, s.cron, s.parameters) for s in on_holiday] == [
        (s.slug, s.cron, s.parameters) for s in week_later
    ]
    assert any(s.cron == "0 9 * * 1,4" for s in on_holiday)


def test_validate_summarises_the_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = document(
        terms=[{"name": "後期", "from": "2026-10-01", "to": "2027-02-05"}],
        exceptions=[{"date": "2026-11-23", "makeup": True}],
    )
    code, out, _ = cli(["validate", str(write(tmp_path, data))], capsys)
    assert code == 0
    assert "holidays   : JP" in out
    assert "term       : 後期 2026-10-01 .. 2027-02-05" in out
    assert "makeup days: 2026-11-23" in out


def test_a_bad_calendar_on_the_command_line_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, document(holidays="Japan"))
    code, out, err = cli(["preview", str(path), "--from", "2026-11-23"], capsys)
    assert code == 1 and not out
    assert "holidays: 'Japan' is not a country" in err
    assert "Traceback" not in err


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=6),
    st.sets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=6),
    st.dates(date(2026, 1, 1), date(2026, 12, 31)),
)
def test_every_consumer_follows_the_one_rule(
    cancelled: set[date], makeup: set[date], day: date
) -> None:
    """The state at 10:00, the preview's transitions and the status agree with the rule
    written out here independently, for random exceptions, makeup days and dates."""
    makeup -= cancelled
    exceptions: list[object] = [d.isoformat() for d in sorted(cancelled)]
    exceptions += [{"date": d.isoformat(), "makeup": True} for d in sorted(makeup)]
    terms = ["2026-04-08..2026-07-31", "2026-10-01..2027-02-05"]
    timetable = parse_timetable(document(exceptions=exceptions, terms=terms))
    in_term = date(2026, 4, 8) <= day <= date(2026, 7, 31) or date(2026, 10, 1) <= day
    national = day in holiday_tables.country_holidays("JP", years=2026)
    off = day in cancelled or (day not in makeup and (national or not in_term))
    assert timetable.is_off_day(day) == off == timetable.day_status(day).off
    ten = datetime.combine(day, time(10), TOKYO)
    class_day = day.weekday() in (0, 3)
    assert (timetable.state_at(ten).phase == "class") == (class_day and not off)
    rows = preview(
        timetable, ten - timedelta(hours=10), ten + timedelta(hours=14), provider=STATIC_PROVIDER
    )
    assert ("class" in {row.state.phase for row in rows}) == (class_day and not off)


def test_a_safety_net_run_on_an_off_day_says_why() -> None:
    timetable = parse_timetable(document(terms=["2026-04-08..2026-07-31"]))
    holiday = timetable.resolve_run_target(tokyo(2026, 7, 20, 10))  # Marine Day
    assert holiday.note == "derived from the timetable; 2026-07-20 is a holiday (Marine Day)"
    summer = timetable.resolve_run_target(tokyo(2026, 8, 3, 10))
    assert summer.note == "derived from the timetable; 2026-08-03 is outside every term"
    assert summer.state.phase == "off-hours"
    ordinary = timetable.resolve_run_target(tokyo(2026, 7, 27, 10))
    assert (ordinary.note, ordinary.state.phase) == ("derived from the timetable", "class")


def test_cron_export_after_the_last_term_says_so() -> None:
    timetable = parse_timetable(document(terms=["2026-04-08..2026-07-31"]))
    schedules, notes = prefect_schedules(timetable, reference=tokyo(2026, 9, 1))
    assert [s.slug for s in schedules] == ["safety-net"]
    assert any("every term ended by 2026-07-31" in note for note in notes)
    schedules, notes = prefect_schedules(timetable, reference=tokyo(2026, 5, 1))
    assert any(s.cron == "0 9 * * 1,4" for s in schedules)
    assert not any("every term ended" in note for note in notes)
