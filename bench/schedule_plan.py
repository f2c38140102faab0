"""Cost of the pure scheduling steps for 100 worker nodes and 20 phases per class day.

Usage: ``uv run python bench/schedule_plan.py [--nodes 100] [--phases 20] [--repeat 50]``

The timetable has five class days with ``--phases`` phases each (every 30 minutes from 8:00,
counts rising and falling, a 30-minute drain_time), so it holds about 100 windows. A reconcile
run computes the desired state and the plan; the target for that pair is under 100 ms. The
baseline, measured in the same run, is only reading the observation as JSON (what any planner
has to do at least), so the ratio stays meaningful on a busy machine. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cwh.timetable import Timetable
from cwh.timetable_load import parse_timetable
from cwh.timetable_prefect import prefect_schedules
from cwh.worker_plan import (
    ObservedNode,
    ProviderCapabilities,
    converged_observation,
    observed_from_json,
    observed_to_json,
    plan_reconcile,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def build_document(nodes: int, phases: int) -> dict[str, object]:
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
        "phases": phase_list,
        "exceptions": ["2025-04-29", "2025-05-05"],
    }


def timed(function: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def observation(timetable: Timetable, at: datetime) -> dict[str, ObservedNode]:
    """The pool as the previous transition left it: the plan has real work to do."""
    previous = timetable.desired_state(at - timedelta(minutes=31))
    return converged_observation(previous, ProviderCapabilities("vcp"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--phases", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    document = build_document(args.nodes, args.phases)
    load_seconds = timed(lambda: parse_timetable(document), max(3, args.repeat // 10))
    timetable = parse_timetable(document)
    at = datetime(2025, 4, 8, 12, 30, tzinfo=TOKYO)
    observed = observation(timetable, at)
    observed_json = json.dumps(observed_to_json(observed.values()))
    provider = ProviderCapabilities("vcp")

    def run_plan() -> object:
        desired = timetable.desired_state(at)
        return plan_reconcile(desired, observed, at=at, provider=provider)

    plan = plan_reconcile(timetable.desired_state(at), observed, at=at, provider=provider)
    baseline = timed(lambda: observed_from_json(json.loads(observed_json)), args.repeat)
    state_seconds = timed(lambda: timetable.desired_state(at), args.repeat)
    plan_seconds = timed(run_plan, args.repeat)
    week = timed(lambda: timetable.transitions(at, at + timedelta(days=7)), 5)
    cron = timed(lambda: prefect_schedules(timetable, reference=at), 5)

    print(
        f"timetable: {args.nodes} nodes, {args.phases} phases x 5 days = "
        f"{len(timetable.windows)} windows; plan at {at:%a %H:%M}: {len(plan.actions)} actions"
    )
    rows = [
        ("baseline: read the observation (JSON)", baseline),
        ("desired_state(at)", state_seconds),
        ("desired_state + plan_reconcile (one run)", plan_seconds),
        ("load + validate the document", load_seconds),
        ("preview: transitions over 7 days", week),
        ("to-prefect schedules", cron),
    ]
    for label, seconds in rows:
        ratio = seconds / baseline if baseline else float("nan")
        print(f"  {label:<44} {seconds * 1000:9.2f} ms   x{ratio:8.1f} baseline")
    verdict = "within" if plan_seconds < 0.1 else "OVER"
    print(
        f"one reconcile's plan computation: {plan_seconds * 1000:.2f} ms "
        f"({verdict} the 100 ms target)"
    )


if __name__ == "__main__":
    main()
