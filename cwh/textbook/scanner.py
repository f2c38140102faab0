"""Scan the textbook directory: find the notebooks and extract each one, reusing the cache.

A scan never fails because of one notebook: a notebook that cannot be read or parsed is
kept in the result with the reason, so validation can report it and numbering can still
reserve its place. Only a missing textbook directory is fatal (see
:class:`~cwh.textbook.paths.TextbookDirError`).

Notebooks are read through :mod:`cwh.safe_input` with the scan's :class:`InputRules`:
regular files only, inside the textbook directory (a symbolic link leading out of it is
refused unless the rules allow it), at most ``max_bytes`` each.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cwh.safe_input import InputRefused, InputRules
from cwh.textbook.cache import CachedNotebook, ExtractionCache, WrittenIndex
from cwh.textbook.extract import NotebookContent, UnreadableNotebook, read_notebook
from cwh.textbook.paths import DiscoveryIssue, PathMatcher, discover_notebooks

Origin = Literal["read", "cache", "cache-by-hash"]
MAX_NOTEBOOK_BYTES = 32 << 20
"""Largest notebook read by default; a textbook notebook is usually well under 1 MiB."""


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
    file_refused: bool = False
    """The file itself was refused (not a regular file, a link leading out of the textbook,
    too large, unreadable) before any of its content was parsed."""

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


def scan_textbook(
    root: Path,
    matcher: PathMatcher,
    cache_file: Path | None = None,
    rules: InputRules | None = None,
) -> TextbookScan:
    """Discover and extract every notebook under ``root``; read-only.

    With ``cache_file``, notebooks unchanged since the cached extraction are not read
    again. The refreshed entries travel in the result; the index writer saves them.
    ``rules`` default to :func:`notebook_rules` for ``root``.
    """
    root = Path(root)
    discovery = discover_notebooks(root, matcher)
    rules = rules if rules is not None else notebook_rules(root)
    notes: list[str] = []
    cache = ExtractionCache.load(cache_file) if cache_file is not None else ExtractionCache()
    if cache.load_error:
        notes.append(cache.load_error)
    fresh: dict[str, CachedNotebook] = {}
    notebooks: list[ScannedNotebook] = []
    files_read = 0
    for relative in discovery.paths:
        scanned, entry, was_read = _scan_one(rules, root, relative, cache.entries.get(relative))
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


def notebook_rules(
    root: Path, *, max_bytes: int = MAX_NOTEBOOK_BYTES, allow_outside_links: bool = False
) -> InputRules:
    """How notebooks under ``root`` are read: inside it, at most ``max_bytes`` each."""
    return InputRules.confined(
        root, max_bytes, label="the textbook directory", allow_outside=allow_outside_links
    )


def _scan_one(
    rules: InputRules, root: Path, relative: str, cached: CachedNotebook | None
) -> tuple[ScannedNotebook | None, CachedNotebook | None, int]:
    """Return the scanned notebook, the cache entry to keep, and 1 if the file was read."""
    path = root / relative
    try:
        status = rules.check(path, relative)
    except FileNotFoundError:
        return None, None, 0
    except InputRefused as exc:
        return _failed(relative, 0, 0, 0, f"the file {exc.reason}"), None, 0
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
        read = rules.read_bytes(path, relative)
    except FileNotFoundError:
        return None, None, 1
    except InputRefused as exc:
        failed = _failed(
            relative,
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            f"the file {exc.reason}",
        )
        return failed, None, 1
    data, opened = read.data, read.status
    digest = hashlib.sha256(data).hexdigest()
    origin: Origin
    content: NotebookContent | None
    error: str | None
    if cached is not None and cached.sha256 == digest:
        content, error, origin = cached.content, cached.error, "cache-by-hash"
    else:
        (content, error), origin = _extract(data, relative), "read"
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


def _extract(data: bytes, name: str) -> tuple[NotebookContent | None, str | None]:
    try:
        return read_notebook(data, name), None
    except UnreadableNotebook as exc:
        return None, exc.reason


def _failed(relative: str, size: int, mtime_ns: int, ctime_ns: int, error: str) -> ScannedNotebook:
    return ScannedNotebook(relative, size, mtime_ns, ctime_ns, None, error, "read", "", True)
