"""The exports of the real sample, through backfill and report, in both stores, byte for byte.

The two-user course of ``test_backfill_stores`` (the fixture's student, a second student
derived from the same real logs, a roster-only student) is backfilled into the embedded
store and into Elasticsearch; ``run_report`` then writes every export, with names and with
pseudonyms (the attempts with the students' code and output, and without them unless
``keep_free_text``). Both stores must give exactly the files in ``tests/golden/exports/``
(the workbook compared as the cells openpyxl reads back). Regenerate with
``CWH_UPDATE_GOLDEN=1`` after an intended change.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from cwh.progress import EXPORT_FORMATS, Pseudonymizer, cap_text
from deployments.cli.main import main
from tasks.backfill import run_backfill
from tasks.progress_reports import CourseReport, ReportConfig, run_report
from tasks.report_exports import ExportRequest
from tasks.store import Store, StoreConfig
from tests.enrich_support import expected_documents
from tests.test_backfill_stores import (  # noqa: F401  (fixtures, found by name)
    FIXTURE_USER,
    backfill_config,
    store_config_fixture,
    store_fixture,
    two_user_course,
)

GOLDEN = Path(__file__).parent / "golden" / "exports"
UPDATE = os.environ.get("CWH_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TEST_KEY = b"golden-test-pseudonym-key-0123456789abcdef"


def key_file(tmp: Path, key: bytes = TEST_KEY) -> Path:
    path = tmp / "pseudonym.key"
    path.write_bytes(key + b"\n")
    path.chmod(0o600)
    return path


def workbook_text(path: Path) -> str:
    """Every sheet's cells as JSON lines: value and openpyxl's data type per cell."""
    book = openpyxl.load_workbook(path)
    lines = []
    for sheet in book.worksheets:
        lines.append(f"# sheet {sheet.title}")
        for row in sheet.iter_rows():
            lines.append(json.dumps([[c.value, c.data_type] for c in row], ensure_ascii=False))
    return "\n".join(lines) + "\n"


def exported(reports: list[CourseReport], marker: str) -> dict[str, str]:
    """Golden file name -> content, for every export file of the run."""
    files: dict[str, str] = {}
    for report in reports:
        assert report.exports is not None
        course = report.matrix.course
        paths = report.exports.paths()
        assert sorted(paths) == sorted(EXPORT_FORMATS)
        files[f"{course}{marker}.csv"] = paths["csv"].read_text(encoding="utf-8")
        files[f"{course}.moodle{marker}.csv"] = paths["moodle"].read_text(encoding="utf-8")
        files[f"workbook{marker}.txt"] = workbook_text(paths["xlsx"])
        files[f"{course}.attempts{marker}.csv"] = paths["attempts"].read_bytes().decode("utf-8")
    return files


def golden_text(name: str) -> str:
    """A golden file's exact text (no line-end translation: code can hold carriage returns)."""
    return (GOLDEN / name).read_bytes().decode("utf-8")


def assert_golden(files: dict[str, str]) -> None:
    for name, content in files.items():
        golden = GOLDEN / name
        if UPDATE:
            GOLDEN.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(content.encode("utf-8"))
        assert content == golden_text(name), (
            f"regenerate with CWH_UPDATE_GOLDEN=1 if the change to {name} is intended"
        )


def records(content: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content, newline="")))


def assert_attempts_hold_the_fixture(named: dict[str, str], sample: Path) -> None:
    """The named attempts export shows the fixture student's runs with their code: every
    cell's newest attempts, and the ZeroDivisionError with its message."""
    attempts = [content for name, content in named.items() if ".attempts" in name]
    rows = [row for content in attempts for row in records(content)]
    mine = [row for row in rows if row["user_name"] == FIXTURE_USER]
    assert len(mine) >= 10 and all(row["code"] for row in mine)
    codes = {row["code"] for row in mine}
    documents = [d for d in expected_documents(sample) if d.get("qno") and d.get("input")]
    per_cell: dict[tuple[str, str], list[dict[str, object]]] = {}
    for document in documents:
        per_cell.setdefault((document["course_server"], document["qno"]), []).append(document)
    for cell, tried in per_cell.items():
        newest = max(tried, key=lambda d: int(str(d["start_time"])))
        assert cap_text(newest["input"]) in codes, cell
    assert any(row["error_name"] == "ZeroDivisionError" and row["error_message"] for row in rows)
    assert {row["status"] for row in rows} >= {"ok", "error"}


def report(
    course_index: Path, passwd: Path, output: Path, store: Store, **export: object
) -> list[CourseReport]:
    config = ReportConfig(
        index=str(course_index),
        roster=str(passwd),
        output_dir=str(output),
        timezone="Asia/Tokyo",
        exports=ExportRequest(formats=EXPORT_FORMATS, **export),  # type: ignore[arg-type]
    )
    return run_report(config, store=store, now=NOW)


