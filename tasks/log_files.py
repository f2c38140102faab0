"""lc_wrapper's log files in users' homes, and the checkpoint that makes a backfill resumable.

lc_wrapper writes each execution to ``<kernel cwd>/.log/YYYYMMDD/<time>.log``; the kernel's
working directory is wherever the notebook is, so the files can be anywhere under a home.
The same file is also reachable through a relative symlink in ``.log/<meme uuid>/``; only
the dated directory is read, so every execution is found exactly once.

The walk skips hidden directories other than ``.log`` (``.cache``, ``.local``, virtual
environments...) and never follows symlinks, so a student cannot make the backfill read
outside their home or loop forever.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prefect import task

from cwh.atomic_write import write_bytes_atomic
from tasks.common import retrying, run_logger
from tasks.store import WriteSummary

_log = logging.getLogger("cwh.backfill")

LOG_DIR = ".log"
MAX_LOG_BYTES = 32 * 1024 * 1024
CHECKPOINT_VERSION = 1
_DAY = re.compile(r"\d{8}")


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used; it is never silently discarded."""


def find_log_files(
    homes: Path, users: Sequence[str] | None = None, since_day: str | None = None
) -> list[str]:
    """Every lc_wrapper log under ``homes``, as sorted POSIX paths relative to it.

    ``users`` limits the walk to those home directories; ``since_day`` (``YYYYMMDD``) to the
    dated directories of that day and later, without reading the older ones. Relative paths
    keep checkpoints valid when the homes root is mounted elsewhere.
    """
    if since_day is not None and not _DAY.fullmatch(since_day):
        raise ValueError(f"since_day {since_day!r} must be YYYYMMDD")
    root = Path(homes)
    if not root.is_dir():
        raise FileNotFoundError(f"homes directory {root} does not exist")
    names = sorted(users) if users is not None else sorted(_subdirectories(root))
    found: list[str] = []
    for name in names:
        home = root / name
        if "/" in name or name in ("", ".", "..") or not home.is_dir() or home.is_symlink():
            _log.warning("no home directory %s; user skipped", home)
            continue
        found.extend(_logs_in(root, home, since_day or ""))
    found.sort()
    return found


def _subdirectories(root: Path) -> Iterator[str]:
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                yield entry.name


def _logs_in(root: Path, home: Path, since_day: str) -> Iterator[str]:
    def on_error(error: OSError) -> None:
        _log.warning("cannot read %s: %s", error.filename, error.strerror)

    for directory, subdirs, files in os.walk(home, onerror=on_error):
        here = Path(directory)
        if here.name == LOG_DIR:
            subdirs[:] = [d for d in subdirs if _DAY.fullmatch(d) and d >= since_day]
            continue
        if here.parent.name == LOG_DIR and _DAY.fullmatch(here.name):
            subdirs[:] = []
            for name in files:
                path = here / name
                if name.endswith(".log") and not path.is_symlink():
                    yield path.relative_to(root).as_posix()
            continue
        subdirs[:] = [d for d in subdirs if d == LOG_DIR or not d.startswith(".")]


@dataclass(frozen=True)
class LogText:
    """A log file's text, or why it could not be read (the path stands in for the text)."""

    relative: str
    text: str | None
    modified: float
    """The file's mtime: the "received" time of a dead letter, so re-runs agree."""
    error_type: str | None = None
    error_message: str | None = None


def read_log(homes: Path, relative: str) -> LogText:
    """Read one log; unreadable or oversized files are reported, not raised.

    Bytes that are not UTF-8 are replaced (U+FFFD) rather than losing the execution: the
    enricher still gets every field it can read.
    """
    path = Path(homes) / relative
    try:
        status = path.stat()
        if status.st_size > MAX_LOG_BYTES:
            return LogText(
                relative,
                None,
                status.st_mtime,
                "LogTooLarge",
                f"{relative}: {status.st_size} bytes, more than {MAX_LOG_BYTES}",
            )
        data = path.read_bytes()
    except OSError as exc:
        return LogText(
            relative,
            None,
            0.0,
            "LogUnreadable",
            f"{relative}: {type(exc).__name__}: {exc.strerror}",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _log.warning(
            "%s is not valid UTF-8 (byte %d); undecodable bytes replaced", relative, exc.start
        )
        text = data.decode("utf-8", errors="replace")
    return LogText(relative, text, status.st_mtime)


def batched(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Checkpoint:
    """How far an interrupted backfill got: every file up to ``done_through`` is stored.

    The ``fingerprint`` ties it to one configuration (homes root, store, users), so a
    checkpoint of another backfill is never applied by mistake. It is written atomically
    after each committed batch and removed when the backfill completes, so the next run
    re-reads everything (and finds it all already present).
    """

    path: Path
    fingerprint: str
    done_through: str | None = None
    files_done: int = 0
    summary: WriteSummary = field(default_factory=WriteSummary)

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> Checkpoint:
        try:
            data: Any = orjson.loads(Path(path).read_bytes())
        except FileNotFoundError:
            return cls(Path(path), fingerprint)
        except orjson.JSONDecodeError as exc:
            raise CheckpointError(
                f"checkpoint {path} is not valid JSON ({exc}); delete it to start over"
            ) from exc
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint {path} has an unknown format; delete it")
        if data.get("fingerprint") != fingerprint:
            _log.warning(
                "checkpoint %s belongs to another backfill configuration; starting over", path
            )
            return cls(Path(path), fingerprint)
        return cls(
            Path(path),
            fingerprint,
            done_through=data.get("done_through"),
            files_done=int(data.get("files_done", 0)),
            summary=WriteSummary.from_dict(data.get("summary", {})),
        )

    def remaining(self, files: Sequence[str]) -> list[str]:
        if self.done_through is None:
            return list(files)
        return [f for f in files if f > self.done_through]

    def advance(self, done_through: str, files: int, summary: WriteSummary) -> None:
        self.done_through = done_through
        self.files_done += files
        self.summary.add(summary)
        document = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "done_through": done_through,
            "files_done": self.files_done,
            "summary": self.summary.to_dict(),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2))

    def complete(self) -> None:
        self.path.unlink(missing_ok=True)


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:32]


def first_recent_day(recent_days: int | None, now: datetime | None = None) -> str | None:
    """``YYYYMMDD`` of the oldest dated directory within ``recent_days`` (None: all).

    lc_wrapper names directories by the kernel's local date, so one more day is included:
    no zone is more than a day away from UTC.
    """
    if recent_days is None:
        return None
    if recent_days < 0:
        raise ValueError(f"recent_days must be 0 or more, got {recent_days}")
    day = (now or datetime.now(UTC)) - timedelta(days=recent_days + 1)
    return day.strftime("%Y%m%d")


@task(name="find-log-files", **retrying(retries=2, delay=5))
def list_log_files(
    homes_dir: str, users: tuple[str, ...] | None, since_day: str | None = None
) -> list[str]:
    """:func:`find_log_files` as a task: retried, as NFS-mounted homes can stall briefly."""
    files = find_log_files(Path(homes_dir), users, since_day)
    since = f" in directories from {since_day} on" if since_day else ""
    run_logger("cwh.backfill").info("%d log file(s) under %s%s", len(files), homes_dir, since)
    return files
