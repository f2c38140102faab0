"""The backfill engine: index the executions users' ``.log`` trees hold.

History that predates fluentd (or that fluentd lost) is still in every home. The backfill
reads it with the same enrichment engine as ``cwh enrich``, so each execution gets the same
``doc_id`` live and from disk and the store's idempotent writes make duplicates impossible:
running it twice, or after fluentd has sent the same records, adds nothing.

Throughput: enrichment is CPU-bound Python (about 10,000 logs/s on one core), writing is
I/O-bound (bulk requests, SQLite commits). Batches are enriched on the calling thread while
earlier batches are written by a small thread pool, so the two overlap; more processes
would only compete with Elasticsearch for the same cores.

Resuming: after each batch is committed (in order) a checkpoint records the last file
done; an interrupted run restarts after it. ``cwh backfill`` runs :func:`run_backfill`
directly with a progress bar; the flow runs it through :func:`store_files`, which reports
progress as a Prefect progress artifact.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.events import emit_event

from cwh.enrich import DEFAULT_JSONPATHS, Enricher, EnrichOptions, build_enricher
from cwh.messages import Language, text
from tasks.common import NOT_CACHED, run_logger
from tasks.log_files import Checkpoint, batched, find_log_files, fingerprint, read_log
from tasks.store import Document, Store, StoreConfig, WriteSummary, cwh_home
from tasks.stores import open_store

DEFAULT_BATCH_SIZE = 1000

Progress = Callable[[int, int, WriteSummary], None]
"""Called after each committed batch with (files done, files in total, counts so far)."""


@dataclass(frozen=True)
class BackfillConfig:
    """What to backfill (homes, index, passwd, users) into which store, and how."""

    homes_dir: str
    index: str
    passwd: str
    store: StoreConfig = field(default_factory=StoreConfig)
    home_prefix: str = "/home"
    users: tuple[str, ...] | None = None
    result_jsonpaths: tuple[str, ...] = DEFAULT_JSONPATHS
    zones: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    write_workers: int | None = None
    """Concurrent writes; default 2 for Elasticsearch, 1 for SQLite (one writer)."""
    checkpoint: str | None = None
    """Checkpoint file; default ``~/.cwh/checkpoints/<fingerprint>.json``."""
    resume: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {self.batch_size}")
        if self.write_workers is not None and self.write_workers < 1:
            raise ValueError(f"write workers must be at least 1, not {self.write_workers}")

    def fingerprint(self) -> str:
        return fingerprint(
            Path(self.homes_dir).resolve(), self.store.target, self.store.index_prefix, self.users
        )

    def checkpoint_path(self) -> Path:
        if self.checkpoint:
            return Path(self.checkpoint).expanduser()
        return cwh_home() / "checkpoints" / f"backfill-{self.fingerprint()}.json"

    def workers(self) -> int:
        if self.write_workers is not None:
            return self.write_workers
        return 2 if self.store.uses_elasticsearch else 1


class BackfillCounts(TypedDict):
    """A backfill's result as plain data: the flow's return value and ``--json`` output."""

    files: int
    resumed_after: int
    indexed: int
    already_present: int
    dead_letters_by_reason: dict[str, int]
    seconds: float
    store: str


@dataclass
class BackfillResult:
    """What a backfill did: files seen, files skipped on resuming, counts, time, store."""

    files: int
    resumed_after: int
    """Files a previous, interrupted run had already stored (skipped this time)."""
    summary: WriteSummary
    seconds: float
    store: str

    def to_dict(self) -> BackfillCounts:
        counts = self.summary.to_dict()
        return {
            "files": self.files,
            "resumed_after": self.resumed_after,
            "indexed": counts["indexed"],
            "already_present": counts["already_present"],
            "dead_letters_by_reason": counts["dead_letters_by_reason"],
            "seconds": round(self.seconds, 3),
            "store": self.store,
        }


def enrich_files(enricher: Enricher, homes: Path, relatives: Sequence[str]) -> list[Document]:
    """One document per file: an enriched execution or a dead letter with the reason."""
    documents = []
    for relative in relatives:
        log = read_log(homes, relative)
        if log.text is None:
            documents.append(
                enricher.dead_letter(
                    relative,
                    log.error_type or "LogUnreadable",
                    log.error_message or "",
                    log.modified,
                )
            )
        else:
            documents.append(
                enricher.enrich_text(log.text, received_at=log.modified, log_file=relative)
            )
    return documents


def build_backfill_enricher(config: BackfillConfig, index_prefix: str) -> Enricher:
    for name, value in (("index", config.index), ("passwd", config.passwd)):
        if not Path(value).is_file():
            raise FileNotFoundError(f"{name} file {value} does not exist")
    return build_enricher(
        EnrichOptions(
            index=Path(config.index),
            passwd=Path(config.passwd),
            homes_dir=Path(config.homes_dir),
            home_prefix=config.home_prefix,
            index_prefix=index_prefix,
            result_jsonpaths=config.result_jsonpaths,
            zones=config.zones,
        )
    )


def run_backfill(
    config: BackfillConfig,
    *,
    files: Sequence[str] | None = None,
    progress: Progress | None = None,
    store: Store | None = None,
) -> BackfillResult:
    """Enrich and store every log file; resumable, idempotent, safe to interrupt."""
    started = time.monotonic()
    homes = Path(config.homes_dir)
    owned = store is None
    target = open_store(config.store) if store is None else store
    try:
        enricher = build_backfill_enricher(config, target.index_prefix)
    except BaseException:
        if owned:
            target.close()
        raise
    all_files = list(files) if files is not None else find_log_files(homes, config.users)
    checkpoint = Checkpoint(config.checkpoint_path(), config.fingerprint())
    if config.resume:
        checkpoint = Checkpoint.load(config.checkpoint_path(), config.fingerprint())
    todo = checkpoint.remaining(all_files)
    resumed_after = len(all_files) - len(todo)
    summary = WriteSummary()
    summary.add(checkpoint.summary)
    done = resumed_after
    try:
        workers = config.workers()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill-write") as pool:
            pending: deque[tuple[str, int, Future[WriteSummary]]] = deque()

            def settle(in_flight: int) -> None:
                """Record finished batches in order; wait while more than ``in_flight`` run."""
                nonlocal done
                while pending and (pending[0][2].done() or len(pending) > in_flight):
                    last, count, future = pending.popleft()
                    written = future.result()
                    done += count
                    summary.add(written)
                    checkpoint.advance(last, count, written)
                    if progress is not None:
                        progress(done, len(all_files), summary)

            for batch in batched(todo, config.batch_size):
                documents = enrich_files(enricher, homes, batch)
                pending.append((batch[-1], len(batch), pool.submit(target.write, documents)))
                settle(in_flight=2 * workers)
            settle(in_flight=0)
        target.flush()
    finally:
        if owned:
            target.close()
    checkpoint.complete()
    if progress is not None and not todo:
        progress(done, len(all_files), summary)
    return BackfillResult(
        files=len(all_files),
        resumed_after=resumed_after,
        summary=summary,
        seconds=time.monotonic() - started,
        store=target.describe(),
    )


def summary_markdown(
    result: BackfillResult, config: BackfillConfig, language: Language = "en"
) -> str:
    """The run's summary artifact, in ``language`` (``backfill.*`` messages)."""
    counts = result.summary
    rate = result.files / result.seconds if result.seconds > 0 else 0.0
    files = text(
        "backfill.summary.files", language, files=result.files, resumed=result.resumed_after
    )
    indexed = text(
        "backfill.summary.indexed",
        language,
        indexed=counts.indexed,
        present=counts.already_present,
    )
    elapsed = text(
        "backfill.summary.time", language, seconds=f"{result.seconds:.1f}", rate=f"{rate:,.0f}"
    )
    lines = [
        f"## {text('backfill.summary.title', language)}",
        "",
        f"- {text('backfill.summary.homes', language, homes=config.homes_dir, store=result.store)}",
        f"- {files}",
        f"- {indexed}",
        f"- {text('backfill.summary.dead_letters', language, count=counts.dead_letters)}",
        f"- {elapsed}",
    ]
    if counts.dead_letters_by_reason:
        reason = text("backfill.summary.reason_column", language)
        documents = text("backfill.summary.documents_column", language)
        lines += ["", f"| {reason} | {documents} |", "|---|---|"]
        for reason, count in sorted(counts.dead_letters_by_reason.items()):
            lines.append(f"| {reason} | {count} |")
    return "\n".join(lines) + "\n"


