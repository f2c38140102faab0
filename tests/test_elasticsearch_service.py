"""The test node really is Elasticsearch and honours ids (the basis of idempotent writes)."""

from elasticsearch import Elasticsearch


def test_node_is_a_real_single_node_cluster(es_client: Elasticsearch) -> None:
    nodes = es_client.nodes.info()["nodes"]
    assert [node["version"][:2] for node in nodes.values()] == ["8."]
    health = es_client.cluster.health()
    assert health["number_of_nodes"] == 1


def test_indexing_by_id_twice_keeps_one_document(
    es_client: Elasticsearch, es_index_prefix: str
) -> None:
    index = f"{es_index_prefix}-ids"
    for _ in range(2):
        es_client.index(index=index, id="same", document={"n": 1}, refresh=True)
    assert es_client.count(index=index)["count"] == 1
