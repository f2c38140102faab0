"""The Elasticsearch store's per-question analytics and drill-down, from aggregations.

* First attempt and first success per (student, question): one composite aggregation with
  a ``min`` and a filtered ``min``; the runs before the first success: a second composite
  over the failed runs by start second, counted up to each cell's first success. No
  scripts: a cluster without the scripting module answers too.
* Errors: ``result_json`` is not indexed (its keys are student-controlled), so failed runs
  are counted by (student, question, ``result_text``: by default the exception name), and
  ``top_hits`` per (question, ``result_text``) gives the message of the newest of them.
* Latest attempts: ``top_hits`` inside the composite over (student, question), only the
  shown fields of ``_source``.
"""

from __future__ import annotations

from typing import Any

from cwh.progress import (
    ERROR_TEXT_LIMIT,
    OK_STATUS,
    Attempt,
    ErrorCount,
    FirstSuccess,
    cap_text,
    latest_per_cell,
)
from tasks.elasticsearch_counts import ProgressCounts
from tasks.store import ProgressQuery

TIE_MARGIN = 2
"""Extra hits per group, so executions sharing the newest second are ordered by id."""
NAME_FIELD = "result_text"
"""The error's name: the result text the enricher extracted (by default the exception
name); ``result_json`` itself is not indexed."""

_SHOWN = [
    "user_name", "qno", "start_time", "end_time", "execute_reply_status", "input", "output",
    "result_json.content.ename", "result_json.content.evalue",
]  # fmt: skip


