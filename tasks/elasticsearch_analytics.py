"""The Elasticsearch store's per-question analytics and drill-down, from aggregations.

Every figure is computed **per index** and combined by :mod:`cwh.progress.index_analytics`,
so that with a cache directory a report recomputes only the indices whose content
changed since the previous one (during class: today's), and reuses the parts of the
others. Without a cache the same parts are computed for every index in one pass.

* First attempt and first success per (index, student, question): one composite
  aggregation with a ``min``, a ``max`` and a filtered ``min``; the runs before the first
  success: a second composite over the failed runs by start second, counted up to each
  cell's first success. No scripts: a cluster without the scripting module answers too.
* Errors: ``result_json`` is not indexed (its keys are student-controlled), so failed runs
  are counted by (index, student, question, ``result_text``: by default the exception
  name, ``error_pattern``: the message's pattern the enricher stored), and ``top_hits``
  per (index, question, name, pattern) gives the message of the newest of them.
* Latest attempts: ``top_hits`` inside the composite over (index, student, question),
  only the shown fields of ``_source``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from operator import attrgetter
from typing import Any, TypeVar, cast

from cwh.progress import (
    ERROR_TEXT_LIMIT,
    OK_STATUS,
    AnalyticsCache,
    Attempt,
    CacheUse,
    CellSpan,
    CourseAnalytics,
    ErrorCount,
    ErrorRuns,
    FirstSuccess,
    IndexAnalytics,
    NewestMessage,
    RunsBefore,
    cap_text,
    combine_attempts,
    combine_errors,
    combine_first_successes,
    latest_per_cell,
    runs_before_needed,
)
from tasks.elasticsearch_counts import ProgressCounts, load_cache, save_cache_bytes
from tasks.elasticsearch_indices import ElasticsearchStoreError
from tasks.store import AnalyticsFutures, ProgressQuery, Store, separate_analytics

TIE_MARGIN = 2
"""Extra hits per group, so executions sharing the newest second are ordered by id."""
NAME_FIELD = "result_text"
"""The error's name: the result text the enricher extracted (by default the exception
name); ``result_json`` itself is not indexed."""
PATTERN_FIELD = "error_pattern"
"""The error message's pattern (:func:`cwh.enrich.error_pattern`)."""
NAMED_INDICES = 64
"""Up to this many changed indices are named in the request; more are read through the
prefix's pattern (a request line has a length limit)."""
COUNTS_PER_REQUEST = 200
"""Runs-before counts asked in one ``msearch``."""

_SHOWN = [
    "user_name", "qno", "start_time", "end_time", "execute_reply_status", "input", "output",
    "result_json.content.ename", "result_json.content.evalue",
]  # fmt: skip
_INDEX_SOURCE = {"index": {"terms": {"field": "_index"}}}

Parts = dict[str, IndexAnalytics]
_T = TypeVar("_T")


