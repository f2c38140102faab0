"""Is the uid a record claims consistent with who owns the files it points at?

The ``uid`` of an lc_wrapper record is written by the student's own kernel and reaches
the collector over an unauthenticated forward port, so it proves nothing by itself.
The files the record names (its ``.log`` and its result pickle) were created by the
kernel process, which runs as the student: their owner on disk is evidence the student
cannot forge.  A mismatch does not reject the record (the data is kept), it marks the
indexed document ``suspect`` with a reason a teacher or operator can act on.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["DirectoryOwners", "check_owner", "file_owner"]


def file_owner(path: Path) -> int | None:
    """The uid owning ``path`` itself (a symlink is not followed), or None if unknown.

    None covers a missing or unreadable file and a path the OS cannot represent; the
    caller treats an unknown owner as "no evidence", not as a mismatch.
    """
    try:
        return os.lstat(path).st_uid
    except (OSError, ValueError):
        return None


def check_owner(claimed_uid: int | None, owners: Mapping[str, int | None]) -> str | None:
    """A human-readable reason why the record looks forged, or None when it does not.

    ``owners`` maps each file the record names (as it should be shown to a reader) to
    the uid owning it, or None where the owner could not be determined; those entries
    are skipped.  Every mismatching file is listed, in the mapping's order.
    """
    known = {path: uid for path, uid in owners.items() if uid is not None}
    if not known:
        return None
    if claimed_uid is None or isinstance(claimed_uid, bool) or not isinstance(claimed_uid, int):
        files = "; ".join(f"{path} is owned by uid {uid}" for path, uid in known.items())
        return f"record claims no valid uid ({claimed_uid!r}) but {files}"
    mismatches = [
        f"{path} is owned by uid {uid}" for path, uid in known.items() if uid != claimed_uid
    ]
    if not mismatches:
        return None
    return f"uid {claimed_uid} claimed but " + "; ".join(mismatches)


_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH
_NOT_EXCLUSIVE = -1


class DirectoryOwners:
    """Vouches for a file's owner through its directory, re-reading each directory rarely.

    Creating, renaming or linking a file into a directory needs write permission on that
    directory. A directory that only its owner may write to (no group or other write bit,
    not a symlink) therefore holds only files its owner put there, unless root did. So
    when the claimed uid owns such a directory, the file in it needs no ``lstat`` of its
    own: the live filter answers the usual record (a student's log in the student's own
    ``.log/YYYYMMDD`` directory) without a system call per record. When the directory does
    not vouch (another owner, shared, missing), the caller reads the file's own owner, so
    a mismatch is always reported from the file itself.

    A directory's owner and mode are re-read once they are ``max_age`` seconds old, which
    bounds how long a ``chown`` or a re-created directory can go unnoticed.
    """

    def __init__(
        self,
        *,
        max_age: float = 60.0,
        limit: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age
        self._limit = limit
        self._clock = clock
        self._directories: dict[str, tuple[int, float]] = {}

    def vouches_for(self, path: str, uid: int) -> bool:
        """True when ``path``'s directory is owned by ``uid`` and writable only by it."""
        slash = path.rfind("/")
        return self.vouches_for_directory(path[: slash + 1] if slash >= 0 else "./", uid)

    def vouches_for_directory(self, directory: str, uid: int) -> bool:
        """True when ``directory`` (ending in "/") is owned by ``uid`` and writable only by it.

        Keyed by the text as given, so a caller that keeps its directory strings (the
        enricher does) pays one lookup per record and no hashing of a new string.
        """
        now = self._clock()
        known = self._directories.get(directory)
        if known is None or now - known[1] > self._max_age:
            # Without the trailing slash: "dir/" would make lstat follow a symlinked directory.
            known = (self._exclusive_owner(directory.rstrip("/") or "/"), now)
            if len(self._directories) >= self._limit:
                self._directories.clear()
            self._directories[directory] = known
        return known[0] == uid

    @staticmethod
    def _exclusive_owner(directory: str) -> int:
        try:
            info = os.lstat(directory)
        except (OSError, ValueError):
            return _NOT_EXCLUSIVE
        if not stat.S_ISDIR(info.st_mode) or info.st_mode & _WRITABLE_BY_OTHERS:
            return _NOT_EXCLUSIVE
        return info.st_uid
