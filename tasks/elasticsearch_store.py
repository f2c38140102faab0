"""Enriched executions in Elasticsearch, written and read with core APIs only.

Writes are bulk ``create`` operations with the document's deterministic id into the index
the enricher chose (``<prefix>-YYYY.MM.DD``): a 409 means "already present", so a re-run or
a document that also arrived live never duplicates, and the count is exact. A document the
cluster rejects (a mapping conflict, say) is kept as a dead letter with the reason instead
of being lost. Progress counts are in :mod:`tasks.elasticsearch_counts` (analytics and drill-down in
:mod:`tasks.elasticsearch_analytics`), re-enrichment in
:mod:`tasks.elasticsearch_reenrich`.

Indices get the project's templates (:mod:`cwh.setup.es_templates`, normally installed by
``cwh setup``; installed on first write when no template covers the prefix).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any, cast

from elasticsearch import Elasticsearch, helpers
from elasticsearch.serializer import OrjsonSerializer

from cwh.defaults import DEADLETTER_INFIX
from cwh.enrich import (
    ItemOutcome,
    classify,
    is_dead_letter,
    item_result,
    reason_of,
    rejection_dead_letter,
    split_document,
)
from cwh.setup import index_templates
from tasks.elasticsearch_analytics import ProgressAnalytics
from tasks.elasticsearch_indices import BULK_CHUNK, ElasticsearchStoreError
from tasks.elasticsearch_reenrich import Reenrichment
from tasks.store import Document, Store, WriteSummary

BULK_BYTES = 50 * 1024 * 1024
URL_CLIENT_OPTIONS: dict[str, Any] = {
    "request_timeout": 120,
    "max_retries": 3,
    "retry_on_timeout": True,
}
"""A plain URL (a local node, no credentials) gets patient timeouts and client retries."""

__all__ = ["ElasticsearchStore", "ElasticsearchStoreError", "connect"]


def connect(url: str | None = None, block_name: str | None = None) -> tuple[Elasticsearch, str]:
    """A client, and the index prefix, from a plain URL or a saved connection block.

    Either way the client comes from :class:`blocks.elasticsearch.ElasticsearchConnection`
    (an unsaved one for a URL), which keeps the credentials out of this module's logs and
    errors. Responses are decoded with orjson: aggregation pages of 10,000 buckets otherwise
    spend a third of the report's time in the standard library's JSON decoder.
    """
    from blocks.elasticsearch import ElasticsearchConnection
    from blocks.loading import load_block

    fast = OrjsonSerializer()
    serializers = {"application/json": fast, "application/vnd.elasticsearch+json": fast}
    if url:
        block = ElasticsearchConnection(urls=[url])
        overrides = {**URL_CLIENT_OPTIONS, "serializers": serializers}
    elif block_name:
        block = load_block(ElasticsearchConnection, block_name)
        overrides = {"serializers": serializers}
    else:
        raise ValueError("an Elasticsearch URL or block name is required")
    return cast(Elasticsearch, block.get_client(**overrides)), block.index_prefix


class ElasticsearchStore(ProgressAnalytics, Reenrichment, Store):
    """:class:`tasks.store.Store` over ``<prefix>-*`` indices."""

    _template_checked = False
    """Whether this store has seen a template covering its indices (or installed them)."""

    def ensure_template(self) -> None:
        """Install the project's index templates unless some template covers our indices.

        ``cwh setup`` normally installs them (:mod:`cwh.setup.es_templates`); a backfill into a
        fresh cluster must not fall back to dynamic mapping, which maps student-controlled
        ``result_json`` keys and ends in mapping conflicts. An operator's own template is
        respected.
        """
        if self._template_checked:
            return
        sample = f"{self.index_prefix}-2000.01.01"
        existing = self.client.options(ignore_status=404).indices.get_index_template()
        for item in existing.get("index_templates", []) if existing else []:
            patterns = item["index_template"].get("index_patterns", [])
            if any(fnmatch.fnmatchcase(sample, p) for p in patterns):
                self._template_checked = True
                return
        for template in index_templates(self.index_prefix):
            self.client.indices.put_index_template(name=template.name, **template.body)
        self._template_checked = True

    def write(self, documents: Sequence[Document]) -> WriteSummary:
        self.ensure_template()
        summary = WriteSummary()
        sources: dict[str, dict[str, Any]] = {}
        actions = []
        for document in documents:
            try:
                doc_id, index, source = split_document(document)
            except ValueError as exc:
                raise ElasticsearchStoreError(str(exc)) from None
            if is_dead_letter(source):
                summary.count_dead_letter(str(source["error_type"]))
            sources[doc_id] = source
            actions.append(
                {"_op_type": "create", "_index": index, "_id": doc_id, "_source": source}
            )
        rejected: list[Document] = []
        failures: list[str] = []
        for _ok, item in helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=BULK_CHUNK,
            max_chunk_bytes=BULK_BYTES,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=5,
            initial_backoff=1,
        ):
            result = item_result(item)
            source = sources[result["_id"]]
            if is_dead_letter(source):
                continue
            outcome = classify(result)
            if outcome is ItemOutcome.STORED:
                summary.indexed += 1
            elif outcome is ItemOutcome.ALREADY_STORED:
                summary.already_present += 1
            elif outcome is ItemOutcome.REJECTED:
                rejected.append(
                    rejection_dead_letter(result, source, result["_id"], self.index_prefix)
                )
            else:
                failures.append(f"{result.get('_index')}: {reason_of(result)}")
        if rejected:
            summary.add(self.write(rejected))
        if failures:
            raise ElasticsearchStoreError(
                f"{len(failures)} document(s) could not be written (first: {failures[0]}); "
                "the batch can be written again safely"
            )
        return summary

    def count(self) -> int:
        response = self.client.count(
            index=self.executions, allow_no_indices=True, ignore_unavailable=True
        )
        return int(response["count"])

    def dead_letter_count(self) -> int:
        response = self.client.count(
            index=f"{self.index_prefix}-{DEADLETTER_INFIX}-*",
            allow_no_indices=True,
            ignore_unavailable=True,
        )
        return int(response["count"])

    def close(self) -> None:
        self.client.close()
