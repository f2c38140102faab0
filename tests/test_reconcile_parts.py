"""The reconcile flow's parts that need no swarm: how it reads observations, splits plans,
decides removal policies and culling variables, picks providers, records node-hours, and the
deployment entries of prefect.yaml it is started by."""

from __future__ import annotations

import argparse
import pickle
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from blocks.vcp import VcpWorkerUnit
from cwh.timetable import (
    PAUSED_SINCE_LABEL,
    STATIC_PROVIDER,
    ActionKind,
    Availability,
    Culling,
    NodeObservation,
    NodeRole,
    NodeState,
    ObservedNode,
    ProviderCapabilities,
    SwarmNode,
    SwarmNodeState,
    VmState,
    culling_env,
    describe_node,
    load_timetable,
    parse_ledger,
    parse_timetable,
    paused_since,
    plan_reconcile,
    prefect_schedules,
    removal_policy,
    render_schedules_yaml,
    run_instant,
    split_actions,
    summary_markdown,
    to_swarm_node,
)
from deployments.cli import reconcile as reconcile_cli
from flows.configure_culling import configure_culling
from flows.reconcile_workers import ReconcileFailed, reconcile_workers
from tasks.vm_providers import StaticProvider, VcpProvider, vcp_provider
from tasks.worker_ledger import pool_usage, record_pool_state
from tasks.worker_pool import MachinesFailed, attached_provider, resolve_provider

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "timetable.yaml"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2025, 4, 7, 12, 0, tzinfo=TOKYO)


def _member(node_id: str, availability: Availability, **labels: str) -> SwarmNode:
    return SwarmNode(
        node_id, f"host-{node_id}", NodeRole.WORKER, availability, SwarmNodeState.READY, labels
    )


def _observation(**overrides: Any) -> NodeObservation:
    values: dict[str, Any] = {
        "node_id": "n1",
        "hostname": "worker1",
        "address": "10.0.0.1",
        "role": "worker",
        "availability": "pause",
        "state": "ready",
        "labels": {},
    }
    values.update(overrides)
    return NodeObservation(**values)


# --------------------------------------------------------------------- plans and observations


def test_a_plan_splits_into_machine_steps_around_each_nodes_swarm_steps() -> None:
    desired = {
        "10.0.0.1": NodeState.ACTIVE,
        "10.0.0.2": NodeState.POWER_DOWN,
        "10.0.0.3": NodeState.DELETED,
    }
    observed = {
        "10.0.0.2": ObservedNode("10.0.0.2", VmState.RUNNING, (_member("b", Availability.ACTIVE),)),
        "10.0.0.3": ObservedNode("10.0.0.3", VmState.RUNNING, (_member("c", Availability.DRAIN),)),
    }
    plan = plan_reconcile(
        desired, observed, at=NOW, provider=ProviderCapabilities("vcp"), labels={"r": "w"}
    )
    steps = split_actions(plan)

    def kinds(actions: Any) -> list[ActionKind]:
        return [action.kind for action in actions]

    assert kinds(steps["10.0.0.1"].machine_up) == [ActionKind.CREATE_VM]
    assert kinds(steps["10.0.0.1"].swarm) == [
        ActionKind.JOIN,
        ActionKind.LABEL,
        ActionKind.SET_AVAILABILITY,
    ]
    assert kinds(steps["10.0.0.2"].swarm) == [
        ActionKind.SET_AVAILABILITY,
        ActionKind.DRAIN,
        ActionKind.REMOVE_FROM_SWARM,
    ]
    assert kinds(steps["10.0.0.2"].machine_down) == [ActionKind.POWER_OFF]
    assert kinds(steps["10.0.0.3"].swarm) == [ActionKind.REMOVE_FROM_SWARM]
    assert kinds(steps["10.0.0.3"].machine_down) == [ActionKind.DELETE_VM]
    assert steps["10.0.0.3"].machine_up == []


def test_swarm_nodes_are_read_leniently() -> None:
    node = to_swarm_node(_observation(state="weird", availability="odd", labels={"a": "b"}))
    assert node.state is SwarmNodeState.UNKNOWN and node.availability is Availability.DRAIN
    assert node.role is NodeRole.WORKER and node.labels == {"a": "b"}
    assert to_swarm_node(_observation(role="manager")).role is NodeRole.MANAGER


