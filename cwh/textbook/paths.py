"""Which files under the textbook directory are textbook notebooks.

Teachers organise the textbook as ``<course>/<...>/<notebook>.ipynb``. Jupyter leaves
``.ipynb_checkpoints`` copies and hidden temporary files beside the real notebooks; those
are never part of the textbook, whatever the include patterns say. Include/exclude
patterns are matched against the path relative to the textbook directory with POSIX
separators, with ``**`` standing for any number of directories (Python 3.11 has no
``PurePath.full_match``, so the translation lives here).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cwh.safe_input import InputRules

DEFAULT_INCLUDE: tuple[str, ...] = ("**/*.ipynb",)
INDEX_FILES = InputRules(256 << 20)
"""How the index and the files beside it (ledger, build cache) are read: regular files only,
so a FIFO or device put in their place cannot stall or flood a build."""


class GlobPatternError(ValueError):
    """An include/exclude pattern that cannot be used."""


class TextbookDirError(FileNotFoundError):
    """The textbook directory is missing or is not a directory.

    Raised instead of producing an empty index: an unmounted NFS share looks like a
    missing (or empty) directory, and an empty index would strip every question number.
    """


@dataclass(frozen=True)
class DiscoveryIssue:
    """A directory or file name that could not be considered, with the reason."""

    path: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    """Notebook paths (relative, POSIX, sorted by :func:`path_sort_key`) and issues."""

    paths: tuple[str, ...]
    issues: tuple[DiscoveryIssue, ...]


def path_sort_key(relative_path: str) -> tuple[str, ...]:
    """Order paths by their components, so ``a/x`` sorts before ``a-b/x``."""
    return tuple(relative_path.split("/"))


def course_server_of(relative_path: str) -> str:
    """The course directory: the first component of a path that has a directory."""
    head, separator, _ = relative_path.partition("/")
    return head if separator else ""


def is_hidden_part(name: str) -> bool:
    """Hidden names (``.ipynb_checkpoints``, ``.git``, Jupyter's ``.~x.ipynb``)."""
    return name.startswith(".")


@dataclass(frozen=True)
class PathMatcher:
    """Compiled include/exclude patterns."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]
    _include_re: tuple[re.Pattern[str], ...]
    _exclude_re: tuple[re.Pattern[str], ...]

    @classmethod
    def compile(cls, include: Sequence[str], exclude: Sequence[str]) -> PathMatcher:
        if not include:
            raise GlobPatternError("at least one include pattern is required")
        return cls(
            include=tuple(include),
            exclude=tuple(exclude),
            _include_re=tuple(compile_glob(pattern) for pattern in include),
            _exclude_re=tuple(compile_glob(pattern) for pattern in exclude),
        )

    def matches(self, relative_path: str) -> bool:
        if any(is_hidden_part(part) for part in relative_path.split("/")):
            return False
        if not any(rx.fullmatch(relative_path) for rx in self._include_re):
            return False
        return not any(rx.fullmatch(relative_path) for rx in self._exclude_re)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Translate a path glob (``*``, ``?``, ``[...]``, ``**``) into a regular expression.

    ``*``, ``?`` and classes never cross a ``/``; a ``**`` segment matches zero or more
    directories, or everything below when it is the last segment (``old/**``).
    """
    cleaned = pattern.strip()
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise GlobPatternError(f"empty path pattern: {pattern!r}")
    if cleaned.startswith("/"):
        raise GlobPatternError(
            f"path pattern {pattern!r} is absolute; patterns are relative to the textbook"
            " directory (for example '**/*.ipynb' or 'old/**')"
        )
    segments = cleaned.split("/")
    pieces: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            pieces.append(".*" if last else "(?:[^/]+/)*")
        elif segment == "":
            raise GlobPatternError(f"path pattern {pattern!r} contains an empty segment ('//')")
        else:
            pieces.append(_translate_segment(segment) + ("" if last else "/"))
    return re.compile("".join(pieces), re.DOTALL)


def _translate_segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            while index + 1 < len(segment) and segment[index + 1] == "*":
                index += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = _class_end(segment, index)
            if end < 0:
                out.append(re.escape(char))
            else:
                out.append(_translate_class(segment[index + 1 : end]))
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    index = start + 1
    if index < len(segment) and segment[index] in "!^":
        index += 1
    if index < len(segment) and segment[index] == "]":
        index += 1
    end = segment.find("]", index)
    return end


def _translate_class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    escaped = body.replace("\\", "\\\\").replace("[", "\\[")
    if escaped.startswith("]"):
        escaped = "\\" + escaped
    return f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]"


def discover_notebooks(root: Path, matcher: PathMatcher) -> Discovery:
    """Walk ``root`` and return the textbook notebooks it holds.

    Hidden directories (``.ipynb_checkpoints``, ``.git``) are not even entered. Unreadable
    directories and names that are not valid UTF-8 (they could not be written to the
    UTF-8 index) are reported as issues instead of failing the walk.
    """
    ensure_textbook_dir(root)
    paths: list[str] = []
    issues: list[DiscoveryIssue] = []

    def on_error(error: OSError) -> None:
        where = _relative(root, Path(error.filename)) if error.filename else "."
        issues.append(DiscoveryIssue(where, f"cannot list directory: {error.strerror}"))

    for directory, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(name for name in dirnames if not is_hidden_part(name))
        base = _relative(root, Path(directory))
        for name in filenames:
            relative = name if base == "." else f"{base}/{name}"
            if not _is_utf8(relative):
                if matcher.matches(_printable(relative)):
                    issues.append(
                        DiscoveryIssue(
                            _printable(relative),
                            "file name is not valid UTF-8; rename it to include it",
                        )
                    )
                continue
            if matcher.matches(relative):
                paths.append(relative)
    paths.sort(key=path_sort_key)
    return Discovery(paths=tuple(paths), issues=tuple(issues))


def ensure_textbook_dir(root: Path) -> None:
    if not root.exists():
        raise TextbookDirError(f"textbook directory does not exist: {root}")
    if not root.is_dir():
        raise TextbookDirError(f"textbook path is not a directory: {root}")


def sorted_paths(paths: Iterable[str]) -> list[str]:
    return sorted(paths, key=path_sort_key)


def _relative(root: Path, path: Path) -> str:
    relative = os.path.relpath(path, root)
    return relative.replace(os.sep, "/")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
