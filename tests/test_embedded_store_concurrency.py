"""The embedded store with a writer and readers in different processes (WAL mode)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from cwh.enrich import DOC_ID, TARGET_INDEX
from tasks.embedded_store import EmbeddedStore, StoreError

BATCHES = 40
PER_BATCH = 250


def _document(number: int) -> dict[str, object]:
    return {
        DOC_ID: f"doc-{number:06d}",
        TARGET_INDEX: "lcwrapper-2026.11.24",
        "user_name": f"student{number % 50:02d}x0f",
        "local_name": f"student{number % 50:02d}",
        "course_server": "python-basic",
        "qno": f"01-{number % 20:03d}",
        "execute_reply_status": "ok" if number % 3 else "error",
        "start_time": 1_795_000_000 + number,
        "output": "x" * 200,
    }


def _write(path: str) -> None:
    store = EmbeddedStore(Path(path))
    for batch in range(BATCHES):
        numbers = range(batch * PER_BATCH, (batch + 1) * PER_BATCH)
        store.write([_document(n) for n in numbers])
    store.close()


def _read(path: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = EmbeddedStore(Path(path))
    totals = []
    try:
        while len(totals) < 200:
            totals.append(sum(cell.runs for cell in store.progress_rows("python-basic")))
            if totals[-1] == BATCHES * PER_BATCH:
                break
        results.put(("ok", totals))
    except Exception as exc:  # reported to the test, which fails with it
        results.put(("error", repr(exc)))
    finally:
        store.close()


def test_readers_see_committed_batches_while_a_writer_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "store.sqlite3")
    EmbeddedStore(Path(path)).close()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    readers = [context.Process(target=_read, args=(path, results)) for _ in range(2)]
    writer = context.Process(target=_write, args=(path,))
    for process in [*readers, writer]:
        process.start()
    writer.join(timeout=120)
    outcomes = [results.get(timeout=120) for _ in readers]
    for process in readers:
        process.join(timeout=30)
    assert writer.exitcode == 0
    for status, totals in outcomes:
        assert status == "ok", totals
        assert totals == sorted(totals), "a reader saw the store go backwards"
        assert all(total % PER_BATCH == 0 for total in totals), "a reader saw half a batch"
    store = EmbeddedStore(Path(path))
    assert store.count() == BATCHES * PER_BATCH
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_file_that_is_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.sqlite3"
    path.write_text("hello, this is text\n" * 100, encoding="utf-8")
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        EmbeddedStore(path)
    with pytest.raises(StoreError, match="without doc_id"):
        EmbeddedStore(tmp_path / "ok.sqlite3").write([{"user_name": "x"}])
