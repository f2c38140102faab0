"""Acceptance of the reconcile-workers flow on a real swarm with local dockerd "VMs".

The session's lab swarm (manager + worker1..3 at .10-.13) hosts the runs; the timetables here
use their own addresses (.41-.47), so every VM is created, joined, paused, drained, powered off
or deleted by the flow itself through
:class:`tests.services.local_dockerd_provider.LocalDockerdProvider`, while the lab's own
workers double as "addresses not in the worker list" that must stay untouched. A fake clock
(the flow's ``at``) walks through a class day. Faults are injected by wrapping the real
provider so that chosen calls fail after doing part of their work, as a cloud API does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.logging.handlers import APILogWorker
from pydantic import SecretStr

from blocks.vcp import VcpWorkerUnit
from cwh.timetable import PAUSED_SINCE_LABEL, Action, ActionKind, Availability, Guard, NodeOutcome
from deployments.cli import reconcile as reconcile_cli
from deployments.cli import schedule as schedule_cli
from flows.reconcile_workers import SUMMARY_ARTIFACT_KEY, ReconcileFailed, reconcile_workers
from tasks.vm_providers import VmProviderError, VmState
from tasks.worker_pool import apply_node_actions, attached_provider
from tests.services.local_dockerd_provider import LocalDockerdProvider
from tests.services.local_swarm import IDLE_COMMAND, TEST_IMAGE, LocalSwarm
from tests.test_vm_providers import VCPSDK_DOUBLE

pytestmark = [pytest.mark.swarm, pytest.mark.prefect]

TOKYO = ZoneInfo("Asia/Tokyo")
LAB_WORKERS = ("10.99.0.11", "10.99.0.12", "10.99.0.13")


def tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of April 2025 in Tokyo (2025-04-07, -14 and -21 are Mondays)."""
    return datetime(2025, 4, day, hour, minute, tzinfo=TOKYO)


class FaultyProvider:
    """The real local provider, with failures injected on demand.

    ``create_only`` makes ``create`` build only the first N machines and then fail, like a
    cloud that ran out of quota half-way; addresses in ``refuse_delete`` fail to delete.
    """

    def __init__(self, inner: LocalDockerdProvider) -> None:
        self.inner = inner
        self.create_only: int | None = None
        self.refuse_delete: set[str] = set()

    @property
    def supports_power(self) -> bool:
        return self.inner.supports_power

    def list_vms(self) -> dict[str, VmState]:
        return self.inner.list_vms()

    def create(self, ips: Sequence[str]) -> None:
        if self.create_only is None:
            self.inner.create(ips)
            return
        self.inner.create(list(ips)[: self.create_only])
        refused = list(ips)[self.create_only :]
        raise VmProviderError(f"injected: quota exceeded, {', '.join(refused)} not created")

    def delete(self, ips: Sequence[str]) -> None:
        self.inner.delete([ip for ip in ips if ip not in self.refuse_delete])
        refused = [ip for ip in ips if ip in self.refuse_delete]
        if refused:
            raise VmProviderError(f"injected: delete of {', '.join(refused)} timed out")

    def power_on(self, ips: Sequence[str]) -> None:
        self.inner.power_on(ips)

    def power_off(self, ips: Sequence[str]) -> None:
        self.inner.power_off(ips)

    def docker_url(self, ip: str) -> str:
        return self.inner.docker_url(ip)


