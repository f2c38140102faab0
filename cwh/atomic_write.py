"""Replace a file so that readers only ever see the old or the new content.

Files such as the textbook MEME index are read by long-running processes (``cwh enrich``
reloads the index when it changes). Writing in place would let a reader catch a
half-written file, and rewriting identical content would make it reload for nothing.
So a write goes to a temporary file in the same directory (same file system, so the
final rename is atomic), is flushed to disk with ``fsync``, then renamed over the target;
the directory is synced too so the rename survives a crash. When the target already
holds exactly the new bytes, nothing is touched at all.

Small JSON state files written this way (the live delivery's totals, the health check's
state) are read back with :func:`read_json_object`, which bounds what it reads and names
the file when it is not what was written.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import orjson

DEFAULT_FILE_MODE = 0o644


def read_json_object(path: Path, *, max_bytes: int, what: str) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` when there is no such file yet.

    At most ``max_bytes`` are read. A larger file, one that is not JSON or holds something
    other than an object raises ``ValueError`` naming the file and saying it is not ``what``
    (e.g. "a delivery stats file").
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes: not {what}")
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON, so not {what}: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{path} is not a JSON object, so not {what}")
    return parsed


def write_bytes_atomic(
    path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
) -> bool:
    """Atomically make ``path`` contain ``data``.

    Returns ``True`` when the file was (re)written and ``False`` when it already held
    exactly ``data``. The permission bits of an existing file are kept unless ``mode``
    is given; a new file gets ``mode`` or ``0o644``. On any error the target is left
    untouched and the temporary file is removed. ``durable=False`` skips the ``fsync``
    calls (the replacement stays atomic for readers but may be lost in a crash), for
    caches that can be rebuilt.
    """
    target = Path(path)
    if _has_content(target, data):
        return False
    directory = target.parent
    existing_mode = _existing_mode(target)
    file_mode = mode if mode is not None else existing_mode or DEFAULT_FILE_MODE
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), file_mode)
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:
        _fsync_directory(directory)
    return True


def write_text_atomic(
    path: Path, text: str, *, encoding: str = "utf-8", mode: int | None = None, durable: bool = True
) -> bool:
    """Text variant of :func:`write_bytes_atomic` (no newline translation)."""
    return write_bytes_atomic(path, text.encode(encoding), mode=mode, durable=durable)


def _has_content(path: Path, data: bytes) -> bool:
    """Compare cheaply: the size first, the bytes only when the size matches."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _existing_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; some file systems refuse to open directories."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
