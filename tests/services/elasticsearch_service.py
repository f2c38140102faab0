"""pytest plugin: one real Elasticsearch node for the whole test session.

Tests get ``es_url`` or ``es_client``; each test names its own indices (``es_index_prefix``
gives a unique prefix) and the fixture deletes them afterwards, so tests stay independent
and a second run starts clean.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from tests.services.elasticsearch_node import (
    ElasticsearchNode,
    ElasticsearchUnavailable,
    running_node,
)


@pytest.fixture(scope="session")
def es_node() -> Iterator[ElasticsearchNode]:
    try:
        with running_node() as node:
            yield node
    except ElasticsearchUnavailable as exc:
        pytest.fail(f"real Elasticsearch unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def es_url(es_node: ElasticsearchNode) -> str:
    return es_node.url


@pytest.fixture(scope="session")
def es_client(es_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(es_url, request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def es_index_prefix(es_client: Elasticsearch) -> Iterator[str]:
    """A unique index prefix for one test; everything under it is deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    es_client.options(ignore_status=404).indices.delete(index=f"{prefix}*", expand_wildcards="all")
    templates = es_client.options(ignore_status=404).indices.get_index_template(name=f"{prefix}*")
    for template in templates.get("index_templates", []) if templates else []:
        es_client.indices.delete_index_template(name=template["name"])
