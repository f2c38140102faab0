"""The comparison of a deployment's schedules with a timetable's: pure, no server."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from prefect.client.schemas.objects import FlowRun

from cwh.timetable import (
    SAFETY_NET_SLUG,
    DeployedSchedule,
    PrefectSchedule,
    diff_schedules,
    drift_payload,
    owned_by_the_timetable,
    parse_timetable,
    prefect_schedules,
    render_schedule_diff,
    safety_net_interval,
)
from tasks.schedule_drift import started_by_the_safety_net

TOKYO = ZoneInfo("Asia/Tokyo")
DOCUMENT = {
    "timezone": "Asia/Tokyo",
    "ip_addresses": ["10.7.0.1", "10.7.0.2", "10.7.0.3"],
    "class_days": ["mon", "thu"],
    "drain_time": 20,
    "phases": [
        {"name": "class", "start": "8:30", "active": 3, "pause": 0, "drain": 0},
        {"name": "after class", "start": "11:00", "active": 1, "pause": 2, "drain": 0},
        {"name": "off hours", "start": "13:00", "active": 1, "pause": 0, "drain": 2},
    ],
}
AT = datetime(2026, 12, 7, 6, 0, tzinfo=TOKYO)


def wanted() -> list[PrefectSchedule]:
    schedules, _ = prefect_schedules(parse_timetable(DOCUMENT), reference=AT)
    return schedules


def deployed(schedule: PrefectSchedule, **changes: object) -> DeployedSchedule:
    fields: dict[str, object] = {
        "id": str(uuid4()),
        "slug": schedule.slug,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "parameters": dict(schedule.parameters),
    }
    fields.update(changes)
    return DeployedSchedule(**fields)  # type: ignore[arg-type]


def test_an_empty_deployment_gets_every_schedule_and_an_equal_one_nothing() -> None:
    schedules = wanted()
    first = diff_schedules(schedules, [])
    assert [s.slug for s in first.add] == [s.slug for s in schedules]
    assert not first.changes_nothing and not first.in_sync
    same = diff_schedules(schedules, [deployed(s) for s in schedules])
    assert same.in_sync and same.changes_nothing
    assert len(same.unchanged) == len(schedules)


def test_changes_are_matched_by_slug_and_name_their_fields() -> None:
    schedules = wanted()
    current = [deployed(s) for s in schedules]
    current[0] = deployed(schedules[0], cron="45 8  * * 1,4")
    current[1] = deployed(schedules[1], parameters={"phase": schedules[1].slug, "active": 9})
    current[2] = deployed(schedules[2], timezone="UTC")
    spaced = diff_schedules(schedules, [deployed(schedules[0], cron=" 30 8 * * 1,4 ")])
    assert not spaced.update, "whitespace in a cron line is no difference"
    diff = diff_schedules(schedules, current)
    assert [(c.wanted.slug, c.fields) for c in diff.update] == [
        (schedules[0].slug, ("cron",)),
        (schedules[1].slug, ("parameters",)),
        (schedules[2].slug, ("timezone",)),
    ]
    assert [c.deployed.id for c in diff.update] == [s.id for s in current[:3]]


def test_a_schedule_that_is_not_cron_under_a_files_slug_is_replaced_in_place() -> None:
    schedules = wanted()
    interval = deployed(schedules[0], cron=None, timezone=None, kind="interval")
    diff = diff_schedules(schedules, [interval])
    assert diff.update[0].fields == ("cron", "timezone")
    assert drift_payload("f/d", diff)["changed"][0]["cron"] == {
        "deployed": "interval",
        "file": schedules[0].cron,
    }


def test_removed_phases_go_unowned_schedules_stay_unless_pruned() -> None:
    schedules = wanted()
    gone = PrefectSchedule("lunch", "0 12 * * 1", "Asia/Tokyo", {"phase": "lunch"}, "")
    by_hand = DeployedSchedule(str(uuid4()), "exam-week", "0 7 * * *", "Asia/Tokyo", {"active": 3})
    no_slug = DeployedSchedule(str(uuid4()), None, "0 6 * * *", "Asia/Tokyo")
    duplicate = deployed(schedules[0])
    current = [deployed(s) for s in schedules] + [deployed(gone), by_hand, no_slug, duplicate]
    assert owned_by_the_timetable(deployed(gone))
    assert not owned_by_the_timetable(by_hand) and not owned_by_the_timetable(no_slug)
    diff = diff_schedules(schedules, current)
    assert {s.label for s in diff.remove} == {"lunch", schedules[0].slug}
    assert duplicate in diff.remove
    assert {s.label for s in diff.unowned} == {"exam-week", f"(cron {no_slug.id})"}
    assert not diff.add and not diff.update
    pruned = diff_schedules(schedules, current, prune=True)
    assert not pruned.unowned
    assert {s.label for s in pruned.remove} >= {"exam-week", "lunch"}


def test_unowned_schedules_alone_are_drift_but_change_nothing() -> None:
    schedules = wanted()
    extra = DeployedSchedule(str(uuid4()), None, "0 6 * * *", "Asia/Tokyo")
    diff = diff_schedules(schedules, [*(deployed(s) for s in schedules), extra])
    assert diff.changes_nothing and not diff.in_sync
    payload = drift_payload("reconcile-workers/reconcile-workers", diff)
    assert payload["unowned"] == [
        {
            "slug": None,
            "id": extra.id,
            "cron": "0 6 * * *",
            "timezone": "Asia/Tokyo",
            "parameters": {},
        }
    ]
    assert payload["added"] == payload["changed"] == payload["removed"] == []


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [("*/10 * * * *", 10), ("0 * * * *", 60), ("*/7 * * * *", 15), ("5 8 * * *", 15)],
)
def test_the_safety_net_interval_is_the_deployments_when_valid(cron: str, minutes: int) -> None:
    net = DeployedSchedule("1", SAFETY_NET_SLUG, cron, "Asia/Tokyo")
    assert safety_net_interval([net]) == minutes
    assert safety_net_interval([]) == 15


def test_the_report_speaks_both_languages() -> None:
    schedules = wanted()
    current = [deployed(s) for s in schedules[1:]]
    current[0] = deployed(schedules[1], cron="0 11 * * 1")
    diff = diff_schedules(schedules, current)
    english = render_schedule_diff(diff, deployment="f/d", source="t.yaml", language="en")
    assert f"+ {schedules[0].slug}: {schedules[0].cron} (Asia/Tokyo)" in english
    assert f"~ {schedules[1].slug}: cron 0 11 * * 1 -> {schedules[1].cron}" in english
    unchanged = len(schedules) - 2
    assert english.rstrip().endswith(f"f/d: 1 added, 1 updated, 0 removed, {unchanged} unchanged")
    japanese = render_schedule_diff(diff, deployment="f/d", source="t.yaml", language="ja")
    assert "追加 1 件、更新 1 件" in japanese
    same = diff_schedules(schedules, [deployed(s) for s in schedules])
    text = render_schedule_diff(same, deployment="f/d", source="t.yaml", language="en")
    assert f"nothing to change ({len(schedules)} schedules)" in text


def _flow_run(**fields: object) -> FlowRun:
    return FlowRun.model_validate({"flow_id": str(uuid4()), **fields})


def test_a_safety_net_run_is_known_by_the_schedule_that_created_it() -> None:
    deployment = uuid4()
    by_net = {"type": "SCHEDULE", "display_value": SAFETY_NET_SLUG, "id": str(uuid4())}
    assert started_by_the_safety_net(_flow_run(deployment_id=deployment, created_by=by_net)) == (
        deployment
    )
    by_phase = {**by_net, "display_value": "class"}
    assert (
        started_by_the_safety_net(_flow_run(deployment_id=deployment, created_by=by_phase)) is None
    )
    assert started_by_the_safety_net(_flow_run(deployment_id=deployment)) is None
    assert started_by_the_safety_net(_flow_run(created_by=by_net)) is None
    assert started_by_the_safety_net(None) is None
