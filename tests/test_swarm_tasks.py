"""Swarm tasks: pure helpers on hand-made API data, the tasks against the real lab swarm.

The tasks are called through ``.fn`` (the task body without the Prefect engine), as ``cwh``
commands do: they then log to the standard logging tree. Their retry policy is checked through
the real engine, and the culling flow's tests run ``update_service_env`` inside a flow.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from docker.types import ServiceMode
from prefect import flow, task

from cwh.timetable import node_address, parse_node, user_tasks_by_node
from tasks.swarm import (
    AmbiguousNodeError,
    NodeNotFoundError,
    NodeNotRemovableError,
    RolloutError,
    ServiceNotFoundError,
    SwarmError,
    env_to_dict,
    merge_env,
    restart_service,
    retry_unless_permanent,
    rollout_progress,
    update_service_env,
    validate_env,
)
from tasks.swarm_nodes import (
    join_worker,
    label_node,
    observe_nodes,
    remove_node,
    select_node,
    set_availability,
    single_node,
)
from tests.services.local_swarm import IDLE_COMMAND, TEST_IMAGE, LocalSwarm, wait_running_tasks

# Until tests/conftest.py registers these plugins, the modules that need them do.

# --------------------------------------------------------------------- pure helpers


def _node(
    node_id: str,
    hostname: str,
    addr: str,
    state: str = "ready",
    role: str = "worker",
    manager_addr: str | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "ID": node_id,
        "Description": {"Hostname": hostname},
        "Spec": {"Role": role, "Availability": "active", "Labels": {"zone": "a"}},
        "Status": {"State": state, "Addr": addr},
    }
    if manager_addr is not None:
        attrs["ManagerStatus"] = {"Addr": manager_addr, "Leader": True}
    return attrs


def test_manager_address_comes_from_its_advertised_address_when_status_is_unspecified() -> None:
    manager = _node("m", "manager1", "0.0.0.0", role="manager", manager_addr="10.1.2.3:2377")
    assert node_address(manager) == "10.1.2.3"
    assert node_address(_node("w", "worker1", "10.1.2.4")) == "10.1.2.4"
    observed = parse_node(manager, ["jupyter-b", "jupyter-a"])
    assert observed.role == "manager" and observed.leader
    assert observed.user_tasks == ("jupyter-a", "jupyter-b")
    assert observed.running_user_tasks == 2
    assert observed.as_dict()["labels"] == {"zone": "a"}


def _task(node: str | None, service: str, desired: str, state: str) -> dict[str, Any]:
    task: dict[str, Any] = {"ServiceID": service, "DesiredState": desired}
    task["Status"] = {"State": state}
    if node is not None:
        task["NodeID"] = node
    return task


def test_only_live_tasks_of_user_services_count() -> None:
    services = {"s1": "jupyter-alice", "s2": "coursewarehub_jupyterhub", "s3": "jupyter-bob"}
    tasks = [
        _task("n1", "s1", "running", "running"),
        _task("n1", "s2", "running", "running"),  # not a user server
        _task("n2", "s3", "running", "starting"),  # about to run: the node is busy
        _task("n3", "s3", "shutdown", "running"),  # being stopped
        _task("n3", "s1", "running", "failed"),
        _task(None, "s1", "running", "pending"),  # not scheduled anywhere yet
    ]
    busy = user_tasks_by_node(tasks, services, lambda name: name.startswith("jupyter-"))
    assert busy == {"n1": ["jupyter-alice"], "n2": ["jupyter-bob"]}


def test_node_references_resolve_by_id_then_hostname_then_address() -> None:
    nodes = [
        _node("id1", "worker1", "10.0.0.1"),
        _node("id2", "10.0.0.1", "10.0.0.2"),
        _node("old", "worker3", "10.0.0.3", state="down"),
        _node("new", "worker3", "10.0.0.3"),
    ]
    assert [n["ID"] for n in select_node(nodes, "id1")] == ["id1"]
    assert [n["ID"] for n in select_node(nodes, "10.0.0.1")] == ["id2"]  # a hostname wins
    assert single_node(nodes, "10.0.0.3")["ID"] == "new"  # the live entry beats a stale one
    with pytest.raises(NodeNotFoundError, match=r"10\.9\.9\.9"):
        single_node(nodes, "10.9.9.9")
    twins = [_node("a", "twin", "10.0.0.5"), _node("b", "twin", "10.0.0.6")]
    with pytest.raises(AmbiguousNodeError, match="a, b"):
        single_node(twins, "twin")


def test_merge_env_changes_only_the_given_variables() -> None:
    current = ["PATH=/bin", "CULL_SERVER=no", "FLAG", "CULL_SERVER=no", "X=1=2"]
    merged = merge_env(current, {"CULL_SERVER": "yes", "CULL_SERVER_EVERY": "60"})
    assert merged == ["PATH=/bin", "CULL_SERVER=yes", "FLAG", "X=1=2", "CULL_SERVER_EVERY=60"]
    assert merge_env(current, {"CULL_SERVER": "no", "X": "1=2"}) is None
    assert merge_env([], {}) is None
    assert merge_env(["A="], {"A": ""}) is None
    assert merge_env(["A"], {"A": ""}) == ["A="]
    assert env_to_dict(["A=1", "B", "A=2"]) == {"A": "2", "B": None}


def test_bad_environment_entries_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="invalid variable name 'A=B'"):
        validate_env({"A=B": "1"})
    with pytest.raises(ValueError, match="NUL"):
        validate_env({"A": "x\0y"})
    with pytest.raises(ValueError, match="must be a string, got int"):
        validate_env({"A": 1})  # type: ignore[dict-item]


def test_rollout_progress_waits_for_new_running_replicas_and_reports_rollbacks() -> None:
    spec = {"Name": "hub", "Mode": {"Replicated": {"Replicas": 1}}}
    old = {"ID": "t-old", "DesiredState": "running", "Status": {"State": "running"}}
    new = {"ID": "t-new", "DesiredState": "running", "Status": {"State": "running"}}
    starting = {"ID": "t-new", "DesiredState": "running", "Status": {"State": "starting"}}
    updating = {"Spec": spec, "UpdateStatus": {"State": "updating"}}
    done = {"Spec": spec, "UpdateStatus": {"State": "completed"}}
    assert rollout_progress(updating, [new], ["t-old"]) == (False, "update updating")
    assert rollout_progress(done, [old], ["t-old"])[0] is False
    assert rollout_progress(done, [starting], ["t-old"]) == (False, "0 of 1 task(s) running")
    assert rollout_progress(done, [new], ["t-old"]) == (True, "converged")
    rolled_back = {"Spec": spec, "UpdateStatus": {"State": "rollback_completed", "Message": "boom"}}
    with pytest.raises(RolloutError, match="hub rollback_completed: boom"):
        rollout_progress(rolled_back, [old], ["t-old"])


@pytest.mark.prefect
def test_permanent_errors_are_not_retried_but_daemon_hiccups_are(prefect_api: str) -> None:
    attempts = {"permanent": 0, "transient": 0}

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_unless_permanent)
    def permanent() -> None:
        attempts["permanent"] += 1
        raise NodeNotFoundError("no such node")

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_unless_permanent)
    def transient() -> None:
        attempts["transient"] += 1
        raise ConnectionError("daemon restarting")

    @flow
    def both() -> list[str]:
        failures = []
        for attempt in (permanent, transient):
            try:
                attempt()
            except Exception as exc:
                failures.append(type(exc).__name__)
        return failures

    assert both() == ["NodeNotFoundError", "ConnectionError"]
    assert attempts == {"permanent": 1, "transient": 3}


# --------------------------------------------------------------------- against the lab


@pytest.fixture
def manager_url(local_swarm: LocalSwarm) -> str:
    return local_swarm.manager.docker_url


@pytest.fixture
def services(local_swarm: LocalSwarm) -> Iterator[list[str]]:
    """Names of services a test creates; all removed afterwards."""
    created: list[str] = []
    yield created
    client = local_swarm.docker_client(local_swarm.manager)
    for name in created:
        for service in client.services.list(filters={"name": name}):
            service.remove()


def _create_service(local_swarm: LocalSwarm, services: list[str], name: str, **kwargs: Any) -> Any:
    client = local_swarm.docker_client(local_swarm.manager)
    services.append(name)
    kwargs.setdefault("stop_grace_period", 2 * 10**9)
    return client.services.create(TEST_IMAGE, list(IDLE_COMMAND), name=name, **kwargs)


def test_observe_nodes_reports_every_node_and_its_user_servers(
    local_swarm: LocalSwarm, manager_url: str, services: list[str]
) -> None:
    user = f"jupyter-u{secrets.token_hex(3)}"
    _create_service(local_swarm, services, user, constraints=["node.hostname==worker2"])
    _create_service(
        local_swarm, services, f"infra-{secrets.token_hex(3)}", constraints=["node.role==worker"]
    )
    client = local_swarm.docker_client(local_swarm.manager)
    wait_running_tasks(client, user, 1)
    wait_running_tasks(client, services[1], 1)

    observed = {o.hostname: o for o in observe_nodes.fn(manager_url)}

    assert set(observed) == {"manager1", "worker1", "worker2", "worker3"}
    assert observed["manager1"].role == "manager" and observed["manager1"].address == "10.99.0.10"
    assert observed["worker2"].address == "10.99.0.12"
    assert observed["worker2"].user_tasks == (user,)
    assert sum(o.running_user_tasks for o in observed.values()) == 1
    assert {o.availability for o in observed.values()} == {"active"}
    assert {o.state for o in observed.values()} == {"ready"}


def test_set_availability_changes_once_and_refuses_unknown_values(
    local_swarm: LocalSwarm, manager_url: str
) -> None:
    client = local_swarm.docker_client(local_swarm.manager)
    try:
        assert set_availability.fn(manager_url, "10.99.0.11", "pause") is True
        assert set_availability.fn(manager_url, "worker1", "pause") is False
        (node,) = client.nodes.list(filters={"name": "worker1"})
        assert node.attrs["Spec"]["Availability"] == "pause"
        assert node.attrs["Spec"]["Labels"] == {}  # the rest of the spec survived
        with pytest.raises(SwarmError, match="'sleep' is not one of active, drain, pause"):
            set_availability.fn(manager_url, "worker1", "sleep")
        with pytest.raises(NodeNotFoundError):
            set_availability.fn(manager_url, "10.99.0.99", "active")
    finally:
        set_availability.fn(manager_url, "worker1", "active")


def test_label_node_merges_with_existing_labels(local_swarm: LocalSwarm, manager_url: str) -> None:
    client = local_swarm.docker_client(local_swarm.manager)
    try:
        assert label_node.fn(manager_url, "worker3", {"zone": "a", "cwh.role": "worker"}) is True
        assert label_node.fn(manager_url, "worker3", {"zone": "b"}) is True
        assert label_node.fn(manager_url, "worker3", {"zone": "b"}) is False
        (node,) = client.nodes.list(filters={"name": "worker3"})
        assert node.attrs["Spec"]["Labels"] == {"zone": "b", "cwh.role": "worker"}
        assert label_node.fn(manager_url, "worker3", {"zone": None}) is True
        node.reload()
        assert node.attrs["Spec"]["Labels"] == {"cwh.role": "worker"}
    finally:
        label_node.fn(manager_url, "worker3", {"zone": None, "cwh.role": None})


def test_join_remove_and_rejoin_a_worker(local_swarm: LocalSwarm, manager_url: str) -> None:
    node = local_swarm.add_node("t2", "10.99.0.22", hostname="spare2")
    client = local_swarm.docker_client(local_swarm.manager)
    try:
        node_id = join_worker.fn(manager_url, node.docker_url, node.ip)
        assert client.nodes.get(node_id).attrs["Status"]["State"] == "ready"
        assert join_worker.fn(manager_url, node.docker_url, node.ip) == node_id  # idempotent

        with pytest.raises(NodeNotRemovableError, match="is ready, not down"):
            remove_node.fn(manager_url, "spare2")
        with pytest.raises(NodeNotRemovableError, match="manager"):
            remove_node.fn(manager_url, "manager1", force=True)

        # Forced removal of a live node: its daemon keeps a revoked identity; joining again
        # must leave that stale state and come back under a new ID.
        assert remove_node.fn(manager_url, "spare2", force=True) == [node_id]
        assert remove_node.fn(manager_url, "spare2") == []
        new_id = join_worker.fn(manager_url, node.docker_url, node.ip)
        assert new_id != node_id

        local_swarm.stop_node("t2")
        local_swarm.wait_node_state(new_id, "down", timeout=30)
        assert remove_node.fn(manager_url, "10.99.0.22") == [new_id]
        assert not client.nodes.list(filters={"name": "spare2"})
    finally:
        local_swarm.remove_node("t2")
        for stale in client.nodes.list(filters={"name": "spare2"}):
            stale.remove(force=True)


def test_join_refuses_a_node_of_another_swarm(local_swarm: LocalSwarm, manager_url: str) -> None:
    node = local_swarm.add_node("t3", "10.99.0.23", hostname="foreign")
    try:
        foreign = local_swarm.docker_client(node)
        foreign.swarm.init(advertise_addr=node.ip, listen_addr=f"{node.ip}:2377")
        with pytest.raises(SwarmError, match="manager of another swarm"):
            join_worker.fn(manager_url, node.docker_url, node.ip)
    finally:
        local_swarm.remove_node("t3")


def test_restart_service_replaces_its_task(
    local_swarm: LocalSwarm, manager_url: str, services: list[str]
) -> None:
    name = f"hub-{secrets.token_hex(3)}"
    _create_service(local_swarm, services, name, constraints=["node.role==worker"])
    client = local_swarm.docker_client(local_swarm.manager)
    (before,) = wait_running_tasks(client, name, 1)

    rollout = restart_service.fn(manager_url, name)

    assert rollout.tasks_before == (before["ID"],)
    assert len(rollout.tasks_after) == 1 and rollout.tasks_after != rollout.tasks_before
    assert rollout.version_after > rollout.version_before
    (after,) = wait_running_tasks(client, name, 1)
    assert after["ID"] == rollout.tasks_after[0]
    with pytest.raises(ServiceNotFoundError, match="no-such-service"):
        restart_service.fn(manager_url, "no-such-service")


def test_update_service_env_merges_and_skips_when_equal(
    local_swarm: LocalSwarm, manager_url: str, services: list[str]
) -> None:
    name = f"hub-{secrets.token_hex(3)}"
    _create_service(
        local_swarm,
        services,
        name,
        env=["KEEP=me", "CULL_SERVER=no"],
        mode=ServiceMode("replicated", replicas=2),
        constraints=["node.role==worker"],
    )
    client = local_swarm.docker_client(local_swarm.manager)
    wait_running_tasks(client, name, 2)

    assert update_service_env.fn(manager_url, name, {"CULL_SERVER": "yes", "NEW": "1"}) is True

    running = wait_running_tasks(client, name, 2)
    for running_task in running:
        env = running_task["Spec"]["ContainerSpec"]["Env"]
        assert env == ["KEEP=me", "CULL_SERVER=yes", "NEW=1"]
    service = client.api.inspect_service(name)
    assert service["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    assert service["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == ["node.role==worker"]
    version = service["Version"]["Index"]
    task_ids = {t["ID"] for t in running}

    assert update_service_env.fn(manager_url, name, {"NEW": "1"}) is False
    assert client.api.inspect_service(name)["Version"]["Index"] == version
    assert {t["ID"] for t in wait_running_tasks(client, name, 2)} == task_ids
    with pytest.raises(ValueError, match="invalid variable name"):
        update_service_env.fn(manager_url, name, {"": "x"})
