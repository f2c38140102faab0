"""Runs of deployments that crashed since the last health check, read from the Prefect API.

A run is CRASHED when its process died (or the stale-run automation found it silent); the
check reports each one once, by the time its state was entered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from cwh.health import CheckOutcome, CrashedRun
from tasks.common import NOT_CACHED, run_logger

MAX_RUNS = 200


@task(name="health-crashed-runs", **NOT_CACHED)
def crashed_runs_since(
    since: float, deployments: Sequence[str] | None = None
) -> list[CrashedRun] | CheckOutcome:
    """Deployment runs whose CRASHED state began after ``since`` (epoch seconds), of the
    named ``deployments`` (None: of every deployment)."""
    start = datetime.fromtimestamp(since, UTC)
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CRASHED])),
                    deployment_id=FlowRunFilterDeploymentId(is_null_=False),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=MAX_RUNS,
            )
            names: dict[str, str] = {}
            crashed = []
            for run in runs:
                state = run.state
                if state is None or state.timestamp is None or state.timestamp <= start:
                    continue
                key = str(run.deployment_id)
                if key not in names:
                    names[key] = client.read_deployment(run.deployment_id).name  # type: ignore[arg-type]
                if deployments is not None and names[key] not in deployments:
                    continue
                crashed.append(
                    CrashedRun(str(run.id), run.name, names[key], (state.message or "")[:200])
                )
    except Exception as exc:
        return CheckOutcome("crashed-runs", False, f"Prefect API: {exc}"[:300])
    for run in crashed:
        run_logger(__name__).warning(
            "run %s of %s crashed: %s", run.name, run.deployment, run.message
        )
    return crashed
