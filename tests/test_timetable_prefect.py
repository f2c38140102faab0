"""The schedules: block for prefect.yaml, checked with Prefect's own schedule classes: every cron
schedule must fire exactly at the timetable's transitions, and every scheduled run must resolve
to the timetable's state (the timetable winning on exception dates)."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.schedules import Cron
from prefect.server.schemas.schedules import CronSchedule

from cwh.timetable import (
    SAFETY_NET_SLUG,
    Timetable,
    parse_timetable,
    prefect_schedules,
    render_schedules_yaml,
)

TOKYO = ZoneInfo("Asia/Tokyo")
IPS = ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]
START = datetime(2025, 4, 6, tzinfo=TOKYO)
END = START + timedelta(days=14)

SEED = {
    "ip_addresses": IPS,
    "class_days": ["mon", "thu"],
    "drain_time": 20,
    "phases": [
        {"name": "class", "start": "8:30", "active": 4, "pause": 0, "drain": 0},
        {"name": "after class", "start": "11:00", "active": 2, "pause": 2, "drain": 0},
        {"name": "off hours", "start": "13:00", "active": 1, "pause": 0, "drain": 3},
    ],
    "exceptions": ["2025-04-10"],
}


def schedule_items(timetable: Timetable, indent: int = 4) -> list[dict[str, Any]]:
    schedules, notes = prefect_schedules(timetable, reference=START)
    text = render_schedules_yaml(schedules, notes, indent=indent, source="timetable.yaml")
    assert all(line.startswith(" " * indent) for line in text.splitlines())
    document = yaml.safe_load(textwrap.dedent(text))
    items: list[dict[str, Any]] = document["schedules"]
    return items


def fire_times(item: dict[str, Any]) -> list[datetime]:
    schedule = CronSchedule(cron=item["cron"], timezone=item["timezone"])
    dates = asyncio.run(schedule.get_dates(start=START, end=END - timedelta(seconds=1)))
    return [datetime.fromtimestamp(moment.timestamp(), TOKYO) for moment in dates]


def test_block_is_valid_for_prefect_and_has_a_safety_net() -> None:
    items = schedule_items(parse_timetable(SEED))
    slugs = [item["slug"] for item in items]
    assert len(set(slugs)) == len(slugs)
    for item in items:
        Cron(
            item["cron"],
            timezone=item["timezone"],
            slug=item["slug"],
            parameters=item.get("parameters", {}),
        )
        assert item["timezone"] == "Asia/Tokyo"
    safety = items[-1]
    assert safety == {"cron": "*/15 * * * *", "timezone": "Asia/Tokyo", "slug": SAFETY_NET_SLUG}


def test_cron_schedules_fire_exactly_at_the_transitions() -> None:
    timetable = parse_timetable(SEED)
    phase_items = [item for item in schedule_items(timetable) if item["slug"] != SAFETY_NET_SLUG]
    fired = sorted(moment for item in phase_items for moment in fire_times(item))
    transitions = [state.at for state in timetable.transitions(START, END)][1:]
    regular = [moment for moment in fired if not timetable.is_exception(moment.date())]
    assert regular == transitions
    assert {moment.date().isoformat() for moment in fired} - {
        moment.date().isoformat() for moment in transitions
    } == {"2025-04-10"}


def test_every_scheduled_run_resolves_to_the_timetable_state() -> None:
    timetable = parse_timetable(SEED)
    for item in schedule_items(timetable):
        parameters = item.get("parameters", {})
        for moment in fire_times(item):
            run = timetable.resolve_run_target(moment, **parameters)
            assert run.state.nodes == timetable.desired_state(moment)
            if not parameters:
                assert run.source == "timetable"
            elif not timetable.is_exception(moment.date()):
                assert run.source == "parameters", (item["slug"], moment, run.note)
            elif run.source == "timetable":
                assert "exception date" in run.note
            else:
                assert (run.state.counts.active, run.state.counts.pause) == (
                    parameters["active"],
                    parameters["pause"],
                )


def test_phase_parameters_and_early_pause() -> None:
    items = {item["slug"]: item for item in schedule_items(parse_timetable(SEED))}
    assert items["class"]["cron"] == "30 8 * * 1,4"
    assert items["class"]["parameters"] == {"phase": "class", "active": 4, "pause": 0, "drain": 0}
    assert items["pause-before-off-hours"]["cron"] == "40 12 * * 1,4"
    assert items["pause-before-off-hours"]["parameters"] == {
        "phase": "pause-before-off-hours",
        "active": 1,
        "pause": 3,
        "drain": 0,
    }
    assert items["off-hours"]["parameters"]["drain"] == 3


def test_reference_daily_period_schedules() -> None:
    document = {
        "default": {"node_count": 1, "down_type": "power_down", "drain_time": 60},
        "schedule": [{"node_count": 4, "period": {"begin": "9:00", "end": "16:00"}}],
    }
    items = schedule_items(parse_timetable(document, ips=IPS), indent=0)
    assert [(item["slug"], item["cron"]) for item in items] == [
        ("period-1", "0 9 * * *"),
        ("pause-before-default", "0 15 * * *"),
        ("default", "0 16 * * *"),
        (SAFETY_NET_SLUG, "*/15 * * * *"),
    ]


def test_what_cron_cannot_express_is_left_to_the_safety_net() -> None:
    document = {
        "ip_addresses": IPS,
        "default": 1,
        "periods": [
            {"name": "month end", "begin": "31日 9:00", "end": "31日 17:00", "node_count": 2},
            {"name": "open day", "begin": "2025/5/10 9:00", "end": "2025/5/10 12:00", "active": 4},
        ],
    }
    schedules, notes = prefect_schedules(parse_timetable(document), reference=START)
    assert [schedule.cron for schedule in schedules] == [
        "0 9 31 * *",
        "0 17 31 * *",
        "*/15 * * * *",
    ]
    assert any("does not exist in shorter months" in note for note in notes)
    assert any("one-off transition at 2025/5/10 9:00" in note for note in notes)


def test_safety_net_interval_must_divide_an_hour() -> None:
    with pytest.raises(ValueError, match="divide an hour"):
        prefect_schedules(parse_timetable(SEED), reference=START, safety_net_minutes=7)
