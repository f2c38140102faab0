"""The node-hours ledger: file format, robustness to damaged lines, and the weekly arithmetic."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cwh.timetable import (
    LedgerEntry,
    append_ledger_entry,
    parse_ledger,
    render_savings_table,
    weekly_savings,
)

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = ZoneInfo("UTC")


def entry(day: int, hour: int, running: int, workers: int = 4, off: int = 0) -> LedgerEntry:
    addresses = [f"10.3.0.{n}" for n in range(1, workers + 1)]
    return LedgerEntry(
        at=datetime(2025, 4, day, hour, tzinfo=TOKYO),
        workers=workers,
        running=tuple(addresses[:running]),
        powered_off=tuple(addresses[running : running + off]),
    )


def test_lines_round_trip_and_damaged_lines_are_reported(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger" / "nodes.jsonl"
    first, second = entry(7, 8, 4), entry(7, 13, 1, off=3)
    append_ledger_entry(ledger, second)
    append_ledger_entry(ledger, first)
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write('{"v": 1, "at": "2025-04-07T14:00:00+09:00", "work')
    entries, problems = parse_ledger(ledger.read_text(encoding="utf-8"))
    assert entries == [first, second]
    assert [problem.where for problem in problems] == ["line 3"]
    assert "skipped" in problems[0].message


def test_unknown_versions_and_naive_times_are_refused() -> None:
    text = (
        '{"v": 2, "at": "2025-04-07T08:00:00+09:00", "workers": 1, "running": []}\n'
        '{"v": 1, "at": "2025-04-07T08:00:00", "workers": 1, "running": []}\n'
        '{"v": 1, "at": "2025-04-07T08:00:00+09:00", "workers": 1, "running": "10.3.0.1"}\n'
    )
    entries, problems = parse_ledger(text)
    assert entries == []
    assert [problem.where for problem in problems] == ["line 1", "line 2", "line 3"]


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    ledger = tmp_path / "nodes.jsonl"
    writers = [
        threading.Thread(
            target=lambda n=n: [append_ledger_entry(ledger, entry(7, n, 2)) for _ in range(50)]
        )
        for n in range(8)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    entries, problems = parse_ledger(ledger.read_text(encoding="utf-8"))
    assert (len(entries), problems) == (400, [])


def test_week_totals_follow_the_recorded_states() -> None:
    ledger = [entry(7, 0, 1), entry(7, 8, 4), entry(7, 13, 1, off=3)]
    until = datetime(2025, 4, 8, 0, tzinfo=TOKYO)
    (week,) = weekly_savings(ledger, until=until, timezone=TOKYO)
    assert week.week == "2025-W15"
    assert week.observed_hours == pytest.approx(24)
    assert week.used_node_hours == pytest.approx(8 * 1 + 5 * 4 + 11 * 1)
    assert week.powered_off_node_hours == pytest.approx(11 * 3)
    assert week.always_on_node_hours == pytest.approx(24 * 4)
    assert week.saved_node_hours == pytest.approx(96 - 39)
    assert week.saved_ratio == pytest.approx(57 / 96)


def test_intervals_are_split_at_local_week_boundaries() -> None:
    sunday_evening = LedgerEntry(datetime(2025, 4, 13, 22, tzinfo=TOKYO), 2, ("a", "b"))
    until = datetime(2025, 4, 14, 3, tzinfo=TOKYO)
    first, second = weekly_savings([sunday_evening], until=until, timezone=TOKYO)
    assert (first.week, first.used_node_hours) == ("2025-W15", pytest.approx(4))
    assert (second.week, second.used_node_hours) == ("2025-W16", pytest.approx(6))
    utc_weeks = weekly_savings([sunday_evening], until=until, timezone=UTC)
    assert [week.week for week in utc_weeks] == ["2025-W15"]


def test_hours_are_real_elapsed_hours_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = LedgerEntry(datetime(2025, 3, 30, 0, tzinfo=berlin), 1, ("a",))
    (week,) = weekly_savings(
        [start], until=datetime(2025, 3, 30, 12, tzinfo=berlin), timezone=berlin
    )
    assert week.observed_hours == pytest.approx(11)


def test_table_mentions_every_week() -> None:
    ledger = [entry(7, 0, 1), entry(14, 0, 2)]
    weeks = weekly_savings(ledger, until=datetime(2025, 4, 15, tzinfo=TOKYO), timezone=TOKYO)
    table = render_savings_table(weeks)
    assert "| 2025-W15 | 2025-04-07 | 168.0 | 168.0 |" in table
    assert "| 2025-W16 | 2025-04-14 | 24.0 | 48.0 |" in table
    assert weeks[0].to_json()["saved_ratio"] == pytest.approx(0.75)
    assert weeks[1].monday + timedelta(days=7) == datetime(2025, 4, 21).date()
