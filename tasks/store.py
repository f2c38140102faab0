"""Where enriched executions live: the one interface every store implements, and its types.

Every store is idempotent by ``doc_id``: writing a document that is already stored counts
it as "already present" and changes nothing, so a backfill can be re-run or resumed and a
document that arrived live (fluentd) is never duplicated by one read from disk. Dead
letters are stored too, apart from executions, because nothing is ever dropped.

The implementations (:mod:`tasks.elasticsearch_store`, :mod:`tasks.embedded_store`)
import this module; :mod:`tasks.stores` opens the configured one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from cwh.gc_pause import collection_paused

if TYPE_CHECKING:
    from cwh.enrich import MemeIndex
    from cwh.progress import Attempt, ErrorCount, FirstSuccess, ProgressCell, StatusCount

Document = dict[str, Any]


@dataclass(frozen=True)
class AnalyticsFutures:
    """A course's analytics and drill-down queries, as they complete."""

    attempts: Future[list[Attempt]]
    firsts: Future[list[FirstSuccess]]
    errors: Future[list[ErrorCount]]


class StoreError(RuntimeError):
    """A document the store cannot accept, or a store that cannot be used."""


def cwh_home() -> Path:
    """Per-user state directory (``$CWH_HOME`` or ``~/.cwh``)."""
    return Path(os.environ.get("CWH_HOME") or Path.home() / ".cwh")


def default_database() -> Path:
    return cwh_home() / "executions.sqlite3"


def progress_cache_dir() -> Path:
    """Where reports keep the counts of unchanged indices (``cwh.progress.cache``)."""
    return cwh_home() / "cache" / "progress"


class WriteCounts(TypedDict):
    """:class:`WriteSummary` as plain data (checkpoints, flow results, ``--json``)."""

    indexed: int
    already_present: int
    dead_letters_by_reason: dict[str, int]


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

    def to_dict(self) -> WriteCounts:
        return {
            "indexed": self.indexed,
            "already_present": self.already_present,
            "dead_letters_by_reason": dict(sorted(self.dead_letters_by_reason.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WriteSummary:
        return cls(
            indexed=int(data.get("indexed", 0)),
            already_present=int(data.get("already_present", 0)),
            dead_letters_by_reason={
                str(k): int(v) for k, v in dict(data.get("dead_letters_by_reason", {})).items()
            },
        )


@dataclass(frozen=True)
class ProgressQuery:
    """Which executions a progress count covers.

    ``since`` is inclusive and ``until`` exclusive (on ``start_time``); ``students``
    matches user names or local names. Executions the enricher flagged ``suspect`` (their
    record does not match the files on disk) are left out unless ``include_suspect``.
    """

    course: str
    since: datetime | None = None
    until: datetime | None = None
    students: tuple[str, ...] | None = None
    include_suspect: bool = False


class Store(Protocol):
    """What the flows need from a document store.

    Implementations subclass it: :meth:`progress_rows` is shared, they count with
    :meth:`status_counts`.
    """

    index_prefix: str
    """Prefix of the ``target_index`` names documents for this store must carry."""

    def write(self, documents: Sequence[Document]) -> WriteSummary:
        """Store enriched documents and dead letters (both carry ``doc_id``/``target_index``)."""
        ...

    def progress_rows(
        self,
        course: str,
        since: datetime | None = None,
        until: datetime | None = None,
        students: Sequence[str] | None = None,
        *,
        include_suspect: bool = False,
    ) -> list[ProgressCell]:
        """Per (student, question) of ``course``: runs, successful runs, last status and time
        (see :class:`ProgressQuery` for the window, the students and suspect executions)."""
        from cwh.progress import combine_status_counts  # kept out of this light module's imports

        query = ProgressQuery(
            course,
            since,
            until,
            None if students is None else tuple(students),
            include_suspect=include_suspect,
        )
        with collection_paused():
            return combine_status_counts(self.status_counts(query))

    def status_counts(self, query: ProgressQuery) -> list[StatusCount]:
        """Runs and latest start per (student, question, status) of the executions asked."""
        ...

    def suspect_count(self, query: ProgressQuery) -> int:
        """How many suspect executions with a student and a question match ``query``'s
        course, window and students (its ``include_suspect`` does not matter)."""
        ...

    def first_successes(self, query: ProgressQuery) -> list[FirstSuccess]:
        """Per (student, question) of ``query``: first attempt, first success and the runs
        started before it (see :class:`cwh.progress.FirstSuccess`)."""
        ...

    def error_counts(self, query: ProgressQuery) -> list[ErrorCount]:
        """Failed runs of ``query`` per (student, question, error name), with the newest
        message of that name at that question (see :class:`cwh.progress.ErrorCount`)."""
        ...

    def latest_attempts(self, query: ProgressQuery, per_cell: int) -> list[Attempt]:
        """The newest ``per_cell`` executions of every (student, question) of ``query`` (by
        start, then id), their texts capped (:func:`cwh.progress.cap_text`), in any order:
        :func:`cwh.progress.latest_per_cell` orders them."""
        ...

    def submit_analytics(
        self, pool: Executor, query: ProgressQuery, per_cell: int
    ) -> AnalyticsFutures:
        """:meth:`latest_attempts`, :meth:`first_successes` and :meth:`error_counts` started
        in ``pool``, the drill-down's first (the report renders it while the others run).
        A store that computes them together overrides this."""
        return separate_analytics(self, pool, query, per_cell)

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


def sequential_analytics(
    store: Store, pool: Executor, query: ProgressQuery, per_cell: int
) -> AnalyticsFutures:
    """The three queries of :meth:`Store.submit_analytics` one after another in one job of
    ``pool``, the drill-down's first; each future is done as soon as its query is."""
    attempts: Future[list[Attempt]] = Future()
    firsts: Future[list[FirstSuccess]] = Future()
    errors: Future[list[ErrorCount]] = Future()

    def run() -> None:
        steps: list[tuple[Future[Any], Callable[[], Any]]] = [
            (attempts, lambda: store.latest_attempts(query, per_cell)),
            (firsts, lambda: store.first_successes(query)),
            (errors, lambda: store.error_counts(query)),
        ]
        for future, step in steps:
            try:
                future.set_result(step())
            except BaseException as exc:  # the report sees it where it waits for this part
                future.set_exception(exc)

    pool.submit(run)
    return AnalyticsFutures(attempts=attempts, firsts=firsts, errors=errors)


def separate_analytics(
    store: Store, pool: Executor, query: ProgressQuery, per_cell: int
) -> AnalyticsFutures:
    """The three queries of :meth:`Store.submit_analytics` as three jobs of ``pool``."""
    return AnalyticsFutures(
        attempts=pool.submit(store.latest_attempts, query, per_cell),
        firsts=pool.submit(store.first_successes, query),
        errors=pool.submit(store.error_counts, query),
    )


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

    @property
    def target(self) -> str:
        """The block, URL or database file documents go to (what a checkpoint is tied to)."""
        return self.elasticsearch_block or self.elasticsearch_url or str(self.database_path())

    def database_path(self) -> Path:
        return Path(self.database).expanduser() if self.database else default_database()
