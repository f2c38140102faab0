"""Per-question analytics and the drill-down from real logs, through both stores.

The fixture's student and a second one derived from the same logs (see
``tests/test_backfill_stores.py``) are backfilled into the embedded store and into
Elasticsearch; each store's report must give exactly the figures worked out from the
fixture's README, and the two stores exactly the same analytics, errors and attempts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cwh.progress import Attempt, CommonError, ErrorCount, FirstSuccess
from tasks.backfill import run_backfill
from tasks.progress_reports import CourseReport, ReportConfig, course_report, load_inputs
from tasks.store import ProgressQuery, Store, StoreConfig
from tasks.stores import open_store
from tests.enrich_support import expected_documents
from tests.test_backfill_stores import (
    FIXTURE_USER,
    SECOND,
    SECOND_START,
    backfill_config,
    two_user_course,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
KANO = SECOND.user_name
DIVISION = "total = 100\ncount = 0\naverage = total / count\nprint(average)\n"


def _report(store: Store, config: ReportConfig, course: str) -> CourseReport:
    questions, roster, _ = load_inputs(config)
    return course_report(store, config, questions, roster, course, NOW)


def test_both_stores_give_the_expected_analytics_and_attempts(
    lcwrapper_sample: Path, tmp_path: Path, es_url: str, es_index_prefix: str
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    starts = [doc["start_time"] for doc in expected_documents(lcwrapper_sample)]
    kano_division = int(SECOND_START.timestamp()) + 180
    configs = {
        "embedded": StoreConfig(database=str(tmp_path / "store.sqlite3")),
        "elasticsearch": StoreConfig(elasticsearch_url=es_url, index_prefix=es_index_prefix),
    }
    results = {}
    for name, store_config in configs.items():
        store = open_store(store_config)
        try:
            run_backfill(backfill_config(course, store_config, tmp_path / name), store=store)
            store.flush()
            report_config = ReportConfig(
                index=str(course.index), store=store_config, roster=str(course.passwd),
                output_dir=str(tmp_path / name / "reports"), attempts_per_cell=2,
            )  # fmt: skip
            python = _report(store, report_config, "python-basic")
            data = _report(store, report_config, "data-science")
            query = ProgressQuery("python-basic")
            raw = (
                sorted(store.first_successes(query)),
                sorted(store.error_counts(query)),
                sorted(store.latest_attempts(query, 2)),
            )
        finally:
            store.close()
        results[name] = (python, data, raw)

        division = python.analytics[0]
        assert division.question.qno == "01-004"
        assert (division.tried, division.succeeded, division.latest_failed) == (2, 1, 1)
        assert (division.median_attempts, division.median_seconds) == (2.0, 2.0)
        assert division.errors == (
            CommonError("ZeroDivisionError", "division by zero", 2, (KANO, FIXTURE_USER)),
        )
        assert [
            (a.question.qno, a.tried, a.succeeded, a.latest_failed, a.median_attempts,
             a.median_seconds, len(a.errors))
            for a in python.analytics[1:]
        ] == [
            ("01-005", 1, 1, 0, 1.0, 0.0, 0), ("01-006", 1, 1, 0, 1.0, 0.0, 0),
            ("02-000", 1, 1, 0, 1.0, 0.0, 0), ("02-001", 1, 1, 0, 1.0, 0.0, 0),
            ("02-002", 1, 1, 0, 1.0, 0.0, 0), ("01-000", 2, 2, 0, 1.0, 0.0, 0),
            ("01-001", 2, 2, 0, 1.0, 0.0, 0), ("01-002", 2, 2, 0, 1.0, 0.0, 0),
            ("01-003", 0, 0, 0, None, None, 0), ("02-003", 0, 0, 0, None, None, 0),
            ("02-004", 0, 0, 0, None, None, 0),
        ]  # fmt: skip
        assert [a.question.qno for a in data.analytics] == [
            "00-003", "00-002", "00-000", "00-001", "00-004",
        ]  # fmt: skip
        key_error = data.analytics[0]
        assert key_error.question.qno == "00-003"
        assert (key_error.tried, key_error.succeeded, key_error.median_attempts) == (1, 0, None)
        assert key_error.errors == (CommonError("KeyError", "<str>", 1, (FIXTURE_USER,)),)

        fixed = python.attempts[(FIXTURE_USER, "01-004")]
        assert [(a.status, a.start_time) for a in fixed] == [
            ("ok", starts[4]), ("error", starts[3]),
        ]  # fmt: skip
        assert fixed[1].code == DIVISION
        assert (fixed[1].ename, fixed[1].evalue) == ("ZeroDivisionError", "division by zero")
        kano = python.attempts[(KANO, "01-004")]
        assert [(a.status, a.start_time, a.ename, a.evalue) for a in kano] == [
            ("error", kano_division, "ZeroDivisionError", "division by zero")
        ]
        assert kano[0].code == DIVISION
        assert len(python.attempts) == 13
        assert "## Where the class is stuck" in python.markdown
        assert (
            "| 01-004 問1-3 | 2 | 1 | 1 | 2 | 2 s | ZeroDivisionError: division by zero "
            "(2 runs, 2 students) |" in python.markdown
        )
        assert 'href="#a-1-4"' in python.html and 'id="a-1-4"' in python.html

    embedded, elastic = results["embedded"], results["elasticsearch"]
    assert embedded[2][0] == elastic[2][0]
    assert embedded[2][1] == elastic[2][1]
    assert embedded[2][2] == elastic[2][2]
    for mine, theirs in zip(embedded[:2], elastic[:2], strict=True):
        assert mine.analytics == theirs.analytics
        assert mine.attempts == theirs.attempts
        assert mine.markdown == theirs.markdown
    first = embedded[2][0]
    assert FirstSuccess(FIXTURE_USER, "01-004", starts[3], starts[4], 1) in first
    assert FirstSuccess(KANO, "01-004", kano_division, None, 0) in first
    zero = "division by zero"
    assert ErrorCount(KANO, "01-004", "ZeroDivisionError", zero, 1, zero) in embedded[2][1]
    assert all(isinstance(a, Attempt) for a in embedded[2][2])
