"""One JSON line in, one JSON line out: the per-line work of ``cwh enrich``.

Everything here runs once per record, so it is part of the compiled hot path
(:mod:`cwh.enrich.compiled`); the read loop and the signal handling around it stay in
:mod:`cwh.enrich.stream`, which runs once per chunk read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cwh.enrich.enricher import Document, Enricher

# A tuple, not ``int | float``: that expression would build a union object on every call.
_NUMBERS = (int, float)


class LineTransformer:
    """Maps one input line to one output line; never raises for any input bytes."""

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    def __call__(self, line: bytes) -> bytes:
        enricher = self._enricher
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            doc = enricher.dead_letter(
                line.decode("utf-8", "replace"), "InvalidJSON", f"input line is not JSON: {exc}"
            )
        else:
            received = record.get("time") if isinstance(record, dict) else None
            doc = enricher.enrich_record(
                record, received_at=received if isinstance(received, _NUMBERS) else None
            )
        return _dump(enricher, doc, line)


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
    transform: Callable[[bytes], bytes], chunk: bytes, newline: int
) -> tuple[bytes, int, int]:
    """Answer every complete line of ``chunk``, whose first newline is at ``newline``.

    Returns (the answers joined, how many lines, where the incomplete rest starts). A
    trailing carriage return is not part of a line. Lines are cut with ``find`` (memchr)
    rather than ``split``, which would also copy the incomplete rest.
    """
    out: list[bytes] = []
    start = 0
    while newline >= 0:
        out.append(transform(chunk[start:newline].rstrip(b"\r")))
        start = newline + 1
        newline = chunk.find(b"\n", start)
    return b"".join(out), len(out), start
