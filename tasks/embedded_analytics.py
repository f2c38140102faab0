"""The embedded store's per-question analytics and drill-down, in SQL.

Three queries per course, each one pass over the course's rows of the covering indexes:
the first attempt and first success per (student, question) with the runs before it (a
correlated count on the ``executions_attempts`` index), the failed runs per (student,
question, ``result_text``) with the newest message per (question, ``result_text``) (from
the ``executions_errors`` index, the stored JSON read for the newest runs only), and the
latest attempts per cell (a backwards ``LIMIT`` scan of the attempts index per cell,
documents decoded for those only).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cwh.progress import (
    ERROR_TEXT_LIMIT,
    OK_STATUS,
    Attempt,
    ErrorCount,
    FirstSuccess,
    cap_text,
)
from tasks.store import ProgressQuery

ATTEMPTS_INDEX = (
    "CREATE INDEX IF NOT EXISTS executions_attempts "
    "ON executions (course_server, user_name, qno, start_time, doc_id, suspect)"
)
"""Rows of a cell in start order, so counts before a time and the latest N are range scans
of the index alone (``suspect`` included, as in the progress index)."""

_DOC = "CAST(document AS TEXT)"
_FAILED = f"COALESCE(status, '') != '{OK_STATUS}'"
ERROR_COLUMNS = (
    f"error_kind TEXT GENERATED ALWAYS AS (json_type({_DOC}, '$.result_text')) VIRTUAL",
    f"error_name GENERATED ALWAYS AS (json_extract({_DOC}, '$.result_text')) VIRTUAL",
)
"""The error's name (``result_text``) and its JSON type, computed from the stored
document; an index stores them, so grouping failed runs by name reads no JSON."""
ERRORS_INDEX = (
    "CREATE INDEX IF NOT EXISTS executions_errors ON executions "
    "(course_server, user_name, qno, error_kind, error_name, start_time, doc_id, suspect) "
    f"WHERE {_FAILED}"
)
"""The failed runs by (student, question, error name), so counting them and finding the
newest per (question, name) read this index alone."""
INDEXED_TEXT_LIMIT = 256
"""``result_text.keyword``'s ``ignore_above`` in the index template."""


def _error_name(value: object) -> str:
    """The error's name as Elasticsearch groups it: ``result_text`` (by default the
    exception name), missing when longer than the keyword field indexes."""
    if not isinstance(value, str) or len(value) > INDEXED_TEXT_LIMIT:
        return ""
    return value[:ERROR_TEXT_LIMIT].replace("\n", " ")


