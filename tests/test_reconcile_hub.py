"""A student's server keeps its node: the reconcile flow on the real swarm lab with a real
JupyterHub (its servers run as swarm services on the lab's nodes).

Without ``force_idle_after`` a node with a server never leaves the pool, however long the
fake clock runs past the pause and whatever the culling settings; after ``drain_time`` each
run emits ``cwh.workers.stuck``. With ``force_idle_after: 30m`` a server the hub saw used a
minute ago still keeps the node; a hub that refuses the token stops nothing; once only a
server idle for hours is left, it is stopped through the hub's API and the node drained and
switched off in the same run.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import ResourceSpecification
from prefect.logging.handlers import APILogWorker
from pydantic import SecretStr

from blocks.coursewarehub import CoursewareHub
from tests.services.jupyterhub_service import JupyterHubLab
from tests.test_reconcile_swarm import Pool, _running_tasks, pool, tokyo  # noqa: F401

pytestmark = [pytest.mark.swarm, pytest.mark.prefect]

G, H = "10.99.0.54", "10.99.0.55"


def _timetable(**extra: Any) -> dict[str, Any]:
    return {
        "timezone": "Asia/Tokyo",
        "ip_addresses": [G, H],
        "down_type": "power_down",
        "class_days": ["mon"],
        "drain_time": 10,
        "phases": [
            {"name": "class", "start": "8:30", "active": 2, "pause": 0, "drain": 0},
            {"name": "off-hours", "start": "12:00", "active": 1, "pause": 0, "drain": 1},
        ],
        "culling": {"enabled": True, "idle_timeout": 60},
        **extra,
    }


def _hub_block(lab: JupyterHubLab, token: str) -> str:
    name = f"hub-{secrets.token_hex(3)}"
    CoursewareHub(
        manager_address="10.99.0.10", hub_api_url=lab.api_url, hub_api_token=SecretStr(token)
    ).save(name)
    return name


def _stuck_events(node: str, expect: int, timeout: float = 30.0) -> list[Any]:
    wanted = EventFilter(
        event=EventNameFilter(name=["cwh.workers.stuck"]),
        resource=EventResourceFilter(labels=ResourceSpecification({"cwh.node": node})),
    )
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(wanted, limit=50).events
        if len(events) >= expect or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def _logs_of_the_session() -> str:
    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        return "".join(log.message for log in client.read_logs(limit=200))


def test_a_used_server_keeps_its_node_and_only_an_idle_one_is_stopped_through_the_hub(
    pool: Pool,  # noqa: F811
    jupyterhub: JupyterHubLab,
) -> None:
    never = pool.timetable(_timetable())
    done, report = pool.run(never, tokyo(7, 8, 30))
    assert done and report["converged"]
    assert pool.availability() == {G: "active", H: "active"}
    node = pool.swarm()[H]["hostname"]

    student = f"student-{secrets.token_hex(3)}"
    idle = f"idle-{secrets.token_hex(3)}"
    try:
        # During class: a student works on H; another server there has sat idle for hours.
        jupyterhub.start_server(student, node)
        jupyterhub.start_server(idle, node, last_activity=datetime.now(UTC) - timedelta(hours=3))
        services = sorted([f"jupyter-{student}", f"jupyter-{idle}"])
        assert [_running_tasks(pool.lab, name) for name in services] == [1, 1]

        # Off hours: H is paused, its servers keep running.
        done, report = pool.run(never, tokyo(7, 12))
        assert done and [b["address"] for b in report["busy"]] == [H]
        assert report["stuck"] == []  # paused just now
        assert pool.availability() == {G: "active", H: "pause"}

        # Hours later, culling window long gone: still paused, reported, and stuck.
        for at in (tokyo(7, 12, 11), tokyo(7, 23, 59)):
            done, report = pool.run(never, at)
            assert done and report["actions"] == [] and not report["converged"]
            assert "force_idle_after is not set" in report["busy"][0]["reason"]
            assert [(s["node"], s["servers"]) for s in report["stuck"]] == [(node, services)]
            assert report["stuck"][0]["since"] == tokyo(7, 12).isoformat()
        assert pool.availability() == {G: "active", H: "pause"}
        assert [_running_tasks(pool.lab, name) for name in services] == [1, 1]
        events = _stuck_events(node, expect=2)
        assert len(events) >= 2
        assert events[0].resource.id == f"cwh.workers.node.{node}"
        assert events[0].payload == {
            "node": node,
            "servers": services,
            "since": tokyo(7, 12).isoformat(),
        }

        # force_idle_after: a server the hub saw used a minute ago keeps the node, and the
        # idle server beside it is not stopped either (it would not free the node).
        forcing = pool.timetable(_timetable(force_idle_after="30m"))
        block = _hub_block(jupyterhub, jupyterhub.token)
        jupyterhub.touch(student, datetime.now(UTC) - timedelta(minutes=1))
        done, report = pool.run(forcing, tokyo(7, 23, 59), hub_block=block)
        assert done and report["actions"] == [] and report["servers_stopped"] == []
        assert f"{student} was used" in report["busy"][0]["reason"]
        assert "within force_idle_after 30 min" in report["busy"][0]["reason"]
        assert jupyterhub.servers(student)[""]["ready"] is True
        assert set(jupyterhub.servers(idle)) == {""}

        # The student logs off; only the idle server is left.
        with jupyterhub._admin() as client:
            assert client.delete(f"/users/{student}/server").status_code in (202, 204)
        _wait(lambda: not jupyterhub.servers(student), "the student's server gone")

        # A hub that refuses the token stops nothing, and says why.
        refused = _hub_block(jupyterhub, "not-a-token-" + secrets.token_hex(8))
        done, report = pool.run(forcing, tokyo(7, 23, 59), hub_block=refused)
        assert done and report["actions"] == []
        assert "HTTP 403" in report["busy"][0]["reason"]
        assert set(jupyterhub.servers(idle)) == {""}

        # Now the idle server is stopped through the hub and the node leaves in this run.
        done, report = pool.run(forcing, tokyo(7, 23, 59), hub_block=block)
        assert done and report["converged"], report
        assert [a["action"] for a in report["actions"]] == [
            "stop_server",
            "drain",
            "remove_from_swarm",
            "power_off",
        ]
        assert report["actions"][0]["user"] == idle
        assert [s["address"] for s in report["servers_stopped"]] == [H]
        assert jupyterhub.servers(idle) == {}
        assert pool.vms() == {G: "running", H: "powered_off"}
        assert pool.availability() == {G: "active"}
        logs = _logs_of_the_session()
        assert jupyterhub.token not in logs and jupyterhub.token not in str(report)
    finally:
        jupyterhub.stop_everything()


def _wait(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