def test_the_pause_time_comes_from_the_node_label_of_a_paused_node_only() -> None:
    stamp = "2025-04-07T10:10:00+09:00"
    assert paused_since(_observation(labels={PAUSED_SINCE_LABEL: stamp})) == datetime.fromisoformat(
        stamp
    )
    assert (
        paused_since(_observation(availability="active", labels={PAUSED_SINCE_LABEL: stamp}))
        is None
    )
    assert paused_since(_observation(labels={PAUSED_SINCE_LABEL: "yesterday"})) is None
    assert paused_since(_observation(labels={PAUSED_SINCE_LABEL: "2025-04-07T10:10:00"})) is None
    assert paused_since(_observation()) is None


def test_nodes_are_described_for_the_report() -> None:
    busy = ObservedNode(
        "10.0.0.1", VmState.RUNNING, (_member("a", Availability.PAUSE),), running_user_tasks=2
    )
    assert describe_node(busy, manages_vms=True) == "VM running · pause · 2 user server(s)"
    assert describe_node(busy, manages_vms=False) == "pause · 2 user server(s)"
    assert describe_node(ObservedNode.absent("x"), manages_vms=True) == "no VM · not in the swarm"
    assert describe_node(None, manages_vms=False) == "not in the swarm"


# --------------------------------------------------------------------- timetable-derived settings


def test_run_instant_reads_naive_times_in_the_timetables_zone() -> None:
    timetable = load_timetable(EXAMPLE)
    assert run_instant(datetime(2025, 4, 7, 9), timetable) == datetime(2025, 4, 7, 9, tzinfo=TOKYO)
    aware = datetime(2025, 4, 7, 0, tzinfo=UTC)
    assert run_instant(aware, timetable) is aware
    now = run_instant(None, timetable)
    assert now.tzinfo is not None and abs(datetime.now(UTC) - now) < timedelta(seconds=5)


def test_busy_nodes_are_forced_only_with_force_idle_after_never_by_culling() -> None:
    timetable = load_timetable(EXAMPLE)
    after_class = datetime(2026, 11, 30, 12, 30, tzinfo=TOKYO)
    target = timetable.resolve_run_target(after_class)
    policy = removal_policy(timetable, target, after_class)
    assert policy.grace == timedelta(minutes=30)
    assert policy.force_idle_after is None

    document: dict[str, object] = {
        "ip_addresses": ["10.0.0.1"],
        "default": 1,
        "culling": {"enabled": True, "idle_timeout": 60},
    }
    culled = parse_timetable(document)
    assert removal_policy(culled, culled.resolve_run_target(NOW), NOW).force_idle_after is None
    document["force_idle_after"] = "1h30m"
    forcing = parse_timetable(document)
    policy = removal_policy(forcing, forcing.resolve_run_target(NOW), NOW)
    assert policy.force_idle_after == timedelta(minutes=90)


def test_culling_variables_are_set_only_for_the_given_settings() -> None:
    assert culling_env(Culling()) == {}
    assert culling_env(Culling(enabled=False, idle_timeout=900)) == {
        "CULL_SERVER": "no",
        "CULL_SERVER_IDLE_TIMEOUT": "900",
    }
    assert culling_env(Culling(enabled=True, idle_timeout=60, max_age=0, every=30)) == {
        "CULL_SERVER": "yes",
        "CULL_SERVER_IDLE_TIMEOUT": "60",
        "CULL_SERVER_MAX_AGE": "0",
        "CULL_SERVER_EVERY": "30",
    }


# --------------------------------------------------------------------- providers


def test_providers_are_resolved_by_name_with_clear_errors() -> None:
    workers = ["10.0.0.1", "10.0.0.2"]
    static, capabilities = resolve_provider("static", workers, node_docker_url="tcp://{ip}:2375")
    assert isinstance(static, StaticProvider) and capabilities == STATIC_PROVIDER
    assert static.docker_url("10.0.0.2") == "tcp://10.0.0.2:2375"
    with pytest.raises(ValueError, match="needs vcp_block"):
        resolve_provider("vcp", workers)
    with pytest.raises(ValueError, match="attach one first"):
        resolve_provider("local-dockerd", workers)
    with pytest.raises(ValueError, match="unknown provider 'openstack'"):
        resolve_provider("openstack", workers)


