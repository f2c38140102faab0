"""Is the uid a record claims consistent with who owns the files it points at?

The ``uid`` of an lc_wrapper record is written by the student's own kernel and reaches
the collector over an unauthenticated forward port, so it proves nothing by itself.
The files the record names (its ``.log`` and its result pickle) were created by the
kernel process, which runs as the student: their owner on disk is evidence the student
cannot forge.  So is the ``.log`` file's content: lc_wrapper sends the record when it closes
that file, so a genuine record's text is the file's text, byte for byte, and a record naming
a file that does not exist, or another one than its own, is not what a kernel sent
(:class:`LogDirectories`).  A mismatch does not reject the record (the data is kept), it
marks the indexed document ``suspect`` with a reason a teacher or operator can act on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["DirectoryOwners", "LogDirectories", "LogFileCheck", "check_owner", "file_owner"]


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


# Read-only, never through a symlink as the last component, never blocking on a FIFO.
_LOG_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MISSING = (errno.ENOENT, errno.ENOTDIR)

LogFileCheck = tuple[int | None, str | None]
"""What :meth:`LogDirectories.compare` found: (owner uid of the file read, or None when it
was not read; why the record looks forged, or None)."""


class _Unreadable(Exception):
    """A directory on the way could not be opened for a reason that is no evidence."""


class _Refused(Exception):
    """A directory on the way is missing, or is the symlink ``link`` (its name)."""

    def __init__(self, link: str | None) -> None:
        super().__init__(link)
        self.link = link


class LogDirectories:
    """Compares records with the ``.log`` files they name, below one homes root.

    A directory is reached from the homes root one component at a time, each opened with
    ``O_NOFOLLOW``, and a log file is opened by name relative to that directory's
    descriptor: whatever symlinks a student plants or swaps in, the file compared is the
    one at the path the record names, inside the homes root. The descriptors of recent
    directories are kept (at most ``limit``, each for at most ``max_age`` seconds), so the
    usual record costs one ``openat``, one ``fstat``, one ``read`` and one ``close``, and no
    path lookup. A directory re-created since it was opened is opened again before a file
    in it is called missing; one moved elsewhere in its owner's home is still read until
    its descriptor is ``max_age`` seconds old (its files are its owner's all the same).
    """

    def __init__(
        self,
        root: str,
        *,
        max_age: float = 60.0,
        limit: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root.rstrip("/") or "/"
        self._shown_root = root.rstrip("/")
        self._max_age = max_age
        self._limit = limit
        self._clock = clock
        self._open: dict[str, tuple[int, float]] = {}

    def compare(self, directory: str, name: str, text: str) -> LogFileCheck:
        """Compare ``text`` with the file ``name`` in ``directory`` (relative to the root,
        ending in "/", no "." or ".." components, as the enricher's lexical mapping gives).

        The file must be a regular file (opened without following a symlink and without
        blocking) and is read only when its size is the text's own: a file of any other
        size differs without a byte read, and no more than the record's size is ever read.
        Returns the file's owner when it was opened (the uid check needs no other system
        call) and a reason when the record does not match: the file is missing, is a
        symlink or lies behind one, is not a regular file, or holds other bytes. A file or
        directory that cannot be read (permission, I/O error) is no evidence: (None, None).
        """
        shown = f"{self._shown_root}/{directory}{name}"
        try:
            fd = self._open_file(directory, name)
        except _Refused as refused:
            if refused.link is None:
                return None, f"log file {shown} does not exist"
            return None, f"log file {shown} lies behind the symbolic link {refused.link!r}"
        except (_Unreadable, ValueError):
            return None, None
        except OSError as exc:
            if exc.errno in _MISSING:
                return None, f"log file {shown} does not exist"
            if exc.errno == errno.ELOOP:
                return None, f"log file {shown} is a symbolic link"
            if exc.errno == errno.ENXIO:
                return None, f"log file {shown} is not a regular file"
            return None, None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None, f"log file {shown} is not a regular file"
            expected = text.encode("utf-8", "surrogatepass")
            size = len(expected)
            if info.st_size != size:
                return info.st_uid, _differs(shown, size, info.st_size)
            data = _read_exactly(fd, size)
            if data != expected:
                return info.st_uid, _differs(shown, size, len(data))
            return info.st_uid, None
        except OSError:
            return None, None
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every kept directory descriptor (they are opened again when needed)."""
        kept = list(self._open.values())
        self._open.clear()
        for fd, _ in kept:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()

    def _open_file(self, directory: str, name: str) -> int:
        """A descriptor of ``name`` in ``directory``; OSError from opening the file itself."""
        now = self._clock()
        kept = self._open.get(directory)
        if kept is not None and now - kept[1] <= self._max_age:
            try:
                return os.open(name, _LOG_OPEN_FLAGS, dir_fd=kept[0])
            except OSError as exc:
                if exc.errno not in _MISSING:
                    raise
            # Missing from the directory as it was opened: it may have been re-created since.
        return os.open(name, _LOG_OPEN_FLAGS, dir_fd=self._reopen(directory, now))

    def _reopen(self, directory: str, now: float) -> int:
        kept = self._open.pop(directory, None)
        if kept is not None:
            os.close(kept[0])
        fd = self._walk(directory)
        while len(self._open) >= self._limit:
            oldest = next(iter(self._open))
            os.close(self._open.pop(oldest)[0])
        self._open[directory] = (fd, now)
        return fd

    def _walk(self, directory: str) -> int:
        """Open ``directory`` from the root, one component at a time, refusing symlinks."""
        try:
            fd = os.open(self.root, _DIRECTORY_FLAGS)
        except OSError:
            # The homes root itself is unreachable (an unmounted share): no evidence.
            raise _Unreadable() from None
        try:
            for part in directory.split("/"):
                if not part:
                    continue
                if part == "." or part == "..":
                    raise ValueError(f"{directory!r} has a {part!r} component")
                try:
                    child = os.open(part, _DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        raise _Refused(None) from None
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        # O_DIRECTORY answers ENOTDIR for a symlink, O_NOFOLLOW ELOOP.
                        raise _Refused(part if _is_symlink(part, fd) else None) from None
                    raise _Unreadable() from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd


def _is_symlink(name: str, directory_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=directory_fd).st_mode)
    except OSError:
        return False


def _read_exactly(fd: int, size: int) -> bytes:
    """The first ``size`` bytes of ``fd``, fewer if it ends sooner: one read as a rule."""
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    chunks = [data]
    total = len(data)
    while total < size:
        chunk = os.read(fd, size - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _differs(shown: str, record_bytes: int, file_bytes: int) -> str:
    return (
        f"record text differs from the log file {shown} on disk "
        f"({record_bytes} bytes vs {file_bytes} bytes)"
    )


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
