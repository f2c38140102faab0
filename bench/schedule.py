"""Cost of a worker reconcile: the plan for 100 nodes x 20 phases, and real runs on 3 nodes.

Usage: ``uv run python bench/schedule.py [--nodes 100] [--phases 20] [--repeat 30]
[--skip-swarm]``

1. **Plan computation**, as the reconcile flow does it once per run: read the timetable file
   (YAML, ``--phases`` phases on five class days, ``--nodes`` addresses), resolve the run's
   target, derive the removal policy, turn the swarm's node list and the provider's VM list
   into one observation, and plan. Target: under 100 ms for the plan computation; loading and
   validating the file is shown separately and in total. The baseline, measured in the same
   run, is parsing the same YAML file alone (what any planner must do at least).
2. **Full reconcile of 3 local nodes** (needs root and ``dockerd``; a lab swarm and a Prefect
   server are started first, not timed): the ``reconcile-workers`` flow scales out from
   nothing to 3 nodes (create, join, label, active), runs again (nothing to do), scales in to
   1 (pause, drain, leave, power off) and out again (power on, rejoin). The baseline is the
   lab creating and joining the same 3 machines directly, without Prefect, planning or checks.

Medians and wall times are printed with their ratio to the baseline; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from cwh.timetable import (  # noqa: E402  # noqa: E402
    NodeObservation,
    ProviderCapabilities,
    Timetable,
    assemble_observation,
    load_timetable,
    plan_reconcile,
    removal_policy,
    to_swarm_node,
)
from cwh.timetable import VmState as PlanVmState  # noqa: E402
from flows.reconcile_workers import DEFAULT_NODE_LABELS  # noqa: E402

TOKYO = ZoneInfo("Asia/Tokyo")
PLAN_AT = datetime(2025, 4, 8, 13, 0, tzinfo=TOKYO)


def timetable_document(nodes: int, phases: int) -> dict[str, object]:
    """Five class days of ``phases`` phases, 30 minutes apart from 8:00, counts up then down."""
    addresses = [f"10.{n // 250}.{n % 250}.{n % 200 + 1}" for n in range(nodes)]
    phase_list = []
    for index in range(phases):
        minute = 8 * 60 + 30 * index
        active = max(1, nodes - abs(phases // 2 - index) * (nodes // phases))
        phase_list.append(
            {
                "name": f"phase-{index + 1}",
                "start": f"{minute // 60}:{minute % 60:02d}",
                "active": active,
                "pause": 0,
                "drain": nodes - active,
            }
        )
    return {
        "ip_addresses": addresses,
        "class_days": ["mon", "tue", "wed", "thu", "fri"],
        "drain_time": 30,
        "down_type": "power_down",
        "culling": {"enabled": True, "idle_timeout": 900},
        "phases": phase_list,
        "exceptions": ["2025-04-29", {"from": "2025-05-03", "to": "2025-05-06"}],
    }


def swarm_listing(path: Path, at: datetime) -> tuple[list[NodeObservation], dict[str, str]]:
    """What observing gives half an hour before ``at``: the pool as that phase wanted it."""
    timetable = load_timetable(path)
    nodes: list[NodeObservation] = []
    vms: dict[str, str] = {}
    for index, (address, state) in enumerate(
        timetable.desired_state(at - timedelta(minutes=30)).items()
    ):
        if state.is_up:
            vms[address] = "running"
            nodes.append(
                NodeObservation(
                    node_id=f"node{index:04d}",
                    hostname=f"worker-{index}",
                    address=address,
                    role="worker",
                    availability=state.value,
                    state="ready",
                    labels=dict(DEFAULT_NODE_LABELS),
                    user_tasks=("jupyter-student",) if index % 7 == 0 else (),
                )
            )
        elif state.value == "power_down":
            vms[address] = "powered_off"
    return nodes, vms


def plan_step(timetable: Timetable, listing: list[NodeObservation], vms: dict[str, str]) -> int:
    """The flow's plan step for one run, from a loaded timetable to the ordered actions."""
    target = timetable.resolve_run_target(PLAN_AT)
    policy = removal_policy(timetable, target, PLAN_AT)
    observed = assemble_observation(
        {address: PlanVmState(state) for address, state in vms.items()},
        [(node.address, to_swarm_node(node), node.running_user_tasks) for node in listing],
    )
    plan = plan_reconcile(
        target.state.nodes,
        observed,
        at=PLAN_AT,
        provider=ProviderCapabilities("vcp"),
        policy=policy,
        labels=DEFAULT_NODE_LABELS,
    )
    return len(plan.actions)


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_plan(nodes: int, phases: int, repeat: int, work: Path) -> None:
    path = work / "timetable.yaml"
    path.write_text(yaml.safe_dump(timetable_document(nodes, phases)), encoding="utf-8")
    listing, vms = swarm_listing(path, PLAN_AT)
    timetable = load_timetable(path)
    actions = plan_step(timetable, listing, vms)
    text = path.read_text(encoding="utf-8")
    baseline = median_seconds(lambda: yaml.safe_load(text), repeat)
    load = median_seconds(lambda: load_timetable(path), repeat)
    plan = median_seconds(lambda: plan_step(timetable, listing, vms), repeat)
    total = median_seconds(lambda: plan_step(load_timetable(path), listing, vms), repeat)
    print(
        f"plan: {nodes} nodes, {phases} phases x 5 days ({len(timetable.windows)} windows), "
        f"{actions} actions at {PLAN_AT:%a %H:%M}"
    )
    rows = [
        ("baseline: parse the timetable YAML", baseline),
        ("load + validate the timetable file", load),
        ("plan computation (target, observation, plan)", plan),
        ("one run: file -> actions", total),
    ]
    for label, seconds in rows:
        print(f"  {label:<46} {seconds * 1000:8.2f} ms   x{seconds / baseline:5.1f} baseline")
    verdict = "within" if plan < 0.1 else "OVER"
    print(f"  plan computation {plan * 1000:.2f} ms: {verdict} the 100 ms target")


