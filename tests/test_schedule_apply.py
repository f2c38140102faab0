"""``cwh schedule apply`` and the safety net's drift check against the real test Prefect server.

Each test makes its own deployment of the reconcile flow (a unique name) and deletes it at the
end; the timetable is a file in the test's temp dir. Events are read back through the server's
events API.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.schedules import CronSchedule
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.events.worker import EventsWorker
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from cwh.timetable import SAFETY_NET_SLUG, load_timetable, prefect_schedules
from deployments.cli.main import main
from flows.reconcile_workers import reconcile_workers
from tasks.schedule_drift import SCHEDULE_DRIFT_EVENT, report_schedule_drift
from tests.services.prefect_service import clean_environment

pytestmark = pytest.mark.prefect
EVENT_TIMEOUT_SECONDS = 60

TIMETABLE = """\
timezone: Asia/Tokyo
ip_addresses: [10.8.0.1, 10.8.0.2, 10.8.0.3, 10.8.0.4]
down_type: power_down
drain_time: 20
class_days: [mon, thu]
phases:
  - {name: class, start: "8:30", active: 4, pause: 0, drain: 0}
  - {name: lunch, start: "12:00", active: 2, pause: 2, drain: 0}
  - {name: afternoon, start: "13:00", active: 3, pause: 0, drain: 1}
  - {name: off-hours, start: "17:00", active: 1, pause: 0, drain: 3}
