"""The health check's state file (:mod:`cwh.health.state`): where it lives, reading, writing."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from cwh.health import DamagedState, HealthState, read_health_state, write_health_state
from tasks.common import NOT_CACHED, run_logger
from tasks.store import cwh_home


def default_state_file() -> Path:
    return cwh_home() / "health" / "state.json"


@task(name="health-read-state", **NOT_CACHED)
def read_state(path: Path) -> HealthState | None:
    """The last run's state; None on the first run or when the file was damaged (logged)."""
    try:
        return read_health_state(path)
    except DamagedState as exc:
        run_logger(__name__).warning("health state %s is damaged, starting over: %s", path, exc)
        return None


@task(name="health-write-state", **NOT_CACHED)
def write_state(path: Path, state: HealthState) -> None:
    write_health_state(path, state)