def test_providers_attached_in_process_are_used_and_then_forgotten() -> None:
    machines = StaticProvider(["10.0.0.1"])
    with attached_provider("local-dockerd", machines) as name:
        provider, capabilities = resolve_provider(name, ["10.0.0.1"])
        assert provider is machines
        assert capabilities == ProviderCapabilities("local-dockerd", power_control=False)
        with (
            pytest.raises(ValueError, match="already attached"),
            attached_provider("local-dockerd", machines),
        ):
            pass
    with pytest.raises(ValueError, match="attach one first"):
        resolve_provider("local-dockerd", ["10.0.0.1"])
    with (
        pytest.raises(ValueError, match="built-in provider"),
        attached_provider("static", machines),
    ):
        pass


def test_the_vcp_block_builds_the_provider_and_keeps_the_token_secret() -> None:
    token = "vcc-secret-9e1f"
    unit = VcpWorkerUnit(
        ugroup="cwh",
        vcc_access_token=SecretStr(token),
        config_dir="/home/vcp/.config/vcp",
        supports_power=False,
    )
    provider = vcp_provider(unit)
    assert isinstance(provider, VcpProvider)
    assert (provider.ugroup, provider.unit, provider.supports_power) == ("cwh", "worker", False)
    assert provider.config_dir == Path("/home/vcp/.config/vcp")
    assert provider.docker_url("10.0.0.5") == "ssh://vcp@10.0.0.5"
    assert token not in repr(unit) and token not in repr(provider)

    for bad, message in [
        ({"docker_url_template": "ssh://vcp@host"}, "must contain {ip}"),
        ({"docker_url_template": "ssh://{user}@{ip}"}, "only the {ip} placeholder"),
        ({"config_dir": "relative/dir"}, "must be an absolute path"),
        ({"ugroup": "bad name"}, "not a VCP unit group or unit name"),
        ({"vcc_access_token": SecretStr("  ")}, "token is empty"),
    ]:
        fields: dict[str, Any] = {"ugroup": "cwh", "vcc_access_token": SecretStr(token), **bad}
        with pytest.raises(ValidationError, match=re.escape(message)) as caught:
            VcpWorkerUnit(**fields)
        assert token not in str(caught.value)


# --------------------------------------------------------------------- reports and the ledger


def test_errors_survive_pickling_with_their_details() -> None:
    failed = pickle.loads(pickle.dumps(ReconcileFailed("pool not converged", {"failed": [1]})))
    assert str(failed) == "pool not converged" and failed.report == {"failed": [1]}
    machines = pickle.loads(pickle.dumps(MachinesFailed("quota", ("10.0.0.2",))))
    assert str(machines) == "quota" and machines.failed == ("10.0.0.2",)


def _report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "dry_run": False,
        "failed": [],
        "blocked": [],
        "busy": [],
        "untouched": [],
        "stuck": [],
        "servers_stopped": [],
        "culling": None,
        "ledger": None,
        "at": "2025-04-07T12:00:00+09:00",
        "timezone": "Asia/Tokyo",
        "phase": "off-hours",
        "target_source": "timetable",
        "note": "derived from the timetable",
        "provider": "vcp",
        "actions": [],
        "durations": {"observe": 0.1},
    }
    report.update(overrides)
    return report


def test_the_summary_headline_says_what_the_run_achieved() -> None:
    assert "## Worker pool: converged" in summary_markdown(_report())
    assert "dry run (nothing applied)" in summary_markdown(_report(dry_run=True))
    busy = [{"address": "10.0.0.3", "reason": "1 user server(s) still running"}]
    text = summary_markdown(_report(busy=busy))
    assert "waiting for user servers on 1 node(s)" in text
    assert "Busy, retried next run: 10.0.0.3: 1 user server(s)" in text
    stuck = [
        {
            "address": "10.0.0.3",
            "node": "worker3",
            "servers": ["jupyter-a"],
            "since": "2025-04-07T10:10:00+09:00",
        }
    ]
    stopped = [{"address": "10.0.0.4", "reason": "b: idle"}]
    text = summary_markdown(_report(busy=busy, stuck=stuck, servers_stopped=stopped))
    assert "**Stuck** (paused since 2025-04-07T10:10:00+09:00, longer than drain_time): " in text
    assert "worker3 (10.0.0.3), servers: jupyter-a" in text
    assert "Idle server stopped through JupyterHub on 10.0.0.4: b: idle" in text
    failed = [{"address": "10.0.0.2", "error": "VmProviderError: quota"}]
    text = summary_markdown(_report(failed=failed, busy=busy))
    assert "NOT converged" in text and "**Failed**: 10.0.0.2: VmProviderError: quota" in text