class EmbeddedAnalytics:
    """The analytics part of :class:`tasks.embedded_store.EmbeddedStore`."""

    def _connection(self) -> sqlite3.Connection:
        raise NotImplementedError

    def first_successes(self, query: ProgressQuery) -> list[FirstSuccess]:
        where, params = _analytics_where(query)
        conditions = " AND ".join(where)
        sql = f"""
            WITH cells AS (
                SELECT user_name, qno, MIN(start_time) AS first,
                       MIN(CASE WHEN status = '{OK_STATUS}' THEN start_time END) AS ok
                FROM executions WHERE {conditions} GROUP BY user_name, qno
            )
            SELECT cells.user_name, cells.qno, cells.first, cells.ok,
                   CASE WHEN cells.ok IS NULL THEN 0 ELSE (
                       SELECT COUNT(*) FROM executions
                       WHERE {conditions} AND executions.user_name = cells.user_name
                         AND executions.qno = cells.qno AND start_time < cells.ok
                   ) END
            FROM cells
        """
        rows = self._connection().execute(sql, params + params)
        return [
            FirstSuccess(user, qno, first or 0, ok, before) for user, qno, first, ok, before in rows
        ]

    def error_counts(self, query: ProgressQuery) -> list[ErrorCount]:
        where, params = _analytics_where(query)
        where.append(_FAILED)
        conditions = " AND ".join(where)
        conn = self._connection()
        counts = (
            f"SELECT user_name, qno, error_kind, error_name, COUNT(*) FROM executions "
            f"INDEXED BY executions_errors WHERE {conditions} "
            f"GROUP BY user_name, qno, error_kind, error_name"
        )
        runs: dict[tuple[str, str, str], int] = {}
        for user, qno, kind, value, count in conn.execute(counts, params):
            key = (user, qno, _error_name(value if kind == "text" else None))
            runs[key] = runs.get(key, 0) + count
        # The newest failed run per (question, name), ranked from the index: only those
        # runs' documents are read, for their message.
        newest_sql = f"""
            WITH failed AS (
                SELECT rowid AS id, ROW_NUMBER() OVER (
                    PARTITION BY qno, error_kind, error_name
                    ORDER BY start_time DESC, doc_id DESC
                ) AS rank
                FROM executions INDEXED BY executions_errors WHERE {conditions}
            )
            SELECT e.qno, e.start_time, e.doc_id, json_extract({_DOC}, '$.result_text',
                   '$.result_json.content.evalue')
            FROM failed JOIN executions AS e ON e.rowid = failed.id WHERE failed.rank = 1
        """
        newest: dict[tuple[str, str], tuple[int, str, str]] = {}
        for qno, start, doc_id, members in conn.execute(newest_sql, params):
            text, evalue = orjson.loads(members)
            moment = (start or 0, doc_id)
            shown = newest.get((qno, _error_name(text)))
            if shown is None or moment > shown[:2]:
                message = evalue[:ERROR_TEXT_LIMIT] if isinstance(evalue, str) else ""
                newest[(qno, _error_name(text))] = (*moment, message)
        return [
            ErrorCount(user, qno, name, newest[(qno, name)][2], count)
            for (user, qno, name), count in runs.items()
        ]

    def latest_attempts(self, query: ProgressQuery, per_cell: int) -> list[Attempt]:
        if per_cell <= 0:
            return []
        where, params = _analytics_where(query)
        conditions = " AND ".join(where)
        # Per cell, its newest rows by a backwards range scan of the attempts index (a
        # window over every row of the course would number a million rows to keep a few).
        sql = f"""
            SELECT e.doc_id, e.user_name, e.qno, e.start_time, COALESCE(e.status, ''), e.document
            FROM (
                SELECT DISTINCT user_name AS u, qno AS q FROM executions WHERE {conditions}
            ) AS cells
            JOIN executions AS e ON e.rowid IN (
                SELECT rowid FROM executions INDEXED BY executions_attempts
                WHERE {conditions} AND user_name = cells.u AND qno = cells.q
                ORDER BY start_time DESC, doc_id DESC LIMIT ?
            )
        """
        attempts = []
        for doc_id, user, qno, start, status, blob in self._connection().execute(
            sql, [*params, *params, per_cell]
        ):
            attempts.append(_attempt(doc_id, user, qno, start or 0, status, orjson.loads(blob)))
        return attempts


def _attempt(
    doc_id: str, user: str, qno: str, start: int, status: str, document: dict[str, Any]
) -> Attempt:
    """The shown part of a stored document, capped as Elasticsearch's is."""
    result = document.get("result_json")
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, dict):
        content = {}
    ename, end = content.get("ename"), document.get("end_time")
    return Attempt(
        user_name=user,
        qno=qno,
        start_time=start,
        end_time=end if isinstance(end, int) and not isinstance(end, bool) else None,
        status=status,
        code=cap_text(document.get("input")),
        output=cap_text(document.get("output")),
        ename=ename[:ERROR_TEXT_LIMIT].replace("\n", " ") if isinstance(ename, str) else "",
        evalue=cap_text(content.get("evalue")),
        doc_id=doc_id,
    )


def _analytics_where(query: ProgressQuery) -> tuple[list[str], list[Any]]:
    """The course, window, students and suspect conditions of ``query``."""
    where, params = progress_where(query)
    if not query.include_suspect:
        where.append("suspect IS NULL")
    return where, params


def progress_where(query: ProgressQuery) -> tuple[list[str], list[Any]]:
    """The conditions (and their parameters) of ``query``'s course, window and students."""
    where = ["course_server = ?", "qno IS NOT NULL", "user_name IS NOT NULL"]
    params: list[Any] = [query.course]
    if query.since is not None:
        where.append("start_time >= ?")
        params.append(int(query.since.timestamp()))
    if query.until is not None:
        where.append("start_time < ?")
        params.append(int(query.until.timestamp()))
    if query.students is not None:
        names = list(query.students)
        marks = ",".join("?" * len(names))
        where.append(f"(user_name IN ({marks}) OR local_name IN ({marks}))")
        params += names + names
    return where, params