# --------------------------------------------------------------------- real runs


@contextmanager
def prefect_server(work: Path) -> Iterator[None]:
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from tests.services.prefect_service import running_prefect_server

    with running_prefect_server(work / "prefect") as server:
        os.environ["PREFECT_API_URL"] = server.api_url
        settings = {PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        with temporary_settings(settings):
            try:
                yield
            finally:
                APILogWorker.drain_all()  # send the runs' logs before the server stops


def bench_swarm(work: Path) -> None:

    from flows.reconcile_workers import reconcile_workers
    from tasks.worker_pool import attached_provider
    from tests.services.local_dockerd_provider import LocalDockerdProvider
    from tests.services.local_swarm import LabError, LocalSwarm, NodeSpec

    try:
        lab = LocalSwarm(subnet="10.96.0.0/24")
    except LabError as exc:
        print(f"full reconcile: skipped ({exc})")
        return
    with lab, prefect_server(work):
        lab.start_manager()
        lab.load_test_image()
        addresses = ["10.96.0.41", "10.96.0.42", "10.96.0.43"]

        started = time.perf_counter()
        made = lab.add_nodes([NodeSpec(f"b{i}", ip) for i, ip in enumerate(addresses)])
        for node in made:
            lab.join(node)
        baseline = time.perf_counter() - started
        client = lab.docker_client(lab.manager)
        for node in made:
            lab.remove_node(node.name)
        for entry in client.api.nodes():
            if entry["Status"]["Addr"] in addresses:
                client.api.remove_node(entry["ID"], force=True)

        timetable = work / "lab-timetable.yaml"
        document = {
            "ip_addresses": addresses,
            "down_type": "power_down",
            "default": 1,
            "periods": [{"name": "lecture", "begin": "9:00", "end": "16:00", "node_count": 3}],
        }
        timetable.write_text(yaml.safe_dump(document), encoding="utf-8")
        steps = [
            ("scale out 0 -> 3 (create, join, label, active)", datetime(2025, 4, 8, 10)),
            ("run again right after (nothing to do)", datetime(2025, 4, 8, 10, 1)),
            ("scale in 3 -> 1 (pause, drain, leave, power off)", datetime(2025, 4, 8, 16)),
            ("scale out 1 -> 3 (power on, rejoin, active)", datetime(2025, 4, 9, 10)),
        ]
        print("full reconcile of 3 local nodes (lab bring-up and Prefect server not timed)")
        print(f"  baseline: lab creates and joins 3 nodes directly   {baseline:7.2f} s")
        with attached_provider("local-dockerd", LocalDockerdProvider(lab)):
            for label, at in steps:
                started = time.perf_counter()
                state = reconcile_workers(
                    timetable=str(timetable),
                    at=at.replace(tzinfo=TOKYO),
                    provider="local-dockerd",
                    docker_host=lab.manager.docker_url,
                    ledger=None,
                    return_state=True,
                )
                wall = time.perf_counter() - started
                report = state.result() if state.is_completed() else {}
                outcome = "completed" if report else f"FAILED: {state.message}"
                actions = len(report.get("actions", []))
                steps_taken = ", ".join(
                    f"{step} {seconds:.2f}" for step, seconds in report.get("durations", {}).items()
                )
                print(
                    f"  {label:<50} {wall:7.2f} s   x{wall / baseline:4.1f} baseline   "
                    f"{actions:2d} actions, {outcome} ({steps_taken})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--phases", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--skip-swarm", action="store_true", help="only the plan computation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cwh-bench-") as temp:
        work = Path(temp)
        bench_plan(args.nodes, args.phases, args.repeat, work)
        if not args.skip_swarm:
            bench_swarm(work)


if __name__ == "__main__":
    main()
