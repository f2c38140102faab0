"""``cwh serve`` runs the reenrich deployment when ``cwh.textbook.indexed`` is emitted.

The deployment is served from a ``prefect.yaml`` shaped like the project's (same trigger),
narrowed to this test's index file so that nothing else can fire it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from cwh.textbook import IndexOptions, build_index
from tasks.backfill import run_backfill
from tasks.embedded_store import EmbeddedStore
from tasks.store import StoreConfig
from tests.enrich_support import ROOT
from tests.test_backfill_stores import QLABEL, backfill_config, two_user_course
from tests.test_reenrich import add_setup_notebook

pytestmark = pytest.mark.prefect
CWH = [sys.executable, "-m", "deployments.cli.main"]
TIMEOUT_SECONDS = 180


def _deployment_spec(index: Path, database: Path) -> dict[str, object]:
    project = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    spec = next(d for d in project["deployments"] if d["name"] == "reenrich")
    trigger = dict(spec["triggers"][0])
    trigger["match"] = {**trigger["match"], "cwh.textbook.index.path": str(index)}
    return {
        "name": f"reenrich-{index.parent.name}",
        "entrypoint": spec["entrypoint"],
        "parameters": {"database": str(database)},
        "triggers": [trigger],
    }


def test_indexed_event_runs_reenrich_through_cwh_serve(
    prefect_api: str,
    prefect_subprocess_env: dict[str, str],
    lcwrapper_sample: Path,
    tmp_path: Path,
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path, numbering="name")
    database = tmp_path / "store.sqlite3"
    run_backfill(backfill_config(course, StoreConfig(database=str(database)), tmp_path))
    spec = _deployment_spec(course.index, database)
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text(yaml.safe_dump({"deployments": [spec]}), encoding="utf-8")

    server = subprocess.Popen(
        [*CWH, "serve", "--prefect-yaml", str(prefect_yaml), "--no-watch"],
        cwd=ROOT,
        env=prefect_subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )
    try:
        deployment_id = _wait_for_deployment(f"reenrich/{spec['name']}", server, tmp_path)
        add_setup_notebook(course.textbook)
        build_index(
            course.textbook, course.index, IndexOptions(qlabel_pattern=QLABEL, numbering="name")
        )
        _emit_until_a_run_completes(course.index, deployment_id, server, tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    store = EmbeddedStore(database)
    qnos = {cell.qno for cell in store.progress_rows("python-basic")}
    store.close()
    assert qnos and all(qno.startswith(("02-", "03-")) for qno in qnos), qnos


def _wait_for_deployment(name: str, server: subprocess.Popen[bytes], tmp_path: Path) -> object:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return client.read_deployment_by_name(name).id
            except Exception:
                time.sleep(1)
    pytest.fail(f"cwh serve did not register {name}: {(tmp_path / 'serve.log').read_text()}")


def _emit_until_a_run_completes(
    index: Path, deployment_id: object, server: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """Emit the event (again every 15 s, in case the server's trigger cache lags)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    next_emit = 0.0
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            if time.monotonic() >= next_emit:
                emit_event(
                    event="cwh.textbook.indexed",
                    resource={
                        "prefect.resource.id": "cwh.textbook.index",
                        "cwh.textbook.index.path": str(index),
                    },
                    payload={"index": str(index)},
                )
                EventsWorker.instance().drain()
                next_emit = time.monotonic() + 15
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            states = [run.state.type.value for run in runs if run.state is not None]
            if "COMPLETED" in states:
                return
            assert "FAILED" not in states and "CRASHED" not in states, (
                tmp_path / "serve.log"
            ).read_text()[-3000:]
            time.sleep(1)
    pytest.fail(f"no completed reenrich run: {(tmp_path / 'serve.log').read_text()[-3000:]}")
