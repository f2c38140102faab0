"""Build cache: a rebuild reads only the notebooks that changed and renders only their rows.

An entry is trusted without opening the notebook when its size and modification time
are unchanged. When they differ the file is read and hashed: an identical SHA-256 (a
``touch``, a copy with the same bytes) reuses the cached extraction without parsing.

Modification times have a granularity, so a file rewritten twice within one tick keeps
its size and mtime. As in git's "racy" check, a stat match is only trusted when the file
was already older than the scan that recorded it by more than :data:`RACY_WINDOW_NS`.

The cache also remembers where each notebook's rows sit in the index it last wrote
(:class:`WrittenIndex`), with the SHA-256 of that index. When the index on disk still has
that digest, unchanged notebooks reuse their bytes instead of being rendered again, and
the notebooks whose rows changed are known without parsing the old index.

The cache is an optimisation: a missing, unreadable or foreign cache file, or an index
changed behind its back, just means a full read and render, never a failed build.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cwh.atomic_write import write_bytes_atomic
from cwh.safe_input import InputRefused
from cwh.textbook.extract import NotebookContent, QuestionCell
from cwh.textbook.paths import INDEX_FILES

CACHE_FORMAT = "cwh-textbook-extraction-cache"
CACHE_VERSION = 3
"""Raised whenever extraction rules change, so cached extractions are not trusted across them
(3: notebooks are read through ``cwh.safe_input``, with its limits and messages)."""
RACY_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True)
class CachedNotebook:
    """The extraction of one notebook file as it was when last read."""

    size: int
    mtime_ns: int
    sha256: str
    checked_at_ns: int
    content: NotebookContent | None
    error: str | None

    def stat_matches(self, size: int, mtime_ns: int) -> bool:
        if size != self.size or mtime_ns != self.mtime_ns:
            return False
        return mtime_ns + RACY_WINDOW_NS < self.checked_at_ns


@dataclass(frozen=True)
class WrittenFragment:
    """The rows of one notebook in the last written index: a byte range of that file."""

    path: str
    notebook_meme: str
    content_sha256: str
    render_key: str
    offset: int
    length: int
    rows: int
    labelled: int


@dataclass(frozen=True)
class WrittenIndex:
    """What the last build wrote: the index digest and each notebook's fragment."""

    index_sha256: str
    fragments: tuple[WrittenFragment, ...]


@dataclass
class ExtractionCache:
    """Cache entries by notebook path (relative to the textbook directory)."""

    entries: dict[str, CachedNotebook] = field(default_factory=dict)
    written: WrittenIndex | None = None
    load_error: str | None = None

    @classmethod
    def load(cls, path: Path) -> ExtractionCache:
        try:
            raw = INDEX_FILES.read_bytes(path).data
        except FileNotFoundError:
            return cls()
        except InputRefused as exc:
            return cls(load_error=f"ignoring build cache {exc}")
        try:
            document = orjson.loads(raw)
            if document.get("format") != CACHE_FORMAT or document.get("version") != CACHE_VERSION:
                return cls(load_error=f"ignoring build cache {path}: unknown format")
            entries = {
                str(name): _entry_from_json(value) for name, value in document["notebooks"].items()
            }
            written = _written_from_json(document["written"])
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            return cls(load_error=f"ignoring unreadable build cache {path}")
        return cls(entries=entries, written=written)

    def save(self, path: Path) -> bool:
        """Write the cache atomically (without fsync: it is disposable); True if changed."""
        document = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "written": None
            if self.written is None
            else {
                "index_sha256": self.written.index_sha256,
                "fragments": [list(astuple(f)) for f in self.written.fragments],
            },
            "notebooks": {
                name: _entry_to_json(entry) for name, entry in sorted(self.entries.items())
            },
        }
        return write_bytes_atomic(path, orjson.dumps(document), durable=False)


def _written_from_json(value: Any) -> WrittenIndex | None:
    if value is None:
        return None
    fragments = tuple(
        WrittenFragment(
            str(path),
            str(meme),
            str(sha),
            str(key),
            int(offset),
            int(length),
            int(rows),
            int(labelled),
        )
        for path, meme, sha, key, offset, length, rows, labelled in value["fragments"]
    )
    return WrittenIndex(index_sha256=str(value["index_sha256"]), fragments=fragments)


def _entry_to_json(entry: CachedNotebook) -> dict[str, Any]:
    content = entry.content
    return {
        "size": entry.size,
        "mtime_ns": entry.mtime_ns,
        "sha256": entry.sha256,
        "checked_at_ns": entry.checked_at_ns,
        "error": entry.error,
        "content": None
        if content is None
        else {
            "notebook_meme": content.notebook_meme,
            "memeless_code_cells": list(content.memeless_code_cells),
            "questions": [
                [cell.position, cell.cell_meme, cell.code, cell.preceding_markdown]
                for cell in content.questions
            ],
        },
    }


def _entry_from_json(value: dict[str, Any]) -> CachedNotebook:
    raw_content = value["content"]
    content: NotebookContent | None = None
    if raw_content is not None:
        content = NotebookContent(
            notebook_meme=_optional_str(raw_content["notebook_meme"]),
            questions=tuple(
                QuestionCell(int(position), str(meme), str(code), _optional_str(markdown))
                for position, meme, code, markdown in raw_content["questions"]
            ),
            memeless_code_cells=tuple(int(p) for p in raw_content["memeless_code_cells"]),
        )
    error = _optional_str(value["error"])
    if content is None and error is None:
        raise ValueError("cache entry has neither content nor error")
    return CachedNotebook(
        size=int(value["size"]),
        mtime_ns=int(value["mtime_ns"]),
        sha256=str(value["sha256"]),
        checked_at_ns=int(value["checked_at_ns"]),
        content=content,
        error=error,
    )


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
