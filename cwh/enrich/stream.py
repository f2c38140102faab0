"""The line protocol of ``cwh enrich`` as a filter: JSON lines in, JSON lines out.

Contract: exactly one output line per input line, in order; a broken input line becomes a
dead-letter line, never an exit. The process ends only at end of input or on SIGTERM, and
in both cases everything already read is answered first.

Output is written once per chunk read from stdin (sooner when a chunk's answers exceed a
megabyte), and always before the next read: no answer is ever held back while the filter
waits for input, which is what per-line flushing guarantees, without one write system call
per record when a burst arrives.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from cwh.enrich.enricher import Enricher
from cwh.enrich.lines import LineTransformer, transform_lines

__all__ = ["LineTransformer", "StreamResult", "log_summary", "run_stream"]

READ_SIZE = 1 << 16
MAX_LINE_BYTES = 64 << 20
"""Longest input line held in memory; a longer one becomes a ``LineTooLong`` dead letter."""
KEPT_HEAD_BYTES = 64 << 10
"""How much of an over-long line its dead letter keeps."""

_log = logging.getLogger("cwh.enrich")


class _Terminate(Exception):
    """Raised from the SIGTERM handler only while the loop is blocked in a read."""


@dataclass
class StreamResult:
    lines: int = 0
    terminated: bool = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[written:]


def _head(chunks: list[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``chunks`` joined, without joining all of them."""
    taken: list[bytes] = []
    have = 0
    for chunk in chunks:
        taken.append(chunk)
        have += len(chunk)
        if have >= size:
            break
    return b"".join(taken)[:size]


def run_stream(
    transform: Callable[[bytes], bytes],
    *,
    in_fd: int = 0,
    out_fd: int = 1,
    install_sigterm: bool = True,
    too_long: Callable[[bytes, int], bytes] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> StreamResult:
    """Pump lines from ``in_fd`` through ``transform`` to ``out_fd`` until EOF or SIGTERM.

    A line that grows past ``max_line_bytes`` before its newline arrives is answered at once
    with ``too_long(first bytes, size so far)`` (``transform`` of its first bytes when None);
    the rest of it is read and dropped, so memory stays bounded whatever a sender writes.
    """
    result = StreamResult()
    state = {"blocked": False, "stop": False}

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        state["stop"] = True
        if state["blocked"]:
            raise _Terminate

    previous: Any = None
    if install_sigterm:
        previous = signal.signal(signal.SIGTERM, on_sigterm)

    def write(data: bytes) -> None:
        _write_all(out_fd, data)

    # Chunks of a line whose newline has not arrived yet; joined once it does, so a line longer
    # than a chunk costs no repeated copying.
    pending: list[bytes] = []
    pending_size = 0
    # Inside an over-long line that was already answered: skip input up to its newline.
    skipping = False
    try:
        while not state["stop"]:
            try:
                state["blocked"] = True
                chunk = os.read(in_fd, READ_SIZE)
            except _Terminate:
                result.terminated = True
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            finally:
                state["blocked"] = False
            if not chunk:
                break
            newline = chunk.find(b"\n")
            if skipping:
                if newline < 0:
                    continue
                skipping = False
                chunk = chunk[newline + 1 :]
                newline = chunk.find(b"\n")
            if newline < 0:
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size > max_line_bytes:
                    head = _head(pending, KEPT_HEAD_BYTES)
                    write(too_long(head, pending_size) if too_long else transform(head))
                    result.lines += 1
                    pending, pending_size, skipping = [], 0, True
                continue
            pending_size = 0
            if pending:
                newline += sum(map(len, pending))
                pending.append(chunk)
                chunk = b"".join(pending)
                pending = []
            lines, rest = transform_lines(transform, chunk, newline, write)
            if rest < len(chunk):
                pending.append(chunk[rest:])
                pending_size = len(chunk) - rest
            result.lines += lines
        if state["stop"]:
            result.terminated = True
        if pending and not skipping:
            _write_all(out_fd, transform(b"".join(pending).rstrip(b"\r")))
            result.lines += 1
    finally:
        if install_sigterm:
            signal.signal(signal.SIGTERM, previous)
    return result


def log_summary(enricher: Enricher, result: StreamResult, started: float) -> None:
    stats = enricher.stats
    elapsed = max(time.monotonic() - started, 1e-9)
    _log.info(
        "enrich finished: %d lines (%.0f/s), %d documents, %d dead letters %s, "
        "%d suspect, %d result errors%s",
        result.lines,
        result.lines / elapsed,
        stats.documents,
        stats.dead_letter_total,
        dict(sorted(stats.dead_letters.items())),
        stats.suspect,
        stats.result_errors,
        " (terminated)" if result.terminated else "",
    )
