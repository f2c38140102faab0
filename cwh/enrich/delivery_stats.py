"""Running totals of the live delivery, kept in a small JSON file health checks can read.

fluentd discards nothing the delivery prints to stderr (its ``out_exec`` connects the child's
stderr to fluentd's log), but a log is for people: a health check needs numbers. Each
``cwh enrich --chunk`` run adds what it did to one file (under an exclusive ``flock``, as
fluentd may run several at once) and replaces it atomically, so a reader never sees half a
file. Totals only grow; a check compares two readings to get a rate, and the timestamps of
the last delivery and the last failure tell it whether the path is alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from cwh.atomic_write import read_json_object, write_bytes_atomic

STATS_VERSION = 1
_MAX_STATS_BYTES = 1 << 20
_COUNTERS = (
    "chunks",
    "records",
    "documents",
    "suspect",
    "stored",
    "already_stored",
    "rejected",
    "undeliverable",
    "failed_chunks",
)


@dataclass
class DeliveryStats:
    """Totals since the file was created; times are epoch seconds (None: never)."""

    chunks: int = 0
    records: int = 0
    documents: int = 0
    suspect: int = 0
    stored: int = 0
    already_stored: int = 0
    rejected: int = 0
    undeliverable: int = 0
    failed_chunks: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    last_delivery: float | None = None
    last_failure: float | None = None
    last_failure_reason: str | None = None

    @property
    def dead_letter_total(self) -> int:
        return sum(self.dead_letters.values())

    def add(self, other: DeliveryStats) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.dead_letters.items():
            self.dead_letters[reason] = self.dead_letters.get(reason, 0) + count
        if other.last_delivery is not None:
            self.last_delivery = max(self.last_delivery or 0.0, other.last_delivery)
        if other.last_failure is not None and other.last_failure >= (self.last_failure or 0.0):
            self.last_failure = other.last_failure
            self.last_failure_reason = other.last_failure_reason

    def to_json(self) -> bytes:
        data = {"version": STATS_VERSION, **asdict(self)}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DeliveryStats:
        """Read what :meth:`to_json` wrote; unknown or mistyped fields are ignored."""
        stats = cls()
        for item in fields(cls):
            value = data.get(item.name)
            if item.name in _COUNTERS and isinstance(value, int) and not isinstance(value, bool):
                setattr(stats, item.name, max(0, value))
        dead = data.get("dead_letters")
        if isinstance(dead, Mapping):
            stats.dead_letters = {
                str(k): v for k, v in dead.items() if isinstance(v, int) and v >= 0
            }
        for name in ("last_delivery", "last_failure"):
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(stats, name, float(value))
        reason = data.get("last_failure_reason")
        stats.last_failure_reason = reason if isinstance(reason, str) else None
        return stats


def read_delivery_stats(path: Path) -> DeliveryStats | None:
    """The totals in ``path``; None when there is no such file yet.

    A file that is not the delivery's (not JSON, too big) raises ``ValueError`` naming it.
    """
    parsed = read_json_object(path, max_bytes=_MAX_STATS_BYTES, what="a delivery stats file")
    if parsed is None:
        return None
    return DeliveryStats.from_mapping(parsed)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def add_delivery_stats(path: Path, delta: DeliveryStats) -> DeliveryStats:
    """Add ``delta`` to the totals in ``path`` (created with its directory if missing).

    A damaged file is started over rather than blocking deliveries; the new totals are
    returned.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        try:
            totals = read_delivery_stats(path) or DeliveryStats()
        except ValueError:
            totals = DeliveryStats()
        totals.add(delta)
        write_bytes_atomic(path, totals.to_json(), durable=False)
    return totals
