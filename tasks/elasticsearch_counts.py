"""The progress counts of the Elasticsearch store, from aggregations only.

Per (student, question, status): the runs and the latest ``start_time``, never fetched
documents. Nested ``terms`` answer when they are exact and fit
(:mod:`tasks.elasticsearch_progress`), else two paged composite aggregations do.

With a cache directory, the counts of indices that did not change since the last report are
reused (:mod:`cwh.progress.cache`): an index's marker is its uuid and, per primary shard,
its local checkpoint and maximum sequence number, which every write, update and delete
advances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from elasticsearch import ApiError, AuthorizationException

from cwh.atomic_write import write_bytes_atomic
from cwh.progress import OK_STATUS, ProgressCache, StatusCount
from tasks.elasticsearch_indices import ExecutionIndices, cause_of, log
from tasks.elasticsearch_progress import (
    MAX_PARTITIONS,
    MISSING_STATUS,
    STATUS_FILTER_PATH,
    ProgressFields,
    cardinality_aggregations,
    partitions_needed,
    read_cardinalities,
    read_status_counts,
    status_aggregations,
)
from tasks.store import ProgressQuery

PARALLEL_COUNTS = 2
"""Indices counted at once when several are counted one by one (a node's core count)."""
CACHE_FILES_KEPT = 32
_Cache = TypeVar("_Cache")


class ProgressCounts(ExecutionIndices):
    """:meth:`tasks.store.Store.status_counts` over the execution indices."""

    def status_counts(self, query: ProgressQuery) -> list[StatusCount]:
        """The counts of ``query``; with a cache directory, counts of indices that did not
        change since the previous report are reused instead of counted again."""
        filters = self._query_filters(query)
        if self.progress_cache_dir is None:
            return self._count_statuses(filters)
        path = self._cache_path(self.progress_cache_dir, query)
        cache = load_cache(path, ProgressCache.from_json, ProgressCache(), "progress")
        markers = self._cache_markers("progress")
        if markers is None:
            return self._count_statuses(filters)
        counts, self.last_cache_use = cache.counts(
            markers,
            lambda excluded: self._count_statuses(filters, self._executions_except(excluded)),
            lambda names: self._count_each(filters, names),
        )
        if cache.changed:
            if set(self._index_markers()) == set(markers):
                save_cache_bytes(path, cache.to_json())
            else:
                # An index appeared or vanished while counting: a count "of every index
                # but" may have included it, so these counts are used once and not kept.
                path.unlink(missing_ok=True)
        return counts

    def _query_filters(self, query: ProgressQuery) -> list[dict[str, Any]]:
        """The filters of ``query``'s course, window and students, and of suspect
        executions unless they are included."""
        filters = self._progress_filters(query.course, query.since, query.until, query.students)
        if not query.include_suspect:
            filters.append({"bool": {"must_not": [{"term": {"suspect": True}}]}})
        return filters

    def _cache_path(self, directory: Path, query: ProgressQuery, *extra: object) -> Path:
        """The cache file of ``query`` on this cluster; ``extra`` names what else the cached
        figures depend on (nothing for the counts)."""
        since, until, students = query.since, query.until, query.students
        key = orjson.dumps(
            [*extra, self.describe(), query.course, since and since.isoformat(),
             until and until.isoformat(), sorted(students) if students is not None else None,
             "with suspect" if query.include_suspect else "without suspect"]
        )  # fmt: skip
        return directory / f"{hashlib.sha256(key).hexdigest()[:32]}.json"

    def _cache_markers(self, cache: str) -> dict[str, str] | None:
        """Every execution index's marker, then a refresh: every change a marker covers was
        applied before it was read, so the refresh makes all of it visible to the queries
        that follow. None (and no cache from then on) when the role may not read index
        stats or refresh: without the "monitor"/"maintenance" privileges it can still query
        everything, it only loses the reuse."""
        try:
            markers = self._index_markers()
            self.flush()
        except AuthorizationException as exc:
            log.warning(
                "%s cache not used: Elasticsearch answered %s to the index stats or "
                "refresh of %s-*",
                cache,
                exc.status_code,
                self.index_prefix,
            )
            self.progress_cache_dir = None
            return None
        return markers

    def suspect_count(self, query: ProgressQuery) -> int:
        """Suspect executions of the query's course, window and students that name a
        student and a question (the others are never in a report), in one ``count``."""
        filters = self._progress_filters(query.course, query.since, query.until, query.students)
        filters += [
            {"term": {"suspect": True}},
            {"exists": {"field": self._field("user_name")}},
            {"exists": {"field": self._field("qno")}},
        ]
        response = self.client.count(
            index=self.executions,
            query={"bool": {"filter": filters}},
            allow_no_indices=True,
            ignore_unavailable=True,
        )
        return int(response["count"])

    def _executions_except(self, names: Sequence[str]) -> str:
        return ",".join([self.executions, *(f"-{name}" for name in names)])

    def _count_each(
        self, filters: list[dict[str, Any]], names: Sequence[str]
    ) -> list[list[StatusCount]]:
        if len(names) == 1:
            return [self._count_statuses(filters, names[0])]
        with ThreadPoolExecutor(min(PARALLEL_COUNTS, len(names))) as pool:
            return list(pool.map(lambda name: self._count_statuses(filters, name), names))

    def _index_markers(self) -> dict[str, str]:
        """Per execution index, a text that changes whenever its content changes."""
        response = self.client.options(ignore_status=404).indices.stats(
            index=self.executions,
            metric="docs",
            level="shards",
            expand_wildcards="open",
            filter_path="indices.*.uuid,indices.*.shards.*.routing.primary,"
            "indices.*.shards.*.seq_no",
        )
        markers = {}
        for name, stats in (response.get("indices") or {}).items():
            parts = [str(stats.get("uuid"))]
            for number, copies in sorted(stats.get("shards", {}).items()):
                for copy in copies:
                    if copy.get("routing", {}).get("primary"):
                        seq = copy.get("seq_no", {})
                        parts.append(
                            f"{number}:{seq.get('local_checkpoint')}:{seq.get('max_seq_no')}"
                        )
            markers[name] = "/".join(parts)
        return markers

    def _progress_filters(
        self,
        course: str,
        since: datetime | None,
        until: datetime | None,
        students: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        user = self._field("user_name")
        filters: list[dict[str, Any]] = [{"term": {self._field("course_server"): course}}]
        window: dict[str, Any] = {}
        if since is not None:
            window["gte"] = int(since.timestamp())
        if until is not None:
            window["lt"] = int(until.timestamp())
        if window:
            if self._start_is_date():
                window["format"] = "epoch_second"
            filters.append({"range": {"start_time": window}})
        if students is not None:
            names = list(students)
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"terms": {user: names}},
                            {"terms": {self._field("local_name"): names}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        return filters

    def _progress_fields(self) -> ProgressFields:
        return ProgressFields(
            user=self._field("user_name"),
            qno=self._field("qno"),
            status=self._field("execute_reply_status"),
            start_divisor=1000 if self._start_is_date() else 1,
        )

    def _count_statuses(
        self, filters: list[dict[str, Any]], index: str | None = None
    ) -> list[StatusCount]:
        """Runs and latest start per (student, question, status) of ``index``.

        Nested ``terms`` aggregations answer when they are exact and fit within the bucket
        limit (:mod:`tasks.elasticsearch_progress`); otherwise paged composites do.
        """
        fields = self._progress_fields()
        counts = self._nested_status_counts(fields, filters, index)
        if counts is None:
            counts = self._paged_status_counts(fields, filters, index)
        return counts

    def _nested_status_counts(
        self, fields: ProgressFields, filters: list[dict[str, Any]], index: str | None
    ) -> list[StatusCount] | None:
        """The counts from nested ``terms``; None when they would not be exact or do not fit."""
        search = partial(
            self.client.search,
            index=index or self.executions,
            size=0,
            query={"bool": {"filter": filters}},
            allow_no_indices=True,
            ignore_unavailable=True,
            request_cache=False,
        )
        cardinalities = read_cardinalities(
            search(aggs=cardinality_aggregations(fields), filter_path="aggregations.*.value").body
        )
        if cardinalities.users == 0 or cardinalities.qnos == 0:
            return []
        limit = self._max_buckets()
        partitions = partitions_needed(cardinalities, limit, PARALLEL_COUNTS)
        if partitions > MAX_PARTITIONS:
            return None

        def count(number: int) -> list[StatusCount] | None:
            aggregations = status_aggregations(fields, cardinalities, limit, (number, partitions))
            answer = search(aggs=aggregations, filter_path=STATUS_FILTER_PATH).body
            return read_status_counts(answer, fields)

        try:
            if partitions == 1:
                answers = [count(0)]
            else:
                with ThreadPoolExecutor(min(PARALLEL_COUNTS, partitions)) as pool:
                    answers = list(pool.map(count, range(partitions)))
        except ApiError as error:
            if "too_many_buckets" not in str(error.body):
                raise
            cause = cause_of(error)
            log.info("progress counted with composite aggregations: %s", cause.get("reason"))
            if isinstance(cause.get("max_buckets"), int):
                # The limit was lowered since it was read: the composite pages must fit too.
                self.max_buckets = cause["max_buckets"]
            return None
        counts: list[StatusCount] = []
        for answer in answers:
            if answer is None:
                log.info("progress counted with composite aggregations: terms were cut short")
                return None
            counts += answer
        return counts

    def _paged_status_counts(
        self, fields: ProgressFields, filters: list[dict[str, Any]], index: str | None
    ) -> list[StatusCount]:
        """Two paged composite aggregations instead of one over (student, question, status).

        The first groups every execution by (student, question) with the latest start;
        the second groups only the failed ones, by status too. A third grouping key over all
        documents costs more than both together (about 2.7 s against 1.5 s for 700,000
        executions of one course on two cores), and the successful runs' own latest start
        is never needed: they are the latest exactly when the overall latest start is newer
        than every failure's (a tie counts as failed, see
        :func:`cwh.progress.combine_status_counts`).
        """
        pair: list[dict[str, Any]] = [
            {"user": {"terms": {"field": fields.user}}},
            {"qno": {"terms": {"field": fields.qno}}},
        ]
        latest = {"last": {"max": {"field": "start_time"}}}
        divisor = fields.start_divisor

        def last(bucket: dict[str, Any]) -> int:
            return int((bucket["last"]["value"] or 0) // divisor)

        failed: dict[tuple[str, str], list[StatusCount]] = {}
        failures = {"bool": {"filter": filters, "must_not": [{"term": {fields.status: OK_STATUS}}]}}
        status = {"status": {"terms": {"field": fields.status, "missing_bucket": True}}}
        # Both aggregations at once: each waits on the node's reduce and on its response for
        # a good part of its time, which the other uses.
        with ThreadPoolExecutor(1) as pool:
            everything = pool.submit(
                lambda: list(self._composite({"bool": {"filter": filters}}, pair, latest, index))
            )
            failure_buckets = list(self._composite(failures, [*pair, status], latest, index))
            all_buckets = everything.result()
        for bucket in failure_buckets:
            key = bucket["key"]
            failed.setdefault((key["user"], key["qno"]), []).append(
                StatusCount(
                    key["user"],
                    key["qno"],
                    key["status"] or MISSING_STATUS,
                    int(bucket["doc_count"]),
                    last(bucket),
                )
            )
        counts: list[StatusCount] = []
        for bucket in all_buckets:
            key = (bucket["key"]["user"], bucket["key"]["qno"])
            groups = failed.get(key, [])
            ok_runs = int(bucket["doc_count"]) - sum(g.runs for g in groups)
            counts += groups
            if ok_runs > 0:
                counts.append(StatusCount(key[0], key[1], OK_STATUS, ok_runs, last(bucket)))
        return counts


def load_cache(path: Path, read: Callable[[bytes], _Cache], empty: _Cache, kind: str) -> _Cache:
    """The ``kind`` cache saved at ``path`` (decoded by ``read``), or ``empty`` when there is
    none; a file that cannot be read or decoded is reported and its figures computed anew."""
    try:
        return read(path.read_bytes())
    except FileNotFoundError:
        return empty
    except (OSError, ValueError) as exc:
        log.warning("%s cache %s ignored: %s", kind, path, exc)
        return empty


def save_cache_bytes(path: Path, data: bytes) -> None:
    """Keep a cache for the next report; a cache that cannot be written is only a loss
    of speed. Only the newest files are kept (windows such as "the last 90 minutes"
    make a new file each time)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_bytes_atomic(path, data, mode=0o600, durable=False)
        files = sorted(path.parent.glob("*.json"), key=lambda f: f.stat().st_mtime)
        for old in files[:-CACHE_FILES_KEPT]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cache %s not saved: %s", path, exc)
