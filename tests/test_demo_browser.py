"""``cwh demo`` as a person meets it: a real headless Chromium on the demo's Prefect UI.

One demo in a fresh HOME on a port other than 4200 (the UI must call the API on the port
really used), then: the Deployments page lists every deployment of ``prefect.yaml`` and a
deployment page its schedules, the Blocks catalog lists the project's block types, the
progress summary artifact shows the heatmap image loaded, the HTML report's link artifact
points to the report server and the page opens there, and runs created from the deployments
as the UI's "Run" button creates them complete. Screenshots go to the test's directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deployments.serve import read_specs
from tests.enrich_support import ROOT
from tests.services.chromium import Page, chromium_binary, headless_chromium

CWH = [sys.executable, "-m", "deployments.cli.main"]
RUN_FROM_UI = (
    "progress-report",
    "backfill-logs",
    "index-textbook",
    "reenrich",
    "reconcile-workers",
)
BLOCK_TYPE_NAMES = (
    "CoursewareHub",
    "CoursewareHub Elasticsearch",
    "CoursewareHub Kibana",
    "VCP Worker Unit",
)
RUNS_TIMEOUT_SECONDS = 420.0

pytestmark = pytest.mark.prefect


@dataclass(frozen=True)
class Demo:
    home: Path
    ui: str
    port: int
    reports_port: int
    stdout: str


def _cwh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CWH_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [*CWH, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


def _free_port_pair() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
        if port == 4200 or port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free neighbouring ports")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if chromium_binary() is None:
        pytest.fail("chromium is not installed (Debian: apt-get install chromium)", pytrace=False)
    home = tmp_path_factory.mktemp("demo-browser-home")
    port = _free_port_pair()
    try:
        done = _cwh(home, "demo", "--port", str(port))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        state = json.loads((home / ".cwh/prefect/cwh-demo-server.json").read_text())
        yield Demo(home, f"http://127.0.0.1:{port}", port, int(state["reports_port"]), done.stdout)
    finally:
        stopped = _cwh(home, "demo", "--stop-server")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)


@pytest.fixture(scope="module")
def page(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


@pytest.fixture(scope="module")
def client(demo: Demo) -> Iterator[object]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: f"{demo.ui}/api"}),
        get_client(sync_client=True) as client,
    ):
        yield client


def _shot(page: Page, demo: Demo, name: str) -> None:
    time.sleep(1)
    page.screenshot(demo.home / f"{name}.png")


def test_the_ui_calls_the_api_on_the_port_the_server_really_uses(demo: Demo) -> None:
    settings = httpx.get(f"{demo.ui}/ui-settings", timeout=10).json()
    assert settings["api_url"] == f"http://127.0.0.1:{demo.port}/api"
    assert f"Prefect UI: {demo.ui}/runs/flow-run/" in demo.stdout


def test_the_deployments_page_lists_every_deployment_with_its_schedules(
    demo: Demo, page: Page, client: object
) -> None:
    names = [spec.name for spec in read_specs()]
    page.navigate(f"{demo.ui}/deployments")
    listed = page.wait_for(
        "(() => { const t = document.body.innerText;"
        f" return {json.dumps(names)}.every(n => t.includes(n)) && t; }})()"
    )
    assert "At 02:30 AM every day" in listed  # backfill-logs-nightly's schedule
    _shot(page, demo, "deployments")
    (report,) = [d for d in client.read_deployments() if d.name == "progress-report"]  # type: ignore[attr-defined]
    page.navigate(f"{demo.ui}/deployments/deployment/{report.id}")
    shown = page.wait_for(
        "document.body.innerText.includes('class-hours') && document.body.innerText"
    )
    assert "class-first-period-start" in shown and "class-last-period-end" in shown
    _shot(page, demo, "deployment-progress-report")
    assert {s.schedule.timezone for s in report.schedules} == {"Asia/Tokyo"}
    assert _scheduled_runs(client, report.id) > 0, "the scheduler created no run"


def _scheduled_runs(client: object, deployment_id: object, timeout: float = 90.0) -> int:
    """How many scheduled runs the server's scheduler made for the deployment (waits)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(  # type: ignore[attr-defined]
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
        count = sum(1 for run in runs if run.state is not None and run.state.is_scheduled())
        if count:
            break
        time.sleep(2)
    return count


