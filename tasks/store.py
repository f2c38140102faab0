"""Where enriched executions live: one interface, Elasticsearch or an embedded SQLite file.

Every store is idempotent by ``doc_id``: writing a document that is already stored counts
it as "already present" and changes nothing, so a backfill can be re-run or resumed and a
document that arrived live (fluentd) is never duplicated by one read from disk. Dead
letters are stored too, apart from executions, because nothing is ever dropped.

Elasticsearch is used when a connection is configured (a URL or a saved block); without
one the embedded store is the default, so the whole pipeline works on a machine with
nothing else installed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prefect import task
from prefect.cache_policies import NO_CACHE

from cwh.defaults import DEFAULT_INDEX_PREFIX
from cwh.enrich import MemeIndex

if TYPE_CHECKING:
    from cwh.progress import ProgressCell

Document = dict[str, Any]


def cwh_home() -> Path:
    """Per-user state directory (``$CWH_HOME`` or ``~/.cwh``)."""
    return Path(os.environ.get("CWH_HOME") or Path.home() / ".cwh")


def default_database() -> Path:
    return cwh_home() / "executions.sqlite3"


def progress_cache_dir() -> Path:
    """Where reports keep the counts of unchanged indices (``cwh.progress.cache``)."""
    return cwh_home() / "cache" / "progress"


@dataclass
class WriteSummary:
    """What a write did: new documents, documents that were already there, dead letters."""

    indexed: int = 0
    already_present: int = 0
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_reason.values())

    @property
    def documents(self) -> int:
        return self.indexed + self.already_present + self.dead_letters

    def add(self, other: WriteSummary) -> None:
        self.indexed += other.indexed
        self.already_present += other.already_present
        for reason, count in other.dead_letters_by_reason.items():
            self.count_dead_letter(reason, count)

    def count_dead_letter(self, reason: str, count: int = 1) -> None:
        self.dead_letters_by_reason[reason] = self.dead_letters_by_reason.get(reason, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "already_present": self.already_present,
            "dead_letters_by_reason": dict(sorted(self.dead_letters_by_reason.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WriteSummary:
        return cls(
            indexed=int(data.get("indexed", 0)),
            already_present=int(data.get("already_present", 0)),
            dead_letters_by_reason={
                str(k): int(v) for k, v in dict(data.get("dead_letters_by_reason", {})).items()
            },
        )


class Store(Protocol):
    """What the flows need from a document store."""

    @property
    def index_prefix(self) -> str:
        """Prefix of the ``target_index`` names documents for this store must carry."""
        ...

    def write(self, documents: Sequence[Document]) -> WriteSummary:
        """Store enriched documents and dead letters (both carry ``doc_id``/``target_index``)."""
        ...

    def progress_rows(
        self,
        course: str,
        since: datetime | None = None,
        until: datetime | None = None,
        students: Sequence[str] | None = None,
    ) -> list[ProgressCell]:
        """Per (student, question) of ``course``: runs, successful runs, last status and time.

        ``since`` is inclusive and ``until`` exclusive (on ``start_time``); ``students``
        matches user names or local names.
        """
        ...

    def reenrich(self, index: MemeIndex) -> int:
        """Bring qno/qlabel/textbook_path/course_server in line with ``index``.

        Only documents whose values differ are touched, and only those fields; returns how
        many documents changed.
        """
        ...

    def flush(self) -> None:
        """Make everything written so far visible to queries."""
        ...

    def count(self) -> int:
        """Number of stored executions (dead letters excluded)."""
        ...

    def describe(self) -> str:
        """Where the store is, for logs and artifacts (never includes credentials)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoreConfig:
    """How to reach the store; picklable and safe to log (it holds no secret).

    ``elasticsearch_block`` names a saved Elasticsearch connection block (credentials stay
    in Prefect); ``elasticsearch_url`` is for unauthenticated nodes such as a local test
    node. With neither, the embedded SQLite store at ``database`` (default
    ``~/.cwh/executions.sqlite3``) is used.
    """

    elasticsearch_block: str | None = None
    elasticsearch_url: str | None = None
    database: str | None = None
    index_prefix: str | None = None
    """Default: the block's prefix, else ``lcwrapper``."""

    def __post_init__(self) -> None:
        if self.elasticsearch_block and self.elasticsearch_url:
            raise ValueError("give an Elasticsearch block or a URL, not both")
        if self.index_prefix is not None and (
            not self.index_prefix or self.index_prefix != self.index_prefix.lower()
        ):
            raise ValueError(
                f"index prefix {self.index_prefix!r} must be non-empty lowercase "
                "(Elasticsearch index names are lowercase)"
            )

    @property
    def uses_elasticsearch(self) -> bool:
        return bool(self.elasticsearch_block or self.elasticsearch_url)

    def database_path(self) -> Path:
        return Path(self.database).expanduser() if self.database else default_database()


def open_store(config: StoreConfig) -> Store:
    """Open the configured store; Elasticsearch support is imported only when used."""
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
    from tasks.embedded_store import EmbeddedStore

    return EmbeddedStore(
        config.database_path(), index_prefix=config.index_prefix or DEFAULT_INDEX_PREFIX
    )


@task(name="reenrich-store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def reenrich_store(config: StoreConfig, index: MemeIndex) -> tuple[int, str]:
    """Re-enrich the configured store; retried, since a repeat only redoes what is left."""
    store = open_store(config)
    try:
        return store.reenrich(index), store.describe()
    finally:
        store.close()