@dataclass
class Pool:
    """What a test needs: the lab, the attached provider, its files, and cleanup lists."""

    lab: LocalSwarm
    provider: FaultyProvider
    directory: Path
    addresses: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)

    @property
    def manager_url(self) -> str:
        return self.lab.manager.docker_url

    @property
    def ledger(self) -> Path:
        return self.directory / "ledger.jsonl"

    def timetable(self, document: dict[str, Any]) -> str:
        self.addresses.extend(document["ip_addresses"])
        path = self.directory / f"timetable-{len(self.addresses)}.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
        return str(path)

    def run(self, timetable: str, at: datetime, **parameters: Any) -> tuple[bool, dict[str, Any]]:
        """One flow run; (completed?, report) whether it completed or failed."""
        parameters.setdefault("ledger", str(self.ledger))
        state = reconcile_workers(
            timetable=timetable,
            at=at,
            provider="local-dockerd",
            docker_host=self.manager_url,
            action_retries=0,
            join_timeout_s=60.0,
            return_state=True,
            **parameters,
        )
        if state.is_completed():
            return True, state.result()
        error = state.result(raise_on_failure=False)
        assert isinstance(error, ReconcileFailed), f"run crashed: {error!r}"
        return False, dict(error.report)

    def swarm(self) -> dict[str, dict[str, Any]]:
        """Live swarm entries by address: availability, labels, hostname."""
        client = self.lab.docker_client(self.lab.manager)
        found: dict[str, dict[str, Any]] = {}
        for node in client.api.nodes():
            address = node["Status"]["Addr"]
            if node["Status"]["State"] == "ready" and node["Spec"]["Role"] == "worker":
                found[address] = {
                    "availability": node["Spec"]["Availability"],
                    "labels": node["Spec"].get("Labels") or {},
                    "hostname": node["Description"]["Hostname"],
                }
        return found

    def availability(self) -> dict[str, str]:
        return {a: e["availability"] for a, e in self.swarm().items() if a in self.addresses}

    def vms(self) -> dict[str, str]:
        return {a: s.value for a, s in self.provider.list_vms().items() if a in self.addresses}

    def start_user_server(self, hostname: str) -> str:
        """A stand-in student server (a ``jupyter-`` service) pinned to one node."""
        client = self.lab.docker_client(self.lab.manager)
        name = f"jupyter-student{secrets.token_hex(3)}"
        self.services.append(name)
        client.services.create(
            TEST_IMAGE,
            list(IDLE_COMMAND),
            name=name,
            constraints=[f"node.hostname=={hostname}"],
            stop_grace_period=2 * 10**9,
        )
        _wait_until(lambda: _running_tasks(self.lab, name) == 1, f"{name} running")
        return name

    def stop_service(self, name: str) -> None:
        client = self.lab.docker_client(self.lab.manager)
        client.api.remove_service(name)
        self.services.remove(name)
        _wait_until(lambda: not _live_containers(self.lab, name), f"{name} gone")


def _running_tasks(lab: LocalSwarm, service: str) -> int:
    client = lab.docker_client(lab.manager)
    tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def _live_containers(lab: LocalSwarm, service: str) -> bool:
    client = lab.docker_client(lab.manager)
    try:
        tasks = client.api.tasks(filters={"service": service})
    except Exception:
        return False
    return any(t["Status"]["State"] in ("running", "starting", "preparing") for t in tasks)


