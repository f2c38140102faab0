"""Enriched executions in Elasticsearch, written and read with core APIs only.

* Writes are bulk ``create`` operations with the document's deterministic id into the
  index the enricher chose (``<prefix>-YYYY.MM.DD``): a 409 means "already present", so a
  re-run or a document that also arrived live never duplicates, and the count is exact.
  A document the cluster rejects (a mapping conflict, say) is kept as a dead letter with
  the reason instead of being lost.
* The progress matrix comes from aggregations over (student, question, status) with the
  latest ``start_time``, never from fetched documents: nested ``terms`` when they are
  exact and fit (:mod:`tasks.elasticsearch_progress`), else paged composites. With a cache
  directory (what :func:`tasks.store.open_store` gives), the counts of indices that did
  not change since the last report are reused (:mod:`cwh.progress.cache`): an index's
  marker is its uuid and, per primary shard, its local checkpoint and maximum sequence
  number, which every write, update and delete advances.
* Re-enrichment finds the (cell, qno, qlabel) and (notebook, path, course) combinations
  that disagree with the new index with composite aggregations, then rewrites only those
  documents: partial ``update`` operations (no scripts, which the node may not allow), or
  a full re-index guarded by ``if_seq_no`` when a field has to disappear.

Indices get the project's templates (:mod:`cwh.setup.es_templates`, normally installed by
``cwh setup``; installed on first write when no template covers the prefix). Field names
are still resolved against the actual mapping (``user_name`` as a keyword, or the
``user_name.keyword`` sub-field that dynamic mapping creates; ``start_time`` as epoch
seconds ``long`` or ``date``), so indices created before the templates read the same.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import orjson
from elasticsearch import ApiError, AuthorizationException, Elasticsearch, helpers
from elasticsearch.serializer import OrjsonSerializer

from cwh.atomic_write import write_bytes_atomic
from cwh.defaults import DEADLETTER_INFIX, DEFAULT_INDEX_PREFIX
from cwh.enrich import DOC_ID, TARGET_INDEX, MemeIndex
from cwh.gc_pause import collection_paused
from cwh.progress import (
    OK_STATUS,
    CacheUse,
    ProgressCache,
    ProgressCell,
    StatusCount,
    combine_status_counts,
)
from cwh.setup import index_templates
from tasks.elasticsearch_progress import (
    DEFAULT_MAX_BUCKETS,
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
from tasks.store import Document, WriteSummary

COMPOSITE_PAGE = 50_000
"""Buckets per composite page, or the cluster's ``search.max_buckets`` if lower. Every
page re-runs the query over all matching documents, so pages are as large as the default
limit (65,536) allows: a class of 400 students x 100 questions fits one page."""
BULK_CHUNK = 2_000
BULK_BYTES = 50 * 1024 * 1024
REJECTED = "IndexRejected"
PARALLEL_COUNTS = 2
"""Indices counted at once when several are counted one by one (a node's core count)."""
CACHE_FILES_KEPT = 32

_log = logging.getLogger("cwh.store")


class ElasticsearchStoreError(RuntimeError):
    """Elasticsearch refused or failed part of a request; the message says what and why."""


def connect(url: str | None = None, block_name: str | None = None) -> tuple[Elasticsearch, str]:
    """A client, and the index prefix, from a plain URL or a saved connection block.

    The block (``blocks.elasticsearch.ElasticsearchConnection``) is loaded lazily and keeps
    the credentials; they never pass through this module's logs or errors. Responses are
    decoded with orjson: aggregation pages of 10,000 buckets otherwise spend a third of the
    report's time in the standard library's JSON decoder.
    """
    if url:
        options: dict[str, Any] = {
            "hosts": [url],
            "request_timeout": 120,
            "max_retries": 3,
            "retry_on_timeout": True,
        }
        prefix = DEFAULT_INDEX_PREFIX
    elif block_name:
        from blocks.elasticsearch import ElasticsearchConnection

        block = cast(ElasticsearchConnection, ElasticsearchConnection.load(block_name))
        options = block.client_options()
        prefix = block.index_prefix
    else:
        raise ValueError("an Elasticsearch URL or block name is required")
    fast = OrjsonSerializer()
    serializers = {"application/json": fast, "application/vnd.elasticsearch+json": fast}
    return Elasticsearch(**options, serializers=serializers), prefix


class ElasticsearchStore:
    """:class:`tasks.store.Store` over ``<prefix>-*`` indices."""

    def __init__(
        self,
        client: Elasticsearch,
        *,
        index_prefix: str = DEFAULT_INDEX_PREFIX,
        progress_cache_dir: Path | None = None,
        max_buckets: int | None = None,
    ) -> None:
        self.client = client
        self.max_buckets = max_buckets
        """Buckets one search may return; None: read ``search.max_buckets`` when first needed."""
        self.prefix = index_prefix
        self.progress_cache_dir = progress_cache_dir
        self.last_cache_use: CacheUse | None = None
        """What the latest progress query reused and counted (None without a cache)."""
        self._fields: dict[str, str] = {}
        self._date_start: bool | None = None
        self._template_checked = False

    @property
    def index_prefix(self) -> str:
        return self.prefix

    @property
    def executions(self) -> str:
        """Index expression for executions (dead letters excluded)."""
        return f"{self.prefix}-*,-{self.prefix}-{DEADLETTER_INFIX}-*"

    def describe(self) -> str:
        hosts = ", ".join(
            f"{node.scheme}://{node.host}:{node.port}"
            for node in self.client.transport.node_pool.all()
        )
        return f"Elasticsearch {hosts} indices {self.prefix}-*"

    def ensure_template(self) -> None:
        """Install the project's index templates unless some template covers our indices.

        ``cwh setup`` normally installs them (:mod:`cwh.setup.es_templates`); a backfill into a
        fresh cluster must not fall back to dynamic mapping, which maps student-controlled
        ``result_json`` keys and ends in mapping conflicts. An operator's own template is
        respected.
        """
        if self._template_checked:
            return
        sample = f"{self.prefix}-2000.01.01"
        existing = self.client.options(ignore_status=404).indices.get_index_template()
        for item in existing.get("index_templates", []) if existing else []:
            patterns = item["index_template"].get("index_patterns", [])
            if any(fnmatch.fnmatchcase(sample, p) for p in patterns):
                self._template_checked = True
                return
        for template in index_templates(self.prefix):
            self.client.indices.put_index_template(name=template.name, **template.body)
        self._template_checked = True

    def write(self, documents: Sequence[Document]) -> WriteSummary:
        self.ensure_template()
        summary = WriteSummary()
        sources: dict[str, dict[str, Any]] = {}
        actions = []
        for document in documents:
            source = dict(document)
            doc_id = source.pop(DOC_ID, None)
            index = source.pop(TARGET_INDEX, None)
            if not isinstance(doc_id, str) or not isinstance(index, str):
                raise ElasticsearchStoreError(
                    "a document without doc_id/target_index cannot be stored idempotently"
                )
            if _is_dead_letter(source):
                summary.count_dead_letter(str(source["error_type"]))
            sources[doc_id] = source
            actions.append(
                {"_op_type": "create", "_index": index, "_id": doc_id, "_source": source}
            )
        rejected: list[Document] = []
        failures: list[str] = []
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=BULK_CHUNK,
            max_chunk_bytes=BULK_BYTES,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=5,
            initial_backoff=1,
        ):
            result = item["create"]
            source = sources[result["_id"]]
            status = int(result.get("status", 0))
            if _is_dead_letter(source):
                continue
            if ok:
                summary.indexed += 1
            elif status == 409:
                summary.already_present += 1
            elif 400 <= status < 500 and status != 429:
                rejected.append(self._rejection(result, source))
            else:
                failures.append(f"{result.get('_index')}: {_reason(result)}")
        if rejected:
            summary.add(self.write(rejected))
        if failures:
            raise ElasticsearchStoreError(
                f"{len(failures)} document(s) could not be written (first: {failures[0]}); "
                "the batch can be written again safely"
            )
        return summary

    def _rejection(self, result: dict[str, Any], source: Document) -> Document:
        day = str(result.get("_index", "")).removeprefix(f"{self.prefix}-")
        return {
            "raw": orjson.dumps(source, default=str).decode(),
            "error_type": REJECTED,
            "error_message": f"{result.get('_index')}: {_reason(result)}",
            "@timestamp": source.get("@timestamp"),
            DOC_ID: result["_id"],
            TARGET_INDEX: f"{self.prefix}-{DEADLETTER_INFIX}-{day}",
        }

    def flush(self) -> None:
        """Make everything written so far visible to searches."""
        self.client.options(ignore_status=404).indices.refresh(
            index=f"{self.prefix}-*", allow_no_indices=True, ignore_unavailable=True
        )

    def count(self) -> int:
        response = self.client.count(
            index=self.executions, allow_no_indices=True, ignore_unavailable=True
        )
        return int(response["count"])

    def dead_letter_count(self) -> int:
        response = self.client.count(
            index=f"{self.prefix}-{DEADLETTER_INFIX}-*",
            allow_no_indices=True,
            ignore_unavailable=True,
        )
        return int(response["count"])

    def _field(self, name: str) -> str:
        """``name`` if it is a keyword field, else its ``.keyword`` sub-field."""
        known = self._fields.get(name)
        if known is not None:
            return known
        caps = self.client.field_caps(
            index=self.executions,
            fields=[name, f"{name}.keyword"],
            allow_no_indices=True,
            ignore_unavailable=True,
        )["fields"]
        if "keyword" in caps.get(name, {}):
            resolved = name
        elif "keyword" in caps.get(f"{name}.keyword", {}):
            resolved = f"{name}.keyword"
        else:
            return name
        self._fields[name] = resolved
        return resolved

    def _start_is_date(self) -> bool:
        if self._date_start is None:
            caps = self.client.field_caps(
                index=self.executions,
                fields=["start_time"],
                allow_no_indices=True,
                ignore_unavailable=True,
            )["fields"].get("start_time", {})
            if not caps:
                return False
            self._date_start = "date" in caps
        return self._date_start

    def _composite(
        self,
        query: dict[str, Any],
        sources: list[dict[str, Any]],
        aggs: dict[str, Any] | None,
        index: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        after: dict[str, Any] | None = None
        while True:
            page = min(COMPOSITE_PAGE, self._max_buckets())
            composite: dict[str, Any] = {"size": page, "sources": sources}
            if after is not None:
                composite["after"] = after
            body: dict[str, Any] = {"composite": composite}
            if aggs:
                body["aggs"] = aggs
            response = self.client.search(
                index=index or self.executions,
                size=0,
                query=query,
                aggs={"groups": body},
                filter_path="aggregations.groups.after_key,aggregations.groups.buckets",
                allow_no_indices=True,
                ignore_unavailable=True,
                request_cache=False,
            )
            groups = response.get("aggregations", {}).get("groups")
            if not groups:
                return
            yield from groups["buckets"]
            after = groups.get("after_key")
            if after is None or len(groups["buckets"]) < page:
                return

    def progress_rows(
        self,
        course: str,
        since: datetime | None = None,
        until: datetime | None = None,
        students: Sequence[str] | None = None,
    ) -> list[ProgressCell]:
        """Progress cells of ``course``; with a cache directory, counts of indices that did
        not change since the previous report are reused instead of counted again."""
        with collection_paused():
            return self._progress_rows(course, since, until, students)

    def _progress_rows(
        self,
        course: str,
        since: datetime | None,
        until: datetime | None,
        students: Sequence[str] | None,
    ) -> list[ProgressCell]:
        filters = self._progress_filters(course, since, until, students)
        if self.progress_cache_dir is None:
            return combine_status_counts(self._status_counts(filters))
        key = orjson.dumps(
            [self.describe(), course, since and since.isoformat(), until and until.isoformat(),
             sorted(students) if students is not None else None]
        )  # fmt: skip
        path = self.progress_cache_dir / f"{hashlib.sha256(key).hexdigest()[:32]}.json"
        cache = _load_cache(path)
        try:
            markers = self._index_markers()
            # Markers first, then a refresh: every change a marker covers was applied before
            # it was read, so the refresh makes all of it visible to the counts that follow.
            self.flush()
        except AuthorizationException as exc:
            # A read-only role (no "monitor"/"maintenance" index privilege) can still count
            # everything; it only loses the reuse.
            _log.warning(
                "progress cache not used: Elasticsearch answered %s to the index stats or "
                "refresh of %s-*",
                exc.status_code,
                self.prefix,
            )
            self.progress_cache_dir = None
            return combine_status_counts(self._status_counts(filters))
        counts, self.last_cache_use = cache.counts(
            markers,
            lambda excluded: self._status_counts(filters, self._executions_except(excluded)),
            lambda names: self._count_each(filters, names),
        )
        if cache.changed:
            if set(self._index_markers()) == set(markers):
                _save_cache(path, cache)
            else:
                # An index appeared or vanished while counting: a count "of every index
                # but" may have included it, so these counts are used once and not kept.
                path.unlink(missing_ok=True)
        return combine_status_counts(counts)

    def _executions_except(self, names: Sequence[str]) -> str:
        return ",".join([self.executions, *(f"-{name}" for name in names)])

    def _count_each(
        self, filters: list[dict[str, Any]], names: Sequence[str]
    ) -> list[list[StatusCount]]:
        if len(names) == 1:
            return [self._status_counts(filters, names[0])]
        with ThreadPoolExecutor(min(PARALLEL_COUNTS, len(names))) as pool:
            return list(pool.map(lambda name: self._status_counts(filters, name), names))

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

    def _status_counts(
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

    def _max_buckets(self) -> int:
        """The cluster's ``search.max_buckets`` (its default when the role may not read it)."""
        if self.max_buckets is None:
            limit = DEFAULT_MAX_BUCKETS
            try:
                settings = self.client.cluster.get_settings(
                    include_defaults=True, filter_path="*.search.max_buckets"
                ).body
            except AuthorizationException:
                settings = {}
            for level in ("transient", "persistent", "defaults"):
                value = ((settings.get(level) or {}).get("search") or {}).get("max_buckets")
                if value is not None:
                    limit = int(value)
                    break
            self.max_buckets = limit
        return self.max_buckets

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
            cause = _cause(error)
            _log.info("progress counted with composite aggregations: %s", cause.get("reason"))
            if isinstance(cause.get("max_buckets"), int):
                # The limit was lowered since it was read: the composite pages must fit too.
                self.max_buckets = cause["max_buckets"]
            return None
        counts: list[StatusCount] = []
        for answer in answers:
            if answer is None:
                _log.info("progress counted with composite aggregations: terms were cut short")
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
        than every failure's (a tie counts as failed, see :func:`combine_status_counts`).
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

    def reenrich(self, index: MemeIndex) -> int:
        self.flush()
        changed: dict[tuple[str, str], dict[str, str | None]] = {}
        cell_field = self._field("lc_cell_meme_uuid")
        for key in self._combinations(cell_field, "qno", "qlabel"):
            uuid, qno, qlabel = key["a"], key["b"], key["c"]
            cell = index.cell(uuid)
            wanted = (cell.qno, cell.qlabel) if cell is not None else (None, None)
            if (qno, qlabel) != wanted:
                query = _match_combination(
                    (cell_field, uuid), (self._field("qno"), qno), (self._field("qlabel"), qlabel)
                )
                for hit in self._hits(query):
                    changed.setdefault((hit[0], hit[1]), {}).update(qno=wanted[0], qlabel=wanted[1])
        notebook_field = self._field("lc_notebook_meme")
        for key in self._combinations(notebook_field, "textbook_path", "course_server"):
            meme, path, course = key["a"], key["b"], key["c"]
            notebook = index.notebook(meme)
            wanted = (notebook.textbook_path, notebook.course_server) if notebook else (None, None)
            if (path, course) != wanted:
                query = _match_combination(
                    (notebook_field, meme),
                    (self._field("textbook_path"), path),
                    (self._field("course_server"), course),
                )
                for hit in self._hits(query):
                    changed.setdefault((hit[0], hit[1]), {}).update(
                        textbook_path=wanted[0], course_server=wanted[1]
                    )
        if changed:
            self._apply(changed)
        return len(changed)

    def _combinations(self, first: str, second: str, third: str) -> Iterator[dict[str, Any]]:
        sources: list[dict[str, Any]] = [
            {"a": {"terms": {"field": first}}},
            {"b": {"terms": {"field": self._field(second), "missing_bucket": True}}},
            {"c": {"terms": {"field": self._field(third), "missing_bucket": True}}},
        ]
        for bucket in self._composite({"exists": {"field": first}}, sources, None):
            yield bucket["key"]

    def _hits(self, query: dict[str, Any]) -> Iterator[tuple[str, str]]:
        for hit in helpers.scan(
            self.client,
            index=self.executions,
            query={"query": query, "_source": False},
            size=5000,
            allow_no_indices=True,
            ignore_unavailable=True,
        ):
            yield hit["_index"], hit["_id"]

    def _apply(self, changed: dict[tuple[str, str], dict[str, str | None]]) -> None:
        updates = []
        removals: dict[tuple[str, str], dict[str, str | None]] = {}
        for (index, doc_id), fields in changed.items():
            if any(value is None for value in fields.values()):
                removals[(index, doc_id)] = fields
            else:
                updates.append(
                    {"_op_type": "update", "_index": index, "_id": doc_id, "doc": fields}
                )
        errors: list[str] = []
        for ok, item in helpers.streaming_bulk(
            self.client, updates, chunk_size=BULK_CHUNK, raise_on_error=False, max_retries=5
        ):
            if not ok:
                errors.append(_reason(item["update"]))
        if removals:
            errors += self._rewrite(removals)
        self.flush()
        if errors:
            raise ElasticsearchStoreError(
                f"{len(errors)} document(s) could not be re-enriched (first: {errors[0]}); "
                "running re-enrichment again retries exactly those"
            )

    def _rewrite(self, removals: dict[tuple[str, str], dict[str, str | None]]) -> list[str]:
        """Fields that must disappear: re-index the document, guarded against races."""
        errors = []
        keys = list(removals)
        for start in range(0, len(keys), BULK_CHUNK):
            chunk = keys[start : start + BULK_CHUNK]
            docs = self.client.mget(
                docs=[{"_index": i, "_id": d} for i, d in chunk], realtime=True
            )["docs"]
            actions = []
            for (index, doc_id), doc in zip(chunk, docs, strict=True):
                if not doc.get("found"):
                    continue
                source = dict(doc["_source"])
                for name, value in removals[(index, doc_id)].items():
                    if value is None:
                        source.pop(name, None)
                    else:
                        source[name] = value
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": index,
                        "_id": doc_id,
                        "_source": source,
                        "if_seq_no": doc["_seq_no"],
                        "if_primary_term": doc["_primary_term"],
                    }
                )
            for ok, item in helpers.streaming_bulk(
                self.client, actions, raise_on_error=False, max_retries=5
            ):
                if not ok:
                    errors.append(_reason(item["index"]))
        return errors

    def close(self) -> None:
        self.client.close()


