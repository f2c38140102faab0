"""The exports of the real sample, through backfill and report, in both stores, byte for byte.

The two-user course of ``test_backfill_stores`` (the fixture's student, a second student
derived from the same real logs, a roster-only student) is backfilled into the embedded
store and into Elasticsearch; ``run_report`` then writes every export, with names and with
pseudonyms. Both stores must give exactly the files in ``tests/golden/exports/`` (the
workbook compared as the cells openpyxl reads back). Regenerate with ``CWH_UPDATE_GOLDEN=1``
after an intended change.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from cwh.progress import EXPORT_FORMATS
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
    return files


def assert_golden(files: dict[str, str]) -> None:
    for name, content in files.items():
        golden = GOLDEN / name
        if UPDATE:
            GOLDEN.mkdir(parents=True, exist_ok=True)
            golden.write_text(content, encoding="utf-8")
        assert content == golden.read_text(encoding="utf-8"), (
            f"regenerate with CWH_UPDATE_GOLDEN=1 if the change to {name} is intended"
        )


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
    assert_golden(exported(named, ""))

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
    assert main([*common, "--format", "csv,xlsx", "--format", "moodle"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "reports" / "python-basic"
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

    assert main([*common, "--format", "pdf"]) == 2
    assert "unknown export format 'pdf'" in capsys.readouterr().err
