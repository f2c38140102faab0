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


def run_stream(
    transform: Callable[[bytes], bytes],
    *,
    in_fd: int = 0,
    out_fd: int = 1,
    install_sigterm: bool = True,
) -> StreamResult:
    """Pump lines from ``in_fd`` through ``transform`` to ``out_fd`` until EOF or SIGTERM."""
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
            if newline < 0:
                pending.append(chunk)
                continue
            if pending:
                newline += sum(map(len, pending))
                pending.append(chunk)
                chunk = b"".join(pending)
                pending = []
            lines, rest = transform_lines(transform, chunk, newline, write)
            if rest < len(chunk):
                pending.append(chunk[rest:])
            result.lines += lines
        if state["stop"]:
            result.terminated = True
        if pending:
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
