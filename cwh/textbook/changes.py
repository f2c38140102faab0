"""Textbook file changes: which ones matter, and coalescing bursts into one notification.

Releasing a lesson is rarely one write: ``cp -r`` of a course directory, Jupyter's
save (temporary ``.~name.ipynb`` then rename), an editor's swap files. Each such burst
should start one index build that sees all of it. Prefect's trigger ``within`` cannot
do that (it fires on the first event and drops the rest), so the watcher debounces:
changes accumulate until the directory has been quiet for ``quiet_seconds`` (or, under
a never-ending stream of writes, ``max_wait_seconds`` after the first change) and then
go out as one ``cwh.textbook.changed`` event.

This module is the pure part (no clocks, no file watching), so it is tested exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from cwh.textbook.paths import is_hidden_part, path_sort_key

ChangeKind = Literal["added", "modified", "deleted"]

TEXTBOOK_CHANGED_EVENT = "cwh.textbook.changed"
TEXTBOOK_INDEXED_EVENT = "cwh.textbook.indexed"
TEXTBOOK_RESOURCE_ID = "cwh.textbook"
TEXTBOOK_DIR_LABEL = "cwh.textbook.dir"
INDEX_RESOURCE_ID = "cwh.textbook.index"
INDEX_PATH_LABEL = "cwh.textbook.index.path"

MAX_EVENT_PATHS = 500
"""Paths listed in one event; the rest are counted (events have a size limit)."""

NOTEBOOK_SUFFIX = ".ipynb"
EDITOR_TEMP_PREFIXES = ("#", "~$")
EDITOR_TEMP_SUFFIXES = (
    "~",
    "#",
    ".swp",
    ".swo",
    ".swx",
    ".tmp",
    ".temp",
    ".part",
    ".crdownload",
    ".bak",
    ".orig",
)


def is_editor_temp(name: str) -> bool:
    """Editor and downloader leftovers (``.#x``, ``#x#``, ``x~``, ``x.swp``, ``x.part``)."""
    lowered = name.lower()
    return (
        is_hidden_part(name)
        or lowered.startswith(EDITOR_TEMP_PREFIXES)
        or lowered.endswith(EDITOR_TEMP_SUFFIXES)
    )


def relevant_path(relative: str, kind: ChangeKind, *, is_dir: bool) -> bool:
    """Does a change of ``relative`` (POSIX, relative to the textbook) concern notebooks?

    Notebooks count; so do directories, because moving or deleting a course directory
    reports only the directory. A deleted path's type is unknown, so a deleted name
    without a suffix is treated as a possible directory. Anything under a hidden
    directory (``.ipynb_checkpoints``) or named like an editor temp file is ignored.
    """
    if relative in ("", "."):
        return False
    parts = relative.split("/")
    if any(is_hidden_part(part) for part in parts[:-1]) or is_editor_temp(parts[-1]):
        return False
    if parts[-1].lower().endswith(NOTEBOOK_SUFFIX):
        return True
    if is_dir:
        return True
    return kind == "deleted" and PurePosixPath(parts[-1]).suffix == ""


@dataclass(frozen=True)
class ChangeBatch:
    """Changes to announce together, with why (``changes``, ``watcher-started``, ...)."""

    changes: dict[str, ChangeKind]
    reasons: tuple[str, ...]

    @property
    def paths(self) -> list[str]:
        return sorted(self.changes, key=path_sort_key)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.changes.values()).items()))

    def payload(self, textbook_dir: str, max_paths: int = MAX_EVENT_PATHS) -> dict[str, Any]:
        paths = self.paths
        return {
            "textbook_dir": textbook_dir,
            "reasons": list(self.reasons),
            "paths": paths[:max_paths],
            "path_count": len(paths),
            "truncated": len(paths) > max_paths,
            "changes": self.counts(),
        }


@dataclass
class ChangeDebouncer:
    """Trailing-edge debounce with a ceiling; time is passed in by the caller."""

    quiet_seconds: float
    max_wait_seconds: float
    _changes: dict[str, ChangeKind] = field(default_factory=dict)
    _reasons: list[str] = field(default_factory=list)
    _first_at: float | None = None
    _last_at: float | None = None

    def __post_init__(self) -> None:
        if self.quiet_seconds < 0:
            raise ValueError("quiet_seconds must not be negative")
        if self.max_wait_seconds < self.quiet_seconds:
            raise ValueError("max_wait_seconds must be at least quiet_seconds")

    @property
    def pending(self) -> bool:
        return self._first_at is not None

    def add(self, changes: Iterable[tuple[ChangeKind, str]], now: float) -> int:
        """Record changes (a later change of a path replaces the earlier kind)."""
        count = 0
        for kind, path in changes:
            self._changes.pop(path, None)
            self._changes[path] = kind
            count += 1
        if count:
            self._touch(now)
        return count

    def add_reason(self, reason: str, now: float) -> None:
        """Ask for an announcement even without file changes (start-up, remount)."""
        if reason not in self._reasons:
            self._reasons.append(reason)
        self._touch(now)

    def due(self, now: float) -> bool:
        if self._first_at is None or self._last_at is None:
            return False
        return (
            now - self._last_at >= self.quiet_seconds
            or now - self._first_at >= self.max_wait_seconds
        )

    def take(self) -> ChangeBatch:
        reasons = list(self._reasons)
        if self._changes and "changes" not in reasons:
            reasons.insert(0, "changes")
        batch = ChangeBatch(dict(self._changes), tuple(reasons))
        self._changes, self._reasons = {}, []
        self._first_at = self._last_at = None
        return batch

    def restore(self, batch: ChangeBatch, now: float) -> None:
        """Put back a batch that could not be sent; changes recorded since then win."""
        newer = self._changes
        self._changes = {**batch.changes, **newer}
        self._reasons = list(dict.fromkeys([*batch.reasons, *self._reasons]))
        self._reasons = [r for r in self._reasons if r != "changes"]
        self._first_at = now if self._first_at is None else min(self._first_at, now)
        self._last_at = now if self._last_at is None else max(self._last_at, now)

    def _touch(self, now: float) -> None:
        if self._first_at is None:
            self._first_at = now
        self._last_at = now
