"""The swarm lab itself: realistic nodes, isolation, node life cycle and leak-free teardown."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.types import ServiceMode

from tests.services.local_swarm import (
    IDLE_COMMAND,
    TEST_IMAGE,
    LabError,
    LocalSwarm,
    NodeSpec,
    leftovers,
    reap_stale_labs,
    wait_running_tasks,
)

# Until tests/conftest.py registers these plugins, the modules that need them do.

pytestmark = pytest.mark.swarm

ROOT = Path(__file__).resolve().parents[1]
LB_FILES = Path("/var/lib/docker/network/files")


def _lb_files() -> set[str]:
    return set(os.listdir(LB_FILES)) if LB_FILES.is_dir() else set()


@pytest.fixture
def short_root() -> Iterator[Path]:
    """A lab root of its own (short: unix socket paths are limited), removed afterwards."""
    root = Path(f"/tmp/cwhsw-{secrets.token_hex(2)}")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_session_lab_has_a_manager_and_three_ready_workers(local_swarm: LocalSwarm) -> None:
    client = local_swarm.docker_client(local_swarm.manager)
    nodes = {
        n.attrs["Description"]["Hostname"]: (
            n.attrs["Spec"]["Role"],
            n.attrs["Status"]["State"],
            n.attrs["Status"]["Addr"],
        )
        for n in client.nodes.list()
    }
    assert nodes == {
        "manager1": ("manager", "ready", "10.99.0.10"),
        "worker1": ("worker", "ready", "10.99.0.11"),
        "worker2": ("worker", "ready", "10.99.0.12"),
        "worker3": ("worker", "ready", "10.99.0.13"),
    }
    image_ids = {
        local_swarm.docker_client(node).images.get(TEST_IMAGE).id
        for node in local_swarm.nodes.values()
    }
    assert len(image_ids) == 1


def test_each_node_has_its_own_network_namespace_and_nothing_leaks_to_the_host(
    local_swarm: LocalSwarm,
) -> None:
    for node in local_swarm.nodes.values():
        shown = subprocess.run(
            ["ip", "-n", node.netns, "-o", "-4", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"inet {node.ip}/24" in shown
    host = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True)
    assert "10.99.0." not in host.stdout


def test_tasks_run_on_the_workers_they_are_placed_on(local_swarm: LocalSwarm) -> None:
    client = local_swarm.docker_client(local_swarm.manager)
    service = client.services.create(
        TEST_IMAGE,
        list(IDLE_COMMAND),
        name=f"lab-place-{secrets.token_hex(3)}",
        constraints=["node.hostname==worker2"],
        stop_grace_period=2 * 10**9,
    )
    try:
        (task,) = wait_running_tasks(client, service.id, 1)
        worker2 = local_swarm.docker_client("w2")
        assert worker2.api.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])
        # The container's processes live in the node's own cgroup, where teardown finds them.
        assert list(Path("/sys/fs/cgroup").glob(f"*/{local_swarm.node('w2').cgroup}/*"))
    finally:
        service.remove()


def test_validation_names_the_bad_value(local_swarm: LocalSwarm) -> None:
    with pytest.raises(LabError, match="node name 'Bad_Name'"):
        local_swarm.add_node("Bad_Name", "10.99.0.40")
    with pytest.raises(LabError, match="not a host address of the lab subnet"):
        local_swarm.add_node("t9", "10.98.0.40")
    with pytest.raises(LabError, match="already used by node w1"):
        local_swarm.add_node("t9", "10.99.0.11")
    with pytest.raises(LabError, match="hub's own address"):
        local_swarm.add_node("t9", "10.99.0.1")
    with pytest.raises(LabError, match="already exists"):
        local_swarm.add_node("w1", "10.99.0.40")
    with pytest.raises(LabError, match="not an IPv4 address"):
        local_swarm.add_node("t9", "10.99.0.x")
    assert "t9" not in local_swarm.nodes


def test_stopped_node_goes_down_and_comes_back_as_the_same_member(
    local_swarm: LocalSwarm,
) -> None:
    node = local_swarm.add_node("t1", "10.99.0.21", hostname="spare1")
    try:
        node_id = local_swarm.join(node)
        local_swarm.stop_node("t1")
        assert not node.running
        local_swarm.wait_node_state(node_id, "down", timeout=30)
        local_swarm.start_node("t1")
        local_swarm.wait_node_state(node_id, "ready", timeout=30)
        manager = local_swarm.docker_client(local_swarm.manager)
        assert manager.nodes.get(node_id).attrs["Description"]["Hostname"] == "spare1"
    finally:
        local_swarm.remove_node("t1")
        manager = local_swarm.docker_client(local_swarm.manager)
        for stale in manager.nodes.list(filters={"name": "spare1"}):
            local_swarm.wait_node_state(stale.id, "down", timeout=30)
            stale.remove()
    assert "t1" not in local_swarm.nodes
    assert not node.directory.exists()
    assert not Path(f"/run/netns/{node.netns}").exists()


def test_two_labs_run_side_by_side_and_close_leaves_nothing(short_root: Path) -> None:
    lb_before = _lb_files()
    first = LocalSwarm(root=short_root)
    second = LocalSwarm(root=short_root)
    try:
        assert first.prefix != second.prefix
        # The same addresses in both labs: each lab's network is private to its namespaces.
        for lab in (first, second):
            lab.start_manager()
            lab.add_node("w1", "10.99.0.11")
            lab.join("w1")
        ids = {lab.docker_client(lab.manager).swarm.attrs["ID"] for lab in (first, second)}
        assert len(ids) == 2
        first.load_test_image()
        client = first.docker_client(first.manager)
        service = client.services.create(
            TEST_IMAGE,
            list(IDLE_COMMAND),
            name="lab-busy",
            mode=ServiceMode("replicated", replicas=2),
            stop_grace_period=2 * 10**9,
        )
        wait_running_tasks(client, service.id, 2)
    finally:
        first.close()
        second.close()
    assert leftovers(first.directory) == []
    assert leftovers(second.directory) == []
    assert _lb_files() == lb_before
    first.close()  # closing twice is harmless


def test_close_cleans_up_after_crashed_daemons(short_root: Path) -> None:
    lab = LocalSwarm(root=short_root)
    try:
        lab.start_manager()
        lab.add_nodes([NodeSpec("w1", "10.99.0.11"), NodeSpec("w2", "10.99.0.12")])
        lab.join("w1")
        lab.join("w2")
        lab.load_test_image()
        client = lab.docker_client(lab.manager)
        service = client.services.create(
            TEST_IMAGE,
            list(IDLE_COMMAND),
            name="lab-crash",
            mode=ServiceMode("replicated", replicas=3),
        )
        wait_running_tasks(client, service.id, 3)
        for node in lab.nodes.values():
            assert node.process is not None
            os.kill(node.process.pid, signal.SIGKILL)
        # Container shims and container processes survive their daemons.
        time.sleep(0.5)
        assert leftovers(lab.directory)
    finally:
        lab.close()
    assert leftovers(lab.directory) == []


def test_failed_bring_up_is_cleaned_up_and_reported(short_root: Path) -> None:
    lab = LocalSwarm(root=short_root, busybox=Path("/nonexistent/busybox"))
    try:
        lab.start_manager()
        with pytest.raises(LabError, match="busybox-static"):
            lab.load_test_image()
    finally:
        lab.close()
    assert leftovers(lab.directory) == []


def test_labs_of_dead_owners_are_reaped(short_root: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.services.local_swarm import LocalSwarm\n"
        "lab = LocalSwarm(root=Path(sys.argv[1]))\n"
        "lab.start_manager()\n"
        "print(lab.directory, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(short_root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        directory = Path(owner.stdout.readline().strip())
        assert directory.is_dir()
        assert reap_stale_labs(short_root) == []  # owner alive: left alone
    finally:
        owner.kill()
        owner.wait()
    assert leftovers(directory)  # the killed owner could not clean up
    assert reap_stale_labs(short_root) == [directory]
    assert leftovers(directory) == []


def test_missing_dockerd_fails_with_the_exact_missing_program(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for tool in ("ip", "nsenter", "unshare"):
        (tmp_path / tool).symlink_to(shutil.which(tool) or "/bin/false")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"dockerd \(Debian package docker.io\)"):
        LocalSwarm(root=tmp_path / "root")


def test_a_root_too_long_for_unix_sockets_is_refused() -> None:
    with pytest.raises(LabError, match="unix socket path limit"):
        LocalSwarm(root=Path("/tmp") / ("r" * 60), reap_stale=False)
    assert not (Path("/tmp") / ("r" * 60)).exists()
