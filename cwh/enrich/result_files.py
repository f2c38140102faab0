"""Attach the cell result a record points at: confined, size-capped, safely unpickled.

An lc_wrapper record names its result as an in-container path
(``/home/<user>/<course>/.log/<day>/<name>.pkl``).  On the CoursewareHub manager the
same file lives below the homes root (``/jupyter/users/<user>/...``).  The record is
written by the student's kernel, so the path is attacker-chosen: it may point at
another user's files, at ``/etc``, through a symlink planted in the home, at a FIFO that
would block the reader, or at a pickle built to run code.  ``ResultReader`` therefore

* maps only ``<home_prefix>/<user>/<rest>`` and refuses ``..`` components and NUL
  bytes (names such as ``a..b.pkl`` are fine);
* opens with ``O_NOFOLLOW | O_NONBLOCK`` and then checks what was actually opened:
  the kernel's own name for the descriptor (``/proc/self/fd``) must lie inside that
  user's home, so swapping a directory for a symlink between a check and the open
  gains nothing;
* takes type and size from ``fstat`` on the open descriptor and never reads more
  than ``max_bytes``;
* decodes with :func:`cwh.enrich.safe_unpickle.safe_loads` (plain data only);
* reports the file's owner, so the caller can compare it with the uid the record
  claims (:mod:`cwh.enrich.provenance`).

The same result is often attached many times (re-enrichment, retries), so decoded
results are cached in a bounded LRU (entries, and an estimate of the memory they hold),
keyed by what identifies one version of one file:
device, inode, size, modification and change times.  The ctime cannot be set from
user space and changes with every write, truncate, rename, link, chmod and chown, so an
unchanged key means the file still holds the bytes that were decoded when it was
verified to lie in a home; the entry remembers which home, and a request from any other
home never gets it.  A cache hit costs one ``stat``; only a miss opens, verifies and
decodes.  A refused file is cached as the text of its reason only: nothing that was
built from it, nor any exception or traceback, outlives the refusal.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import orjson

from cwh.defaults import DEFAULT_JSONPATHS
from cwh.enrich.safe_unpickle import UnsafePickleError, _load_counted, to_json_value

if TYPE_CHECKING:
    from jsonpath_ng.jsonpath import JSONPath

__all__ = [
    "DEFAULT_JSONPATHS",
    "ResultFile",
    "ResultFileError",
    "ResultFileReason",
    "ResultReader",
]

MiB = 1024 * 1024
MAX_PATH_CHARS = 4096

ResultFileReason = Literal[
    "invalid_path",  # not a usable path string (type, NUL, length, no file part)
    "escape",  # outside the user's home: prefix, "..", symlink leading out
    "not_found",
    "not_a_file",  # directory, FIFO, socket, device
    "unreadable",  # permission or I/O error
    "too_large",
    "unsafe_pickle",  # refused or corrupt pickle
]

# Where the kernel names each open descriptor; see ResultReader._opened_path.
_FD_LINK_DIR = "/proc/self/fd"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_CHUNK = 1 * MiB
_DELETED_SUFFIX = " (deleted)"
_LOCATED_PATHS = 16384

# A JSONPath made of field names only (``$.content.ename``, ``$.content.data["text/plain"]``)
# selects at most one value: the one reached by looking each name up in nested objects. Such
# paths, the defaults among them, are evaluated by ``_field_value``, which spares the filter
# importing jsonpath_ng (its parser makes up a good part of the start-up time). The grammar is a
# subset on which jsonpath_ng's extended parser yields exactly that chain of fields; every other
# expression is compiled by jsonpath_ng.
_FIELD_NAME_CHARS = r"[A-Za-z0-9_./+ -]+"  # inside quotes: MIME types and the like
_FIELD_STEP = (
    r"\.([A-Za-z_][A-Za-z0-9_]*)"
    rf'|\["({_FIELD_NAME_CHARS})"\]'
    rf"|\['({_FIELD_NAME_CHARS})'\]"
)
_FIELD_PATH = re.compile(rf"\$(?:{_FIELD_STEP})+")
_FIELD_STEPS = re.compile(_FIELD_STEP)
# Words jsonpath_ng reads as keywords or literals rather than as field names.
_NOT_FIELD_NAMES = frozenset({"where", "wherenot", "true", "false", "null"})

# A compiled JSONPath: the names of a field path, or what jsonpath_ng made of the expression.
_Compiled: TypeAlias = "tuple[str, ...] | JSONPath"


class ResultFileError(ValueError):
    """A result file could not be attached; ``reason`` says why in one stable word."""

    def __init__(self, reason: ResultFileReason, container_path: object, detail: str) -> None:
        self.reason: ResultFileReason = reason
        self.container_path = container_path
        super().__init__(f"result {_shown(container_path)}: {detail}")


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One attached result.

    ``result_json`` may be shared with other callers through the cache: treat it as
    read-only.  ``path`` is the file actually read (after symlinks inside the home).
    """

    result_json: Any
    result_text: str | None
    owner_uid: int
    path: Path