def test_node_hours_count_running_vms_or_schedulable_static_machines(tmp_path: Path) -> None:
    workers = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    observed = {
        "10.0.0.1": ObservedNode("10.0.0.1", VmState.RUNNING, (_member("a", Availability.ACTIVE),)),
        "10.0.0.2": ObservedNode("10.0.0.2", VmState.POWERED_OFF),
        "10.0.0.3": ObservedNode("10.0.0.3", VmState.RUNNING, (_member("c", Availability.DRAIN),)),
        "10.0.0.9": ObservedNode("10.0.0.9", VmState.RUNNING),
    }
    assert pool_usage(workers, observed, manages_vms=True) == (
        ("10.0.0.1", "10.0.0.3"),
        ("10.0.0.2",),
    )
    assert pool_usage(workers, observed, manages_vms=False) == (("10.0.0.1",), ())

    ledger = tmp_path / "sub" / "ledger.jsonl"
    for hour, running in ((8, ["10.0.0.1"]), (9, ["10.0.0.1", "10.0.0.3"])):
        at = datetime(2025, 4, 7, hour, tzinfo=TOKYO)
        record_pool_state.fn(str(ledger), at, workers, running, ["10.0.0.2"], "run-1")
    entries, problems = parse_ledger(ledger.read_text())
    assert problems == []
    assert [(e.at.hour, e.workers, e.running, e.run_id) for e in entries] == [
        (8, 4, ("10.0.0.1",), "run-1"),
        (9, 4, ("10.0.0.1", "10.0.0.3"), "run-1"),
    ]


# --------------------------------------------------------------------- deployments and CLI


def _deployment(name: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (found,) = [d for d in document["deployments"] if d["name"] == name]
    return dict(found)


def test_prefect_yaml_schedules_are_those_generated_from_the_example_timetable() -> None:
    deployment = _deployment("reconcile-workers")
    assert deployment["entrypoint"] == "flows/reconcile_workers.py:reconcile_workers"
    assert deployment["concurrency_limit"]["limit"] == 1
    timetable = load_timetable(ROOT / deployment["parameters"]["timetable"])
    schedules, notes = prefect_schedules(timetable, reference=datetime.now(TOKYO))
    generated = yaml.safe_load(render_schedules_yaml(schedules, notes, indent=0))
    assert deployment["schedules"] == generated["schedules"]
    assert {s["timezone"] for s in deployment["schedules"]} == {"Asia/Tokyo"}
    assert deployment["schedules"][-1] == {
        "cron": "*/15 * * * *",
        "timezone": "Asia/Tokyo",
        "slug": "safety-net",
    }
    for schedule in deployment["schedules"]:
        parameters = {**deployment["parameters"], **schedule.get("parameters", {})}
        assert reconcile_workers.validate_parameters(parameters)["timetable"]


def test_prefect_yaml_offers_culling_with_valid_parameters() -> None:
    deployment = _deployment("configure-culling")
    assert deployment["entrypoint"] == "flows/configure_culling.py:configure_culling"
    validated = configure_culling.validate_parameters(deployment["parameters"])
    assert validated["service"] == "coursewarehub_jupyterhub"


def test_reconcile_command_line_defaults_and_exclusive_ledger_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="cwh")
    reconcile_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reconcile", "t.yaml"])
    assert (args.provider, args.dry_run, args.no_ledger) == ("vcp", False, False)
    assert args.docker_host == "unix:///var/run/docker.sock" and args.handler is reconcile_cli.run
    with pytest.raises(SystemExit):
        parser.parse_args(["reconcile", "t.yaml", "--ledger", "x", "--no-ledger"])
    assert "not allowed with argument" in capsys.readouterr().err
