"""Atomic replacement of files read by long-running processes."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from cwh import atomic_write
from cwh.atomic_write import write_bytes_atomic, write_text_atomic


def test_writes_and_skips_identical_content(tmp_path: Path) -> None:
    target = tmp_path / "index.csv"
    assert write_bytes_atomic(target, b"a,b\r\n") is True
    first = target.stat()
    assert write_bytes_atomic(target, b"a,b\r\n") is False
    again = target.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert write_text_atomic(target, "a,c\r\n") is True
    assert target.read_bytes() == b"a,c\r\n"
    assert target.stat().st_ino != first.st_ino  # replaced by rename, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.csv"]


def test_same_size_different_content_is_written(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_bytes_atomic(target, b"aaaa")
    assert write_bytes_atomic(target, b"bbbb") is True
    assert target.read_bytes() == b"bbbb"


def test_mode_is_kept_or_defaulted(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    write_bytes_atomic(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    private = tmp_path / "private"
    private.write_bytes(b"old")
    private.chmod(0o600)
    write_bytes_atomic(private, b"new")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    write_bytes_atomic(private, b"newer", mode=0o640)
    assert stat.S_IMODE(private.stat().st_mode) == 0o640


def test_failure_leaves_target_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "index.csv"
    target.write_bytes(b"old")

    def failing_replace(source: str, destination: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(target, b"new content")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.csv"]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "absent" / "f", b"x")


def test_readers_never_see_partial_content(tmp_path: Path) -> None:
    target = tmp_path / "index.csv"
    versions = [bytes([65 + n]) * 200_000 for n in range(8)]
    write_bytes_atomic(target, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            with open(target, "rb") as handle:
                seen.add(handle.read())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(5):
            for version in versions:
                write_bytes_atomic(target, version)
    finally:
        done.set()
        thread.join()
    assert seen <= set(versions)
    assert os.path.getsize(target) == 200_000