def _load_cache(path: Path) -> ProgressCache:
    """The saved cache, or an empty one (a broken file is reported and counted anew)."""
    try:
        return ProgressCache.from_json(path.read_bytes())
    except FileNotFoundError:
        return ProgressCache()
    except (OSError, ValueError) as exc:
        _log.warning("progress cache %s ignored: %s", path, exc)
        return ProgressCache()


def _save_cache(path: Path, cache: ProgressCache) -> None:
    """Keep the cache for the next report; a cache that cannot be written is only a loss
    of speed. Only the newest files are kept (windows such as "the last 90 minutes"
    make a new file each time)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_bytes_atomic(path, cache.to_json(), mode=0o600, durable=False)
        files = sorted(path.parent.glob("*.json"), key=lambda f: f.stat().st_mtime)
        for old in files[:-CACHE_FILES_KEPT]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        _log.warning("progress cache %s not saved: %s", path, exc)


def _is_dead_letter(source: Document) -> bool:
    return "error_type" in source and "raw" in source


def _match_combination(*pairs: tuple[str, str | None]) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for name, value in pairs:
        if value is None:
            must_not.append({"exists": {"field": name}})
        else:
            must.append({"term": {name: value}})
    return {"bool": {"filter": must, "must_not": must_not}}


def _cause(error: ApiError) -> dict[str, Any]:
    """The innermost cause Elasticsearch gave for a failed search (its type, reason, ...)."""
    body = error.body if isinstance(error.body, dict) else {}
    failure = body.get("error")
    if not isinstance(failure, dict):
        return {"reason": error.message}
    while isinstance(failure.get("caused_by"), dict):
        failure = failure["caused_by"]
    return failure


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error or f"status {result.get('status')}")
