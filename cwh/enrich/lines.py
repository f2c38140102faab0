"""One JSON line in, one JSON line out: the per-line work of ``cwh enrich``.

Everything here runs once per record, so it is part of the compiled hot path
(:mod:`cwh.enrich.compiled`); the read loop and the signal handling around it stay in
:mod:`cwh.enrich.stream`, which runs once per chunk read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

from cwh.defaults import DEADLETTER_INFIX
from cwh.enrich.enricher import DOC_ID, TARGET_INDEX, Document, Enricher

# A tuple, not ``int | float``: that expression would build a union object on every call.
_NUMBERS = (int, float)
# Unexpected failures logged with their traceback; after that, one in every _LOG_EVERY.
_TRACEBACKS_LOGGED = 10
_LOG_EVERY = 1000
# Answers held before they are written, when a chunk's answers are large.
_WRITE_BYTES = 1 << 20

_log = logging.getLogger("cwh.enrich")


class LineTransformer:
    """Maps one input line to one output line; never raises for any input bytes."""

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher
        self._internal_errors = 0
        # Written when not even a bare dead letter can be built (no memory left, say).
        self._last_resort = _bare_dead_letter(enricher.index_prefix, b"")

    def __call__(self, line: bytes) -> bytes:
        enricher = self._enricher
        try:
            try:
                record: Any = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                doc = enricher.dead_letter(
                    line.decode("utf-8", "replace"),
                    "InvalidJSON",
                    f"input line is not JSON: {exc}",
                )
            else:
                if type(record) is dict:
                    received = record.get("time")
                    text = record.get("log")
                    if type(text) is str:
                        doc = enricher.enrich_text(
                            text, received_at=received if isinstance(received, _NUMBERS) else None
                        )
                    else:
                        doc = enricher.dead_letter(
                            line.decode("utf-8", "replace"),
                            "InvalidRecord",
                            "record has no string field 'log'",
                            received if isinstance(received, _NUMBERS) else None,
                        )
                else:
                    doc = enricher.dead_letter(
                        line.decode("utf-8", "replace"),
                        "InvalidRecord",
                        "record is not a JSON object",
                    )
            return _dump(enricher, doc, line)
        except Exception as error:
            return self._internal_error(line, error)

    def too_long(self, head: bytes, size: int) -> bytes:
        """The answer to a line longer than the filter accepts: a dead letter keeping its
        first bytes (the rest was never held in memory) and its size."""
        try:
            doc = self._enricher.dead_letter(
                head.decode("utf-8", "replace"),
                "LineTooLong",
                f"input line of at least {size} bytes exceeds the limit; "
                f"its first {len(head)} bytes are kept",
            )
            return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
        except Exception as error:
            return self._internal_error(head, error)

    def _internal_error(self, line: bytes, error: Exception) -> bytes:
        """The last resort: a dead letter that keeps the line, whatever went wrong."""
        self._internal_errors += 1
        count = self._internal_errors
        if count <= _TRACEBACKS_LOGGED:
            _log.error("internal error on an input line (kept as a dead letter)", exc_info=error)
        elif count % _LOG_EVERY == 0:
            _log.error("%d internal errors on input lines so far (kept as dead letters)", count)
        try:
            doc = self._enricher.internal_error(line.decode("utf-8", "replace"), error)
            return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
        except Exception:
            pass
        try:
            return _bare_dead_letter(self._enricher.index_prefix, line)
        except Exception:
            return self._last_resort


def _bare_dead_letter(index_prefix: str, line: bytes) -> bytes:
    """A dead letter written without decoding the line (which is then not kept)."""
    digest = hashlib.blake2b(b"dead\x00" + line, digest_size=16).hexdigest()
    doc = {
        "raw": "",
        "error_type": "InternalError",
        "error_message": "internal error while enriching this line; it could not be kept",
        TARGET_INDEX: f"{index_prefix}-{DEADLETTER_INFIX}-unknown",
        DOC_ID: digest,
    }
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def _dump(enricher: Enricher, doc: Document, line: bytes) -> bytes:
    try:
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as exc:
        fallback = enricher.dead_letter(
            line.decode("utf-8", "replace"),
            "UnserializableDocument",
            f"enriched document cannot be written as JSON: {exc}",
        )
        return orjson.dumps(fallback, option=orjson.OPT_APPEND_NEWLINE)


def transform_lines(
    transform: Callable[[bytes], bytes],
    chunk: bytes,
    newline: int,
    write: Callable[[bytes], None],
) -> tuple[int, int]:
    """Answer every complete line of ``chunk``, whose first newline is at ``newline``.

    The answers are passed to ``write`` joined, in one call for the whole chunk unless
    they add up to more than ``_WRITE_BYTES`` (documents with large results), in which case
    they are written as that much accumulates, so memory does not grow with the chunk.
    Returns (how many lines, where the incomplete rest starts). A trailing carriage return
    is not part of a line. Lines are cut with ``find`` (memchr) rather than ``split``,
    which would also copy the incomplete rest.
    """
    out: list[bytes] = []
    held = 0
    lines = 0
    start = 0
    while newline >= 0:
        answer = transform(chunk[start:newline].rstrip(b"\r"))
        out.append(answer)
        lines += 1
        held += len(answer)
        if held > _WRITE_BYTES:
            write(b"".join(out))
            out = []
            held = 0
        start = newline + 1
        newline = chunk.find(b"\n", start)
    if out:
        write(b"".join(out))
    return lines, start
