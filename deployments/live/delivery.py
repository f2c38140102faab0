"""Deliver one fluentd buffer chunk: enrich every record and store it, or report failure.

fluentd's ``out_exec`` runs ``cwh enrich ... --chunk <file>`` for each chunk of its file
buffer and commits the chunk only when the command exits 0; any other exit puts the chunk
back in the buffer to be retried (forever, with back-off). So a record leaves fluentd's
durable buffer only after Elasticsearch answered for it: stored, already stored (409 on
``create`` with the deterministic id: a replayed chunk adds nothing), or rejected and then
stored as a dead letter carrying Elasticsearch's reason. A ``kill -9`` of fluentd, of this
process or an Elasticsearch outage at any moment can only cause a replay, never a loss.

Exit statuses: 0 delivered; :data:`EXIT_RETRY` (75, ``EX_TEMPFAIL``) Elasticsearch could not
take everything now; :data:`EXIT_CONFIG` (78, ``EX_CONFIG``) the settings cannot work. Both
keep the chunk in fluentd's buffer.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cwh.enrich import (
    BulkTally,
    DeliveryStats,
    Enricher,
    LineTransformer,
    create_action,
    is_dead_letter,
    split_document,
    tally,
)
from deployments.live.elasticsearch_http import BulkClient, ElasticsearchUnavailable

EXIT_DELIVERED = 0
EXIT_RETRY = 75
EXIT_CONFIG = 78
BATCH_BYTES = 4 * 1024 * 1024
"""Largest bulk request body; a fluentd chunk (8 MiB at most) takes a few requests."""
MAX_CHUNK_BYTES = 64 * 1024 * 1024
"""A buffer chunk larger than this is not fluentd's: it is refused, not read into memory."""

_log = logging.getLogger("cwh.enrich")


class ChunkError(Exception):
    """The chunk file cannot be read (missing, not a regular file, too big)."""


@dataclass
class ChunkReport:
    """What delivering one chunk did; ``problem`` is set when it must be retried."""

    stats: DeliveryStats = field(default_factory=DeliveryStats)
    problem: str | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        s = self.stats
        dead = ", ".join(f"{k} {v}" for k, v in sorted(s.dead_letters.items())) or "none"
        text = (
            f"{s.records} records: {s.documents} documents ({s.suspect} suspect), "
            f"dead letters: {dead}; stored {s.stored}, already stored {s.already_stored}, "
            f"rejected {s.rejected}"
        )
        if s.undeliverable:
            text += f", kept locally {s.undeliverable}"
        text += f" in {self.seconds:.2f} s"
        if self.problem:
            text += f"; NOT delivered, fluentd will retry: {self.problem}"
        return text


def chunk_lines(path: Path) -> Iterator[bytes]:
    """The lines of a buffer chunk, read without following links or blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ChunkError(f"cannot open chunk {path}: {exc.strerror}") from None
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ChunkError(f"chunk {path} is not a regular file")
        if info.st_size > MAX_CHUNK_BYTES:
            raise ChunkError(f"chunk {path} has {info.st_size} bytes, over {MAX_CHUNK_BYTES}")
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                yield line


class _Batch:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.sources: dict[str, dict[str, Any]] = {}

    def add(self, document: dict[str, Any]) -> None:
        doc_id, index, source = split_document(document)
        action = create_action(doc_id, index, source)
        self.parts.append(action)
        self.size += len(action)
        self.sources[doc_id] = source


@dataclass
class ChunkDelivery:
    """Enriches lines with ``enricher`` and stores the documents through ``client``."""

    enricher: Enricher
    client: BulkClient
    index_prefix: str
    undeliverable: Path | None = None
    """Where documents go that even the dead-letter index refused (a local JSON-lines file)."""
    batch_bytes: int = BATCH_BYTES

    def __post_init__(self) -> None:
        self._transform = LineTransformer(self.enricher)

    def document(self, line: bytes) -> dict[str, Any]:
        """The document for one chunk line; a dead letter for anything that cannot be one.

        Only Elasticsearch being unavailable may fail a chunk: a record that cannot be
        stored must never keep its chunk, and every record after it, in fluentd's buffer.
        """
        try:
            document: Any = orjson.loads(self._transform(line))
            split_document(document)
        except Exception as exc:
            return self.enricher.dead_letter(
                line.decode("utf-8", "replace"),
                "UndeliverableDocument",
                f"the enriched document cannot be stored: {type(exc).__name__}: {exc}",
            )
        result: dict[str, Any] = document
        return result

    def deliver(self, path: Path) -> ChunkReport:
        started = time.monotonic()
        report = ChunkReport()
        batch = _Batch()
        try:
            for line in chunk_lines(path):
                document = self.document(line)
                self._count(report.stats, document)
                batch.add(document)
                if batch.size >= self.batch_bytes:
                    self._send(batch, report.stats)
                    batch = _Batch()
            if batch.parts:
                self._send(batch, report.stats)
        except (ElasticsearchUnavailable, ChunkError) as exc:
            report.problem = str(exc)
        finally:
            self.client.close()
        report.seconds = time.monotonic() - started
        report.stats.chunks = 1
        if report.problem is None:
            report.stats.last_delivery = time.time()
        else:
            report.stats.failed_chunks = 1
            report.stats.last_failure = time.time()
            report.stats.last_failure_reason = report.problem
        return report

    @staticmethod
    def _count(stats: DeliveryStats, document: dict[str, Any]) -> None:
        stats.records += 1
        if is_dead_letter(document):
            error_type = str(document["error_type"])
            stats.dead_letters[error_type] = stats.dead_letters.get(error_type, 0) + 1
            return
        stats.documents += 1
        if document.get("suspect") is True:
            stats.suspect += 1

    def _send(self, batch: _Batch, stats: DeliveryStats) -> None:
        counts = tally(self.client.bulk(b"".join(batch.parts)), batch.sources, self.index_prefix)
        stats.stored += counts.stored
        stats.already_stored += counts.already_stored
        stats.rejected += len(counts.rejected)
        if counts.rejected:
            self._store_rejections(counts, stats)
        if counts.retry:
            raise ElasticsearchUnavailable(
                f"{len(counts.retry)} document(s) not taken now (first: {counts.retry[0]})"
            )

    def _store_rejections(self, counts: BulkTally, stats: DeliveryStats) -> None:
        """Dead-letter what Elasticsearch rejected; what it rejects again is kept locally."""
        batch = _Batch()
        for document in counts.rejected:
            _log.warning("Elasticsearch rejected a document: %s", document["error_message"])
            batch.add(document)
        again = tally(self.client.bulk(b"".join(batch.parts)), batch.sources, self.index_prefix)
        if again.retry:
            raise ElasticsearchUnavailable(
                f"{len(again.retry)} dead letter(s) not taken now (first: {again.retry[0]})"
            )
        if again.rejected:
            self._keep_locally(again.rejected)
            stats.undeliverable += len(again.rejected)

    def _keep_locally(self, documents: list[dict[str, Any]]) -> None:
        if self.undeliverable is None:
            raise ElasticsearchUnavailable(
                f"the dead-letter index refused {len(documents)} document(s) and no local "
                "file is configured for them"
            )
        self.undeliverable.parent.mkdir(parents=True, exist_ok=True)
        with open(self.undeliverable, "ab") as handle:
            for document in documents:
                handle.write(orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE))
        _log.error(
            "the dead-letter index refused %d document(s); kept in %s",
            len(documents),
            self.undeliverable,
        )
