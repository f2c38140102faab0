"""Suspect executions in progress reports: left out by default, counted, included on request.

Both stores (the embedded SQLite store and a real Elasticsearch node) must leave out the
executions the enricher flagged ``suspect``, count them for the report's note, and count
them like any other when asked; an embedded database written before the ``suspect``
column existed is brought up to date when opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from cwh.enrich import DOC_ID, TARGET_INDEX
from tasks.elasticsearch_store import ElasticsearchStore
from tasks.embedded_store import SCHEMA_VERSION, EmbeddedStore
from tasks.progress_reports import ReportConfig, course_report, load_inputs
from tasks.store import ProgressQuery, Store

COURSE = "python-basic"
START = 1795355773
QUESTIONS = 3


def _document(number: int, *, suspect: bool) -> dict[str, object]:
    document: dict[str, object] = {
        DOC_ID: f"{'s' if suspect else 'g'}{number}",
        TARGET_INDEX: f"lcwrapper-2026.11.{20 + number % 4}",  # two settled, two hot
        "user_name": f"student{number % 2}x0{number % 2}",
        "local_name": f"student{number % 2}",
        "course_server": COURSE,
        "qno": f"01-{number % QUESTIONS:03}",
        "execute_reply_status": "ok",
        "start_time": START + number * 60,
    }
    if suspect:
        document["suspect"] = True
        document["suspect_reason"] = "record text differs from the log file on disk"
    return document


def _documents(prefix: str = "lcwrapper") -> list[dict[str, object]]:
    """Six genuine executions; four suspect ones, one of them without a question."""
    documents = [_document(n, suspect=False) for n in range(6)]
    documents += [_document(n, suspect=True) for n in range(4)]
    del documents[-1]["qno"]
    for document in documents:
        document[TARGET_INDEX] = str(document[TARGET_INDEX]).replace("lcwrapper", prefix)
    return documents


def _runs(store: Store, **options: object) -> int:
    return sum(cell.runs for cell in store.progress_rows(COURSE, **options))  # type: ignore[arg-type]


def _check_store(store: Store) -> None:
    assert _runs(store) == 6
    assert _runs(store, include_suspect=True) == 9
    assert store.suspect_count(ProgressQuery(COURSE)) == 3
    assert store.suspect_count(ProgressQuery(COURSE, include_suspect=True)) == 3
    second = datetime.fromtimestamp(START + 60, UTC)
    assert store.suspect_count(ProgressQuery(COURSE, since=second)) == 2
    assert store.suspect_count(ProgressQuery(COURSE, students=("student1",))) == 1
    assert store.suspect_count(ProgressQuery("other-course")) == 0
    assert _runs(store, students=["student1"]) == 3
    assert _runs(store, students=["student1"], include_suspect=True) == 4


def test_the_embedded_store_leaves_suspect_executions_out(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store.write(_documents())
    _check_store(store)
    store.close()


@pytest.fixture
def es_store(es_url: str, es_index_prefix: str) -> Iterator[ElasticsearchStore]:
    store = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    assert store.write(_documents(es_index_prefix)).dead_letters == 0
    store.flush()
    yield store
    store.close()


def test_elasticsearch_leaves_suspect_executions_out(es_store: ElasticsearchStore) -> None:
    _check_store(es_store)
    fields = es_store._progress_fields()
    filters = es_store._progress_filters(COURSE, None, None, None)
    paged = es_store._paged_status_counts(fields, filters, None)
    assert sum(count.runs for count in paged) == 9, "the composites see every execution"


def test_elasticsearch_cached_counts_keep_suspect_apart(
    es_url: str, es_index_prefix: str, es_store: ElasticsearchStore, tmp_path: Path
) -> None:
    cached = ElasticsearchStore(
        Elasticsearch(es_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
    )
    for _ in range(2):
        assert _runs(cached) == 6
        assert _runs(cached, include_suspect=True) == 9
    cached.close()


def _index(path: Path) -> Path:
    rows = ["qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code"]
    rows += [
        f"01-{question:03},問{question},m{question},n,{COURSE}/nb.ipynb,{COURSE},x"
        for question in range(QUESTIONS)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_report_says_how_many_suspect_executions_it_left_out(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store.write(_documents())
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    config = ReportConfig(index=str(_index(tmp_path / "meme.csv")), output_dir=str(tmp_path))
    questions, roster, _ = load_inputs(config)

    default = course_report(store, config, questions, roster, COURSE, now)
    assert sum(cell.runs for cell in default.matrix.cells.values()) == 6
    assert default.to_dict()["suspect_left_out"] == 3
    note = "3 suspect executions left out: their record does not match the log file"
    assert note in default.markdown and note in default.html
    assert "--include-suspect" in default.html

    included = course_report(
        store, ReportConfig(**{**config.__dict__, "include_suspect": True}), questions,
        roster, COURSE, now,
    )  # fmt: skip
    assert sum(cell.runs for cell in included.matrix.cells.values()) == 9
    assert included.to_dict()["suspect_left_out"] == 0
    assert "The counts include 3 suspect executions" in included.html
    store.close()


def test_a_report_without_suspect_executions_has_no_note(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store.write(_documents()[:6])
    config = ReportConfig(index=str(_index(tmp_path / "meme.csv")), output_dir=str(tmp_path))
    questions, roster, _ = load_inputs(config)
    report = course_report(store, config, questions, roster, COURSE, datetime.now(UTC))
    assert "suspect" not in report.markdown and "suspect" not in report.html
    store.close()


_SCHEMA_1 = """
CREATE TABLE executions (
    doc_id TEXT PRIMARY KEY, target_index TEXT NOT NULL, start_time INTEGER, user_name TEXT,
    local_name TEXT, course_server TEXT, qno TEXT, qlabel TEXT, textbook_path TEXT,
    lc_cell_meme_uuid TEXT, lc_notebook_meme TEXT, status TEXT, document BLOB NOT NULL
);
CREATE INDEX executions_progress
    ON executions (course_server, user_name, qno, status, start_time);
PRAGMA user_version = 1;
"""


def test_a_database_of_the_first_schema_learns_which_executions_are_suspect(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(_SCHEMA_1)
    for document in _documents():
        source = {k: v for k, v in document.items() if k not in (DOC_ID, TARGET_INDEX)}
        old.execute(
            "INSERT INTO executions (doc_id, target_index, start_time, user_name, local_name, "
            "course_server, qno, status, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document[DOC_ID], document[TARGET_INDEX], document["start_time"],
                document["user_name"], document["local_name"], COURSE, document.get("qno"),
                "ok", orjson.dumps(source),
            ),
        )  # fmt: skip
    old.commit()
    old.close()

    store = EmbeddedStore(path)
    _check_store(store)
    store.close()
    again = EmbeddedStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    plan = " ".join(
        str(row)
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT user_name, qno, status, COUNT(*), MAX(start_time) "
            "FROM executions WHERE course_server = ? AND qno IS NOT NULL "
            "AND user_name IS NOT NULL AND suspect IS NULL GROUP BY user_name, qno, status",
            (COURSE,),
        )
    )
    assert "COVERING INDEX executions_progress" in plan
    conn.close()
    again.close()
