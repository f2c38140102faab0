"""No run stalls behind a dead process: ``kill -9`` of a ``cwh serve`` process (and its flow
run, as systemd does to the unit's processes) during a run of a ``limit: 1, CANCEL_NEW``
deployment; the stale-run automation of ``cwh alerts apply`` marks the run CRASHED once its
heartbeats stop, the next run after a restart starts and completes (it runs longer than the
window, so its heartbeats are seen to keep it alive), and the health check
raises ``cwh.pipeline.unhealthy`` for the crashed run.

Prefect's smallest heartbeat period is 30 s; the test's window is 45 s, so the crash comes
about a minute after the last heartbeat.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from cwh.health import alert_rules
from flows.pipeline_health import pipeline_health
from tasks.automations import apply_automations
from tests.alert_support import delete_automations
from tests.enrich_support import ROOT

pytestmark = pytest.mark.prefect
CWH = [sys.executable, "-m", "deployments.cli.main"]
HEARTBEAT_SECONDS = 30
STALE_AFTER_SECONDS = 45
LIVING_RUN_SECONDS = 75
TIMEOUT_SECONDS = 240


@pytest.fixture
def stale_run_automation(prefect_api: str) -> Iterator[str]:
    [rule] = [r for r in alert_rules([], "en", stale_run_after=STALE_AFTER_SECONDS) if r.crash_run]
    apply_automations([rule], None)
    try:
        yield rule.name
    finally:
        delete_automations([rule.name])


def _serve(prefect_yaml: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CWH, "serve", "--prefect-yaml", str(prefect_yaml), "--no-watch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait(what: str, probe: Any, log: Path, timeout: float = TIMEOUT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    pytest.fail(f"timed out waiting for {what}; serve log:\n{tail}")


def _state(client: Any, run_id: Any) -> StateType | None:
    state = client.read_flow_run(run_id).state
    return state.type if state is not None else None


def _heartbeat_seen(client: Any, run_id: Any) -> bool:
    page = client.read_events(
        EventFilter(
            occurred={"since": datetime.now(UTC) - timedelta(hours=1)},
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=5,
    )
    return bool(page.events)


def test_a_killed_serve_process_leaves_no_stale_run(
    stale_run_automation: str,
    prefect_subprocess_env: dict[str, str],
    tmp_path: Path,
) -> None:
    name = f"stale-{uuid.uuid4().hex[:8]}"
    spec = {
        "name": name,
        "entrypoint": "tests/stale_run_flow.py:sleepy",
        "parameters": {"seconds": 0},
        "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"},
    }
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(yaml.safe_dump({"deployments": [spec]}), encoding="utf-8")
    env = {
        **prefect_subprocess_env,
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    }
    log = tmp_path / "serve.log"

    server = _serve(prefect_yaml, env, log)
    try:
        with get_client(sync_client=True) as client:
            deployment = _wait(
                "the deployment", lambda: _deployment(client, f"stale-run-probe/{name}"), log
            )
            first = client.create_flow_run_from_deployment(
                deployment.id, parameters={"seconds": 600}
            )
            _wait(
                "the first run to run", lambda: _state(client, first.id) == StateType.RUNNING, log
            )
            _wait("its first heartbeat", lambda: _heartbeat_seen(client, first.id), log)

            # The serving process and the run it started die at once.
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
            killed_at = time.monotonic()
            assert _state(client, first.id) == StateType.RUNNING

            crashed = _wait(
                "the stale run to be marked crashed",
                lambda: _state(client, first.id) == StateType.CRASHED,
                log,
            )
            assert crashed
            print(f"stale run crashed {time.monotonic() - killed_at:.0f} s after the kill")
            message = client.read_flow_run(first.id).state.message  # type: ignore[union-attr]
            assert "heartbeat" in (message or "").lower()

            # The next run lives longer than the window: its heartbeats keep it from being
            # judged stale, and it completes.
            server = _serve(prefect_yaml, env, log)
            second = client.create_flow_run_from_deployment(
                deployment.id, parameters={"seconds": LIVING_RUN_SECONDS}
            )
            final = _wait(
                "the next run to finish",
                lambda: (s := _state(client, second.id)) is not None and s.value in _FINAL and s,
                log,
            )
            assert final == StateType.COMPLETED, client.read_flow_run(second.id).state
    finally:
        _stop(server)

    report = pipeline_health(
        database=str(tmp_path / "no-store.sqlite3"),
        state_file=str(tmp_path / "health.json"),
        crashed_runs_of=[name],
    )
    unhealthy = [
        e for e in report.events if e.resource["prefect.resource.id"].endswith("crashed-runs")
    ]
    assert unhealthy and name in str(unhealthy[0].payload["detail"])


_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _deployment(client: Any, name: str) -> Any:
    try:
        return client.read_deployment_by_name(name)
    except Exception:
        return None