class ProgressAnalytics(ProgressCounts):
    """:meth:`tasks.store.Store.first_successes`, ``error_counts`` and ``latest_attempts``."""

    def _analytics_filters(self, query: ProgressQuery) -> list[dict[str, Any]]:
        filters = self._progress_filters(query.course, query.since, query.until, query.students)
        if not query.include_suspect:
            filters.append({"bool": {"must_not": [{"term": {"suspect": True}}]}})
        return filters

    def _cell_sources(self) -> list[dict[str, Any]]:
        return [
            {"user": {"terms": {"field": self._field("user_name")}}},
            {"qno": {"terms": {"field": self._field("qno")}}},
        ]

    def _seconds(self, value: Any) -> int:
        return int((value or 0) // (1000 if self._start_is_date() else 1))

    def first_successes(self, query: ProgressQuery) -> list[FirstSuccess]:
        filters = self._analytics_filters(query)
        status = self._field("execute_reply_status")
        aggs = {
            "first": {"min": {"field": "start_time"}},
            "ok": {
                "filter": {"term": {status: OK_STATUS}},
                "aggs": {"first": {"min": {"field": "start_time"}}},
            },
        }
        cells: dict[tuple[str, str], tuple[int, int | None]] = {}
        for bucket in self._composite({"bool": {"filter": filters}}, self._cell_sources(), aggs):
            key = (bucket["key"]["user"], bucket["key"]["qno"])
            ok = bucket["ok"]["first"]["value"] if bucket["ok"]["doc_count"] else None
            cells[key] = (self._seconds(bucket["first"]["value"]), ok and self._seconds(ok))
        before = self._runs_before(filters, {k: v[1] for k, v in cells.items() if v[1]})
        return [
            FirstSuccess(user, qno, first, ok, before.get((user, qno), 0))
            for (user, qno), (first, ok) in sorted(cells.items())
        ]

    def _runs_before(
        self, filters: list[dict[str, Any]], cutoffs: dict[tuple[str, str], int]
    ) -> dict[tuple[str, str], int]:
        """Per cell, the runs started before its cutoff (its first success): the failed
        runs per (student, question, start second), counted up to each cell's cutoff."""
        if not cutoffs:
            return {}
        before = {"range": {"start_time": self._before(max(cutoffs.values()))}}
        query = {
            "bool": {
                "filter": [*filters, before],
                "must_not": [{"term": {self._field("execute_reply_status"): OK_STATUS}}],
            }
        }
        sources = [*self._cell_sources(), {"start": {"terms": {"field": "start_time"}}}]
        counts: dict[tuple[str, str], int] = {}
        for bucket in self._composite(query, sources, None):
            key = (bucket["key"]["user"], bucket["key"]["qno"])
            cutoff = cutoffs.get(key)
            if cutoff is not None and self._seconds(bucket["key"]["start"]) < cutoff:
                counts[key] = counts.get(key, 0) + int(bucket["doc_count"])
        return counts

    def _before(self, seconds: int) -> dict[str, Any]:
        window: dict[str, Any] = {"lt": seconds}
        if self._start_is_date():
            window["format"] = "epoch_second"
        return window

    def error_counts(self, query: ProgressQuery) -> list[ErrorCount]:
        failed = {
            "bool": {
                "filter": self._analytics_filters(query),
                "must_not": [{"term": {self._field("execute_reply_status"): OK_STATUS}}],
            }
        }
        name = {"name": {"terms": {"field": self._field(NAME_FIELD), "missing_bucket": True}}}
        latest = {
            "top_hits": {
                "size": 1 + TIE_MARGIN,
                "sort": [{"start_time": {"order": "desc"}}],
                "_source": {"includes": ["start_time", "result_json.content.evalue"]},
            }
        }
        qno = {"qno": {"terms": {"field": self._field("qno")}}}
        messages: dict[tuple[str, str], str] = {}
        for bucket in self._composite(failed, [qno, name], {"latest": latest}):
            hits = bucket["latest"]["hits"]["hits"]
            newest = max(hits, key=lambda hit: (_start(hit), str(hit.get("_id"))), default=None)
            evalue = _content(newest).get("evalue") if newest else None
            messages[(bucket["key"]["qno"], _name(bucket["key"]["name"]))] = (
                evalue[:ERROR_TEXT_LIMIT] if isinstance(evalue, str) else ""
            )
        counts = []
        for bucket in self._composite(failed, [*self._cell_sources(), name], None):
            key = bucket["key"]
            error = _name(key["name"])
            counts.append(
                ErrorCount(
                    key["user"],
                    key["qno"],
                    error,
                    messages.get((key["qno"], error), ""),
                    int(bucket["doc_count"]),
                )
            )
        return counts

    def latest_attempts(self, query: ProgressQuery, per_cell: int) -> list[Attempt]:
        if per_cell <= 0:
            return []
        hits = {
            "top_hits": {
                "size": per_cell + TIE_MARGIN,
                "sort": [{"start_time": {"order": "desc"}}],
                "_source": {"includes": _SHOWN},
            }
        }
        attempts = []
        query_body = {"bool": {"filter": self._analytics_filters(query)}}
        for bucket in self._composite(query_body, self._cell_sources(), {"latest": hits}):
            user, qno = bucket["key"]["user"], bucket["key"]["qno"]
            for hit in bucket["latest"]["hits"]["hits"]:
                attempts.append(_attempt(user, qno, hit))
        kept = latest_per_cell(attempts, per_cell)
        return [attempt for cell in kept.values() for attempt in cell]


def _name(value: str | None) -> str:
    return (value or "")[:ERROR_TEXT_LIMIT].replace("\n", " ")


def _content(hit: dict[str, Any]) -> dict[str, Any]:
    """``result_json.content`` of a hit's source, or empty."""
    result = (hit.get("_source") or {}).get("result_json")
    content = result.get("content") if isinstance(result, dict) else None
    return content if isinstance(content, dict) else {}


def _start(hit: dict[str, Any]) -> int:
    start = (hit.get("_source") or {}).get("start_time")
    return start if isinstance(start, int) else 0


def _attempt(user: str, qno: str, hit: dict[str, Any]) -> Attempt:
    source = hit.get("_source") or {}
    content = _content(hit)
    ename = content.get("ename")
    start, end = source.get("start_time"), source.get("end_time")
    status = source.get("execute_reply_status")
    return Attempt(
        user_name=user,
        qno=qno,
        start_time=start if isinstance(start, int) else 0,
        end_time=end if isinstance(end, int) and not isinstance(end, bool) else None,
        status=status if isinstance(status, str) else "",
        code=cap_text(source.get("input")),
        output=cap_text(source.get("output")),
        ename=ename[:ERROR_TEXT_LIMIT].replace("\n", " ") if isinstance(ename, str) else "",
        evalue=cap_text(content.get("evalue")),
        doc_id=str(hit.get("_id")),
    )
