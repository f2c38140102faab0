"""The progress-report flow's exports on a real Prefect server, keyed by a CoursewareHub block.

The pseudonym key lives in the block's Secret field: the flow is given the block's name,
writes the same files as ``cwh report`` (the golden files; the attempts without their free
text, as ``keep_free_text`` is not set), links them from its artifacts, and the key appears
in no artifact, log or parameter of the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact
from pydantic import SecretStr

from blocks import CoursewareHub
from flows.progress_report import progress_report
from tasks.backfill import run_backfill
from tasks.store import StoreConfig
from tests.test_backfill_stores import backfill_config, two_user_course
from tests.test_report_exports_golden import TEST_KEY, golden_text

pytestmark = pytest.mark.prefect
BLOCK = "exports-test-hub"


@pytest.fixture
def hub_block(prefect_api: str) -> Iterator[str]:
    hub = CoursewareHub(manager_address="10.0.0.2", pseudonym_key=SecretStr(TEST_KEY.decode()))
    hub.save(BLOCK, overwrite=True)
    yield BLOCK
    CoursewareHub.delete(BLOCK)


def _artifact(key: str) -> Any:
    artifact = Artifact.get(key)
    assert artifact is not None, f"artifact {key} missing"
    return artifact


def test_the_flow_writes_pseudonymised_exports_and_links_them(
    prefect_api: str, hub_block: str, lcwrapper_sample: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter

    course = two_user_course(lcwrapper_sample, tmp_path)
    database = str(tmp_path / "store.sqlite3")
    run_backfill(backfill_config(course, StoreConfig(database=database), tmp_path))

    state = progress_report(
        index=str(course.index),
        roster=str(course.passwd),
        database=database,
        output_dir=str(tmp_path / "reports"),
        courses=["python-basic"],
        formats=["csv", "xlsx,moodle", "attempts"],
        pseudonymize=True,
        coursewarehub_block=hub_block,
        return_state=True,
    )
    [summary] = state.result()
    exports = {name: Path(path) for name, path in summary["exports"].items()}
    assert sorted(exports) == ["attempts", "csv", "moodle", "xlsx"]
    goldens = (
        ("csv", "python-basic"),
        ("moodle", "python-basic.moodle"),
        ("attempts", "python-basic.attempts"),
    )
    for name, golden in goldens:
        assert exports[name].name.endswith(".pseudonymized.csv")
        assert exports[name].read_bytes().decode("utf-8") == golden_text(
            f"{golden}.pseudonymized.csv"
        )

    for name in ("csv", "xlsx", "moodle", "attempts"):
        link = _artifact(f"progress-{name}-python-basic").data
        assert exports[name].resolve().as_uri() in link
    markdown = _artifact("progress-summary-python-basic").data
    assert "## Exports" in markdown and exports["moodle"].name in markdown
    assert "pseudonymised" in markdown
    assert exports["attempts"].name in markdown and "leaves out code, output" in markdown

    secret = TEST_KEY.decode()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        logs = client.read_logs(
            LogFilter(flow_run_id={"any_": [run.id]}),  # type: ignore[arg-type]
        )
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    assert secret not in str(run.parameters)
    assert all(secret not in log.message for log in logs)
    assert all(secret not in str(artifact.data) for artifact in artifacts)
    assert len(artifacts) >= 5