def test_every_export_of_the_sample_equals_its_golden_file_in_both_stores(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    run_backfill(backfill_config(course, store_config, tmp_path), store=store)

    named = report(course.index, course.passwd, tmp_path / "reports", store)
    assert [r.matrix.course for r in named] == ["data-science", "python-basic"]
    named_files = exported(named, "")
    assert_golden(named_files)
    assert_attempts_hold_the_fixture(named_files, lcwrapper_sample)

    key = key_file(tmp_path)
    pseudonymized = report(
        course.index, course.passwd, tmp_path / "reports", store, pseudonymize=True, key_file=key
    )
    files = exported(pseudonymized, ".pseudonymized")
    assert_golden(files)
    everything = "".join(files.values())
    assert FIXTURE_USER not in everything and "student09" not in everything
    assert "kano" not in everything and "empty" not in everything
    assert TEST_KEY.decode() not in everything
    for document in expected_documents(lcwrapper_sample):
        code = str(document.get("input") or "").strip()
        if len(code) > 8:
            assert code not in everything, "no code in any export"

    again = report(
        course.index, course.passwd, tmp_path / "again", store, pseudonymize=True, key_file=key
    )
    assert exported(again, ".pseudonymized") == files, "same key, same pseudonyms"

    kept = report(
        course.index, course.passwd, tmp_path / "kept", store,
        pseudonymize=True, key_file=key, keep_free_text=True,
    )  # fmt: skip
    assert_free_text_kept(exported(kept, ".pseudonymized"), named_files, files)


def assert_free_text_kept(
    kept: dict[str, str], named: dict[str, str], dropped: dict[str, str]
) -> None:
    """With keep_free_text the pseudonymised attempts are the named ones, names replaced by
    the pseudonyms (and reordered by them); without it, the same rows with no free text."""
    pseudonyms = Pseudonymizer(TEST_KEY)
    free = ("error_message", "code", "output")
    for course in ("data-science", "python-basic"):
        expected = []
        for row in records(named[f"{course}.attempts.csv"]):
            row["user_name"], row["local_name"] = pseudonyms.names(row["user_name"])
            expected.append(row)
        ordered = sorted(expected, key=lambda row: (row["local_name"], row["user_name"]))
        kept_rows = records(kept[f"{course}.attempts.pseudonymized.csv"])
        assert kept_rows == ordered and any(row["code"] for row in kept_rows)
        without = [{**row, **dict.fromkeys(free, "")} for row in ordered]
        assert records(dropped[f"{course}.attempts.pseudonymized.csv"]) == without
    others = {name: content for name, content in kept.items() if ".attempts" not in name}
    assert others == {n: c for n, c in dropped.items() if ".attempts" not in n}


def test_the_report_command_writes_the_exports_and_refuses_a_readable_key(
    lcwrapper_sample: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path)
    database = tmp_path / "store.sqlite3"
    run_backfill(backfill_config(course, StoreConfig(database=str(database)), tmp_path))
    common = [
        "report", "--index", str(course.index), "--roster", str(course.passwd),
        "--database", str(database), "--timezone", "Asia/Tokyo",
        "--output-dir", str(tmp_path / "reports"), "--course", "python-basic",
    ]  # fmt: skip
    assert main([*common, "--format", "csv,xlsx", "--format", "moodle,attempts"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "python-basic"
    assert (folder / "latest-attempts.csv").read_bytes().decode("utf-8") == golden_text(
        "python-basic.attempts.csv"
    )
    assert "attempts: " in out and "leaves out" not in out
    assert (folder / "latest.csv").read_text(encoding="utf-8") == (
        GOLDEN / "python-basic.csv"
    ).read_text(encoding="utf-8")
    assert (folder / "latest-moodle.csv").read_text(encoding="utf-8") == (
        GOLDEN / "python-basic.moodle.csv"
    ).read_text(encoding="utf-8")
    assert (tmp_path / "reports" / "latest.xlsx").is_file()
    assert "csv: " in out and "xlsx: " in out and "Moodle gradebook: " in out

    key = key_file(tmp_path)
    key.chmod(0o644)
    pseudonymized = [*common, "--format", "csv", "--pseudonymize", "--pseudonym-key-file", str(key)]
    status = main(pseudonymized)
    captured = capsys.readouterr()
    assert status == 2
    assert "can be read or changed by every user" in captured.err
    assert TEST_KEY.decode() not in captured.err + captured.out
    assert not (folder / "latest.pseudonymized.csv").exists()

    key.chmod(0o600)
    assert (
        main([*common, "--format", "csv", "--pseudonymize", "--pseudonym-key-file", str(key)]) == 0
    )
    assert (folder / "latest.pseudonymized.csv").read_text(encoding="utf-8") == (
        GOLDEN / "python-basic.pseudonymized.csv"
    ).read_text(encoding="utf-8")
    assert "pseudonymised" in capsys.readouterr().out

    free = [*common, "--format", "attempts", "--pseudonymize", "--pseudonym-key-file", str(key)]
    assert main(free) == 0
    assert "leaves out code, output and error messages" in capsys.readouterr().out
    latest = folder / "latest-attempts.pseudonymized.csv"
    assert latest.read_bytes().decode("utf-8") == golden_text(
        "python-basic.attempts.pseudonymized.csv"
    )
    assert main([*free, "--keep-free-text"]) == 0
    assert "leaves out" not in capsys.readouterr().out
    assert "ZeroDivisionError" in latest.read_text(encoding="utf-8")
    assert "average = total / count" in latest.read_text(encoding="utf-8")

    assert main([*common, "--format", "pdf"]) == 2
    assert "unknown export format 'pdf'" in capsys.readouterr().err
