"""``cwh schedule savings --forecast``: planned node-hours against always-on, exact on a small
timetable, with holidays, makeup days, terms, a clock change and the ledger beside it."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from cwh.timetable import LedgerEntry, forecast_node_hours, forecast_total, parse_timetable
from deployments.cli import schedule

TOKYO = ZoneInfo("Asia/Tokyo")
# Two workers; on Mondays both are up 9:00-12:00 (one of them paused 11:00-12:00), otherwise
# one. A plain week: 168 h x 1 node + 3 h x 1 node = 171 node-hours, 1 of them paused.
SMALL: dict[str, Any] = {
    "timezone": "Asia/Tokyo",
    "ip_addresses": ["10.8.0.1", "10.8.0.2"],
    "class_days": ["mon"],
    "phases": [
        {"name": "class", "start": "9:00", "active": 2},
        {"name": "after-class", "start": "11:00", "active": 1, "pause": 1},
        {"name": "off-hours", "start": "12:00", "active": 1, "drain": 1},
    ],
}
WEEK47 = (date(2026, 11, 16), date(2026, 11, 22))
WEEK48 = (date(2026, 11, 23), date(2026, 11, 29))  # Monday 11-23 is a national holiday


def planned(document: dict[str, Any], first: date, last: date) -> list[tuple[str, float, float]]:
    weeks = forecast_node_hours(parse_timetable(document), first, last)
    return [(week.week, week.planned_node_hours, week.paused_node_hours) for week in weeks]


def test_a_plain_week_is_exact() -> None:
    weeks = forecast_node_hours(parse_timetable(SMALL), *WEEK48)
    (week,) = weeks
    assert (week.week, week.monday, week.hours) == ("2026-W48", date(2026, 11, 23), 168.0)
    assert (week.planned_node_hours, week.paused_node_hours) == (171.0, 1.0)
    assert week.always_on_node_hours == 336.0
    assert week.saved_node_hours == 165.0
    assert week.off_days == ()
    assert week.actual_node_hours is None and week.ledger_hours is None


def test_the_holiday_monday_plans_only_the_off_hours_node() -> None:
    with_holidays = {**SMALL, "holidays": "JP"}
    assert planned(with_holidays, *WEEK48) == [("2026-W48", 168.0, 0.0)]
    (week,) = forecast_node_hours(parse_timetable(with_holidays), *WEEK48)
    assert week.off_days == (date(2026, 11, 23),)
    makeup = {**with_holidays, "exceptions": [{"date": "2026-11-23", "makeup": True}]}
    assert planned(makeup, *WEEK48) == [("2026-W48", 171.0, 1.0)]


def test_terms_and_a_partial_range() -> None:
    document = {**SMALL, "terms": ["2026-10-01..2026-11-20"]}
    assert planned(document, WEEK47[0], WEEK48[1]) == [
        ("2026-W47", 171.0, 1.0),
        ("2026-W48", 168.0, 0.0),
    ]
    # From Tuesday to the next Monday: two pieces of two ISO weeks.
    assert planned(SMALL, date(2026, 11, 17), date(2026, 11, 23)) == [
        ("2026-W47", 144.0, 0.0),
        ("2026-W48", 27.0, 1.0),
    ]


def test_hours_are_real_hours_across_a_clock_change() -> None:
    berlin = {**SMALL, "timezone": "Europe/Berlin"}
    (week,) = forecast_node_hours(parse_timetable(berlin), date(2026, 10, 19), date(2026, 10, 25))
    assert week.hours == 169.0  # clocks go back on Sunday 2026-10-25
    assert (week.planned_node_hours, week.always_on_node_hours) == (172.0, 338.0)


def test_the_ledger_stands_beside_the_plan() -> None:
    ledger = [
        LedgerEntry(datetime(2026, 11, 20, tzinfo=TOKYO), 2, ("10.8.0.1",)),
        LedgerEntry(datetime(2026, 11, 25, tzinfo=TOKYO), 2, ("10.8.0.1", "10.8.0.2")),
    ]
    until = datetime(2026, 11, 28, tzinfo=TOKYO)
    (week,) = forecast_node_hours(parse_timetable(SMALL), *WEEK48, ledger=ledger, until=until)
    assert week.ledger_hours == 120.0  # Monday 0:00 to Saturday 0:00
    assert week.actual_node_hours == 48.0 * 1 + 72.0 * 2
    total = forecast_total([week])
    assert (total.planned_node_hours, total.actual_node_hours) == (171.0, 192.0)


def test_a_reversed_or_huge_range_is_refused() -> None:
    timetable = parse_timetable(SMALL)
    with pytest.raises(ValueError, match="ends"):
        forecast_node_hours(timetable, date(2026, 11, 29), date(2026, 11, 23))
    with pytest.raises(ValueError, match="longer than"):
        forecast_node_hours(timetable, date(2026, 1, 1), date(2030, 1, 1))


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cwh")
    schedule.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["schedule", *argv])
    code = args.handler(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_prints_the_forecast_beside_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "timetable.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "holidays": "JP"}), encoding="utf-8")
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        LedgerEntry(datetime(2026, 11, 16, tzinfo=TOKYO), 2, ("10.8.0.1",)).to_line()
        + "not json\n",
        encoding="utf-8",
    )
    argv = ["savings", str(path), "--forecast", "--from", "2026-11-16", "--to", "2026-11-29"]
    code, out, err = cli([*argv, "--ledger", str(ledger), "--until", "2026-11-30"], capsys)
    assert code == 0
    assert (
        "| 2026-W47 | 2026-11-16 | 0 | 171.0 | 1.0 | 336.0 | 165.0 (49%) | 168.0 | 168.0 |" in out
    )
    assert (
        "| 2026-W48 | 2026-11-23 | 1 | 168.0 | 0.0 | 336.0 | 168.0 (50%) | 168.0 | 168.0 |" in out
    )
    assert "| total |  | 1 | 339.0 | 1.0 | 672.0 | 333.0 (50%) | 336.0 | 336.0 |" in out
    assert "Off days: Mon 2026-11-23" in out
    assert "line 2: skipped" in err
    code, out, _ = cli([*argv, "--json"], capsys)
    data = json.loads(out)
    assert data["total"]["planned_node_hours"] == 339.0
    assert data["weeks"][1]["off_days"] == ["2026-11-23"]
    code, out, _ = cli([*argv, "--language", "ja"], capsys)
    assert "休みの日：月 2026-11-23" in out
    assert "台帳（--ledger）の指定がないため" in out


def test_the_command_explains_what_a_forecast_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["savings", "--forecast", "--from", "2026-11-16"], capsys)
    assert code == 1 and "--forecast needs FILE, --from DATE and --to DATE" in err
    path = tmp_path / "timetable.yaml"
    path.write_text(yaml.safe_dump(SMALL), encoding="utf-8")
    argv = ["savings", str(path), "--forecast", "--from", "2026-11-16", "--to", "11/29"]
    code, _, err = cli(argv, capsys)
    assert code == 1 and "--to '11/29' is not a date; write YYYY-MM-DD" in err
    code, _, err = cli(["savings"], capsys)
    assert code == 1 and "give --ledger" in err
