"""A flow given a CoursewareHub block speaks the block's language when its own ``language``
is unset, against a real Prefect server: the reconcile run of the demo pool (which only
plans) publishes its summary and node table in Japanese for a ``language: ja`` block, in
English when told ``language: en``, and a flow naming no block loads none."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.artifacts import Artifact
from prefect_docker import DockerHost  # type: ignore[import-untyped]

from blocks import CoursewareHub
from flows.reconcile_workers import NODES_ARTIFACT_KEY, SUMMARY_ARTIFACT_KEY, reconcile_workers
from tasks.language import flow_language, named_block_language

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parents[1]
BLOCK = "language-test-hub"
# A class Monday in the example's term, after class: nodes leave the pool.
AT = datetime(2026, 11, 30, 14, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def _hub(language: str, tmp_path: Path) -> CoursewareHub:
    return CoursewareHub(
        manager_address="192.0.2.10",
        docker=DockerHost(base_url=f"unix://{tmp_path}/no-docker.sock"),
        language=language,
    )


def _reconcile(**parameters: object) -> tuple[str, list[dict[str, object]]]:
    state = reconcile_workers(
        timetable=str(ROOT / "examples" / "timetable.yaml"),
        at=AT,
        provider="demo",
        dry_run=True,
        ledger=None,
        return_state=True,
        **parameters,
    )
    assert state.is_completed(), state.message
    summary = Artifact.get(SUMMARY_ARTIFACT_KEY)
    table = Artifact.get(NODES_ARTIFACT_KEY)
    assert summary is not None and table is not None
    return str(summary.data), json.loads(str(table.data))


def test_the_language_setting_order(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWH_LANGUAGE", "ja")
    assert flow_language(None, None) == "ja"
    assert flow_language(None, _hub("en", tmp_path)) == "en"
    assert flow_language("en", _hub("ja", tmp_path)) == "en"
    monkeypatch.delenv("CWH_LANGUAGE")
    assert flow_language(None, _hub("ja", tmp_path)) == "ja"
    # No block named, or a language given: no block is loaded (this name does not exist).
    assert named_block_language(None, None) == "en"
    assert named_block_language("ja", "no-such-block-of-this-test") == "ja"


def test_a_flow_speaks_its_blocks_language_unless_told_otherwise(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CWH_LANGUAGE", raising=False)
    _hub("ja", tmp_path).save(BLOCK, overwrite=True)
    try:
        assert named_block_language(None, BLOCK) == "ja"
        summary, table = _reconcile(hub_block=BLOCK)
        assert summary.startswith("## ワーカーノード：ドライラン（何も適用していません）\n")
        assert "- 目標：時間帯 `off-hours`" in summary
        assert "Worker pool" not in summary
        assert all("アドレス" in row and "状態" in row for row in table)
        assert {row["状態"] for row in table} <= {"計画済み", "変更なし"}
        assert any(str(row["操作"]).startswith("可用性変更 一時停止") for row in table)

        summary, table = _reconcile(hub_block=BLOCK, language="en")
        assert summary.startswith("## Worker pool: dry run (nothing applied)\n")
        assert all("address" in row and "status" in row for row in table)

        summary, _ = _reconcile()
        assert summary.startswith("## Worker pool: dry run (nothing applied)\n")

        missing = reconcile_workers(
            timetable=str(ROOT / "examples" / "timetable.yaml"),
            provider="demo",
            dry_run=True,
            ledger=None,
            hub_block="no-such-hub-of-this-test",
            return_state=True,
        )
        assert missing.is_failed() and "no-such-hub-of-this-test" in str(missing.message)
    finally:
        CoursewareHub.delete(BLOCK)
