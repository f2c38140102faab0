"""The ``index-textbook`` flow and its ``prefect.yaml`` deployment, on a real Prefect server."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.index_textbook import (
    NOTEBOOKS_ARTIFACT_KEY,
    SUMMARY_ARTIFACT_KEY,
    TextbookIndexRefused,
    index_textbook,
)
from tests.test_textbook_builders import code, lesson, meme, write_notebook

pytestmark = pytest.mark.prefect

REPO_ROOT = Path(__file__).resolve().parents[1]
LABEL = r"問\s*\d+-\d+"


def _artifacts(flow_run_id: uuid.UUID) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {artifact.key: artifact.data for artifact in found if artifact.key}


def _indexed_events(index: Path, timeout: float = 20.0, expect: int = 1) -> list[Any]:
    """``cwh.textbook.indexed`` events for ``index`` (the server stores events in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.events import ResourceSpecification

    wanted = EventFilter(
        event=EventNameFilter(name=["cwh.textbook.indexed"]),
        resource=EventResourceFilter(
            labels=ResourceSpecification({"cwh.textbook.index.path": str(index)})
        ),
    )
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(wanted, limit=50).events
        if len(events) >= expect or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_flow_builds_publishes_and_announces(prefect_api: str, tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "meme.csv"
    lesson(root, "python-basic/01.ipynb", 1)
    lesson(root, "python-basic/02.ipynb", 2)
    state = index_textbook(
        textbook_dir=str(root),
        output=str(output),
        qlabel_pattern=LABEL,
        changed_paths=["python-basic/02.ipynb"],
        return_state=True,
    )
    assert state.is_completed(), state
    outcome = state.result()
    assert (outcome.status, outcome.rows) == ("written", 4)
    assert "問2-2" in output.read_text(encoding="utf-8")

    artifacts = _artifacts(state.state_details.flow_run_id)
    table = artifacts[NOTEBOOKS_ARTIFACT_KEY]
    assert '"textbook_path": "python-basic/02.ipynb"' in table
    assert '"questions": 2' in table
    summary = artifacts[SUMMARY_ARTIFACT_KEY]
    assert "## Textbook index: index updated" in summary
    assert "`python-basic/02.ipynb`" in summary

    [event] = _indexed_events(output)
    assert event.payload["rows"] == 4
    assert event.payload["changed_notebook_memes"] == [meme(1000), meme(2000)]
    assert event.payload["changed_textbook_paths"] == [
        "python-basic/01.ipynb",
        "python-basic/02.ipynb",
    ]
    assert any(r.get("prefect.resource.role") == "flow-run" for r in event.related)

    again = index_textbook(
        textbook_dir=str(root), output=str(output), qlabel_pattern=LABEL, return_state=True
    )
    assert again.result().status == "unchanged"
    time.sleep(3.0)
    assert len(_indexed_events(output, timeout=0)) == 1  # no event for an unchanged index


def test_flow_summary_follows_the_language(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, output = tmp_path / "textbook", tmp_path / "meme.csv"
    lesson(root, "c/a.ipynb", 1)
    state = index_textbook(
        textbook_dir=str(root), output=str(output), language="ja", return_state=True
    )
    summary = _artifacts(state.state_details.flow_run_id)[SUMMARY_ARTIFACT_KEY]
    assert summary.startswith("## 教材インデックス：インデックスを更新しました\n")
    assert (
        "- 問題数：2（ノートブック 1 件から。うち 1 件を読み込み、残りはキャッシュを使用）"
        in summary
    )
    monkeypatch.setenv("CWH_LANGUAGE", "ja")
    state = index_textbook(textbook_dir=str(root), output=str(output), return_state=True)
    summary = _artifacts(state.state_details.flow_run_id)[SUMMARY_ARTIFACT_KEY]
    assert summary.startswith("## 教材インデックス：インデックスはすでに最新です\n")
    table = _artifacts(state.state_details.flow_run_id)[NOTEBOOKS_ARTIFACT_KEY]
    assert '"textbook_path": "c/a.ipynb"' in table  # column keys stay English


def test_strict_refusal_fails_the_run_and_keeps_the_index(
    prefect_api: str,
    tmp_path: Path,
) -> None:
    root, output = tmp_path / "textbook", tmp_path / "meme.csv"
    lesson(root, "c/a.ipynb", 1)
    index_textbook(textbook_dir=str(root), output=str(output))
    before = output.read_bytes()
    write_notebook(root, "c/b.ipynb", [code("x")], meme(2000))
    state = index_textbook(
        textbook_dir=str(root), output=str(output), strict=True, return_state=True
    )
    assert state.is_failed()
    with pytest.raises(TextbookIndexRefused, match="strict mode"):
        state.result()
    assert output.read_bytes() == before
    summary = _artifacts(state.state_details.flow_run_id)[SUMMARY_ARTIFACT_KEY]
    assert "index NOT written" in summary
    assert "Missing lc_cell_meme value" in summary
    assert "jupyter nblineage new-root-meme" in summary


def test_missing_textbook_dir_fails_without_touching_the_index(
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks import textbook_files

    monkeypatch.setattr(textbook_files.scan_textbook_files, "retry_delay_seconds", [0, 0])
    output = tmp_path / "meme.csv"
    output.write_bytes(b"qno\r\n")
    state = index_textbook(
        textbook_dir=str(tmp_path / "unmounted"), output=str(output), return_state=True
    )
    assert state.is_failed()
    assert output.read_bytes() == b"qno\r\n"


def _deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", "index-textbook"],
        cwd=REPO_ROOT,
        env=dict(env, CWH_FLOWS_ROOT=str(REPO_ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_prefect_yaml_deploys_trigger_and_schedule(
    prefect_subprocess_env: dict[str, str],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from deployments.textbook_watch import changed_event_trigger

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name="cwh-process", type="process"))
        except Exception as exc:  # created by an earlier test in this session
            assert "already exists" in str(exc)
    result = _deploy(prefect_subprocess_env)
    assert result.returncode == 0, result.stdout + result.stderr

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("index-textbook/index-textbook")
        automations = client.read_resource_related_automations(
            f"prefect.deployment.{deployment.id}"
        )
    assert deployment.work_pool_name == "cwh-process"
    assert deployment.entrypoint == "flows/index_textbook.py:index_textbook"
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
    ]
    assert deployment.parameters["textbook_dir"] == "/jupyter/admin/textbook"
    assert deployment.parameters["qlabel_pattern"] == LABEL
    [schedule] = deployment.schedules
    assert schedule.slug == "daily-safety-net"
    assert schedule.schedule.timezone == "Asia/Tokyo"  # type: ignore[union-attr]
    assert deployment.concurrency_options is not None

    [automation] = automations
    trigger = automation.trigger
    expected = changed_event_trigger("/jupyter/admin/textbook")
    assert trigger.expect == expected.expect  # type: ignore[union-attr]
    assert trigger.match == expected.match  # type: ignore[union-attr]
    assert trigger.posture == expected.posture  # type: ignore[union-attr]
    assert (trigger.threshold, trigger.within) == (expected.threshold, expected.within)  # type: ignore[union-attr]
    [action] = automation.actions
    assert action.parameters == expected.parameters  # type: ignore[union-attr]


def test_prefect_yaml_is_tidy() -> None:
    document = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert document["name"] == "cwh-flows"
    assert document["definitions"]["work_pools"]["cwh_process"]["name"] == "cwh-process"
    names = [deployment["name"] for deployment in document["deployments"]]
    assert len(names) == len(set(names))
    [index] = [d for d in document["deployments"] if d["name"] == "index-textbook"]
    assert index["work_pool"]["name"] == "cwh-process"
    assert index["triggers"][0]["within"] == 0
    assert index["schedules"][0]["timezone"] == "Asia/Tokyo"
