"""The backfill-logs and reenrich flows publish their summaries in the language asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact

from cwh.textbook import IndexOptions, build_index
from flows.backfill_logs import backfill_logs
from flows.reenrich import reenrich
from tests.test_backfill_stores import QLABEL, two_user_course
from tests.test_operator_messages import english_leaks
from tests.test_reenrich import add_setup_notebook

pytestmark = pytest.mark.prefect


def _artifact(key: str) -> Any:
    artifact = Artifact.get(key)
    assert artifact is not None, f"artifact {key} missing"
    return artifact


def test_backfill_and_reenrich_summaries_in_japanese(
    prefect_api: str, lcwrapper_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path, numbering="name")
    database = str(tmp_path / "store.sqlite3")
    counts = backfill_logs(
        homes_dir=str(course.homes),
        index=str(course.index),
        passwd=str(course.passwd),
        database=database,
        checkpoint=str(tmp_path / "checkpoint.json"),
        language="ja",
    )
    assert counts["indexed"] == 19  # the returned counts keep their English keys
    summary = _artifact("backfill-summary")
    assert "- 新たに登録：**19** 件（リアルタイム経路で未登録だった実行）" in summary.data
    assert summary.description == f"{course.homes} の一括取り込み"
    assert english_leaks(summary.data, "backfill") == []

    add_setup_notebook(course.textbook)
    build_index(
        course.textbook, course.index, IndexOptions(qlabel_pattern=QLABEL, numbering="name")
    )
    monkeypatch.setenv("CWH_LANGUAGE", "ja")
    changed = reenrich(index=str(course.index), database=database)
    assert changed["changed"] == 14
    data = _artifact("reenrich-summary").data
    assert data.startswith("## 再付与（教材インデックスの変更反映）\n")
    assert "- 更新したドキュメント：**14** 件" in data
    assert english_leaks(data, "backfill") == []