def test_the_blocks_catalog_lists_the_project_block_types(demo: Demo, page: Page) -> None:
    page.navigate(f"{demo.ui}/blocks/catalog")
    page.wait_for(
        "(() => { const t = document.body.innerText;"
        f" return {json.dumps(list(BLOCK_TYPE_NAMES))}.every(n => t.includes(n)); }})()"
    )
    page.evaluate(
        "[...document.querySelectorAll('h1, h2, h3, h4, a, span, div')]"
        ".find(e => e.textContent.trim() === 'CoursewareHub').scrollIntoView()"
    )
    _shot(page, demo, "blocks-catalog")


def test_the_summary_artifact_shows_the_heatmap_and_the_report_opens_by_its_link(
    demo: Demo, page: Page, client: object
) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    def latest(key: str) -> object:
        found = client.read_artifacts(  # type: ignore[attr-defined]
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
        assert found, key
        return found[0]

    summary = latest("progress-summary-python-basic")
    page.navigate(f"{demo.ui}/artifacts/artifact/{summary.id}")  # type: ignore[attr-defined]
    widths = page.wait_for(
        "(() => { const w = [...document.images].filter(i => i.src.startsWith('data:image/png'))"
        ".map(i => i.complete ? i.naturalWidth : 0);"
        " return w.length && w.every(x => x > 0) && w; })()"
    )
    assert all(width > 300 for width in widths)
    _shot(page, demo, "artifact-summary")

    link = latest("progress-html-python-basic").data  # type: ignore[attr-defined]
    (url,) = re.findall(r"\((http://[^)]+)\)", link)
    assert url == f"http://127.0.0.1:{demo.reports_port}/python-basic/latest.html"
    page.navigate(url)
    assert page.wait_for("document.images.length && document.title")
    _shot(page, demo, "report-html")


def test_runs_started_as_the_run_button_does_complete(demo: Demo, client: object) -> None:
    deployments = {d.name: d for d in client.read_deployments()}  # type: ignore[attr-defined]
    runs = {
        name: client.create_flow_run_from_deployment(deployments[name].id)  # type: ignore[attr-defined]
        for name in RUN_FROM_UI
    }
    deadline = time.monotonic() + RUNS_TIMEOUT_SECONDS
    final: dict[str, str] = {}
    while len(final) < len(runs) and time.monotonic() < deadline:
        for name, run in runs.items():
            state = client.read_flow_run(run.id).state  # type: ignore[attr-defined]
            if name not in final and state is not None and state.is_final():
                final[name] = f"{state.type.value} {state.message or ''}".strip()
        time.sleep(1)
    assert final == dict.fromkeys(RUN_FROM_UI, "COMPLETED"), final


def test_an_edited_notebook_runs_index_textbook_through_its_event_trigger(
    demo: Demo, client: object
) -> None:
    from datetime import UTC, datetime

    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    (index,) = [d for d in client.read_deployments() if d.name == "index-textbook"]  # type: ignore[attr-defined]
    notebook = sorted((demo.home / ".cwh/demo/course/textbook").rglob("*.ipynb"))[0]
    since = datetime.now(UTC)
    notebook.write_bytes(notebook.read_bytes())
    deadline = time.monotonic() + RUNS_TIMEOUT_SECONDS
    states: list[str] = []
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(  # type: ignore[attr-defined]
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[index.id]))
        )
        states = [
            run.state.type.value
            for run in runs
            if run.created is not None and run.created >= since and run.state is not None
        ]
        if "COMPLETED" in states:
            break
        time.sleep(2)
    assert "COMPLETED" in states, states
