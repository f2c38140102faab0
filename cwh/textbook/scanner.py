"""Scan the textbook directory: find the notebooks and extract each one, reusing the cache.

A scan never fails because of one notebook: a notebook that cannot be read or parsed is
kept in the result with the reason, so validation can report it and numbering can still
reserve its place. Only a missing textbook directory is fatal (see
:class:`~cwh.textbook.paths.TextbookDirError`).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cwh.textbook.cache import CachedNotebook, ExtractionCache, WrittenIndex
from cwh.textbook.extract import NotebookContent, UnreadableNotebook, read_notebook
from cwh.textbook.paths import DiscoveryIssue, PathMatcher, discover_notebooks

Origin = Literal["read", "cache", "cache-by-hash"]


@dataclass(frozen=True)
class ScannedNotebook:
    """One notebook file of the textbook and what was extracted from it."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    content: NotebookContent | None
    error: str | None
    origin: Origin
    sha256: str = ""
    """SHA-256 of the bytes extracted; empty when the file could not be read."""

    @property
    def notebook_meme(self) -> str | None:
        return self.content.notebook_meme if self.content else None


@dataclass(frozen=True)
class TextbookScan:
    """The whole textbook as seen by one scan."""

    root: Path
    notebooks: tuple[ScannedNotebook, ...]
    issues: tuple[DiscoveryIssue, ...]
    files_read: int
    notes: tuple[str, ...]
    cache_entries: dict[str, CachedNotebook] = field(default_factory=dict)
    """Fresh cache entries, saved by the index writer together with what it wrote."""
    written: WrittenIndex | None = None
    """What the previous build wrote, according to the cache."""

    @property
    def question_count(self) -> int:
        return sum(len(nb.content.questions) for nb in self.notebooks if nb.content)


def scan_textbook(root: Path, matcher: PathMatcher, cache_file: Path | None = None) -> TextbookScan:
    """Discover and extract every notebook under ``root``; read-only.

    With ``cache_file``, notebooks unchanged since the cached extraction are not read
    again. The refreshed entries travel in the result; the index writer saves them.
    """
    root = Path(root)
    discovery = discover_notebooks(root, matcher)
    notes: list[str] = []
    cache = ExtractionCache.load(cache_file) if cache_file is not None else ExtractionCache()
    if cache.load_error:
        notes.append(cache.load_error)
    fresh: dict[str, CachedNotebook] = {}
    notebooks: list[ScannedNotebook] = []
    files_read = 0
    for relative in discovery.paths:
        scanned, entry, was_read = _scan_one(root, relative, cache.entries.get(relative))
        files_read += was_read
        if scanned is None:
            continue
        notebooks.append(scanned)
        if entry is not None:
            fresh[relative] = entry
    return TextbookScan(
        root=root,
        notebooks=tuple(notebooks),
        issues=discovery.issues,
        files_read=files_read,
        notes=tuple(notes),
        cache_entries=fresh,
        written=cache.written,
    )


def _scan_one(
    root: Path, relative: str, cached: CachedNotebook | None
) -> tuple[ScannedNotebook | None, CachedNotebook | None, int]:
    """Return the scanned notebook, the cache entry to keep, and 1 if the file was read."""
    path = root / relative
    try:
        status = path.stat()
    except FileNotFoundError:
        return None, None, 0
    except OSError as exc:
        return _failed(relative, 0, 0, 0, f"cannot stat: {exc.strerror}"), None, 0
    if cached is not None and cached.stat_matches(status.st_size, status.st_mtime_ns):
        scanned = ScannedNotebook(
            relative,
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            cached.content,
            cached.error,
            "cache",
            cached.sha256,
        )
        return scanned, cached, 0
    checked_at_ns = time.time_ns()
    try:
        with path.open("rb") as handle:
            opened = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return None, None, 1
    except OSError as exc:
        failed = _failed(
            relative,
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            f"cannot read: {exc.strerror}",
        )
        return failed, None, 1
    digest = hashlib.sha256(data).hexdigest()
    origin: Origin
    content: NotebookContent | None
    error: str | None
    if cached is not None and cached.sha256 == digest:
        content, error, origin = cached.content, cached.error, "cache-by-hash"
    else:
        (content, error), origin = _extract(data), "read"
    scanned = ScannedNotebook(
        relative, len(data), opened.st_mtime_ns, opened.st_ctime_ns, content, error, origin, digest
    )
    settled = len(data) == opened.st_size
    entry = (
        CachedNotebook(len(data), opened.st_mtime_ns, digest, checked_at_ns, content, error)
        if settled
        else None
    )
    return scanned, entry, 1


def _extract(data: bytes) -> tuple[NotebookContent | None, str | None]:
    try:
        return read_notebook(data), None
    except UnreadableNotebook as exc:
        return None, exc.reason


def _failed(relative: str, size: int, mtime_ns: int, ctime_ns: int, error: str) -> ScannedNotebook:
    return ScannedNotebook(relative, size, mtime_ns, ctime_ns, None, error, "read")
