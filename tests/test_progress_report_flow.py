"""The backfill, progress-report and reenrich flows on a real Prefect server.

Artifacts are read back from the server: the backfill's summary and progress, the
report's table (one row per student, one column per question), summary and link.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact

from cwh.enrich import DOC_ID, TARGET_INDEX
from cwh.textbook import IndexOptions, build_index
from flows.backfill_logs import backfill_logs
from flows.progress_report import progress_report
from flows.reenrich import reenrich
from tasks.embedded_store import EmbeddedStore
from tests.test_backfill_stores import QLABEL, two_user_course
from tests.test_reenrich import add_setup_notebook

pytestmark = pytest.mark.prefect


def _artifact(key: str) -> Any:
    artifact = Artifact.get(key)
    assert artifact is not None, f"artifact {key} missing"
    return artifact


def test_flows_publish_their_results_as_artifacts(
    prefect_api: str,
    lcwrapper_sample: Path,
    tmp_path: Path,
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path, numbering="name")
    database = str(tmp_path / "store.sqlite3")
    counts = backfill_logs(
        homes_dir=str(course.homes),
        index=str(course.index),
        passwd=str(course.passwd),
        database=database,
        checkpoint=str(tmp_path / "checkpoint.json"),
        batch_size=5,
    )
    assert (counts["indexed"], counts["already_present"], counts["files"]) == (19, 0, 19)
    assert "Newly indexed: **19**" in _artifact("backfill-summary").data
    assert float(_artifact("backfill-progress").data) == 100.0
    forged = EmbeddedStore(Path(database))
    forged.write([{
        DOC_ID: "forged", TARGET_INDEX: "lcwrapper-2026.11.23", "user_name": "kanox5e6f7a",
        "course_server": "python-basic", "qno": "01-000", "execute_reply_status": "ok",
        "start_time": 1795395600, "suspect": True, "suspect_reason": "log file missing",
    }])  # fmt: skip
    forged.close()

    reports = progress_report(
        index=str(course.index),
        roster=str(course.passwd),
        database=database,
        output_dir=str(tmp_path / "reports"),
        courses=["python-basic"],
    )
    assert [(r["course"], r["students"], r["questions"], r["stuck"]) for r in reports] == [
        ("python-basic", 3, 12, 1)
    ]
    assert reports[0]["suspect_left_out"] == 1
    assert Path(reports[0]["html"]).is_file() and Path(reports[0]["png"]).is_file()
    table = _artifact("progress-python-basic").data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [row["student"] for row in rows] == ["empty", "kano", "student09"]
    assert rows[1]["01-004 問1-3"].startswith("0/1 error")
    assert rows[0]["01-004 問1-3"] == ""
    summary = _artifact("progress-summary-python-basic").data
    assert "## Latest run failed (1)" in summary and "| kano | 01-004 問1-3 |" in summary
    assert "1 suspect execution left out" in summary
    assert "data:image/png;base64," in summary
    assert Path(reports[0]["latest_html"]).as_uri() in _artifact("progress-html-python-basic").data

    add_setup_notebook(course.textbook)
    build_index(
        course.textbook, course.index, IndexOptions(qlabel_pattern=QLABEL, numbering="name")
    )
    changed = reenrich(index=str(course.index), database=database)
    assert changed["changed"] == 14  # python-basic executions with a qno, renumbered
    assert "Documents updated: **14**" in _artifact("reenrich-summary").data


def _backfill_events(homes: Path, timeout: float = 20.0) -> list[Any]:
    """``cwh.backfill.completed`` events for ``homes`` (the server stores events in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    wanted = EventFilter(
        event=EventNameFilter(name=["cwh.backfill.completed"]),
        resource=EventResourceFilter(id=[f"cwh.backfill.{homes}"]),
    )
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.read_events(wanted, limit=50).events
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_nightly_backfill_reads_the_recent_days_and_announces_the_live_gap(
    prefect_api: str, lcwrapper_sample: Path, tmp_path: Path
) -> None:
    """What the nightly run adds is what the live path missed: here, one execution of
    today that never arrived live, beside older logs it does not read again."""
    course = two_user_course(lcwrapper_sample, tmp_path, numbering="name")
    database = str(tmp_path / "store.sqlite3")
    today = time.strftime("%Y%m%d", time.gmtime())
    old = next(course.homes.glob("student09x0c0ffee/*/.log/2026112*/*.log"))
    recent = old.parent.parent / today / old.name
    recent.parent.mkdir()
    shutil.copy(old, recent)
    counts = backfill_logs(
        homes_dir=str(course.homes),
        index=str(course.index),
        passwd=str(course.passwd),
        database=database,
        recent_days=2,
        resume=False,
    )
    assert (counts["files"], counts["indexed"]) == (1, 1)
    [event] = _backfill_events(course.homes)
    assert (event.payload["indexed"], event.payload["files"]) == (1, 1)
    assert event.payload["since_day"] <= today
    assert "executions the live path had not stored" in _artifact("backfill-summary").data