BACKFILL_COMPLETED_EVENT = "cwh.backfill.completed"
BACKFILL_RESOURCE_ID = "cwh.backfill"


@task(name="announce-backfill", **NOT_CACHED)
def announce_backfill(result: BackfillResult, homes_dir: str, since_day: str | None) -> None:
    """Emit ``cwh.backfill.completed``: how many executions only the backfill stored.

    When fluentd delivers live, everything a scheduled backfill finds is normally already
    stored; what it had to add is the live path's measured gap, for automations and the
    pipeline-health view to watch.
    """
    counts = result.summary
    event = emit_event(
        event=BACKFILL_COMPLETED_EVENT,
        resource={
            "prefect.resource.id": f"{BACKFILL_RESOURCE_ID}.{homes_dir}",
            "prefect.resource.name": homes_dir,
        },
        payload={
            "homes_dir": homes_dir,
            "since_day": since_day,
            "files": result.files,
            "indexed": counts.indexed,
            "already_present": counts.already_present,
            "dead_letters": counts.dead_letters,
            "store": result.store,
        },
    )
    logger = run_logger("cwh.backfill")
    if event is None:
        logger.warning("events are disabled; %s not emitted", BACKFILL_COMPLETED_EVENT)
    if counts.indexed:
        logger.warning(
            "the backfill stored %d execution(s) the live path had not delivered",
            counts.indexed,
        )


@task(name="enrich-and-store", **NOT_CACHED)
def store_files(
    config: BackfillConfig, files: list[str], language: Language = "en"
) -> BackfillResult:
    """:func:`run_backfill` of ``files``, its progress shown as a progress artifact."""
    logger = run_logger("cwh.backfill")
    description = text("backfill.artifact.progress", language, homes=config.homes_dir)
    created = create_progress_artifact(0.0, key="backfill-progress", description=description)
    artifact_id = cast(UUID, created)  # a sync call returns the id, not a coroutine
    last = {"at": 0.0, "percent": -1.0}

    def report(done: int, total: int, counts: WriteSummary) -> None:
        percent = 100.0 * done / total if total else 100.0
        now = time.monotonic()
        if percent < 100.0 and now - last["at"] < 1.0 and percent - last["percent"] < 5:
            return
        last.update(at=now, percent=percent)
        update_progress_artifact(artifact_id, percent)
        logger.info(
            "%d/%d files: %d indexed, %d already present, %d dead letters",
            done, total, counts.indexed, counts.already_present, counts.dead_letters,
        )  # fmt: skip

    result = run_backfill(config, files=files, progress=report)
    update_progress_artifact(artifact_id, 100.0)
    return result
