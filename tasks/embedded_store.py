"""The embedded store: enriched executions in one SQLite file (WAL mode).

Used when no Elasticsearch is configured, so ``cwh demo`` and small installations need
nothing but Python. WAL mode lets one writer (a backfill) and readers in other processes
(the progress report, a teacher's ``cwh report``) work at the same time: readers see the
last committed batch and never block the writer. Each batch is one ``BEGIN IMMEDIATE``
transaction, and a busy timeout makes a second writer wait instead of failing.

The columns the progress matrix and re-enrichment query are real columns with covering
indexes; the whole document (minus ``doc_id``/``target_index``) is kept as JSON next to
them, so nothing the enricher produced is lost. A database of an older schema is brought
up to date when it is opened (:data:`SCHEMA_VERSION`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from cwh.defaults import DEFAULT_INDEX_PREFIX
from cwh.enrich import DOC_ID, TARGET_INDEX, MemeIndex, is_dead_letter
from cwh.progress import StatusCount
from tasks.embedded_analytics import (
    ATTEMPTS_INDEX,
    ERROR_COLUMNS,
    ERRORS_INDEX,
    EmbeddedAnalytics,
    progress_where,
)
from tasks.store import (
    AnalyticsFutures,
    Document,
    ProgressQuery,
    Store,
    StoreError,
    WriteSummary,
    sequential_analytics,
)

BUSY_TIMEOUT_MS = 60_000
MMAP_BYTES = 1 << 30
"""Of the database file, read through memory mapping rather than copied into SQLite's page
cache: a report's queries read hundreds of megabytes of index pages (about 5-10 % faster).
Address space only; the operating system's page cache holds the data either way."""
SCHEMA_VERSION = 4
"""1: the first layout; 2: the ``suspect`` column (1 for a suspect execution, else NULL),
also in the progress index so that leaving suspect executions out costs no table lookup;
3: the generated error-name columns (:data:`tasks.embedded_analytics.ERROR_COLUMNS`);
4: the generated error-pattern column, in the errors index."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    doc_id TEXT PRIMARY KEY,
    target_index TEXT NOT NULL,
    start_time INTEGER,
    user_name TEXT,
    local_name TEXT,
    course_server TEXT,
    qno TEXT,
    qlabel TEXT,
    textbook_path TEXT,
    lc_cell_meme_uuid TEXT,
    lc_notebook_meme TEXT,
    status TEXT,
    document BLOB NOT NULL,
    suspect INTEGER,
    {error_columns}
);
CREATE INDEX IF NOT EXISTS executions_progress
    ON executions (course_server, user_name, qno, status, start_time, suspect);
CREATE INDEX IF NOT EXISTS executions_cell ON executions (lc_cell_meme_uuid);
CREATE INDEX IF NOT EXISTS executions_notebook ON executions (lc_notebook_meme);
CREATE TABLE IF NOT EXISTS dead_letters (
    doc_id TEXT PRIMARY KEY,
    target_index TEXT NOT NULL,
    error_type TEXT NOT NULL,
    timestamp TEXT,
    document BLOB NOT NULL
);
"""

# Schema 1 to 2: the suspect column, filled from the stored documents, and the index with it.
_ADD_SUSPECT = (
    "ALTER TABLE executions ADD COLUMN suspect INTEGER",
    "UPDATE executions SET suspect = 1 WHERE json_extract(CAST(document AS TEXT), '$.suspect') = 1",
    "DROP INDEX IF EXISTS executions_progress",
    "CREATE INDEX executions_progress "
    "ON executions (course_server, user_name, qno, status, start_time, suspect)",
)

