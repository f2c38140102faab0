"""Enriched documents in a real Elasticsearch: their ids make re-indexing idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from cwh.enrich import DOC_ID, TARGET_INDEX, EnrichOptions, build_enricher
from tests.enrich_support import build_index, forward_records


def _actions(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    actions = []
    for document in documents:
        source = dict(document)
        actions.append(
            {"_index": source.pop(TARGET_INDEX), "_id": source.pop(DOC_ID), "_source": source}
        )
    return actions


def test_indexing_the_same_records_twice_keeps_the_count(
    es_client: Elasticsearch, es_index_prefix: str, lcwrapper_sample: Path, tmp_path: Path
) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    enricher = build_enricher(
        EnrichOptions(
            index=index,
            passwd=lcwrapper_sample / "passwd",
            homes_dir=lcwrapper_sample / "users",
            index_prefix=es_index_prefix,
        )
    )
    records = [r["record"] for r in forward_records(lcwrapper_sample)]
    for _ in range(2):
        documents = [enricher.enrich_record(record) for record in records]
        ok, errors = helpers.bulk(es_client, _actions(documents), refresh=True)
        assert (ok, errors) == (14, [])
    assert es_client.count(index=f"{es_index_prefix}-*")["count"] == 14
    stored = es_client.get(index=f"{es_index_prefix}-2026.11.22", id=documents[2][DOC_ID])
    assert stored["_source"]["qno"] == "01-002"
    assert stored["_source"]["result_text"] == "42"
