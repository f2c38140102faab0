"""Desired state of the worker timetable: the reference's verified examples, both input forms,
exceptions, wrapping periods, time zones, and consistency between instants and transitions."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.timetable import (
    HORIZON_START,
    Anchor,
    Culling,
    Granularity,
    NodeCounts,
    NodeState,
    Target,
    Timetable,
    Window,
    first_overlap,
    occurrence_at,
    parse_timetable,
)

TOKYO = ZoneInfo("Asia/Tokyo")
FIVE = [f"172.30.2.{n}" for n in range(101, 106)]
SIX = [*FIVE, "172.30.2.106"]

# Section 2.3 of the reference study: daily 9:00-16:00, 5 nodes, default 1, max 5, power_down,
# drain 60 -- exactly as vcp-schedule-utils stores it.
OCS_DAILY = {
    "default": {"node_count": 1, "max_node_count": 5, "down_type": "power_down", "drain_time": 60},
    "schedule": [
        {
            "node_count": 5,
            "period": {"begin": {"hour": 9, "minute": 0}, "end": {"hour": 16, "minute": 0}},
        }
    ],
}

# The three-phase class of notebook 953 (old swarm list, Monday).
SWARM_LIST = [
    {
        "schedule": {"day_of_week": "mon", "hour": 8, "minute": 30},
        "availability": {"active": 3, "pause": 0, "drain": 0},
    },
    {
        "schedule": {"day_of_week": "mon", "hour": 11, "minute": 0},
        "availability": {"active": 1, "pause": 2, "drain": 0},
    },
    {
        "schedule": {"day_of_week": "mon", "hour": 13, "minute": 0},
        "availability": {"active": 1, "pause": 0, "drain": 2},
    },
]

SEED = {
    "ip_addresses": FIVE[:3],
    "class_days": ["月", "Wednesday"],
    "phases": [
        {"name": "class", "start": "8:30", "active": 3, "pause": 0, "drain": 0},
        {"name": "after-class", "start": "11:00", "active": 1, "pause": 2, "drain": 0},
        {"name": "off-hours", "start": "13:00", "active": 1, "pause": 0, "drain": 2},
    ],
    "exceptions": ["2025-04-09", {"from": "2025-05-03", "to": "2025-05-06", "reason": "holiday"}],
}


def tokyo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def counts(active: int, pause: int = 0, power_down: int = 0, deleted: int = 0) -> NodeCounts:
    return NodeCounts(active, pause, power_down, deleted)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (8, 0, counts(1, power_down=4)),
        (9, 0, counts(5)),
        (15, 0, counts(1, pause=4)),
        (16, 0, counts(1, power_down=4)),
    ],
)
def test_reference_daily_period_table(hour: int, minute: int, expected: NodeCounts) -> None:
    timetable = parse_timetable(OCS_DAILY, ips=FIVE)
    assert timetable.counts_at(tokyo(2025, 4, 7, hour, minute)) == expected


def test_reference_six_addresses_at_1530() -> None:
    timetable = parse_timetable(OCS_DAILY, ips=SIX)
    nodes = timetable.desired_state(tokyo(2025, 4, 7, 15, 30))
    assert nodes == {
        "172.30.2.101": NodeState.ACTIVE,
        "172.30.2.102": NodeState.PAUSE,
        "172.30.2.103": NodeState.PAUSE,
        "172.30.2.104": NodeState.PAUSE,
        "172.30.2.105": NodeState.PAUSE,
        "172.30.2.106": NodeState.DELETED,
    }


def test_reference_max_six_with_largest_schedule_four() -> None:
    document = {
        "default": {"node_count": 1, "max_node_count": 6, "down_type": "power_down"},
        "schedule": [{"node_count": 4, "period": {"begin": "9:00", "end": "16:00"}}],
    }
    timetable = parse_timetable(document, ips=SIX)
    assert timetable.counts_at(tokyo(2025, 4, 7, 10)) == counts(4, deleted=2)
    forced = timetable.default_state()
    assert (
        list(forced.values())
        == [NodeState.ACTIVE] + [NodeState.POWER_DOWN] * 3 + [NodeState.DELETED] * 2
    )


def test_scale_up_has_no_early_start_and_scale_down_pauses_ahead() -> None:
    timetable = parse_timetable(OCS_DAILY, ips=FIVE)
    assert timetable.counts_at(tokyo(2025, 4, 7, 8, 59)) == counts(1, power_down=4)
    assert timetable.counts_at(tokyo(2025, 4, 7, 14, 59)) == counts(5)
    state = timetable.state_at(tokyo(2025, 4, 7, 15, 0))
    assert "4 node(s) paused ahead of 'default'" in state.note


def test_old_swarm_list_latest_trigger_wins_through_the_week() -> None:
    timetable = parse_timetable(SWARM_LIST, ips=FIVE[:3])
    assert timetable.form == "swarm-list"
    assert timetable.counts_at(tokyo(2025, 4, 7, 8, 29)) == counts(1, deleted=2)
    assert timetable.counts_at(tokyo(2025, 4, 7, 8, 30)) == counts(3)
    assert timetable.counts_at(tokyo(2025, 4, 7, 11, 0)) == counts(1, pause=2)
    assert timetable.counts_at(tokyo(2025, 4, 7, 13, 0)) == counts(1, deleted=2)
    assert timetable.counts_at(tokyo(2025, 4, 10, 12, 0)) == counts(1, deleted=2)
    assert timetable.counts_at(tokyo(2025, 4, 13, 23, 59)) == counts(1, deleted=2)


def test_old_swarm_list_and_its_ocs_conversion_agree_at_every_quarter_hour() -> None:
    """The reference's --convert-ocs rules: default on2, max on0+drain0, drain_time t1->t2,
    one period t0->t2 with on0 nodes. Both documents must want the same pool all week."""
    converted = {
        "default": {
            "node_count": 1,
            "max_node_count": 3,
            "down_type": "deleted",
            "drain_time": 120,
        },
        "schedule": [{"node_count": 3, "period": {"begin": "Mon 8:30", "end": "Mon 13:00"}}],
    }
    old = parse_timetable(SWARM_LIST, ips=FIVE[:3])
    new = parse_timetable(converted, ips=FIVE[:3])
    moment = tokyo(2025, 4, 6)
    while moment < tokyo(2025, 4, 14):
        assert old.desired_state(moment) == new.desired_state(moment), moment
        moment += timedelta(minutes=15)


def test_seed_form_phases_on_two_class_days() -> None:
    timetable = parse_timetable(SEED)
    states = timetable.transitions(tokyo(2025, 4, 7), tokyo(2025, 4, 8))
    assert [(s.at.hour, s.at.minute, s.phase) for s in states] == [
        (0, 0, "off-hours"),
        (8, 30, "class"),
        (11, 0, "after-class"),
        (13, 0, "off-hours"),
    ]
    assert timetable.desired_state(tokyo(2025, 4, 16, 9)) == dict.fromkeys(
        FIVE[:3], NodeState.ACTIVE
    )
    assert timetable.counts_at(tokyo(2025, 4, 8, 9)) == counts(1, deleted=2)


def test_exception_dates_keep_the_off_hours_state() -> None:
    timetable = parse_timetable(SEED)
    assert timetable.counts_at(tokyo(2025, 4, 9, 9)) == counts(1, deleted=2)
    assert timetable.counts_at(tokyo(2025, 5, 5, 9)) == counts(1, deleted=2)
    assert timetable.counts_at(tokyo(2025, 5, 7, 9)) == counts(3)
    week = timetable.transitions(tokyo(2025, 4, 7), tokyo(2025, 4, 14))
    assert {s.at.date() for s in week} == {date(2025, 4, 7)}


def test_exceptions_cancel_recurring_periods_but_not_one_off_ones() -> None:
    document = {
        "ip_addresses": FIVE,
        "default": 1,
        "periods": [
            {"name": "class", "begin": "Mon 9:00", "end": "Mon 12:00", "node_count": 5},
            {"name": "makeup", "begin": "2025/4/7 13:00", "end": "2025/4/7 15:00", "active": 3},
        ],
        "exceptions": ["2025-04-07"],
    }
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 7, 10)).active == 1
    assert timetable.counts_at(tokyo(2025, 4, 7, 14)).active == 3
    assert timetable.counts_at(tokyo(2025, 4, 14, 10)).active == 5


def test_period_spanning_midnight_belongs_to_the_day_it_begins() -> None:
    document = {
        "ip_addresses": FIVE,
        "default": 1,
        "periods": [{"begin": "22:00", "end": "7:00", "node_count": 2}],
        "exceptions": ["2025-04-08"],
    }
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 8, 3)).active == 2
    assert timetable.counts_at(tokyo(2025, 4, 8, 23)).active == 1
    assert timetable.counts_at(tokyo(2025, 4, 9, 6, 59)).active == 1
    assert timetable.counts_at(tokyo(2025, 4, 9, 23)).active == 2


def test_monthly_day_31_uses_the_last_day_of_shorter_months() -> None:
    document = {
        "ip_addresses": FIVE,
        "default": 0,
        "periods": [{"begin": "31日 9:00", "end": "31日 18:00", "node_count": 2}],
    }
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 30, 10)).active == 2
    assert timetable.counts_at(tokyo(2025, 5, 30, 10)).active == 0
    assert timetable.counts_at(tokyo(2025, 5, 31, 10)).active == 2
    assert timetable.counts_at(tokyo(2025, 2, 28, 10)).active == 2
    assert any("last day" in note for note in timetable.notes)


def test_yearly_period_across_new_year() -> None:
    document = {
        "ip_addresses": FIVE,
        "default": 2,
        "periods": [{"begin": "12/29 0:00", "end": "1/4 0:00", "node_count": 0}],
    }
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 12, 31, 12)) == counts(0, deleted=5)
    assert timetable.counts_at(tokyo(2026, 1, 3, 23, 59)).active == 0
    assert timetable.counts_at(tokyo(2026, 1, 4)).active == 2
    assert timetable.counts_at(tokyo(2025, 12, 28, 23, 59)).active == 2


def test_instants_in_any_zone_are_read_on_the_timetable_clock() -> None:
    timetable = parse_timetable(SEED)
    utc_monday_morning = datetime(2025, 4, 6, 23, 30, tzinfo=UTC)
    assert timetable.state_at(utc_monday_morning).phase == "class"
    assert timetable.state_at(utc_monday_morning).at == tokyo(2025, 4, 7, 8, 30)
    with pytest.raises(ValueError, match="no time zone"):
        timetable.state_at(datetime(2025, 4, 7, 9))


def test_phases_follow_the_wall_clock_across_a_dst_change() -> None:
    document = {**SEED, "timezone": "Europe/Berlin", "class_days": ["sun"], "exceptions": []}
    timetable = parse_timetable(document)
    berlin = ZoneInfo("Europe/Berlin")
    starts = [
        s.at
        for s in timetable.transitions(
            datetime(2025, 3, 23, tzinfo=berlin), datetime(2025, 4, 1, tzinfo=berlin)
        )
        if s.phase == "class"
    ]
    assert [(moment.hour, moment.minute) for moment in starts] == [(8, 30), (8, 30)]
    assert [moment.utcoffset() for moment in starts] == [timedelta(hours=1), timedelta(hours=2)]


def test_power_down_keeps_only_nodes_some_phase_needs() -> None:
    document = {**SEED, "ip_addresses": FIVE, "down_type": "power_down"}
    document["phases"] = [
        {"name": "class", "start": "8:30", "active": 3, "pause": 0, "drain": 2},
        {"name": "off", "start": "13:00", "active": 1, "pause": 0, "drain": 4},
    ]
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 8)) == counts(1, power_down=2, deleted=2)


def test_phase_drain_time_pauses_leaving_nodes_ahead_of_the_phase() -> None:
    document = {**SEED, "exceptions": []}
    document["phases"] = [
        {"name": "class", "start": "8:30", "active": 3},
        {"name": "off", "start": "13:00", "active": 1, "drain": 2, "drain_time": 30},
    ]
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 7, 12, 29)) == counts(3)
    assert timetable.counts_at(tokyo(2025, 4, 7, 12, 30)) == counts(1, pause=2)
    assert timetable.counts_at(tokyo(2025, 4, 7, 13)) == counts(1, deleted=2)


def test_culling_follows_the_phase_in_force() -> None:
    document = {
        **SEED,
        "culling": {"enabled": True, "idle_timeout": 3600},
        "phases": [
            {"name": "class", "start": "8:30", "active": 3},
            {
                "name": "off",
                "start": "13:00",
                "active": 1,
                "drain": 2,
                "culling": {"idle_timeout": 600},
            },
        ],
    }
    timetable = parse_timetable(document)
    assert timetable.culling_at(tokyo(2025, 4, 7, 9)) == Culling(True, 3600)
    assert timetable.culling_at(tokyo(2025, 4, 7, 14)) == Culling(True, 600)


def test_scheduled_counts_yield_to_the_timetable_on_exception_dates() -> None:
    timetable = parse_timetable(SEED)
    holiday = tokyo(2025, 4, 9, 8, 30)
    result = timetable.resolve_run_target(holiday, active=3, pause=0, drain=0, phase="class")
    assert result.source == "timetable"
    assert result.state.counts == counts(1, deleted=2)
    assert "2025-04-09 is an exception date" in result.note
    regular = timetable.resolve_run_target(
        tokyo(2025, 4, 7, 8, 30), active=3, pause=0, drain=0, phase="class"
    )
    assert (regular.source, regular.state.counts) == ("parameters", counts(3))


def test_explicit_counts_without_phase_are_an_override() -> None:
    timetable = parse_timetable(SEED)
    result = timetable.resolve_run_target(tokyo(2025, 4, 8, 3), active=2)
    assert result.source == "parameters"
    assert result.state.counts == counts(2, deleted=1)
    derived = timetable.resolve_run_target(tokyo(2025, 4, 8, 3))
    assert derived.source == "timetable"
    with pytest.raises(ValueError, match="add up to the 3 worker addresses"):
        timetable.resolve_run_target(tokyo(2025, 4, 8), active=1, pause=1, drain=2)
    with pytest.raises(ValueError, match="exceed"):
        timetable.resolve_run_target(tokyo(2025, 4, 8), active=4)


def _busy_timetable() -> Timetable:
    document = {
        "ip_addresses": SIX,
        "down_type": "power_down",
        "drain_time": 45,
        "default": 1,
        "periods": [
            {"name": "mon", "begin": "Mon 8:30", "end": "Mon 12:00", "node_count": 6},
            {"name": "tue", "begin": "Tue 13:00", "end": "Tue 16:30", "active": 3, "pause": 1},
            {"name": "night", "begin": "22:00", "end": "23:30", "node_count": 2},
            {"name": "month", "begin": "15日 6:00", "end": "15日 7:00", "node_count": 4},
        ],
        "exceptions": ["2025-04-15"],
    }
    return parse_timetable(document)


BUSY = _busy_timetable()
WEEK_START = tokyo(2025, 4, 13)
HISTORY = BUSY.transitions(WEEK_START, WEEK_START + timedelta(days=14))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=14 * 24 * 60 - 1))
def test_state_at_any_instant_is_the_last_transition_before_it(minute: int) -> None:
    moment = WEEK_START + timedelta(minutes=minute)
    last = [state for state in HISTORY if state.at <= moment][-1]
    assert BUSY.state_at(moment).nodes == last.nodes


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=14 * 24 * 60 - 1))
def test_every_state_covers_every_address_once(minute: int) -> None:
    state = BUSY.state_at(WEEK_START + timedelta(minutes=minute))
    assert list(state.nodes) == SIX
    assert state.counts.total == len(SIX)
    ordered = [NodeState.ACTIVE, NodeState.PAUSE, NodeState.POWER_DOWN, NodeState.DELETED]
    ranks = [ordered.index(value) for value in state.nodes.values()]
    assert ranks == sorted(ranks)


def test_transitions_never_repeat_a_state() -> None:
    history = BUSY.transitions(WEEK_START, WEEK_START + timedelta(days=35))
    for before, after in itertools.pairwise(history):
        assert (before.nodes, before.phase) != (after.nodes, after.phase)
        assert before.at < after.at


def _anchor_strategy() -> st.SearchStrategy[Anchor]:
    return st.builds(
        lambda daily, weekday, quarter: Anchor(
            Granularity.DAILY if daily else Granularity.WEEKLY,
            quarter // 4,
            quarter % 4 * 15,
            weekday=None if daily else weekday,
        ),
        st.booleans(),
        st.integers(0, 6),
        st.integers(0, 95),
    )


@settings(max_examples=60, deadline=None)
@given(_anchor_strategy(), _anchor_strategy(), _anchor_strategy(), _anchor_strategy())
def test_overlap_check_agrees_with_a_minute_by_minute_scan(
    begin_a: Anchor, end_a: Anchor, begin_b: Anchor, end_b: Anchor
) -> None:
    end_a = dataclasses.replace(
        end_a,
        granularity=begin_a.granularity,
        weekday=(None if begin_a.granularity is Granularity.DAILY else end_a.weekday or 0),
    )
    end_b = dataclasses.replace(
        end_b,
        granularity=begin_b.granularity,
        weekday=(None if begin_b.granularity is Granularity.DAILY else end_b.weekday or 0),
    )
    if begin_a.key() == end_a.key() or begin_b.key() == end_b.key():
        return
    first = Window("a", "a", begin_a, end_a, Target(1))
    second = Window("b", "b", begin_b, end_b, Target(1))
    found = first_overlap(first, second)
    scan = [
        HORIZON_START + timedelta(minutes=15 * step)
        for step in range(7 * 96)
        if occurrence_at(first, HORIZON_START + timedelta(minutes=15 * step))
        and occurrence_at(second, HORIZON_START + timedelta(minutes=15 * step))
    ]
    assert found == (scan[0] if scan else None)


def test_single_old_entry_is_a_fixed_state() -> None:
    timetable = parse_timetable(SWARM_LIST[1:2], ips=FIVE[:3])
    assert timetable.windows == ()
    assert timetable.counts_at(tokyo(2025, 4, 7, 3)) == counts(1, pause=2)


def test_last_phase_drain_applies_to_the_default_only() -> None:
    document = {
        "ip_addresses": FIVE[:3],
        "drain_time": 10,
        "class_days": ["mon"],
        "phases": [
            {"name": "class", "start": "8:30", "active": 3},
            {"name": "off", "start": "13:00", "active": 1, "drain": 2, "drain_time": 30},
        ],
        "periods": [
            {"name": "lab", "begin": "Tue 9:00", "end": "Tue 10:00", "node_count": 3},
            {"name": "lab-tail", "begin": "Tue 10:00", "end": "Tue 11:00", "node_count": 2},
        ],
    }
    timetable = parse_timetable(document)
    assert timetable.counts_at(tokyo(2025, 4, 8, 9, 49)) == counts(3)
    assert timetable.counts_at(tokyo(2025, 4, 8, 9, 50)) == counts(2, pause=1)
    assert timetable.counts_at(tokyo(2025, 4, 8, 10, 29)) == counts(2, deleted=1)
    assert timetable.counts_at(tokyo(2025, 4, 8, 10, 30)) == counts(1, pause=1, deleted=1)
    assert timetable.counts_at(tokyo(2025, 4, 7, 12, 30)) == counts(1, pause=2)
