"""A lookup table backed by a file that is reloaded when the file changes.

The enrichment engine runs while the operator edits the passwd file and the textbook
indexer rewrites the MEME index (for weeks as a filter, or one process after another as
fluentd's delivery). The table it uses must follow those files without ever getting worse:

* a missing, oversized, unreadable, non-UTF-8, half-written or unparseable file
  keeps the table that was loaded before, so one bad write never erases the lookups
  (the loaders refuse anything that does not parse completely);
* a new version that loses more than ``max_loss`` of the loaded entries at once (a file
  cut at a line boundary, emptied, or replaced by the wrong one) keeps the loaded table
  too, unless an override marker, the file ``<name>.accept-loss`` beside it, is present:
  the marker lets one new version through whatever it loses, with a warning, and is
  removed when a version is accepted, so it never covers a later change;
* a warning names the file and the reason, once per distinct problem, not on every
  check;
* a file that changes while it is being read (an in-place rewrite) is not trusted
  and is read again at the next check;
* until a first successful load, ``get`` returns the ``empty`` value, so the file
  need not exist when the process starts;
* with ``accepted_copy``, every accepted version is also kept in that file, and a new
  process starts from it: fluentd runs one short delivery process per buffer chunk, and
  each must apply the rules above against the last accepted table, not take whatever the
  file holds at its start.

``get`` is on the per-record hot path: between checks it costs one monotonic clock
read and a comparison; a check costs one ``stat`` and reads the file only when its
identity (device, inode, size, mtime) differs from the last one read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from cwh.atomic_write import write_bytes_atomic

__all__ = ["DEFAULT_MAX_BYTES", "OVERRIDE_SUFFIX", "ReloadingFile"]

T = TypeVar("T")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Appended to a table's file name to name its one-shot override marker.
OVERRIDE_SUFFIX = ".accept-loss"
_PROBLEMS_LOGGED = 5

_Signature = tuple[int, int, int, int]


def _signature(info: os.stat_result) -> _Signature:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class ReloadingFile(Generic[T]):
    """The value ``loader(text of path)``, refreshed when the file changes.

    ``entries`` gives the keys of a loaded value (uids, cell MEMEs); with it, a new version
    losing more than the share ``max_loss`` of the loaded keys is held back (see above).
    """

    def __init__(
        self,
        path: Path,
        loader: Callable[[str], T],
        *,
        empty: T,
        check_interval: float = 1.0,
        logger: logging.Logger | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        entries: Callable[[T], Collection[Hashable]] | None = None,
        max_loss: float = 1.0,
        accepted_copy: Path | None = None,
    ) -> None:
        if check_interval < 0:
            raise ValueError("check_interval must not be negative")
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if not 0.0 <= max_loss <= 1.0:
            raise ValueError(f"max_loss must be a share between 0 and 1, not {max_loss}")
        self.path = Path(path)
        self.override = self.path.with_name(self.path.name + OVERRIDE_SUFFIX)
        self._entries = entries
        self._max_loss = max_loss
        self._accepted_copy = accepted_copy
        # The version held back for losing too many entries, until it changes or the
        # override marker appears.
        self._held: _Signature | None = None
        self._loader = loader
        self._value = empty
        self._interval = check_interval
        self._logger = logger or logging.getLogger(__name__)
        self._max_bytes = max_bytes
        self._next_check = float("-inf")
        # Identity of the file version last read (whether or not it parsed), so a bad
        # version is reported once and not parsed again until it changes.
        self._seen: _Signature | None = None
        self._loaded = False
        self._last_error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The current value, checking the file first if ``check_interval`` has passed."""
        if time.monotonic() < self._next_check:
            return self._value
        if self._lock.acquire(blocking=False):
            try:
                self._check(force=False)
            finally:
                self._lock.release()
        return self._value

    def reload_now(self) -> bool:
        """Read the file now, even if it looks unchanged; True if a new value was loaded."""
        with self._lock:
            return self._check(force=True)

    @property
    def last_error(self) -> str | None:
        """Why the last check could not load the file, or None after a good load."""
        return self._last_error

    @property
    def loaded(self) -> bool:
        """Whether any version of the file has been loaded successfully."""
        return self._loaded

    def _check(self, *, force: bool) -> bool:
        self._next_check = time.monotonic() + self._interval
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._seen = None
            return self._fail("the file does not exist")
        except OSError as exc:
            self._seen = None
            return self._fail(f"cannot stat the file: {exc.strerror or exc}")
        signature = _signature(info)
        if signature == self._seen and not force and not self._override_for(signature):
            return False
        if info.st_size > self._max_bytes:
            self._seen = signature
            return self._fail(f"{info.st_size} bytes exceeds the {self._max_bytes}-byte limit")
        try:
            data, self._seen = self._read()
        except _RetryLater as retry:
            # Not marking the version as seen makes the next check read it again.
            return self._fail(str(retry))
        if not self._loaded and self._accepted_copy is not None:
            self._resume_from_copy(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as undecodable:
            return self._fail(f"not UTF-8 text (invalid byte at offset {undecodable.start})")
        try:
            value = self._loader(text)
        except Exception as failure:
            # Any loader failure must leave the previous table in service.
            return self._fail(f"cannot parse: {type(failure).__name__}: {failure}")
        loss = self._loss(value)
        override = self._take_override()
        if loss is not None:
            if not override:
                self._held = self._seen
                return self._fail(
                    f"{loss}; to accept it, create {self.override} (used for one new version)"
                )
            self._logger.warning(
                "accepting %s although %s: override %s present (now removed)",
                self.path,
                loss,
                self.override,
            )
        elif override:
            self._logger.info(
                "removed %s: the new version of %s did not need it", self.override, self.path
            )
        self._held = None
        self._value = value
        self._loaded = True
        self._last_error = None
        self._report_loaded(value)
        self._keep_copy(data)
        return True

    def _resume_from_copy(self, current: bytes) -> None:
        """Start from the last accepted version, unless the file still holds exactly it
        (then the file is parsed once, as the new version)."""
        assert self._accepted_copy is not None
        try:
            with open(self._accepted_copy, "rb") as stream:
                kept = stream.read(self._max_bytes + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._logger.warning(
                "cannot read the accepted copy %s: %s", self._accepted_copy, exc.strerror or exc
            )
            return
        if kept == current or len(kept) > self._max_bytes:
            return
        try:
            self._value = self._loader(kept.decode("utf-8"))
        except Exception as failure:
            self._logger.warning(
                "ignoring the accepted copy %s: %s: %s",
                self._accepted_copy,
                type(failure).__name__,
                failure,
            )
            return
        self._loaded = True

    def _keep_copy(self, data: bytes) -> None:
        if self._accepted_copy is None:
            return
        try:
            self._accepted_copy.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self._accepted_copy, data, mode=0o600, durable=False)
        except OSError as exc:
            self._logger.warning(
                "cannot keep the accepted copy %s: %s", self._accepted_copy, exc.strerror or exc
            )

    def _loss(self, value: T) -> str | None:
        """Why ``value`` loses too many of the loaded entries at once, or None."""
        if self._entries is None or not self._loaded:
            return None
        old = self._entries(self._value)
        if not old:
            return None
        new = self._entries(value)
        lost = sum(1 for key in old if key not in new)
        if lost <= len(old) * self._max_loss:
            return None
        return (
            f"the new version loses {lost} of the {len(old)} loaded entries "
            f"({lost / len(old):.0%}) at once, more than the allowed {self._max_loss:.0%}"
        )

    def _override_for(self, signature: _Signature) -> bool:
        """Whether ``signature`` is a held-back version and the override marker is present."""
        return signature == self._held and os.path.lexists(self.override)

    def _take_override(self) -> bool:
        """Remove the override marker; True if it was there and is gone now.

        A marker that cannot be removed does not count: it would let every later
        change through as well.
        """
        try:
            os.unlink(self.override)
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._logger.warning(
                "cannot remove the override %s (%s): it is not honoured",
                self.override,
                exc.strerror or exc,
            )
            return False
        return True

    def _read(self) -> tuple[bytes, _Signature]:
        try:
            with open(self.path, "rb") as stream:
                before = _signature(os.fstat(stream.fileno()))
                data = stream.read(self._max_bytes + 1)
                after = _signature(os.fstat(stream.fileno()))
        except FileNotFoundError as missing:
            raise _RetryLater("the file disappeared while being opened") from missing
        except OSError as exc:
            raise _RetryLater(f"cannot read the file: {exc.strerror or exc}") from exc
        if before != after or len(data) != before[2]:
            raise _RetryLater("the file changed while being read (still being written?)")
        try:
            current = _signature(os.stat(self.path))
        except OSError as gone:
            raise _RetryLater("the file disappeared while being read") from gone
        if current != before:
            raise _RetryLater("the file was replaced while being read")
        return data, before

    def _fail(self, reason: str) -> bool:
        if reason != self._last_error:
            if self._loaded:
                consequence = "keeping the previously loaded version"
            else:
                consequence = "nothing loaded yet, lookups find nothing"
            self._logger.warning("cannot load %s: %s; %s", self.path, reason, consequence)
        self._last_error = reason
        return False

    def _report_loaded(self, value: T) -> None:
        size = len(value) if hasattr(value, "__len__") else None
        entries = f" ({size} entries)" if size is not None else ""
        self._logger.info("loaded %s%s", self.path, entries)
        problems = getattr(value, "problems", ())
        if problems:
            shown = "; ".join(str(problem) for problem in problems[:_PROBLEMS_LOGGED])
            more = len(problems) - _PROBLEMS_LOGGED
            suffix = f"; and {more} more" if more > 0 else ""
            self._logger.warning(
                "%s: %d line(s) skipped or shadowed: %s%s", self.path, len(problems), shown, suffix
            )


class _RetryLater(Exception):
    """The file could not be read consistently; try again at the next check."""
