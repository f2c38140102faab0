"""Opening the configured store.

Elasticsearch is used when a connection is configured (a URL or a saved block); without
one the embedded SQLite store is the default, so the whole pipeline works on a machine with
nothing else installed. The Elasticsearch client is imported only when it is used.
"""

from __future__ import annotations

from cwh.defaults import DEFAULT_INDEX_PREFIX
from tasks.embedded_store import EmbeddedStore
from tasks.store import Store, StoreConfig, progress_cache_dir


def open_store(config: StoreConfig) -> Store:
    """Open the configured store (the caller closes it)."""
    if config.uses_elasticsearch:
        from tasks.elasticsearch_store import ElasticsearchStore, connect

        client, prefix = connect(
            url=config.elasticsearch_url, block_name=config.elasticsearch_block
        )
        return ElasticsearchStore(
            client,
            index_prefix=config.index_prefix or prefix,
            progress_cache_dir=progress_cache_dir(),
        )
    return EmbeddedStore(
        config.database_path(), index_prefix=config.index_prefix or DEFAULT_INDEX_PREFIX
    )
