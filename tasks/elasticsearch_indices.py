"""What every part of the Elasticsearch store shares: the client, the index names, the
field names as actually mapped, the bucket limit and paged composite aggregations.

Field names are resolved against the actual mapping (``user_name`` as a keyword, or the
``user_name.keyword`` sub-field that dynamic mapping creates; ``start_time`` as epoch
seconds ``long`` or ``date``), so every index reads the same whatever created it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, AuthorizationException, Elasticsearch

from cwh.defaults import DEADLETTER_INFIX, DEFAULT_INDEX_PREFIX
from cwh.progress import CacheUse
from tasks.elasticsearch_progress import DEFAULT_MAX_BUCKETS
from tasks.store import StoreError

COMPOSITE_PAGE = 50_000
"""Buckets per composite page, or the cluster's ``search.max_buckets`` if lower. Every
page re-runs the query over all matching documents, so pages are as large as the default
limit (65,536) allows: a class of 400 students x 100 questions fits one page."""
BULK_CHUNK = 2_000

log = logging.getLogger("cwh.store")


class ElasticsearchStoreError(StoreError):
    """Elasticsearch refused or failed part of a request; the message says what and why."""


class ExecutionIndices:
    """The ``<prefix>-*`` indices of one cluster, as the store's parts read them."""

    def __init__(
        self,
        client: Elasticsearch,
        *,
        index_prefix: str = DEFAULT_INDEX_PREFIX,
        progress_cache_dir: Path | None = None,
        max_buckets: int | None = None,
    ) -> None:
        self.client = client
        self.index_prefix = index_prefix
        self.max_buckets = max_buckets
        """Buckets one search may return; None: read ``search.max_buckets`` when first needed."""
        self.progress_cache_dir = progress_cache_dir
        self.last_cache_use: CacheUse | None = None
        """What the latest progress query reused and counted (None without a cache)."""
        self._fields: dict[str, str] = {}
        self._date_start: bool | None = None

    @property
    def executions(self) -> str:
        """Index expression for executions (dead letters excluded)."""
        return f"{self.index_prefix}-*,-{self.index_prefix}-{DEADLETTER_INFIX}-*"

    def describe(self) -> str:
        hosts = ", ".join(
            f"{node.scheme}://{node.host}:{node.port}"
            for node in self.client.transport.node_pool.all()
        )
        return f"Elasticsearch {hosts} indices {self.index_prefix}-*"

    def flush(self) -> None:
        """Make everything written so far visible to searches."""
        self.client.options(ignore_status=404).indices.refresh(
            index=f"{self.index_prefix}-*", allow_no_indices=True, ignore_unavailable=True
        )

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

    def _composite(
        self,
        query: dict[str, Any],
        sources: list[dict[str, Any]],
        aggs: dict[str, Any] | None,
        index: str | None = None,
        *,
        runtime_mappings: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        extra: dict[str, Any] = {"runtime_mappings": runtime_mappings} if runtime_mappings else {}
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
                **extra,
            )
            groups = response.get("aggregations", {}).get("groups")
            if not groups:
                return
            yield from groups["buckets"]
            after = groups.get("after_key")
            if after is None or len(groups["buckets"]) < page:
                return


def cause_of(error: ApiError) -> dict[str, Any]:
    """The innermost cause Elasticsearch gave for a failed search (its type, reason, ...)."""
    body = error.body if isinstance(error.body, dict) else {}
    failure = body.get("error")
    if not isinstance(failure, dict):
        return {"reason": error.message}
    while isinstance(failure.get("caused_by"), dict):
        failure = failure["caused_by"]
    return failure