class ProgressAnalytics(ProgressCounts):
    """:meth:`tasks.store.Store.first_successes`, ``error_counts``, ``latest_attempts`` and
    ``course_analytics`` (all three at once, reusing unchanged indices' parts)."""

    last_analytics_use: CacheUse | None = None
    """What the latest cached ``course_analytics`` reused and computed (tests, benches)."""

    def _cell_sources(self) -> list[dict[str, Any]]:
        return [
            _INDEX_SOURCE,
            {"user": {"terms": {"field": self._field("user_name")}}},
            {"qno": {"terms": {"field": self._field("qno")}}},
        ]

    def _seconds(self, value: Any) -> int:
        return int((value or 0) // (1000 if self._start_is_date() else 1))

    def first_successes(self, query: ProgressQuery) -> list[FirstSuccess]:
        filters = self._query_filters(query)
        parts = {name: IndexAnalytics("", spans=s) for name, s in self._spans(filters).items()}
        return self._combine_firsts(filters, parts)

    def error_counts(self, query: ProgressQuery) -> list[ErrorCount]:
        errors, messages = self._errors(self._query_filters(query))
        names = set(errors) | set(messages)
        return combine_errors(
            IndexAnalytics("", errors=errors.get(n, ()), messages=messages.get(n, ()))
            for n in names
        )

    def latest_attempts(self, query: ProgressQuery, per_cell: int) -> list[Attempt]:
        if per_cell <= 0:
            return []
        found = self._attempts(self._query_filters(query), per_cell)
        return combine_attempts((IndexAnalytics("", attempts=a) for a in found.values()), per_cell)

    def submit_analytics(
        self, pool: Executor, query: ProgressQuery, per_cell: int
    ) -> AnalyticsFutures:
        """Without a cache, the three queries side by side; with one, one job that reads
        only the changed indices (:meth:`course_analytics`)."""
        if self.progress_cache_dir is None:
            return separate_analytics(cast(Store, self), pool, query, per_cell)
        whole = pool.submit(self.course_analytics, query, per_cell)
        return AnalyticsFutures(
            attempts=_picked(whole, attrgetter("attempts")),
            firsts=_picked(whole, attrgetter("firsts")),
            errors=_picked(whole, attrgetter("errors")),
        )

    def course_analytics(self, query: ProgressQuery, per_cell: int) -> CourseAnalytics:
        """The three at once. With a cache directory only the indices whose content changed
        since the previous report of the same query are read again."""
        filters = self._query_filters(query)
        directory = self.progress_cache_dir
        markers = None if directory is None else self._cache_markers("analytics")
        if directory is None or markers is None:
            return self._combine(filters, self._parts(filters, per_cell, None, {}), per_cell)
        path = self._cache_path(directory, query, "analytics", per_cell)
        cache = load_cache(path, AnalyticsCache.from_json, AnalyticsCache(), "analytics")
        stale = cache.stale(markers)
        vanished = set(cache.parts) - set(markers)
        fresh: Parts = {}
        if stale:
            index = ",".join(stale) if len(stale) <= NAMED_INDICES else None
            fresh = self._parts(filters, per_cell, index, markers, stale)
        cache.update(markers, fresh)
        if stale or vanished:
            save_cache_bytes(path, cache.to_json())
        reused = tuple(sorted(set(markers) - set(stale)))
        self.last_analytics_use = CacheUse(reused, tuple(stale), full=not reused)
        return self._combine(filters, cache.parts, per_cell)

    def _parts(
        self,
        filters: list[dict[str, Any]],
        per_cell: int,
        index: str | None,
        markers: dict[str, str],
        wanted: Sequence[str] | None = None,
    ) -> Parts:
        """Every index's part (only ``wanted`` ones, if given, each with its marker)."""
        with ThreadPoolExecutor(2) as pool:
            spans_later = pool.submit(self._spans, filters, index)
            errors_later = pool.submit(self._errors, filters, index)
            attempts = self._attempts(filters, per_cell, index) if per_cell > 0 else {}
            spans, (errors, messages) = spans_later.result(), errors_later.result()
        names = wanted if wanted is not None else sorted({*spans, *errors, *attempts})
        return {
            name: IndexAnalytics(
                markers.get(name, ""),
                spans.get(name, ()),
                errors.get(name, ()),
                messages.get(name, ()),
                attempts.get(name, ()),
            )
            for name in names
        }

    def _combine(
        self, filters: list[dict[str, Any]], parts: Parts, per_cell: int
    ) -> CourseAnalytics:
        return CourseAnalytics(
            self._combine_firsts(filters, parts),
            combine_errors(parts.values()),
            combine_attempts(parts.values(), per_cell) if per_cell > 0 else [],
        )

    def _combine_firsts(self, filters: list[dict[str, Any]], parts: Parts) -> list[FirstSuccess]:
        needed = runs_before_needed(parts)
        return combine_first_successes(parts, self._runs_before_counts(filters, needed))

    def _spans(
        self, filters: list[dict[str, Any]], index: str | None = None
    ) -> dict[str, tuple[CellSpan, ...]]:
        """Per index, each cell's first and last start, runs, first success and the runs
        before it."""
        status = self._field("execute_reply_status")
        aggs = {
            "first": {"min": {"field": "start_time"}},
            "last": {"max": {"field": "start_time"}},
            "ok": {
                "filter": {"term": {status: OK_STATUS}},
                "aggs": {"first": {"min": {"field": "start_time"}}},
            },
        }
        cells: dict[tuple[str, str, str], tuple[int, int, int, int | None]] = {}
        query = {"bool": {"filter": filters}}
        for bucket in self._composite(query, self._cell_sources(), aggs, index):
            key = bucket["key"]
            ok = bucket["ok"]["first"]["value"] if bucket["ok"]["doc_count"] else None
            cells[(key["index"], key["user"], key["qno"])] = (
                self._seconds(bucket["first"]["value"]),
                self._seconds(bucket["last"]["value"]),
                int(bucket["doc_count"]),
                None if ok is None else self._seconds(ok),
            )
        cutoffs = {key: cell[3] for key, cell in cells.items() if cell[3] is not None}
        before = self._runs_before(filters, cutoffs, index)
        spans: dict[str, list[CellSpan]] = {}
        for (name, user, qno), (first, last, runs, ok) in sorted(cells.items()):
            spans.setdefault(name, []).append(
                CellSpan(user, qno, first, last, runs, ok, before.get((name, user, qno), 0))
            )
        return {name: tuple(found) for name, found in spans.items()}

    def _runs_before(
        self,
        filters: list[dict[str, Any]],
        cutoffs: dict[tuple[str, str, str], int],
        index: str | None,
    ) -> dict[tuple[str, str, str], int]:
        """Per (index, cell), the runs started before its cutoff (its first success): the
        failed runs per (index, student, question, start second), counted up to each
        cutoff."""
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
        counts: dict[tuple[str, str, str], int] = {}
        for bucket in self._composite(query, sources, None, index):
            key = (bucket["key"]["index"], bucket["key"]["user"], bucket["key"]["qno"])
            cutoff = cutoffs.get(key)
            if cutoff is not None and self._seconds(bucket["key"]["start"]) < cutoff:
                counts[key] = counts.get(key, 0) + int(bucket["doc_count"])
        return counts

    def _runs_before_counts(
        self, filters: list[dict[str, Any]], needed: list[RunsBefore]
    ) -> dict[RunsBefore, int]:
        """The failed runs of each named (index, cell) started before its cutoff: what an
        index straddling another index's first success contributes (``msearch`` counts)."""
        counts: dict[RunsBefore, int] = {}
        user, qno = self._field("user_name"), self._field("qno")
        ok = {"term": {self._field("execute_reply_status"): OK_STATUS}}
        for start in range(0, len(needed), COUNTS_PER_REQUEST):
            batch = needed[start : start + COUNTS_PER_REQUEST]
            searches: list[dict[str, Any]] = []
            for item in batch:
                cell = [
                    {"term": {user: item.user_name}},
                    {"term": {qno: item.qno}},
                    {"range": {"start_time": self._before(item.cutoff)}},
                ]
                searches += [
                    {"index": item.index_name, "ignore_unavailable": True},
                    {
                        "size": 0,
                        "track_total_hits": True,
                        "query": {"bool": {"filter": [*filters, *cell], "must_not": [ok]}},
                    },
                ]
            answers = self.client.msearch(searches=searches)["responses"]
            for item, answer in zip(batch, answers, strict=True):
                if "error" in answer:
                    error = answer["error"]
                    reason = error.get("reason") if isinstance(error, dict) else error
                    raise ElasticsearchStoreError(
                        f"counting the runs before a first success in {item.index_name} "
                        f"failed: {reason}"
                    )
                counts[item] = int(answer["hits"]["total"]["value"])
        return counts

    def _before(self, seconds: int) -> dict[str, Any]:
        window: dict[str, Any] = {"lt": seconds}
        if self._start_is_date():
            window["format"] = "epoch_second"
        return window

    def _errors(
        self, filters: list[dict[str, Any]], index: str | None = None
    ) -> tuple[dict[str, tuple[ErrorRuns, ...]], dict[str, tuple[NewestMessage, ...]]]:
        """Per index: failed runs per (student, question, error name, pattern), and the
        newest message per (question, error name, pattern)."""
        failed = {
            "bool": {
                "filter": filters,
                "must_not": [{"term": {self._field("execute_reply_status"): OK_STATUS}}],
            }
        }
        name: dict[str, Any] = {
            "name": {"terms": {"field": self._field(NAME_FIELD), "missing_bucket": True}}
        }
        pattern: dict[str, Any] = {
            "pattern": {"terms": {"field": self._field(PATTERN_FIELD), "missing_bucket": True}}
        }
        latest = {
            "top_hits": {
                "size": 1 + TIE_MARGIN,
                "sort": [{"start_time": {"order": "desc"}}],
                "_source": {"includes": ["start_time", "result_json.content.evalue"]},
            }
        }
        qno: dict[str, Any] = {"qno": {"terms": {"field": self._field("qno")}}}
        messages: dict[str, list[NewestMessage]] = {}
        groups = [_INDEX_SOURCE, qno, name, pattern]
        for bucket in self._composite(failed, groups, {"latest": latest}, index):
            hits = bucket["latest"]["hits"]["hits"]
            newest = max(hits, key=lambda hit: (_start(hit), str(hit.get("_id"))), default=None)
            if newest is None:
                continue
            evalue = _content(newest).get("evalue")
            messages.setdefault(bucket["key"]["index"], []).append(
                NewestMessage(
                    bucket["key"]["qno"],
                    _name(bucket["key"].get("name")),
                    bucket["key"].get("pattern") or "",
                    _start(newest),
                    str(newest.get("_id")),
                    evalue[:ERROR_TEXT_LIMIT] if isinstance(evalue, str) else "",
                )
            )
        errors: dict[str, list[ErrorRuns]] = {}
        sources = [*self._cell_sources(), name, pattern]
        for bucket in self._composite(failed, sources, None, index):
            key = bucket["key"]
            errors.setdefault(key["index"], []).append(
                ErrorRuns(
                    key["user"],
                    key["qno"],
                    _name(key.get("name")),
                    key.get("pattern") or "",
                    int(bucket["doc_count"]),
                )
            )
        return (
            {n: tuple(found) for n, found in errors.items()},
            {n: tuple(found) for n, found in messages.items()},
        )

    def _attempts(
        self, filters: list[dict[str, Any]], per_cell: int, index: str | None = None
    ) -> dict[str, tuple[Attempt, ...]]:
        """Per index, the newest ``per_cell`` attempts of each cell."""
        hits = {
            "top_hits": {
                "size": per_cell + TIE_MARGIN,
                "sort": [{"start_time": {"order": "desc"}}],
                "_source": {"includes": _SHOWN},
            }
        }
        found: dict[str, list[Attempt]] = {}
        query_body = {"bool": {"filter": filters}}
        for bucket in self._composite(query_body, self._cell_sources(), {"latest": hits}, index):
            key = bucket["key"]
            found.setdefault(key["index"], []).extend(
                _attempt(key["user"], key["qno"], hit) for hit in bucket["latest"]["hits"]["hits"]
            )
        return {
            name: tuple(a for cell in latest_per_cell(attempts, per_cell).values() for a in cell)
            for name, attempts in found.items()
        }


def _picked(whole: Future[CourseAnalytics], pick: Callable[[CourseAnalytics], _T]) -> Future[_T]:
    """A future of one part of ``whole``'s result, done when ``whole`` is."""
    part: Future[_T] = Future()

    def done(finished: Future[CourseAnalytics]) -> None:
        try:
            part.set_result(pick(finished.result()))
        except BaseException as exc:  # the part fails as the whole did
            part.set_exception(exc)

    whole.add_done_callback(done)
    return part


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
