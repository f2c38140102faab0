"""Clock changes: previews, plans and reconcile runs follow one rule.

A wall-clock time the clock skips takes effect at the first instant after the gap; one it
passes twice takes effect once, at its first occurrence, and the repeated hour undoes nothing.
Checked for a zone without clock changes (Asia/Tokyo) and two with them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cwh.timetable import (
    STATIC_PROVIDER,
    Timetable,
    parse_timetable,
    plan_on_paper,
    prefect_schedules,
    preview,
    run_instant,
)

IPS = ["10.3.0.1", "10.3.0.2", "10.3.0.3"]
# (zone, the Sunday clocks go forward, the Sunday they go back, the hour repeated that day)
ZONES = [
    ("Asia/Tokyo", datetime(2025, 3, 9), datetime(2025, 11, 2), None),
    ("America/New_York", datetime(2025, 3, 9), datetime(2025, 11, 2), 1),
    ("Europe/Berlin", datetime(2025, 3, 30), datetime(2025, 10, 26), 2),
]


def sunday_timetable(zone: str, *phases: tuple[str, str, int]) -> Timetable:
    """Phases on Sundays: (name, start, active nodes); the rest of the addresses are deleted."""
    return parse_timetable(
        {
            "timezone": zone,
            "ip_addresses": IPS,
            "class_days": ["sun"],
            "phases": [
                {"name": name, "start": start, "active": active, "drain": len(IPS) - active}
                for name, start, active in phases
            ],
        }
    )


@pytest.mark.parametrize(("zone", "forward", "back", "_repeated"), ZONES)
def test_every_previewed_transition_is_what_a_plan_at_that_instant_does(
    zone: str, forward: datetime, back: datetime, _repeated: int | None
) -> None:
    timetable = sunday_timetable(
        zone, ("early", "1:15", 2), ("night", "2:30", 3), ("late", "3:30", 2), ("day", "9:00", 1)
    )
    for sunday in (forward, back):
        start = timetable.instant_of(sunday - timedelta(days=1))
        rows = preview(timetable, start, start + timedelta(days=2), provider=STATIC_PROVIDER)
        assert len(rows) > 1
        for row in rows[1:]:
            plan = plan_on_paper(timetable, row.state.at, provider=STATIC_PROVIDER)
            assert plan.actions == row.actions, (sunday, row.state.at)
            assert row.actions, (sunday, row.state.at)
            minute_before = row.state.at.astimezone(UTC) - timedelta(minutes=1)
            quiet = plan_on_paper(timetable, minute_before, provider=STATIC_PROVIDER)
            assert quiet.actions == (), (sunday, row.state.at)


@pytest.mark.parametrize(("zone", "forward", "_back", "_repeated"), ZONES)
def test_a_skipped_time_takes_effect_at_the_first_instant_after_the_gap(
    zone: str, forward: datetime, _back: datetime, _repeated: int | None
) -> None:
    timetable = sunday_timetable(zone, ("night", "2:30", 3), ("day", "9:00", 1))
    local = ZoneInfo(zone)
    gap_day = forward.date()
    start = timetable.instant_of(forward)
    rows = preview(timetable, start, start + timedelta(hours=12), provider=STATIC_PROVIDER)
    night = next(row.state.at for row in rows if row.state.phase == "night")
    if zone == "Asia/Tokyo":
        assert night == datetime(2025, 3, 9, 2, 30, tzinfo=local)
        return
    assert (night.date(), night.hour, night.minute) == (gap_day, 3, 0)
    just_before = night.astimezone(UTC) - timedelta(microseconds=1)
    assert timetable.state_at(just_before).phase == "day"
    assert timetable.state_at(night).phase == "night"
    assert (
        timetable.instant_of(
            datetime.combine(gap_day, datetime.min.time()).replace(hour=2, minute=30)
        )
        == night
    )
    assert run_instant(forward.replace(hour=2, minute=30), timetable) == night


@pytest.mark.parametrize(("zone", "_forward", "back", "repeated"), ZONES)
def test_a_time_passed_twice_takes_effect_once_and_the_repeated_hour_undoes_nothing(
    zone: str, _forward: datetime, back: datetime, repeated: int | None
) -> None:
    hour = repeated if repeated is not None else 1
    begin = f"{hour}:30"
    timetable = sunday_timetable(zone, ("night", begin, 3), ("day", "9:00", 1))
    first = timetable.instant_of(back.replace(hour=hour, minute=30))
    assert first.fold == 0
    phases = []
    moment = first.astimezone(UTC) - timedelta(hours=2)
    while moment < first.astimezone(UTC) + timedelta(hours=3):
        phases.append(timetable.state_at(moment).phase)
        moment += timedelta(minutes=5)
    assert phases == sorted(phases, key=["day", "night"].index), phases
    start = first - timedelta(hours=3)
    rows = preview(timetable, start, start + timedelta(hours=6), provider=STATIC_PROVIDER)
    assert [row.state.phase for row in rows] == ["day", "night"]
    assert rows[1].state.at == first


def test_the_exported_schedules_note_transitions_the_clock_skips() -> None:
    reference = datetime(2025, 1, 1, tzinfo=UTC)
    new_york = sunday_timetable("America/New_York", ("night", "2:30", 3), ("day", "9:00", 1))
    _schedules, notes = prefect_schedules(new_york, reference=reference)
    assert any(
        note.startswith("on 2025-03-09 the clock skips 2:30: 'night' takes effect at 03:00")
        for note in notes
    ), notes
    tokyo = sunday_timetable("Asia/Tokyo", ("night", "2:30", 3), ("day", "9:00", 1))
    _schedules, notes = prefect_schedules(tokyo, reference=reference)
    assert not any("clock skips" in note for note in notes)
