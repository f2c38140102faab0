"""The embedded store's per-question analytics and drill-down, in SQL.

Three queries per course, each one pass over the course's rows of the covering indexes:

* the first attempt and first success per (student, question) with the runs before it (a
  correlated count on the ``executions_attempts`` index);
* the failed runs per (student, question, ``result_text``, ``error_pattern``) with their
  latest start, from the ``executions_errors`` index; then, per (question, name,
  pattern), an index seek to the newest run, whose message alone is read;
* the latest attempts per cell (a backwards ``LIMIT`` scan of the attempts index per
  cell), with only their shown fields extracted from the stored JSON.
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
    f"error_pattern GENERATED ALWAYS AS (json_extract({_DOC}, '$.error_pattern')) VIRTUAL",
)
"""The error's name (``result_text``), its JSON type and the message's pattern
(``error_pattern``), computed from the stored document; an index stores them, so grouping
failed runs by name and pattern reads no JSON."""
ERRORS_INDEX = (
    "CREATE INDEX IF NOT EXISTS executions_errors ON executions "
    "(course_server, user_name, qno, error_kind, error_name, error_pattern, start_time, "
    f"doc_id, suspect) WHERE {_FAILED}"
)
"""The failed runs by (student, question, error name, pattern), so counting them and
finding the newest per (question, name, pattern) read this index alone."""
INDEXED_TEXT_LIMIT = 256
"""``result_text.keyword``'s ``ignore_above`` in the index template."""


def _pattern(value: object) -> str:
    """The message's pattern as Elasticsearch groups it (missing beyond ``ignore_above``)."""
    return value if isinstance(value, str) and len(value) <= INDEXED_TEXT_LIMIT else ""


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
            f"SELECT user_name, qno, error_kind, error_name, error_pattern, COUNT(*), "
            f"MAX(start_time) FROM executions INDEXED BY executions_errors WHERE {conditions} "
            f"GROUP BY user_name, qno, error_kind, error_name, error_pattern"
        )
        runs: dict[tuple[str, str, str, str], int] = {}
        # Per (question, name, pattern): the latest start, and the groups of the counts
        # that reach it; only those groups' newest rows are looked up, for their message.
        latest: dict[tuple[str, str, str], tuple[int, list[tuple[Any, ...]]]] = {}
        for group in conn.execute(counts, params):
            user, qno, kind, value, pattern, count, last = group
            name, shown_pattern = _error_name(value if kind == "text" else None), _pattern(pattern)
            key = (user, qno, name, shown_pattern)
            runs[key] = runs.get(key, 0) + count
            moment = last or 0
            known = latest.get((qno, name, shown_pattern))
            if known is None or moment > known[0]:
                latest[(qno, name, shown_pattern)] = (moment, [group[:5]])
            elif moment == known[0]:
                known[1].append(group[:5])
        newest_sql = f"""
            SELECT doc_id, json_extract({_DOC}, '$.result_json.content.evalue')
            FROM executions INDEXED BY executions_errors
            WHERE {conditions} AND user_name = ? AND qno = ? AND error_kind IS ?
              AND error_name IS ? AND error_pattern IS ? AND COALESCE(start_time, 0) = ?
            ORDER BY doc_id DESC LIMIT 1
        """
        messages: dict[tuple[str, str, str], str] = {}
        for group_key, (moment, groups) in latest.items():
            found = [
                conn.execute(newest_sql, [*params, *group, moment]).fetchone() for group in groups
            ]
            newest = max((row for row in found if row is not None), default=None)
            evalue = newest[1] if newest is not None else None
            messages[group_key] = evalue[:ERROR_TEXT_LIMIT] if isinstance(evalue, str) else ""
        return [
            ErrorCount(user, qno, name, messages[(qno, name, pattern)], count, pattern)
            for (user, qno, name, pattern), count in runs.items()
        ]

    def latest_attempts(self, query: ProgressQuery, per_cell: int) -> list[Attempt]:
        if per_cell <= 0:
            return []
        where, params = _analytics_where(query)
        conditions = " AND ".join(where)
        # Per cell, its newest rows by a backwards range scan of the attempts index (a
        # window over every row of the course would number a million rows to keep a few).
        sql = f"""
            SELECT e.user_name, e.qno, COALESCE(e.start_time, 0), COALESCE(e.status, ''),
                   json_extract(CAST(e.document AS TEXT), {_SHOWN}), e.doc_id
            FROM (
                SELECT DISTINCT user_name AS u, qno AS q FROM executions WHERE {conditions}
            ) AS cells
            JOIN executions AS e ON e.rowid IN (
                SELECT rowid FROM executions INDEXED BY executions_attempts
                WHERE {conditions} AND user_name = cells.u AND qno = cells.q
                ORDER BY start_time DESC, doc_id DESC LIMIT ?
            )
        """
        rows = self._connection().execute(sql, [*params, *params, per_cell])
        return [
            _attempt(user, qno, start, status, orjson.loads(shown), doc_id)
            for user, qno, start, status, shown, doc_id in rows
        ]


_SHOWN = ", ".join(
    f"'{path}'"
    for path in (
        "$.end_time",
        "$.input",
        "$.output",
        "$.result_json.content.ename",
        "$.result_json.content.evalue",
    )
)
"""What the drill-down shows of a stored document: SQLite extracts it (one small JSON
array per row instead of the whole document to decode)."""


def _attempt(
    user: str, qno: str, start: int, status: str, shown: list[Any], doc_id: str
) -> Attempt:
    """The shown part of a stored document, capped as Elasticsearch's is."""
    end, code, output, ename, evalue = shown
    return Attempt(
        user_name=user,
        qno=qno,
        start_time=start,
        end_time=end if isinstance(end, int) and not isinstance(end, bool) else None,
        status=status,
        code=cap_text(code),
        output=cap_text(output),
        ename=ename[:ERROR_TEXT_LIMIT].replace("\n", " ") if isinstance(ename, str) else "",
        evalue=cap_text(evalue),
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