# (result_json, result_text, estimated bytes held), or the reason the file was refused.
_Decoded = tuple[Any, str | None, int]
# What the cache is charged per item of a decoded value (a pointer plus a small object,
# or a dict entry) and for the reason text of a refused file.
_BYTES_PER_ITEM = 128
_REFUSAL_BYTES = 256
# (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns): one version of one file.
_CacheKey = tuple[int, int, int, int, int]


def _identity(info: os.stat_result) -> _CacheKey:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A decoded file version and where it was verified to live.

    A decoded result is kept as the ``ResultFile`` that ``read`` returns, so a cache hit
    builds nothing: the owner in it cannot go stale, as a chown changes the ctime and with
    it the cache key. A refused file is kept as the reason text only.
    """

    real: str
    outcome: ResultFile | str
    cost: int  # estimated bytes held, charged against the cache's budget


class ResultReader:
    """Reads lc_wrapper result pickles below a homes root for in-container paths."""

    def __init__(
        self,
        homes_dir: Path,
        *,
        home_prefix: str = "/home",
        max_bytes: int = 10 * MiB,
        jsonpaths: Sequence[str] = DEFAULT_JSONPATHS,
        cache_entries: int = 4096,
        cache_bytes: int = 32 * MiB,
    ) -> None:
        prefix = home_prefix.rstrip("/")
        if not prefix.startswith("/") or os.path.normpath(prefix) != prefix:
            raise ValueError(
                f"home_prefix must be a normalized absolute path below '/', got {home_prefix!r}"
            )
        if max_bytes < 1 or cache_entries < 0 or cache_bytes < 0:
            raise ValueError("max_bytes must be positive; cache sizes must not be negative")
        if isinstance(jsonpaths, str):
            raise ValueError("jsonpaths must be a sequence of expressions, not one string")
        self._homes_dir = Path(homes_dir)
        # Resolved on first use, so that a homes root mounted after start-up still works.
        self._homes_real: str | None = None
        self._prefix = prefix + "/"
        self._max_bytes = max_bytes
        self._jsonpaths = tuple(_compile_jsonpath(expression) for expression in jsonpaths)
        self._cache: OrderedDict[_CacheKey, tuple[_Entry, int]]
        self._cache = OrderedDict()
        self._cache_entries = cache_entries
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._fd_links = os.path.isdir(_FD_LINK_DIR)
        self._located: dict[str, tuple[str, str]] = {}

    @property
    def homes_dir(self) -> Path:
        """The homes root as configured."""
        return self._homes_dir

    def map_path(self, container_path: object) -> Path:
        """The resolved host path of ``container_path``, confined to that user's home.

        Raises ``ResultFileError`` (``invalid_path`` or ``escape``) when the path is not
        ``<home_prefix>/<user>/<rest>``, contains ``..`` or NUL, or resolves (following
        symlinks) outside ``<homes_dir>/<user>/``.  The file itself need not exist.
        """
        path = _path_text(container_path)
        lexical, home = self._locate(path)
        return Path(self._resolve(path, lexical, home))

    def read(self, container_path: object) -> ResultFile:
        """Read, decode and describe the result file named by ``container_path``."""
        path = _path_text(container_path)
        lexical, home = self._locate(path)
        recalled = self._recall(lexical, home)
        entry, info = recalled if recalled is not None else self._open_and_load(path, lexical, home)
        outcome = entry.outcome
        if isinstance(outcome, str):
            raise ResultFileError("unsafe_pickle", path, outcome)
        if outcome.owner_uid != info.st_uid:
            # Not reachable through a cache hit (see _Entry); kept so that the owner reported
            # is always the one just read from the file system.
            return ResultFile(outcome.result_json, outcome.result_text, info.st_uid, outcome.path)
        return outcome

    def _open_and_load(
        self, container_path: str, lexical: str, home: str
    ) -> tuple[_Entry, os.stat_result]:
        fd = self._open(container_path, lexical, home)
        try:
            info = os.fstat(fd)
            entry = self._cached(_identity(info))
            if entry is None:
                entry = self._load(container_path, fd, lexical, home, info)
                self._remember(_identity(info), entry, entry.cost)
        finally:
            os.close(fd)
        if not entry.real.startswith(home):
            # The very file verified earlier, now reached from another user's path.
            raise ResultFileError(
                "escape", container_path, "the opened file lies outside the user's home"
            )
        return entry, info

    def _recall(self, lexical: str, home: str) -> tuple[_Entry, os.stat_result] | None:
        """The cached entry for the file at ``lexical``, if one was verified for this home.

        A plain ``stat`` suffices here: an identical (device, inode, size, mtime, ctime)
        means the same, unmodified file that was read and verified inside this user's
        home; whatever path leads to it now, its bytes are the ones decoded then.  Any
        miss, including a file verified for another home, takes the full open path.
        """
        try:
            info = os.stat(lexical)
        except (OSError, ValueError):
            return None
        entry = self._cached(_identity(info))
        if entry is None or not entry.real.startswith(home):
            return None
        return entry, info

    def clear_cache(self) -> None:
        """Forget every decoded result (for example after changing file permissions)."""
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0

    # -- path handling -------------------------------------------------------------

    def _locate(self, container_path: str) -> tuple[str, str]:
        """Lexical mapping: (host path before symlinks, ``<homes_real>/<user>/``).

        A pure function of the string once the homes root is known, so accepted paths
        are memoized: the same result path is typically attached again and again.
        """
        located = self._located.get(container_path)
        if located is not None:
            return located
        located = self._map_lexically(container_path)
        if len(self._located) >= _LOCATED_PATHS:
            self._located.clear()
        self._located[container_path] = located
        return located

    def _map_lexically(self, container_path: str) -> tuple[str, str]:
        if "\x00" in container_path:
            raise ResultFileError("invalid_path", container_path, "contains a NUL byte")
        if len(container_path) > MAX_PATH_CHARS:
            raise ResultFileError(
                "invalid_path", container_path, f"longer than {MAX_PATH_CHARS} characters"
            )
        if not container_path.startswith(self._prefix):
            raise ResultFileError(
                "escape", container_path, f"is not below the home prefix {self._prefix!r}"
            )
        parts = container_path[len(self._prefix) :].split("/")
        if ".." in parts:
            raise ResultFileError("escape", container_path, "contains a '..' component")
        user = parts[0]
        if not user or user == ".":
            raise ResultFileError("invalid_path", container_path, "names no user home")
        rest = [part for part in parts[1:] if part and part != "."]
        if not rest:
            raise ResultFileError("invalid_path", container_path, "names no file in the home")
        home = f"{self._homes_root(container_path)}/{user}/"
        return home + "/".join(rest), home

    def _homes_root(self, container_path: str) -> str:
        """The resolved homes root, without a trailing slash ("" for "/")."""
        if self._homes_real is None:
            resolved = os.path.realpath(self._homes_dir)
            if not os.path.isdir(resolved):
                raise ResultFileError(
                    "not_found",
                    container_path,
                    f"the homes directory {str(self._homes_dir)!r} does not exist (yet)",
                )
            self._homes_real = resolved.rstrip("/")
        return self._homes_real

    def _resolve(self, container_path: str, lexical: str, home: str) -> str:
        resolved = os.path.realpath(lexical)
        if not resolved.startswith(home):
            raise ResultFileError(
                "escape", container_path, "resolves (through a symlink) outside the user's home"
            )
        return resolved

    def _open(self, container_path: str, lexical: str, home: str) -> int:
        try:
            return os.open(lexical, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise _open_error(container_path, exc) from None
        # The last component is a symlink: follow it only if it stays inside the home.
        resolved = self._resolve(container_path, lexical, home)
        try:
            return os.open(resolved, _OPEN_FLAGS)
        except OSError as exc:
            raise _open_error(container_path, exc) from None

    def _opened_path(
        self, container_path: str, fd: int, lexical: str, home: str, info: os.stat_result
    ) -> str:
        """Where the open descriptor really is, after checking it is inside the home.

        On Linux the kernel names the descriptor's file, which no later rename or symlink
        swap can change.  Elsewhere the path is resolved again and must name the very
        inode that was opened.
        """
        if self._fd_links:
            try:
                real = os.readlink(f"{_FD_LINK_DIR}/{fd}").removesuffix(_DELETED_SUFFIX)
            except OSError as exc:
                raise _open_error(container_path, exc) from None
            if not real.startswith(home):
                raise ResultFileError(
                    "escape", container_path, "the opened file lies outside the user's home"
                )
            return real
        resolved = self._resolve(container_path, lexical, home)
        try:
            current = os.stat(resolved, follow_symlinks=False)
        except OSError as exc:
            raise _open_error(container_path, exc) from None
        if (current.st_dev, current.st_ino) != (info.st_dev, info.st_ino):
            raise ResultFileError(
                "escape", container_path, "the path changed while it was being opened"
            )
        return resolved

    # -- reading and decoding --------------------------------------------------------

    def _load(
        self, container_path: str, fd: int, lexical: str, home: str, info: os.stat_result
    ) -> _Entry:
        real = self._opened_path(container_path, fd, lexical, home, info)
        if not stat.S_ISREG(info.st_mode):
            raise ResultFileError("not_a_file", container_path, "is not a regular file")
        if info.st_size > self._max_bytes:
            raise ResultFileError(
                "too_large",
                container_path,
                f"{info.st_size} bytes exceeds the {self._max_bytes}-byte limit",
            )
        decoded = self._decode(self._read_all(container_path, fd, info.st_size))
        if isinstance(decoded, str):
            return _Entry(real, decoded, len(decoded) + _REFUSAL_BYTES)
        result_json, result_text, cost = decoded
        return _Entry(real, ResultFile(result_json, result_text, info.st_uid, Path(real)), cost)

    def _read_all(self, container_path: str, fd: int, expected: int) -> bytes:
        """The whole file, refusing it if it grew past ``max_bytes`` since ``fstat``.

        The first request is one byte more than fstat reported, so a typical file takes
        one read plus the empty read that confirms the end, with no oversized buffer.
        """
        chunks: list[bytes] = []
        total = 0
        want = expected + 1
        while total <= self._max_bytes:
            request = want - total if total < want else _READ_CHUNK
            try:
                chunk = os.read(fd, min(request, self._max_bytes + 1 - total))
            except OSError as exc:
                raise _open_error(container_path, exc) from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
        raise ResultFileError(
            "too_large", container_path, f"grew beyond the {self._max_bytes}-byte limit"
        )

    def _decode(self, data: bytes) -> _Decoded | str:
        """The decoded value, its text and its estimated size; or why it was refused.

        Only the reason's text leaves this method on refusal: the exception, its
        traceback and whatever the unpickler built are released here.
        """
        try:
            loaded, items = _load_counted(data)
            value = to_json_value(loaded)
        except (UnsafePickleError, ValueError) as exc:
            return str(exc)
        del loaded
        text = self._text_of(value)
        cost = len(data) + items * _BYTES_PER_ITEM
        if text is not None:
            cost += len(text)
        return value, text, cost

    def _text_of(self, value: Any) -> str | None:
        """The first non-null match of the configured JSONPaths, as text."""
        for expression in self._jsonpaths:
            if isinstance(expression, tuple):
                found = _field_value(value, expression)
                if found is None:
                    continue
                return found if isinstance(found, str) else orjson.dumps(found).decode()
            try:
                matches = expression.find(value)
            except Exception:
                # Filters in a JSONPath may compare values of types the data did not
                # promise; a failing expression simply does not match this result.
                continue
            for match in matches:
                found = match.value
                if found is None:
                    continue
                return found if isinstance(found, str) else orjson.dumps(found).decode()
        return None

    # -- cache -----------------------------------------------------------------------

    def _cached(self, key: _CacheKey) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            self._cache.move_to_end(key)
            return entry[0]

    def _remember(self, key: _CacheKey, entry: _Entry, size: int) -> None:
        if size > self._cache_bytes or self._cache_entries == 0:
            return
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = (entry, size)
            self._cached_bytes += size
            while len(self._cache) > self._cache_entries or self._cached_bytes > self._cache_bytes:
                _, (_, dropped) = self._cache.popitem(last=False)
                self._cached_bytes -= dropped


def _compile_jsonpath(expression: str) -> _Compiled:
    if not isinstance(expression, str):
        raise ValueError(f"JSONPath expressions must be str, not {type(expression).__name__}")
    names = _field_names(expression)
    if names is not None:
        return names
    from jsonpath_ng.ext.parser import parse as parse_jsonpath

    try:
        compiled: JSONPath = parse_jsonpath(expression)
    except Exception as exc:
        raise ValueError(f"invalid JSONPath expression {expression!r}: {exc}") from exc
    return compiled


def _field_names(expression: str) -> tuple[str, ...] | None:
    """The names of a field-only JSONPath (see ``_FIELD_STEP``), or None for anything else."""
    if _FIELD_PATH.fullmatch(expression) is None:
        return None
    names = []
    for step in _FIELD_STEPS.finditer(expression, 1):
        name, double_quoted, single_quoted = step.groups()
        if name is None:
            name = double_quoted if double_quoted is not None else single_quoted
        elif name in _NOT_FIELD_NAMES:
            return None
        names.append(name)
    return tuple(names)


def _field_value(value: Any, names: tuple[str, ...]) -> Any:
    """What a field path selects in ``value``; None when it selects nothing (or null).

    As in jsonpath_ng, a name is looked up only in an object: a list, a string or a number on
    the way means no match.
    """
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _path_text(container_path: object) -> str:
    """``container_path`` itself when it is a str; records can carry anything there."""
    if not isinstance(container_path, str):
        raise ResultFileError(
            "invalid_path",
            container_path,
            f"path must be str, not {type(container_path).__name__}",
        )
    return container_path


def _open_error(container_path: str, exc: OSError) -> ResultFileError:
    code = exc.errno
    detail = os.strerror(code) if code else str(exc)
    if code in (errno.ENOENT, errno.ENOTDIR):
        return ResultFileError("not_found", container_path, detail)
    if code == errno.ENXIO:
        return ResultFileError("not_a_file", container_path, detail)
    if code == errno.ENAMETOOLONG:
        return ResultFileError("invalid_path", container_path, detail)
    if code == errno.ELOOP:
        return ResultFileError("escape", container_path, "symbolic link loop or swapped link")
    return ResultFileError("unreadable", container_path, detail)


def _shown(container_path: object) -> str:
    text = repr(container_path)
    return text if len(text) <= 200 else text[:200] + "..."