def _wait_until(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def pool(prefect_api: str, local_swarm: LocalSwarm, tmp_path: Path) -> Iterator[Pool]:
    """The lab's dockerd machines as provider ``local-dockerd``; everything a test made on
    its addresses (machines, swarm entries, services) is removed afterwards."""
    provider = FaultyProvider(LocalDockerdProvider(local_swarm))
    state = Pool(local_swarm, provider, tmp_path)
    before = _lab_workers(local_swarm)
    lab_nodes = {node.ip for node in local_swarm.nodes.values()}
    with attached_provider("local-dockerd", provider):
        try:
            yield state
        finally:
            _clean(state, keep=lab_nodes)
            APILogWorker.drain_all()
    assert _lab_workers(local_swarm) == before, "the lab's own nodes were touched"


def _lab_workers(lab: LocalSwarm) -> dict[str, tuple[str, str, str]]:
    """The lab's own nodes (manager and workers): availability, state and labels."""
    client = lab.docker_client(lab.manager)
    return {
        node["Description"]["Hostname"]: (
            node["Spec"]["Availability"],
            node["Status"]["State"],
            json.dumps(node["Spec"].get("Labels") or {}, sort_keys=True),
        )
        for node in client.api.nodes()
        if node["Description"]["Hostname"] in ("manager1", "worker1", "worker2", "worker3")
    }


def _clean(pool: Pool, keep: set[str]) -> None:
    """Remove what the test made; the lab's own nodes (addresses in ``keep``) stay."""
    client = pool.lab.docker_client(pool.lab.manager)
    for name in list(pool.services):
        client.api.remove_service(name)
    made = set(pool.addresses) - keep
    for address in made:
        node = pool.lab.node_by_ip(address)
        if node is not None:
            pool.lab.remove_node(node.name)
    for node in client.api.nodes():
        if node["Status"]["Addr"] in made:
            client.api.remove_node(node["ID"], force=True)


def _artifact_text(flow_run_id: Any, key: str) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join(str(a.data) for a in artifacts if a.key == key)


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {row["address"]: row["status"] for row in report["nodes"]}


# --------------------------------------------------------------------- the class day


CLASS_DAY = {
    "timezone": "Asia/Tokyo",
    "ip_addresses": ["10.99.0.41", "10.99.0.42", "10.99.0.43"],
    "down_type": "power_down",
    "class_days": ["mon"],
    "phases": [
        {"name": "class", "start": "8:30", "active": 3, "pause": 0, "drain": 0},
        {"name": "after-class", "start": "10:10", "active": 1, "pause": 2, "drain": 0},
        {"name": "off-hours", "start": "12:00", "active": 1, "pause": 0, "drain": 2},
    ],
    "exceptions": [{"date": "2025-04-14", "reason": "holiday"}],
}
A, B, C = CLASS_DAY["ip_addresses"]  # type: ignore[misc]


def test_a_class_day_scales_out_and_in_and_waits_for_a_busy_node(pool: Pool) -> None:
    timetable = pool.timetable(CLASS_DAY)

    # Before class (Monday 7:00): the off-hours phase of the previous class day holds.
    done, report = pool.run(timetable, tokyo(7, 7))
    assert done and report["converged"]
    assert report["phase"] == "off-hours" and report["target_source"] == "timetable"
    assert pool.vms() == {A: "running"}
    assert pool.availability() == {A: "active"}
    assert pool.swarm()[A]["labels"] == {"cwh.role": "worker"}
    assert _statuses(report) == {A: "done", B: "unchanged", C: "unchanged"}
    untouched = {item["address"] for item in report["untouched"]}
    assert untouched == {"10.99.0.10", *LAB_WORKERS}

    # Class (8:30), started by the phase's cron schedule with its counts.
    done, report = pool.run(timetable, tokyo(7, 8, 30), phase="class", active=3, pause=0, drain=0)
    assert done and report["converged"] and report["target_source"] == "parameters"
    assert pool.vms() == {A: "running", B: "running", C: "running"}
    assert pool.availability() == {A: "active", B: "active", C: "active"}
    assert {row["address"]: row["seconds"] > 0 for row in report["nodes"]} == {
        A: False,
        B: True,
        C: True,
    }
    student = pool.start_user_server(pool.swarm()[C]["hostname"])

    # After class (10:10): two nodes take no new servers; the student's keeps running.
    done, report = pool.run(timetable, tokyo(7, 10, 10))
    assert done and report["converged"]
    assert pool.availability() == {A: "active", B: "pause", C: "pause"}
    assert _running_tasks(pool.lab, student) == 1
    assert pool.swarm()[C]["labels"][PAUSED_SINCE_LABEL] == tokyo(7, 10, 10).isoformat()

    # Off hours (12:00): B goes; C still runs the student's server, so it waits, paused.
    state = reconcile_workers(
        timetable=timetable,
        at=tokyo(7, 12),
        provider="local-dockerd",
        docker_host=pool.manager_url,
        ledger=str(pool.ledger),
        action_retries=0,
        return_state=True,
    )
    assert state.is_completed(), state.message
    report = state.result()
    assert not report["converged"]
    assert [item["address"] for item in report["busy"]] == [C]
    assert "1 user server(s) still running" in report["busy"][0]["reason"]
    assert _statuses(report) == {A: "unchanged", B: "done", C: "busy"}
    assert pool.vms() == {A: "running", B: "powered_off", C: "running"}
    assert pool.availability() == {A: "active", C: "pause"}
    assert _running_tasks(pool.lab, student) == 1
    summary = _artifact_text(state.state_details.flow_run_id, SUMMARY_ARTIFACT_KEY)
    assert "waiting for user servers on 1 node(s)" in summary
    assert f"Busy, retried next run: {C}" in summary

    # The next run while the server still runs changes nothing and says so again.
    done, report = pool.run(timetable, tokyo(7, 12, 2))
    assert done and report["actions"] == [] and [b["address"] for b in report["busy"]] == [C]

    # The student's server ends: the next run takes C down.
    pool.stop_service(student)
    done, report = pool.run(timetable, tokyo(7, 12, 5))
    assert done and report["converged"]
    assert [a["action"] for a in report["actions"]] == ["drain", "remove_from_swarm", "power_off"]
    assert pool.vms() == {A: "running", B: "powered_off", C: "powered_off"}
    assert pool.availability() == {A: "active"}

    # Right after a successful run, a run plans nothing.
    done, report = pool.run(timetable, tokyo(7, 12, 6))
    assert done and report["converged"] and report["actions"] == []

    # Holiday (the next Monday): the class schedule fires, the timetable keeps the pool off.
    done, report = pool.run(timetable, tokyo(14, 8, 30), phase="class", active=3, pause=0, drain=0)
    assert done and report["actions"] == [] and report["phase"] == "off-hours"
    assert "2025-04-14 is an exception date" in report["note"]
    assert pool.vms() == {A: "running", B: "powered_off", C: "powered_off"}

    # The class after: the powered-off machines come back and rejoin.
    done, report = pool.run(timetable, tokyo(21, 8, 30))
    assert done and report["converged"]
    assert pool.vms() == {A: "running", B: "running", C: "running"}
    assert pool.availability() == {A: "active", B: "active", C: "active"}
    assert all(PAUSED_SINCE_LABEL not in e["labels"] for e in pool.swarm().values())

    # Node-hours from the ledger, through the CLI: Monday 7:00 to the next Monday 0:00.
    week = _savings(pool.ledger, until="2025-04-21T08:30:00+09:00")[0]
    assert week["week"] == "2025-W15" and week["observed_hours"] == 161.0
    # 1 node 7:00-8:30, 3 until 12:00, 2 until 12:05, then 1 for 155 h 55 min.
    assert week["used_node_hours"] == pytest.approx(1.5 + 10.5 + 10 / 60 + 155 + 55 / 60, 1e-3)
    assert week["always_on_node_hours"] == 483.0


def _savings(ledger: Path, until: str) -> list[dict[str, Any]]:
    argv = ["schedule", "savings", "--ledger", str(ledger), "--until", until, "--json"]
    args = _parse(schedule_cli, argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.handler(args) == 0
    result: list[dict[str, Any]] = json.loads(out.getvalue())
    return result


def _parse(module: Any, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cwh")
    module.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


# --------------------------------------------------------------------- failures and convergence


LECTURES = {
    "ip_addresses": ["10.99.0.44", "10.99.0.45", "10.99.0.46"],
    "down_type": "deleted",
    "default": 1,
    "periods": [
        {
            "name": "lecture",
            "begin": "9:00",
            "end": "16:00",
            "node_count": 3,
            "culling": {"idle_timeout": 7200},
        }
    ],
    "culling": {"enabled": False, "idle_timeout": 1800},
}
D, E, F = LECTURES["ip_addresses"]  # type: ignore[misc]


@pytest.fixture
def hub(pool: Pool) -> str:
    """A stand-in JupyterHub service on the manager, with a variable that must survive."""
    client = pool.lab.docker_client(pool.lab.manager)
    name = f"cwh_hub_{secrets.token_hex(3)}"
    pool.services.append(name)
    client.services.create(
        TEST_IMAGE,
        list(IDLE_COMMAND),
        name=name,
        env=["HUB_KEEP=1"],
        constraints=["node.role==manager"],
        stop_grace_period=2 * 10**9,
    )
    _wait_until(lambda: _running_tasks(pool.lab, name) == 1, f"{name} running")
    return name


def _hub_env(pool: Pool, name: str) -> tuple[int, list[str]]:
    client = pool.lab.docker_client(pool.lab.manager)
    service = client.api.inspect_service(name)
    env = service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []
    return int(service["Version"]["Index"]), list(env)


def test_provider_failures_part_way_are_finished_by_the_next_run(pool: Pool, hub: str) -> None:
    timetable = pool.timetable(LECTURES)

    # The cloud creates one machine of three and fails: that one still joins, the run fails.
    pool.provider.create_only = 1
    done, report = pool.run(timetable, tokyo(8, 10), hub_service=hub)
    assert not done
    assert _statuses(report) == {D: "done", E: "failed", F: "failed"}
    assert {item["address"] for item in report["failed"]} == {E, F}
    assert "injected: quota exceeded" in report["failed"][0]["error"]
    assert pool.vms() == {D: "running"} and pool.availability() == {D: "active"}
    version, env = _hub_env(pool, hub)
    assert env == ["HUB_KEEP=1", "CULL_SERVER=no", "CULL_SERVER_IDLE_TIMEOUT=7200"]

    # The fault is gone: the next run finishes the job; the hub is not updated again.
    pool.provider.create_only = None
    done, report = pool.run(timetable, tokyo(8, 10, 1), hub_service=hub)
    assert done and report["converged"] and report["culling"]["changed"] is False
    assert {a["action"] for a in report["actions"]} == {
        "create_vm",
        "join",
        "label",
        "set_availability",
    }
    assert pool.vms() == {D: "running", E: "running", F: "running"}
    assert pool.availability() == {D: "active", E: "active", F: "active"}
    assert _hub_env(pool, hub)[0] == version

    done, report = pool.run(timetable, tokyo(8, 10, 2), hub_service=hub)
    assert done and report["converged"] and report["actions"] == []

    # End of the lectures: one VM refuses to be deleted after it left the swarm.
    pool.provider.refuse_delete = {F}
    done, report = pool.run(timetable, tokyo(8, 16), hub_service=hub)
    assert not done
    assert _statuses(report) == {D: "unchanged", E: "done", F: "failed"}
    assert pool.vms() == {D: "running", F: "running"}
    assert pool.availability() == {D: "active"}
    assert _hub_env(pool, hub)[1] == [
        "HUB_KEEP=1",
        "CULL_SERVER=no",
        "CULL_SERVER_IDLE_TIMEOUT=1800",
    ]

    pool.provider.refuse_delete = set()
    done, report = pool.run(timetable, tokyo(8, 16, 1), hub_service=hub)
    assert done and report["converged"]
    assert [(a["action"], a["address"]) for a in report["actions"]] == [("delete_vm", F)]
    assert pool.vms() == {D: "running"}

    done, report = pool.run(timetable, tokyo(8, 16, 2), hub_service=hub)
    assert done and report["converged"] and report["actions"] == []


# --------------------------------------------------------------------- plan only, refusals


def test_dry_run_changes_nothing_and_records_nothing(pool: Pool) -> None:
    timetable = pool.timetable({"ip_addresses": ["10.99.0.47"], "default": 1})
    done, report = pool.run(timetable, tokyo(8, 10), dry_run=True)
    assert done and report["dry_run"] and not report["converged"]
    assert [a["action"] for a in report["actions"]] == [
        "create_vm",
        "join",
        "label",
        "set_availability",
    ]
    assert _statuses(report) == {"10.99.0.47": "planned"}
    assert pool.vms() == {} and pool.availability() == {}
    assert not pool.ledger.exists()


def test_a_plan_without_an_active_worker_is_refused_before_anything_changes(pool: Pool) -> None:
    timetable = pool.timetable({"ip_addresses": ["10.99.0.47"], "default": 0})
    state = reconcile_workers(
        timetable=timetable,
        at=tokyo(8, 10),
        provider="local-dockerd",
        docker_host=pool.manager_url,
        ledger=str(pool.ledger),
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(ValueError, match="leaves no active worker"):
        state.result()
    assert not pool.ledger.exists()

    done, report = pool.run(timetable, tokyo(8, 10), allow_zero_active=True)
    assert done and report["converged"] and report["actions"] == []

    # A ledger that cannot be written fails the run, after the artifacts are published.
    done, report = pool.run(
        timetable, tokyo(8, 11), allow_zero_active=True, ledger=str(pool.directory)
    )
    assert not done and report["ledger"] is None
    assert report["failed"][0]["address"] == "ledger"
    assert "node-hours not recorded: IsADirectoryError" in report["failed"][0]["error"]


def test_a_manager_listed_as_a_worker_is_never_changed(pool: Pool) -> None:
    timetable = pool.timetable({"ip_addresses": ["10.99.0.10", "10.99.0.47"], "default": 1})
    done, report = pool.run(timetable, tokyo(8, 10))
    assert not done and report["actions"] == []
    assert report["blocked"] == [
        {
            "address": "10.99.0.10",
            "reason": "is a swarm manager; managers are never changed by the schedule",
        }
    ]
    client = pool.lab.docker_client(pool.lab.manager)
    (manager,) = [n for n in client.api.nodes() if n["Spec"]["Role"] == "manager"]
    assert manager["Spec"]["Availability"] == "active"


def test_nodes_are_taken_down_only_once_their_replacements_are_up(pool: Pool) -> None:
    timetable = pool.timetable(
        {"ip_addresses": ["10.99.0.47", "10.99.0.48"], "down_type": "deleted", "default": 1}
    )
    old, new = "10.99.0.47", "10.99.0.48"
    done, report = pool.run(timetable, tokyo(8, 10))
    assert done and pool.vms() == {old: "running"}

    # The list is reordered (the old machine is retired): its replacement cannot be created.
    pool.provider.create_only = 0
    done, report = pool.run(timetable, tokyo(8, 10, 1), ips=[new, old])
    assert not done
    assert _statuses(report) == {new: "failed", old: "skipped"}
    assert "capacity first" in report["failed"][1]["error"]
    assert pool.vms() == {old: "running"} and pool.availability() == {old: "active"}

    pool.provider.create_only = None
    done, report = pool.run(timetable, tokyo(8, 10, 2), ips=[new, old])
    assert done and report["converged"]
    assert pool.vms() == {new: "running"} and pool.availability() == {new: "active"}


def test_the_drain_step_checks_for_user_servers_right_before_draining(pool: Pool) -> None:
    """A server may start between the plan and the drain: the drain then waits."""
    lab_worker = pool.swarm()[LAB_WORKERS[0]]
    student = pool.start_user_server(lab_worker["hostname"])
    client = pool.lab.docker_client(pool.lab.manager)
    (node,) = [n for n in client.api.nodes() if n["Status"]["Addr"] == LAB_WORKERS[0]]
    drain = Action(
        ActionKind.DRAIN,
        LAB_WORKERS[0],
        "no user server runs on it",
        node_id=node["ID"],
        availability=Availability.DRAIN,
        guard=Guard.IDLE,
    )

    @flow
    def drain_once() -> NodeOutcome:
        return apply_node_actions(
            pool.manager_url, LAB_WORKERS[0], [drain], "", tokyo(8, 12), {node["ID"]: {}}
        )

    try:
        outcome = drain_once()
    finally:
        pool.stop_service(student)
        client.api.update_node(
            node["ID"], client.api.inspect_node(node["ID"])["Version"]["Index"], node["Spec"]
        )
    assert outcome.status == "busy"
    assert outcome.message.startswith(f"1 user server(s) started on it ({student})")
    assert pool.swarm()[LAB_WORKERS[0]]["availability"] == "active"


# --------------------------------------------------------------------- VCP wiring, CLI

TOKEN = "vcc-token-for-reconcile-3c1d"


@pytest.fixture
def vcp_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK stand-in importable as ``vcpsdk``, with one running worker VM at .51."""
    (tmp_path / "vcpsdk.py").write_text(VCPSDK_DOUBLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    sys.modules.pop("vcpsdk", None)
    import vcpsdk

    group = vcpsdk.UnitGroup("cwh")
    group.units["worker"] = vcpsdk.Unit("worker")
    group.units["worker"].nodes = [vcpsdk.Node(0, "10.99.0.51", "RUNNING")]
    vcpsdk.UGROUPS["cwh"] = group
    yield vcpsdk
    sys.modules.pop("vcpsdk", None)


def test_vcp_provider_comes_from_its_block_and_the_token_stays_secret(
    pool: Pool, vcp_unit: Any
) -> None:
    block = f"workers-{secrets.token_hex(3)}"
    VcpWorkerUnit(ugroup="cwh", vcc_access_token=SecretStr(TOKEN)).save(block)
    timetable = pool.timetable({"ip_addresses": ["10.99.0.51", "10.99.0.52"], "default": 2})
    state = reconcile_workers(
        timetable=timetable,
        at=tokyo(8, 10),
        provider="vcp",
        vcp_block=block,
        docker_host=pool.manager_url,
        dry_run=True,
        return_state=True,
    )
    assert state.is_completed(), state.message
    report = state.result()
    assert report["provider"] == "vcp"
    assert [(a["action"], a["address"]) for a in report["actions"]] == [
        ("join", "10.99.0.51"),
        ("label", "10.99.0.51"),
        ("set_availability", "10.99.0.51"),
        ("create_vm", "10.99.0.52"),
        ("join", "10.99.0.52"),
        ("label", "10.99.0.52"),
        ("set_availability", "10.99.0.52"),
    ]
    assert ("VcpSDK", {"token": TOKEN, "config_dir": None}) in vcp_unit.CALLS
    assert not [call for call, _ in vcp_unit.CALLS if call in ("add_nodes", "delete_nodes")]
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    recorded = json.dumps(report) + "".join(log.message for log in logs)
    recorded += "".join(str(artifact.data) for artifact in artifacts)
    # The per-node table, the summary and the week picture.
    assert len(artifacts) == 3 and TOKEN not in recorded


def test_cli_runs_the_flow_and_reports_in_text_or_json(
    pool: Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    timetable = pool.timetable({"ip_addresses": ["10.99.0.48"], "default": 1})
    common = ["--provider", "static", "--docker-host", pool.manager_url, "--dry-run"]
    argv = ["reconcile", timetable, *common, "--at", "2025-04-08T10:00", "--no-ledger"]
    args = _parse(reconcile_cli, [*argv, "--json"])
    assert args.handler(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["at"] == "2025-04-08T10:00:00+09:00" and report["provider"] == "static"
    assert [a["action"] for a in report["actions"]] == ["join", "label", "set_availability"]

    args = _parse(reconcile_cli, argv)
    assert args.handler(args) == 0
    text = capsys.readouterr().out
    assert "## Worker pool: dry run (nothing applied)" in text
    assert "| 10.99.0.48 | active | not in the swarm |" in text

    broken = pool.directory / "broken.yaml"
    broken.write_text("ip_addresses: [10.99.0.48, 10.99.0.48]\ndefault: 1\n")
    args = _parse(reconcile_cli, ["reconcile", str(broken), *common])
    assert args.handler(args) == 1
    assert "10.99.0.48 is listed twice" in capsys.readouterr().err
    args = _parse(reconcile_cli, ["reconcile", timetable, *common, "--at", "tomorrow"])
    assert args.handler(args) == 1
    assert "--at 'tomorrow' is not an ISO date-time" in capsys.readouterr().err
