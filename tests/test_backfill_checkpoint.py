"""Backfill robustness: resuming, bad files, the command line (embedded store, no server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cwh.enrich import DOC_ID, TARGET_INDEX
from tasks.backfill import BackfillConfig, run_backfill
from tasks.embedded_store import EmbeddedStore
from tasks.log_files import CheckpointError, find_log_files, first_recent_day
from tasks.store import StoreConfig, WriteSummary
from tests.enrich_support import ROOT
from tests.test_backfill_stores import two_user_course

CWH = [sys.executable, "-m", "deployments.cli.main"]


class Interrupted(Exception):
    pass


def _config(sample: Path, tmp_path: Path, **changes: object) -> BackfillConfig:
    course = two_user_course(sample, tmp_path / "course")
    values: dict[str, object] = {
        "homes_dir": str(course.homes),
        "index": str(course.index),
        "passwd": str(course.passwd),
        "store": StoreConfig(database=str(tmp_path / "store.sqlite3")),
        "checkpoint": str(tmp_path / "checkpoint.json"),
        "batch_size": 3,
    }
    values.update(changes)
    return BackfillConfig(**values)  # type: ignore[arg-type]


def test_scan_finds_each_log_once_and_skips_hidden_and_linked_directories(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    config = _config(lcwrapper_sample, tmp_path)
    homes = Path(config.homes_dir)
    hidden = homes / "kanox5e6f7a" / ".cache" / "x" / ".log" / "20261122"
    hidden.mkdir(parents=True)
    (hidden / "20261122-000000-0000.log").write_text("not scanned", encoding="utf-8")
    (homes / "kanox5e6f7a" / "escape").symlink_to(homes / "student09x0c0ffee")
    files = find_log_files(homes)
    assert len(files) == len(set(files)) == 19
    assert find_log_files(homes, ["kanox5e6f7a"]) == [f for f in files if f.startswith("kano")]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_log_files(tmp_path / "nowhere")
    assert find_log_files(homes, since_day="20261123") == [
        f for f in files if f.split("/.log/")[1][:8] >= "20261123"
    ]
    assert find_log_files(homes, since_day="20300101") == []
    with pytest.raises(ValueError, match="YYYYMMDD"):
        find_log_files(homes, since_day="2026-11-23")


def test_recent_days_include_one_more_day_for_time_zones() -> None:
    now = datetime(2026, 12, 6, 17, 30, tzinfo=UTC)
    assert first_recent_day(2, now) == "20261203"
    assert first_recent_day(0, now) == "20261205"
    assert first_recent_day(None, now) is None
    with pytest.raises(ValueError, match="0 or more"):
        first_recent_day(-1, now)


def test_an_interrupted_backfill_resumes_after_the_last_committed_batch(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    config = _config(lcwrapper_sample, tmp_path)
    seen: list[int] = []

    def stop_after_two_batches(done: int, total: int, counts: WriteSummary) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_backfill(config, progress=stop_after_two_batches)
    checkpoint = json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))
    assert checkpoint["files_done"] == 6
    assert checkpoint["summary"]["indexed"] == 6

    resumed = run_backfill(config)
    assert resumed.resumed_after == 6
    assert resumed.files == 19
    assert resumed.summary.indexed + resumed.summary.already_present == 19
    assert resumed.summary.indexed == 19 - resumed.summary.already_present
    assert not (tmp_path / "checkpoint.json").exists()
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    assert store.count() == 19
    store.close()


def test_checkpoints_are_never_misapplied_or_silently_dropped(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    config = _config(lcwrapper_sample, tmp_path)
    other = BackfillConfig(**{**vars(config), "users": ("kanox5e6f7a",)})
    (tmp_path / "checkpoint.json").write_text(
        json.dumps(
            {
                "version": 1,
                "fingerprint": other.fingerprint(),
                "done_through": "zzz",
                "files_done": 99,
                "summary": {},
            }
        ),
        encoding="utf-8",
    )
    assert run_backfill(config).resumed_after == 0
    (tmp_path / "checkpoint.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CheckpointError, match="delete it"):
        run_backfill(config)
    restart = BackfillConfig(**{**vars(config), "resume": False})
    assert run_backfill(restart).summary.already_present == 19


def test_broken_and_undecodable_logs_are_kept_as_dead_letters_or_documents(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    config = _config(lcwrapper_sample, tmp_path)
    day = Path(config.homes_dir) / "kanox5e6f7a" / "python-basic" / ".log" / "20261123"
    (day / "20261123-100000-0000.log").write_text("this is not an lc_wrapper log\n")
    original = next(p for p in sorted(day.glob("*.log")) if b"print" in p.read_bytes())
    copy = day / "20261123-100001-0000.log"
    copy.write_bytes(
        original.read_bytes()
        .replace(original.stem.encode(), copy.stem.encode())
        .replace(b"print", b"pr\xffint", 1)
    )
    result = run_backfill(config)
    assert result.files == 21
    assert result.summary.dead_letters_by_reason == {"LogParseError": 1}
    assert result.summary.indexed == 20
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    assert store.dead_letter_count() == 1
    store.close()


def _cwh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CWH_HOME": str(home)}
    return subprocess.run(
        [*CWH, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False, env=env
    )


def test_backfill_and_report_commands(lcwrapper_sample: Path, tmp_path: Path) -> None:
    config = _config(lcwrapper_sample, tmp_path)
    common = ["--homes-dir", config.homes_dir, "--index", config.index, "--passwd", config.passwd]
    database = ["--database", str(tmp_path / "cli.sqlite3")]
    home = tmp_path / "cwh-home"
    first = _cwh(home, "backfill", *common, *database, "--batch-size", "5", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["indexed"], summary["already_present"], summary["files"]) == (19, 0, 19)
    assert "19/19 files" in first.stderr
    assert not any((home / "checkpoints").iterdir()), "a completed backfill keeps no checkpoint"
    again = _cwh(home, "backfill", *common, *database)
    assert again.returncode == 0, again.stderr
    assert "0 indexed, 19 already present, 0 dead letters" in again.stdout

    missing = _cwh(home, "backfill", *common[:2], "--index", str(tmp_path / "none.csv"),
                   "--passwd", config.passwd, *database)  # fmt: skip
    assert missing.returncode == 2
    assert "index file" in missing.stderr and "does not exist" in missing.stderr

    reports = tmp_path / "reports"
    report = _cwh(home, "report", "--index", config.index, "--roster", config.passwd, *database,
                  "--output-dir", str(reports), "--course", "python-basic")  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "python-basic: 3 students x 12 questions, 1 latest run(s) failed" in report.stdout
    assert (reports / "python-basic" / "latest.html").is_file()
    assert (reports / "python-basic" / "latest.png").read_bytes().startswith(b"\x89PNG")

    forged = EmbeddedStore(tmp_path / "cli.sqlite3")
    forged.write([{
        DOC_ID: "forged", TARGET_INDEX: "lcwrapper-2026.11.23", "user_name": "kanox5e6f7a",
        "course_server": "python-basic", "qno": "01-000", "execute_reply_status": "ok",
        "start_time": 1795395600, "suspect": True, "suspect_reason": "log file missing",
    }])  # fmt: skip
    forged.close()
    for options, note in (
        ((), "1 suspect execution left out"),
        (("--include-suspect",), "The counts include 1 suspect execution:"),
    ):
        noted = _cwh(home, "report", "--index", config.index, *database, *options,
                     "--output-dir", str(reports), "--course", "python-basic")  # fmt: skip
        assert noted.returncode == 0, noted.stderr
        assert note in noted.stdout

    unknown = _cwh(home, "report", "--index", config.index, *database, "--course", "nope")
    assert unknown.returncode == 2
    assert "course(s) nope not in the index (known: data-science, python-basic)" in unknown.stderr
