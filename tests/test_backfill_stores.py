"""Backfill of real lc_wrapper logs into both stores, end to end.

Two users: the fixture's student and a second one derived from the same real logs (the
demo generator's rewrite: other user, uid, times and MEME branches). The progress matrix
must equal the one worked out by hand from the fixture's README, in Elasticsearch and in
the embedded store alike; a second backfill and the live path (``cwh enrich`` + bulk with
the same ids, as fluentd does) must add nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cwh.enrich import DOC_ID, TARGET_INDEX
from cwh.progress import (
    ProgressCell,
    Student,
    build_matrix,
    derive_executions,
    export_seed,
    load_seed,
    questions_from_index_text,
    write_home,
)
from cwh.textbook import IndexOptions, Numbering, build_index
from tasks.backfill import BackfillConfig, run_backfill
from tasks.store import ProgressQuery, Store, StoreConfig
from tasks.stores import open_store
from tests.enrich_support import ROOT, expected_documents, forward_records

QLABEL = r"問\s*\d+-\d+"
FIXTURE_USER = "student09x0c0ffee"
SECOND = Student("kanox5e6f7a", 2010)
ROSTER_ONLY = "emptyx0a0b0c"
SECOND_START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
# Fixture rows (README numbering, 1-based) the second user re-ran: three passes, then the
# ZeroDivisionError of row 4 without its fix, then the data-science imports (row 12).
SECOND_ROWS = (1, 2, 3, 4, 12)


@dataclass(frozen=True)
class Course:
    homes: Path
    passwd: Path
    textbook: Path
    index: Path


def _writable(tree: Path) -> None:
    for directory, _, files in os.walk(tree):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                os.chmod(path, 0o644)


def two_user_course(sample: Path, tmp: Path, *, numbering: Numbering = "stable") -> Course:
    homes = tmp / "homes"
    shutil.copytree(sample / "users", homes, symlinks=True)
    textbook = tmp / "textbook"
    shutil.copytree(sample / "textbook", textbook)
    _writable(tmp)
    # Owned by its student, as on a manager node: otherwise every execution is suspect.
    for path in [homes / FIXTURE_USER, *(homes / FIXTURE_USER).rglob("*")]:
        os.lchown(path, 2009, 100)
    export_seed(sample, FIXTURE_USER, tmp / "seed")
    seed = load_seed(tmp / "seed")
    chosen = [seed.executions[row - 1] for row in SECOND_ROWS]
    (homes / SECOND.user_name).mkdir()
    write_home(homes, SECOND, derive_executions(seed, chosen, SECOND, SECOND_START))
    passwd = tmp / "passwd"
    passwd.write_text(
        (sample / "passwd").read_text(encoding="utf-8")
        + f"{SECOND.user_name}:x:{SECOND.uid}:100:CoursewareHub user:{SECOND.home}:/bin/bash\n"
        + f"{ROSTER_ONLY}:x:2011:100:CoursewareHub user:/home/{ROSTER_ONLY}:/bin/bash\n",
        encoding="utf-8",
    )
    index = tmp / "meme.csv"
    build_index(textbook, index, IndexOptions(qlabel_pattern=QLABEL, numbering=numbering))
    return Course(homes, passwd, textbook, index)


def expected_cells(sample: Path) -> dict[str, dict[tuple[str, str], ProgressCell]]:
    """The matrix worked out from the README's record table (and the derived user's times)."""
    starts = [doc["start_time"] for doc in expected_documents(sample)]

    def first(row: int, qno: str, runs: int = 1, ok: int = 1, status: str = "ok") -> ProgressCell:
        return ProgressCell(FIXTURE_USER, qno, runs, ok, status, starts[row - 1])

    def second(position: int, qno: str, ok: int = 1, status: str = "ok") -> ProgressCell:
        moment = SECOND_START + timedelta(seconds=60 * position)
        return ProgressCell(SECOND.user_name, qno, 1, ok, status, int(moment.timestamp()))

    python = [
        first(1, "01-000"), first(2, "01-001"), first(3, "01-002"),
        first(5, "01-004", runs=2, ok=1), first(6, "01-005"), first(7, "01-006"),
        first(9, "02-000"), first(10, "02-001"), first(11, "02-002"),
        second(0, "01-000"), second(1, "01-001"), second(2, "01-002"),
        second(3, "01-004", ok=0, status="error"),
    ]  # fmt: skip
    data = [
        first(12, "00-000"), first(13, "00-002"), first(14, "00-003", ok=0, status="error"),
        second(4, "00-000"),
    ]  # fmt: skip
    return {
        "python-basic": {(c.user_name, c.qno): c for c in python},
        "data-science": {(c.user_name, c.qno): c for c in data},
    }


@pytest.fixture(name="store_config", params=["embedded", "elasticsearch"])
def store_config_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    if request.param == "embedded":
        return StoreConfig(database=str(tmp_path / "store.sqlite3"))
    return StoreConfig(
        elasticsearch_url=request.getfixturevalue("es_url"),
        index_prefix=request.getfixturevalue("es_index_prefix"),
    )


@pytest.fixture(name="store")
def store_fixture(store_config: StoreConfig) -> Iterator[Store]:
    opened = open_store(store_config)
    yield opened
    opened.close()


def backfill_config(course: Course, store_config: StoreConfig, tmp: Path) -> BackfillConfig:
    return BackfillConfig(
        homes_dir=str(course.homes),
        index=str(course.index),
        passwd=str(course.passwd),
        store=store_config,
        checkpoint=str(tmp / "checkpoint.json"),
        batch_size=4,
    )


def test_backfill_matrix_equals_the_expected_one_and_reruns_add_nothing(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    config = backfill_config(course, store_config, tmp_path)

    first = run_backfill(config, store=store)
    assert first.files == 19
    assert (first.summary.indexed, first.summary.already_present) == (19, 0)
    assert first.summary.dead_letters_by_reason == {}
    assert store.count() == 19
    assert not (tmp_path / "checkpoint.json").exists()

    questions = questions_from_index_text(course.index.read_text(encoding="utf-8"))
    roster = [FIXTURE_USER, SECOND.user_name, ROSTER_ONLY]
    for course_name, cells in expected_cells(lcwrapper_sample).items():
        matrix = build_matrix(course_name, questions, store.progress_rows(course_name), roster)
        assert dict(matrix.cells) == cells
        assert matrix.students == (ROSTER_ONLY, SECOND.user_name, FIXTURE_USER)
        assert [q.qno for q in matrix.questions] == [
            q.qno for q in questions if q.course_server == course_name
        ]
    python = build_matrix("python-basic", questions, store.progress_rows("python-basic"), roster)
    assert "01-003" in [q.qno for q in python.questions]
    assert python.runs_outside_textbook == 0

    again = run_backfill(config, store=store)
    assert (again.summary.indexed, again.summary.already_present) == (0, 19)
    assert store.count() == 19


def test_live_path_documents_never_duplicate_backfilled_ones(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    run_backfill(backfill_config(course, store_config, tmp_path), store=store)
    before = store.progress_rows("python-basic")

    records = "".join(
        json.dumps(item["record"]) + "\n" for item in forward_records(lcwrapper_sample)
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "deployments.cli.main", "enrich",
            "--index", str(course.index), "--passwd", str(course.passwd),
            "--homes-dir", str(course.homes), "--index-prefix", store.index_prefix,
        ],
        input=records, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    live = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(live) == 14

    if store_config.uses_elasticsearch:
        from elasticsearch import Elasticsearch, helpers

        client = Elasticsearch(store_config.elasticsearch_url or "")
        actions = [
            {
                "_op_type": "index",
                "_index": doc[TARGET_INDEX],
                "_id": doc[DOC_ID],
                "_source": {k: v for k, v in doc.items() if k not in (DOC_ID, TARGET_INDEX)},
            }
            for doc in live
        ]
        assert helpers.bulk(client, actions, refresh=True) == (14, [])
        client.close()
    else:
        summary = store.write(live)
        assert (summary.indexed, summary.already_present) == (0, 14)
    assert store.count() == 19
    assert store.progress_rows("python-basic") == before


def test_filters_narrow_the_matrix_by_time_and_student(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    run_backfill(backfill_config(course, store_config, tmp_path), store=store)
    expected = expected_cells(lcwrapper_sample)["python-basic"]

    only_second = store.progress_rows("python-basic", students=["kano"])
    assert {(c.user_name, c.qno) for c in only_second} == {
        key for key in expected if key[0] == SECOND.user_name
    }
    window = store.progress_rows(
        "python-basic",
        since=SECOND_START + timedelta(seconds=60),
        until=SECOND_START + timedelta(seconds=180),
    )
    assert [(c.user_name, c.qno) for c in window] == [
        (SECOND.user_name, "01-001"),
        (SECOND.user_name, "01-002"),
    ]
    assert store.progress_rows("no-such-course") == []


def test_a_planted_log_naming_another_students_execution_is_stored_apart_and_left_out(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    """A log in one home that names another student's execution (path, start time, uid)
    with other text: stored as a suspect execution of its own, never in the victim's place."""
    course = two_user_course(lcwrapper_sample, tmp_path)
    genuine = forward_records(lcwrapper_sample)[0]["record"]["log"]
    planted = course.homes / SECOND.user_name / "python-basic/.log/20261123/planted.log"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(genuine.replace("Python の学習を始めましょう", "copied"), encoding="utf-8")
    os.chown(planted, SECOND.uid, 100)

    result = run_backfill(backfill_config(course, store_config, tmp_path), store=store)
    assert (result.files, result.summary.indexed) == (20, 20)
    expected = expected_cells(lcwrapper_sample)["python-basic"]
    assert {(c.user_name, c.qno): c for c in store.progress_rows("python-basic")} == expected
    assert store.suspect_count(ProgressQuery("python-basic")) == 1
    with_suspect = store.progress_rows("python-basic", include_suspect=True)
    runs = {(c.user_name, c.qno): c.runs for c in with_suspect}
    assert runs[(FIXTURE_USER, "01-000")] == 2
