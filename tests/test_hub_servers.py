"""What JupyterHub reports about its servers, read without trusting it; ``force_idle_after``
in the timetable; and which busy nodes count as stuck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cwh.timetable import (
    STUCK_EVENT,
    HubServer,
    HubServers,
    ObservedNode,
    RemovalPolicy,
    TimetableError,
    VmState,
    hub_servers_from_users,
    parse_duration,
    parse_timetable,
    servers_to_stop,
    stuck_nodes,
)
from cwh.timetable.text import FieldError

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _user(name: str, servers: dict[str, object]) -> dict[str, object]:
    return {"name": name, "kind": "user", "servers": servers}


def test_ready_servers_are_read_with_their_service_and_activity() -> None:
    users = [
        _user(
            "alice",
            {
                "": {
                    "name": "",
                    "ready": True,
                    "last_activity": "2026-11-30T02:00:00.123456Z",
                    "state": {"object_name": "jupyter-alice", "object_id": "x"},
                },
                "lab": {"name": "lab", "ready": True, "last_activity": None},
                "starting": {"name": "starting", "ready": False, "pending": "spawn"},
            },
        ),
        _user("bob", {}),
    ]
    found = hub_servers_from_users(users, NOW, "jupyter-")
    assert found.error is None and found.now == NOW
    assert found.servers == (
        HubServer("alice", "", "jupyter-alice", datetime(2026, 11, 30, 2, 0, 0, 123456, UTC)),
        HubServer("alice", "lab", "jupyter-alice--lab", None),
    )
    assert found.servers[0].idle_for(NOW) == timedelta(minutes=59, seconds=59, microseconds=876544)


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ({"items": []}, "expected a list of users"),
        (["alice"], r"users\[0\] is not an object"),
        ([{"servers": {}}], r"users\[0\]\.name is not a name"),
        ([_user("a", [])], "servers of user a are not an object"),  # type: ignore[list-item]
        ([_user("a", {"": "up"})], "server '' of user a is not an object"),
        ([_user("a", {"": {"ready": True, "last_activity": "yesterday"}})], "is not a time"),
        ([_user("a", {"": {"ready": True, "last_activity": 17}})], "is not a time"),
        (
            [_user("a", {"": {"ready": True, "last_activity": "1970-01-01T00:00:00Z"}})],
            "is not believable",
        ),
        (
            [_user("a", {"": {"ready": True, "last_activity": "2027-01-01T00:00:00Z"}})],
            "is not believable",
        ),
        ([_user("a\x1b[2J", {"": {"ready": True, "last_activity": "x"}})], r"a\\x1b\[2J"),
    ],
)
def test_a_hub_answer_that_is_not_believable_is_refused_whole(users: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hub_servers_from_users(users, NOW, "jupyter-")


def test_servers_to_stop_needs_every_server_of_the_node_idle_long_enough() -> None:
    hub = HubServers(
        (
            HubServer("a", "", "jupyter-a", NOW - timedelta(hours=3)),
            HubServer("b", "", "jupyter-b", NOW - timedelta(minutes=10)),
        ),
        NOW,
    )
    hour = timedelta(hours=1)
    assert servers_to_stop(["jupyter-a"], 1, hub, hour).stop == (hub.servers[0],)
    kept = servers_to_stop(["jupyter-a", "jupyter-b"], 2, hub, hour)
    assert kept.stop == () and "b was used 10 min ago" in kept.reason
    assert servers_to_stop(["jupyter-a"], 2, hub, hour).stop == ()
    assert servers_to_stop(["jupyter-a"], 1, hub, None).stop == ()
    assert "force_idle_after is not set" in servers_to_stop(["jupyter-a"], 1, hub, None).reason


def test_force_idle_after_is_a_positive_duration() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h 30min") == timedelta(minutes=90)
    assert parse_duration(45) == timedelta(minutes=45)
    for bad in ("0m", 0, -5, "soon", "", "30", "31d", True, 1.5, "900h"):
        with pytest.raises(FieldError):
            parse_duration(bad)
    document = {"ip_addresses": ["10.0.0.1"], "default": 1, "force_idle_after": "30m"}
    assert parse_timetable(document).force_idle_after == timedelta(minutes=30)
    assert parse_timetable({**document, "force_idle_after": None}).force_idle_after is None
    with pytest.raises(TimetableError, match="force_idle_after: 'now' is not a duration"):
        parse_timetable({**document, "force_idle_after": "now"})
    with pytest.raises(TimetableError, match="force_idle_after: '0m' must be longer than zero"):
        parse_timetable({**document, "force_idle_after": "0m"})
    assert parse_timetable({"ip_addresses": ["10.0.0.1"], "default": 1}).force_idle_after is None


def test_busy_nodes_paused_longer_than_the_grace_are_stuck() -> None:
    paused = NOW - timedelta(minutes=45)
    nodes = {
        "10.0.0.1": ObservedNode(
            "10.0.0.1",
            VmState.RUNNING,
            running_user_tasks=1,
            paused_since=paused,
            user_servers=("jupyter-a",),
        ),
        "10.0.0.2": ObservedNode("10.0.0.2", VmState.RUNNING, running_user_tasks=1),
    }
    busy = ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
    hostnames = {"10.0.0.1": "worker1"}
    late = stuck_nodes(busy, nodes, hostnames, RemovalPolicy(grace=timedelta(minutes=30)), NOW)
    assert [(s.address, s.node, s.servers, s.since) for s in late] == [
        ("10.0.0.1", "worker1", ("jupyter-a",), paused)
    ]
    assert late[0].resource() == {
        "prefect.resource.id": "cwh.workers.node.worker1",
        "cwh.node": "worker1",
    }
    assert late[0].payload() == {
        "node": "worker1",
        "servers": ["jupyter-a"],
        "since": paused.isoformat(),
    }
    assert STUCK_EVENT == "cwh.workers.stuck"
    assert stuck_nodes(busy, nodes, hostnames, RemovalPolicy(grace=timedelta(hours=1)), NOW) == []


def test_the_hub_api_lives_in_the_coursewarehub_block_with_a_secret_token() -> None:
    from pydantic import SecretStr, ValidationError

    from blocks.coursewarehub import CoursewareHub

    secret = "hub-token-3b9e77-never-shown"
    hub = CoursewareHub(
        manager_address="10.0.0.5",
        hub_api_url="http://127.0.0.1:8081/hub/api",
        hub_api_token=SecretStr(secret),
    )
    assert secret not in repr(hub) and secret not in str(hub.model_dump())
    assert CoursewareHub(manager_address="10.0.0.5").hub_api_url is None
    with pytest.raises(ValidationError, match="must start with http") as caught:
        CoursewareHub(
            manager_address="10.0.0.5",
            hub_api_url=f"ftp://u:{secret}@hub/api",
            hub_api_token=SecretStr(secret),
        )
    assert secret not in str(caught.value)