"""


@pytest.fixture
def deployment(prefect_api: str) -> Iterator[str]:
    """A fresh deployment of the reconcile flow, without schedules: ``flow/deployment``."""
    name = f"rw-{uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("reconcile-workers")
        deployment_id = client.create_deployment(
            flow_id=flow_id,
            name=name,
            entrypoint="flows/reconcile_workers.py:reconcile_workers",
            parameters={"timetable": "examples/timetable.yaml"},
        )
    yield f"reconcile-workers/{name}"
    with get_client(sync_client=True) as client:
        client.delete_deployment(deployment_id)


@pytest.fixture
def timetable(tmp_path: Path) -> Path:
    path = tmp_path / "timetable.yaml"
    path.write_text(TIMETABLE, encoding="utf-8")
    return path


def apply(
    timetable: Path, deployment: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(["schedule", "apply", str(timetable), "--deployment", deployment, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def server_schedules(client: SyncPrefectClient, name: str) -> dict[str, tuple[object, ...]]:
    """slug -> (id, cron, timezone, parameters, updated) as the server holds them."""
    deployment = client.read_deployment_by_name(name)
    found: dict[str, tuple[object, ...]] = {}
    for item in client.read_deployment_schedules(deployment.id):
        assert isinstance(item.schedule, CronSchedule)
        found[str(item.slug)] = (
            item.id,
            item.schedule.cron,
            item.schedule.timezone,
            item.parameters,
            item.updated,
        )
    return found


def file_schedules(timetable: Path) -> dict[str, tuple[object, ...]]:
    table = load_timetable(timetable)
    schedules, _ = prefect_schedules(table, reference=datetime.now(table.timezone))
    return {s.slug: (s.cron, s.timezone, s.parameters) for s in schedules}


def test_apply_writes_exactly_the_files_schedules_and_a_second_run_changes_nothing(
    deployment: str, timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = apply(timetable, deployment, capsys, "--dry-run")
    assert (code, err) == (0, ""), out
    assert "dry run: nothing was changed" in out
    with get_client(sync_client=True) as client:
        assert server_schedules(client, deployment) == {}

    code, out, err = apply(timetable, deployment, capsys)
    assert (code, err) == (0, "")
    wanted = file_schedules(timetable)
    assert f"{deployment}: {len(wanted)} added, 0 updated, 0 removed, 0 unchanged" in out
    with get_client(sync_client=True) as client:
        first = server_schedules(client, deployment)
    assert {slug: value[1:4] for slug, value in first.items()} == wanted
    assert set(wanted) >= {"class", "lunch", "afternoon", "off-hours", SAFETY_NET_SLUG}

    code, out, err = apply(timetable, deployment, capsys)
    assert (code, err) == (0, "")
    assert f"already has the schedules of {timetable.name}: nothing to change" in out
    with get_client(sync_client=True) as client:
        assert server_schedules(client, deployment) == first, "ids and update times kept"


def test_an_edited_file_updates_in_place_and_removes_gone_phases(
    deployment: str, timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(timetable, deployment, capsys)[0] == 0
    with get_client(sync_client=True) as client:
        before = server_schedules(client, deployment)
        deployment_id = client.read_deployment_by_name(deployment).id
        client.create_deployment_schedules(
            deployment_id, [(CronSchedule(cron="0 6 * * *", timezone="Asia/Tokyo"), True)]
        )
        # An operator pauses a schedule in the UI: apply leaves that switch alone.
        client.update_deployment_schedule(
            deployment_id, before["afternoon"][0], active=False, parameters={"phase": "afternoon"}
        )
    edited = TIMETABLE.replace(
        '  - {name: lunch, start: "12:00", active: 2, pause: 2, drain: 0}\n', ""
    )
    timetable.write_text(edited.replace('"8:30"', '"8:50"'), encoding="utf-8")

    code, out, err = apply(timetable, deployment, capsys)
    assert (code, err) == (0, "")
    assert "- lunch: its phase is no longer in the timetable" in out
    assert "~ class: cron 30 8 * * 1,4 -> 50 8 * * 1,4" in out
    assert "not generated from the timetable; left as it is (--prune removes it)" in out
    with get_client(sync_client=True) as client:
        after = server_schedules(client, deployment)
    assert "lunch" not in after
    assert after["class"][0] == before["class"][0], "updated in place: same schedule id"
    assert after["class"][1] == "50 8 * * 1,4"
    assert after["None"][1] == "0 6 * * *", "a schedule not from the timetable stays"
    assert "~ afternoon: parameters" in out
    with get_client(sync_client=True) as client:
        active = {s.slug: s.active for s in client.read_deployment_schedules(deployment_id)}
    assert active["afternoon"] is False and active["class"] is True
    assert {slug: v[1:4] for slug, v in after.items() if slug != "None"} == file_schedules(
        timetable
    )

    code, out, _ = apply(timetable, deployment, capsys)
    assert "nothing to change" in out and "left as it is" in out
    code, out, _ = apply(timetable, deployment, capsys, "--prune")
    assert code == 0 and "removed (--prune)" in out
    with get_client(sync_client=True) as client:
        assert "None" not in server_schedules(client, deployment)


def test_broken_timetable_unknown_deployment_and_unreachable_server_change_nothing(
    deployment: str, timetable: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TIMETABLE.replace("active: 4", "active: many"), encoding="utf-8")
    code, out, err = apply(broken, deployment, capsys)
    assert code == 1 and out == "" and "broken.yaml" in err and "Traceback" not in err
    code, out, err = apply(timetable, "reconcile-workers/no-such-deployment", capsys)
    assert code == 1 and "no deployment named reconcile-workers/no-such-deployment" in err
    with temporary_settings({PREFECT_API_URL: "http://user:secret@127.0.0.1:9/api"}):
        code, out, err = apply(timetable, deployment, capsys, "--language", "ja")
    assert code == 1 and "接続できません" in err and "secret" not in err
    assert "Traceback" not in err
    with get_client(sync_client=True) as client:
        assert server_schedules(client, deployment) == {}


def test_a_deployment_is_found_by_its_name_alone_when_one_flow_has_it(
    deployment: str, timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = deployment.split("/", 1)[1]
    code, out, err = apply(timetable, name, capsys, "--dry-run")
    assert (code, err) == (0, "") and f"{deployment}: " in out
    with get_client(sync_client=True) as client:
        other_flow = client.create_flow_from_name("another-flow")
        other = client.create_deployment(flow_id=other_flow, name=name)
    try:
        code, out, err = apply(timetable, name, capsys)
        assert code == 1 and out == ""
        assert f"several deployments are named {name}" in err
        assert f"another-flow/{name}, {deployment}" in err
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(other)


def drift_events(name: str, expected: int) -> list[ReceivedEvent]:
    """The drift events of deployment ``name``, once at least ``expected`` arrived."""
    EventsWorker.instance().drain()
    event_filter = EventFilter(
        event=EventNameFilter(name=[SCHEDULE_DRIFT_EVENT]),
        resource=EventResourceFilter(id=[f"cwh.schedule.{name}"]),
    )
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            events = client.read_events(filter=event_filter, limit=50).events
            if len(events) >= expected or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def test_the_drift_check_emits_the_difference_and_nothing_when_equal(
    deployment: str, timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(timetable, deployment, capsys)[0] == 0
    table = load_timetable(timetable)
    now = datetime.now(table.timezone)
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        deployment_id = found.id
    assert report_schedule_drift(deployment_id, table, now).in_sync

    with get_client(sync_client=True) as client:
        schedules = {s.slug: s for s in client.read_deployment_schedules(deployment_id)}
        client.update_deployment_schedule(
            deployment_id,
            schedules["class"].id,
            schedule=CronSchedule(cron="0 9 * * 1,4", timezone="Asia/Tokyo"),
        )
        client.delete_deployment_schedule(deployment_id, schedules["lunch"].id)
    diff = report_schedule_drift(deployment_id, table, now)
    assert not diff.in_sync

    events = drift_events(found.name, expected=1)
    assert len(events) == 1, "one event: the check of the equal schedules emitted none"
    event = events[0]
    assert event.resource.id == f"cwh.schedule.{found.name}"
    assert event.resource["cwh.deployment"] == deployment
    payload = event.payload
    assert payload["deployment"] == deployment
    # The server's PATCH resets the parameters it is not given: the drift shows that too.
    assert payload["changed"] == [
        {
            "slug": "class",
            "cron": {"deployed": "0 9 * * 1,4", "file": "30 8 * * 1,4"},
            "parameters": {
                "deployed": {},
                "file": {"phase": "class", "active": 4, "pause": 0, "drain": 0},
            },
        }
    ]
    assert [item["slug"] for item in payload["added"]] == ["lunch"]
    assert payload["added"][0]["parameters"]["phase"] == "lunch"
    assert payload["removed"] == [] and payload["unowned"] == []


def _safety_net_run(api: str, deployment_id: UUID) -> FlowRun:
    """A run the server itself creates from the deployment's safety-net schedule.

    Only the server's scheduler sets a run's ``created_by`` to the schedule, and the flow
    engine reads the run back from the server, so nothing else can stand in for it.
    """
    now = datetime.now(UTC)
    response = httpx.post(
        f"{api}/deployments/{deployment_id}/schedule",
        json={
            "start_time": (now - timedelta(minutes=40)).isoformat(),
            "end_time": now.isoformat(),
            "max_runs": 20,
        },
        timeout=60,
    )
    response.raise_for_status()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
            )
        )
    for run in runs:
        creator = run.created_by
        started = run.expected_start_time
        if creator and creator.display_value == SAFETY_NET_SLUG and started and started <= now:
            return run
    pytest.fail(f"the server scheduled no safety-net run: {[r.created_by for r in runs]}")


def test_a_safety_net_run_of_the_flow_reports_drift_before_touching_the_pool(
    prefect_api: str, deployment: str, timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(timetable, deployment, capsys)[0] == 0
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        schedules = {s.slug: s for s in client.read_deployment_schedules(found.id)}
        client.update_deployment_schedule(
            found.id, schedules["off-hours"].id, parameters={"phase": "off-hours", "active": 4}
        )
    run = _safety_net_run(prefect_api, found.id)
    state = run_flow(
        reconcile_workers,
        flow_run=run,
        parameters={"timetable": str(timetable), "provider": "local-dockerd", "ledger": None},
        return_type="state",
    )
    # No local swarm lab is attached here: the run fails at the provider, after the check.
    assert state.is_failed()
    events = drift_events(found.name, expected=1)
    assert len(events) == 1
    changed = events[0].payload["changed"]
    assert [item["slug"] for item in changed] == ["off-hours"]
    assert changed[0]["parameters"]["deployed"] == {"phase": "off-hours", "active": 4}
    assert events[0].related and any(str(run.id) in related.id for related in events[0].related), (
        "the event is related to the run that found the drift"
    )


def test_api_url_is_never_a_throwaway_server(timetable: Path) -> None:
    """Without PREFECT_API_URL the command refuses instead of using an in-process server."""
    done = subprocess.run(
        [sys.executable, "-m", "deployments.cli.main", "schedule", "apply", str(timetable)],
        env={**clean_environment(), "PREFECT_HOME": str(timetable.parent / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "no Prefect server is configured: set PREFECT_API_URL" in done.stderr
    assert "Traceback" not in done.stderr