_INSERT = """
INSERT OR IGNORE INTO executions (
    doc_id, target_index, start_time, user_name, local_name, course_server, qno, qlabel,
    textbook_path, lc_cell_meme_uuid, lc_notebook_meme, status, document, suspect
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_DEAD = """
INSERT OR IGNORE INTO dead_letters (doc_id, target_index, error_type, timestamp, document)
VALUES (?, ?, ?, ?, ?)
"""


class EmbeddedStore(EmbeddedAnalytics, Store):
    """SQLite-backed :class:`tasks.store.Store`; one connection per thread."""

    def __init__(self, path: Path, *, index_prefix: str = DEFAULT_INDEX_PREFIX) -> None:
        self.path = Path(path)
        self.index_prefix = index_prefix
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._connection()
        conn.executescript(_SCHEMA.format(error_columns=",\n    ".join(ERROR_COLUMNS)))
        self._upgrade(conn)
        conn.execute(ATTEMPTS_INDEX)
        conn.execute(ERRORS_INDEX)

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Bring a database written by an older version to :data:`SCHEMA_VERSION`.

        Checked again inside the write transaction, so that two processes opening the
        same old file at once upgrade it once.
        """
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        with self._transaction() as locked:
            columns = {row[1] for row in locked.execute("PRAGMA table_xinfo(executions)")}
            if "suspect" not in columns:
                for statement in _ADD_SUSPECT:
                    locked.execute(statement)
            for column in ERROR_COLUMNS:
                if column.split()[0] not in columns:
                    locked.execute(f"ALTER TABLE executions ADD COLUMN {column}")
            locked.execute("DROP INDEX IF EXISTS executions_errors")
            locked.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def describe(self) -> str:
        return f"embedded SQLite store {self.path}"

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a usable SQLite database: {exc}") from exc
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{self.path}: SQLite refused WAL mode (got {mode!r}); "
                    "is it on a network file system?"
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def write(self, documents: Sequence[Document]) -> WriteSummary:
        summary = WriteSummary()
        rows: list[tuple[Any, ...]] = []
        dead: list[tuple[Any, ...]] = []
        for document in documents:
            source = dict(document)
            doc_id = source.pop(DOC_ID, None)
            target = source.pop(TARGET_INDEX, None)
            if not isinstance(doc_id, str) or not doc_id:
                raise StoreError("a document without doc_id cannot be stored idempotently")
            blob = orjson.dumps(source, option=orjson.OPT_NON_STR_KEYS)
            if is_dead_letter(source):
                reason = str(source["error_type"])
                summary.count_dead_letter(reason)
                dead.append((doc_id, target or "", reason, source.get("@timestamp"), blob))
                continue
            user = _text(source.get("user_name"))
            rows.append(
                (
                    doc_id,
                    target or "",
                    source.get("start_time") if isinstance(source.get("start_time"), int) else None,
                    user,
                    _text(source.get("local_name")),
                    _text(source.get("course_server")),
                    _text(source.get("qno")),
                    _text(source.get("qlabel")),
                    _text(source.get("textbook_path")),
                    _text(source.get("lc_cell_meme_uuid")),
                    _text(source.get("lc_notebook_meme")),
                    _text(source.get("execute_reply_status")),
                    blob,
                    1 if source.get("suspect") is True else None,
                )
            )
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(_INSERT, rows)
            summary.indexed = conn.total_changes - before
            conn.executemany(_INSERT_DEAD, dead)
        summary.already_present = len(rows) - summary.indexed
        return summary

    def submit_analytics(
        self, pool: Executor, query: ProgressQuery, per_cell: int
    ) -> AnalyticsFutures:
        """The queries one after another, the drill-down's first: SQLite queries of one
        process share the interpreter and SQLite's allocator, and side by side they took
        longer than in sequence (``bench/report.py``)."""
        return sequential_analytics(self, pool, query, per_cell)

    def status_counts(self, query: ProgressQuery) -> list[StatusCount]:
        where, params = progress_where(query)
        if not query.include_suspect:
            where.append("suspect IS NULL")
        sql = (
            "SELECT user_name, qno, COALESCE(status, ''), COUNT(*), MAX(start_time) "
            f"FROM executions WHERE {' AND '.join(where)} GROUP BY user_name, qno, status"
        )
        return [
            StatusCount(user, qno, status, runs, last or 0)
            for user, qno, status, runs, last in self._connection().execute(sql, params)
        ]

    def suspect_count(self, query: ProgressQuery) -> int:
        where, params = progress_where(query)
        sql = f"SELECT COUNT(*) FROM executions WHERE {' AND '.join(where)} AND suspect = 1"
        return int(self._connection().execute(sql, params).fetchone()[0])

    def reenrich(self, index: MemeIndex) -> int:
        conn = self._connection()
        changes: dict[str, dict[str, str | None]] = {}
        for uuid, qno, qlabel in conn.execute(
            "SELECT DISTINCT lc_cell_meme_uuid, qno, qlabel FROM executions "
            "WHERE lc_cell_meme_uuid IS NOT NULL"
        ).fetchall():
            cell = index.cell(uuid)
            wanted = (cell.qno, cell.qlabel) if cell is not None else (None, None)
            if (qno, qlabel) != wanted:
                for (doc_id,) in conn.execute(
                    "SELECT doc_id FROM executions WHERE lc_cell_meme_uuid = ? "
                    "AND qno IS ? AND qlabel IS ?",
                    (uuid, qno, qlabel),
                ):
                    changes.setdefault(doc_id, {}).update(qno=wanted[0], qlabel=wanted[1])
        for meme, path, course in conn.execute(
            "SELECT DISTINCT lc_notebook_meme, textbook_path, course_server FROM executions "
            "WHERE lc_notebook_meme IS NOT NULL"
        ).fetchall():
            notebook = index.notebook(meme)
            wanted = (notebook.textbook_path, notebook.course_server) if notebook else (None, None)
            if (path, course) != wanted:
                for (doc_id,) in conn.execute(
                    "SELECT doc_id FROM executions WHERE lc_notebook_meme = ? "
                    "AND textbook_path IS ? AND course_server IS ?",
                    (meme, path, course),
                ):
                    changes.setdefault(doc_id, {}).update(
                        textbook_path=wanted[0], course_server=wanted[1]
                    )
        if changes:
            self._apply(changes)
        return len(changes)

    def _apply(self, changes: dict[str, dict[str, str | None]]) -> None:
        with self._transaction() as conn:
            for doc_id, fields in changes.items():
                row = conn.execute(
                    "SELECT document FROM executions WHERE doc_id = ?", (doc_id,)
                ).fetchone()
                if row is None:
                    continue
                document = orjson.loads(row[0])
                for name, value in fields.items():
                    if value is None:
                        document.pop(name, None)
                    else:
                        document[name] = value
                assignments = ", ".join(f"{name} = ?" for name in fields)
                conn.execute(
                    f"UPDATE executions SET {assignments}, document = ? WHERE doc_id = ?",
                    (*fields.values(), orjson.dumps(document), doc_id),
                )

    def get(self, doc_id: str) -> Document | None:
        """One stored execution as written (without ``doc_id``/``target_index``)."""
        row = (
            self._connection()
            .execute("SELECT document FROM executions WHERE doc_id = ?", (doc_id,))
            .fetchone()
        )
        return None if row is None else dict(orjson.loads(row[0]))

    def documents(self) -> Iterator[tuple[str, Document]]:
        for doc_id, blob in self._connection().execute(
            "SELECT doc_id, document FROM executions ORDER BY doc_id"
        ):
            yield doc_id, orjson.loads(blob)

    def flush(self) -> None:
        """Nothing to do: every batch is committed when ``write`` returns."""

    def count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM executions").fetchone()[0])

    def dead_letter_count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
