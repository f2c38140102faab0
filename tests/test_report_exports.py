"""Exports and pseudonyms on their own: hostile names, formula escaping, sheet names, keys.

Student names are untrusted: formula prefixes, commas, quotes, line breaks, right-to-left
overrides and control characters must come back as the same text (csv: after the one
``'`` that disarms a formula; xlsx: as a string cell, never a formula). Pseudonyms are
stable under one key, different under another, and the key never shows.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from pydantic import SecretStr, ValidationError

from blocks import CoursewareHub
from cwh.progress import (
    EXPORT_COLUMNS,
    ExportConfigError,
    ProgressCell,
    ProgressMatrix,
    Pseudonymizer,
    PseudonymKeyError,
    Question,
    build_matrix,
    escape_formula,
    key_from_file,
    parse_formats,
    real_names,
    render_csv,
    render_moodle,
    render_xlsx,
    sheet_names,
)
from tasks.report_exports import ExportRequest, export_names, write_exports

KEY = b"k" * 32
OTHER_KEY = b"o" * 40
TOKYO = ZoneInfo("Asia/Tokyo")
HOSTILE = (
    "=cmd|' /C calc'!A0x01",
    "+1+1x02",
    "-2-3x03",
    "@SUM(A1)x04",
    'comma, "quoted"x05',
    "line\nbreak\r\nx06",
    "\u202eevil\u202cx07",
    "\tTABx08",
    "＝HYPERLINK()x09",
)
CONTROL = "bell\x07\x1bx10"
QUESTIONS = (
    Question("01-000", "=問1", "c/nb.ipynb", "c"),
    Question("01-001", None, "c/nb.ipynb", "c"),
)


def matrix(users: tuple[str, ...] = (*HOSTILE, CONTROL)) -> ProgressMatrix:
    cells = [
        ProgressCell(user, "01-000", 2, 1 if n % 2 else 0, "ok" if n % 2 else "abort", 1795355773)
        for n, user in enumerate(users)
    ]
    return build_matrix("c", QUESTIONS, cells, users)


def unescape(text: str) -> str:
    return text[1:] if text.startswith("'") and escape_formula(text[1:]) == text else text


def test_formats_come_as_options_or_comma_lists_and_unknown_ones_are_refused() -> None:
    assert parse_formats(["moodle, CSV", "xlsx", "html", "csv"]) == ("csv", "xlsx", "moodle")
    assert parse_formats(None) == () == parse_formats(["html"])
    with pytest.raises(ExportConfigError, match="unknown export format 'pdf'"):
        parse_formats(["csv,pdf"])


def test_hostile_names_round_trip_through_csv_as_text() -> None:
    rows = list(csv.reader(io.StringIO(render_csv(matrix(), TOKYO).decode("utf-8"))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    users = [row[1] for row in rows[1::2]]
    assert sorted(unescape(u) for u in users) == sorted((*HOSTILE, CONTROL))
    for user in users:
        assert not user.startswith(("=", "+", "-", "@", "\t", "＝")), user
    labels = {row[4] for row in rows[1:]}
    assert labels == {"'=問1", ""}
    statuses = {(row[6], row[7]) for row in rows[1:] if row[3] == "01-000"}
    assert statuses == {("1", "ok"), ("0", "error")}, "any status but ok is an error"
    assert {row[8] for row in rows[1:] if row[3] == "01-000"} == {"2026-11-22T22:56:13+09:00"}
    assert {(row[5], row[7], row[8]) for row in rows[1:] if row[3] == "01-001"} == {("0", "", "")}

    frame = pd.read_csv(io.BytesIO(render_csv(matrix(), TOKYO)), dtype=str, keep_default_na=False)
    assert set(frame["user_name"].map(unescape)) == {*HOSTILE, CONTROL}


def test_a_carriage_return_alone_in_a_name_never_ends_a_record() -> None:
    users = ("car\rriagex11", "=\rformulax12", "plainx13")
    rows = list(csv.reader(io.StringIO(render_csv(matrix(users), TOKYO).decode(), newline="")))
    assert tuple(rows[0]) == EXPORT_COLUMNS and len(rows) == 1 + len(users) * len(QUESTIONS)
    assert {unescape(row[1]) for row in rows[1:]} == set(users)
    assert {row[5] for row in rows[1:]} == {"2", "0"}
    gradebook = render_moodle(matrix(users)).decode()
    moodle = list(csv.reader(io.StringIO(gradebook, newline="")))
    assert [len(row) for row in moodle] == [4] * 4
    assert {unescape(row[0]) for row in moodle[1:]} == set(users)
    assert all(re.search(r'",[01],0,[01]$', line) for line in gradebook.split("\n")[1:-1]), (
        "text quoted, numbers not"
    )
    frame = pd.read_csv(io.BytesIO(render_csv(matrix(users), TOKYO)), keep_default_na=False)
    assert set(frame["user_name"].map(unescape)) == set(users)
    assert set(frame["runs"]) == {0, 2}


def test_hostile_names_are_string_cells_in_xlsx_never_formulas() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx([matrix()], TOKYO)))
    assert book.sheetnames == ["summary", "c"]
    sheet = book["c"]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    users = [row[1].value for row in sheet.iter_rows(min_row=2)]
    expected = {*HOSTILE, "bell\ufffd\ufffdx10", "line\nbreak\nx06"} - {HOSTILE[5]}
    assert set(users) == expected, "exact text; XML line ends and U+FFFD for illegal controls"
    for row in sheet.iter_rows(min_row=2):
        if row[1].value.startswith(("=", "+", "-", "@", "\t", "＝")):
            assert row[1].data_type == "s" and row[1].quotePrefix
    assert {row[4].value for row in sheet.iter_rows(min_row=2)} == {"=問1", None}
    frame = pd.read_excel(io.BytesIO(render_xlsx([matrix()], TOKYO)), sheet_name="c")
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    assert set(frame["user_name"]) == expected


def test_the_moodle_gradebook_has_one_row_per_student_and_solved_flags() -> None:
    rows = list(csv.reader(io.StringIO(render_moodle(matrix()).decode("utf-8"))))
    assert rows[0] == ["username", "01-000 =問1", "01-001", "total"]
    assert len(rows) == 1 + len(HOSTILE) + 1
    for row in rows[1:]:
        solved = [int(v) for v in row[1:-1]]
        assert set(solved) <= {0, 1} and int(row[-1]) == sum(solved)
    assert sorted(unescape(row[0]) for row in rows[1:]) == sorted((*HOSTILE, CONTROL))


def test_sheet_names_are_safe_short_and_unique() -> None:
    courses = [
        "a" * 40, "a" * 40 + "b", "x[1]:y*z?/w\\", "Summary", "summary", "'quoted'",
        "History", "", "データサイエンス入門",
    ]  # fmt: skip
    names = sheet_names(courses)
    assert len({n.casefold() for n in names} | {"summary"}) == len(names) + 1
    for name in names:
        assert 0 < len(name) <= 31
        assert not set(name) & set("[]:*?/\\") and not name.startswith("'")
        assert name.casefold() not in ("summary", "history")
    assert names[0] == "a" * 31 and names[1] == "a" * 29 + "~2"
    assert names[2] == "x_1__y_z__w_" and names[-1] == "データサイエンス入門"
    book = openpyxl.load_workbook(
        io.BytesIO(render_xlsx([build_matrix(c, (), []) for c in courses]))
    )
    assert book.sheetnames == ["summary", *names]


def test_pseudonyms_are_stable_per_key_and_differ_between_keys() -> None:
    one, same, other = Pseudonymizer(KEY), Pseudonymizer(bytes(KEY)), Pseudonymizer(OTHER_KEY)
    assert one.names("alicex1f2e3d") == same.names("alicex1f2e3d")
    assert one.user("alicex1f2e3d") != other.user("alicex1f2e3d")
    assert one.user("alicex1f2e3d") != one.user("alicex1f2e3e")
    assert one.user("alice") != one.local("alice"), "separate domains"
    user, local = one.names("alicex1f2e3d")
    assert user.startswith("u-") and local.startswith("l-") and len(user) == 22
    assert one.local("alice") == one.names("alicex9a8b7c")[1]
    text = render_csv(matrix(), TOKYO, one.names).decode("utf-8")
    assert all(name.split("x")[0] not in text for name in ("=cmd", "comma", "evil", "bell"))
    assert text == render_csv(matrix(), TOKYO, same.names).decode("utf-8")
    assert text != render_csv(matrix(), TOKYO, other.names).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    shown = [(row[2], row[1]) for row in rows]
    assert shown == sorted(shown), "ordered by pseudonym, never by name"


def test_the_key_never_shows() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    assert "k" * 8 not in repr(pseudonymizer)
    with pytest.raises(TypeError):
        pickle.dumps(pseudonymizer)
    with pytest.raises(PseudonymKeyError, match="is 31 bytes long; at least 32") as caught:
        Pseudonymizer(b"s" * 31)
    assert "s" * 8 not in str(caught.value)
    with pytest.raises(ValidationError) as invalid:
        CoursewareHub(manager_address="10.0.0.2", pseudonym_key=SecretStr("short-secret-value"))
    assert "short-secret-value" not in str(invalid.value)
    hub = CoursewareHub(manager_address="10.0.0.2", pseudonym_key=SecretStr("v" * 32))
    assert "v" * 8 not in repr(hub) and "v" * 8 not in str(hub.model_dump())


def _key_file(tmp_path: Path, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "key"
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_key_files_must_be_private_long_enough_and_regular(tmp_path: Path) -> None:
    secret = os.urandom(16).hex().encode() * 2
    good = _key_file(tmp_path, secret + b"\n")
    assert key_from_file(good).names("ax01") == Pseudonymizer(secret).names("ax01")
    good.chmod(0o604)
    with pytest.raises(PseudonymKeyError, match="can be read or changed by every user") as shown:
        key_from_file(good)
    assert secret.decode() not in str(shown.value)
    good.chmod(0o640)
    key_from_file(good)
    short = _key_file(tmp_path, b"x" * 20)
    with pytest.raises(PseudonymKeyError, match="is 20 bytes long"):
        key_from_file(short)
    with pytest.raises(PseudonymKeyError, match="does not exist"):
        key_from_file(tmp_path / "missing")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(PseudonymKeyError, match="not a regular file"):
        key_from_file(fifo)
    with pytest.raises(PseudonymKeyError, match=r"鍵ファイル .* がありません"):
        key_from_file(tmp_path / "missing", language="ja")


def test_export_requests_are_checked_before_any_work(tmp_path: Path) -> None:
    assert export_names(ExportRequest(formats=("csv",))) is real_names
    with pytest.raises(ExportConfigError, match="pseudonymising applies to exports"):
        export_names(ExportRequest(pseudonymize=True))
    with pytest.raises(PseudonymKeyError, match="needs a key"):
        export_names(ExportRequest(formats=("csv",), pseudonymize=True))
    key = _key_file(tmp_path, KEY)
    both = ExportRequest(
        formats=("csv",), pseudonymize=True, key_file=str(key), coursewarehub_block="hub"
    )
    with pytest.raises(PseudonymKeyError, match="not both"):
        export_names(both)
    names = export_names(ExportRequest(formats=("csv",), pseudonymize=True, key_file=str(key)))
    assert names("ax01") == Pseudonymizer(KEY).names("ax01")


def test_exports_are_written_beside_the_report_and_old_ones_pruned(tmp_path: Path) -> None:
    request = ExportRequest(formats=("csv", "xlsx", "moodle"))
    courses = [matrix(), build_matrix("情報基礎", QUESTIONS, [])]
    for minute in range(3):
        moment = datetime(2026, 12, 3, 9, minute, tzinfo=UTC)
        files = write_exports(tmp_path, courses, request, real_names, TOKYO, moment, keep=2)
    first, second = files
    assert first.csv == tmp_path / "c" / "progress-20261203-090200.csv"
    assert first.moodle == tmp_path / "c" / "moodle-20261203-090200.csv"
    assert first.xlsx == second.xlsx == tmp_path / "progress-20261203-090200.xlsx"
    assert second.csv is not None and second.csv.parent.name.startswith("course-")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "latest-moodle.csv", "latest.csv",
        "moodle-20261203-090100.csv", "moodle-20261203-090200.csv",
        "progress-20261203-090100.csv", "progress-20261203-090200.csv",
    ]  # fmt: skip
    assert (tmp_path / "c" / "latest.csv").read_bytes() == render_csv(courses[0], TOKYO)
    pseudonymized = ExportRequest(formats=("csv",), pseudonymize=True, key_file="unused")
    moment = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)
    (marked, _) = write_exports(
        tmp_path, courses, pseudonymized, Pseudonymizer(KEY).names, TOKYO, moment, keep=2
    )
    assert marked.csv == tmp_path / "c" / "progress-20261203-090500.pseudonymized.csv"
    assert (tmp_path / "c" / "latest.pseudonymized.csv").is_file()
    assert (tmp_path / "c" / "progress-20261203-090100.csv").is_file(), "kinds pruned apart"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (253402300799, ""),  # 9999-12-31 23:59:59 UTC: year 10000 in Tokyo
        (2**62, ""),
        (-(2**62), ""),
        (0, ""),  # no start time
        (-62135596800, "0001-01-01T00:00:00+00:00"),  # year one: Tokyo's offset had seconds
        (-1, "1970-01-01T08:59:59+09:00"),
    ],
)
def test_times_beyond_the_calendar_are_empty_never_a_failed_export(stored: int, shown: str) -> None:
    cells = [ProgressCell("ax01", "01-000", 1, 0, "error", stored)]
    single = build_matrix("c", QUESTIONS, cells)
    rows = list(csv.reader(io.StringIO(render_csv(single, TOKYO).decode("utf-8"))))
    assert (rows[1][5], rows[1][7], rows[1][8]) == ("1", "error", shown)
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx([single], TOKYO)))
    assert book["c"]["I2"].value == (shown or None)


def test_hostile_names_and_times_through_the_embedded_store_and_report(tmp_path: Path) -> None:
    from cwh.enrich import DOC_ID, TARGET_INDEX
    from tasks.embedded_store import EmbeddedStore
    from tasks.progress_reports import ReportConfig, run_report

    users = (*HOSTILE, CONTROL)
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store.write(
        [
            {
                DOC_ID: f"h{number}",
                TARGET_INDEX: "lcwrapper-2026.11.24",
                "user_name": user,
                "local_name": user.rpartition("x")[0],
                "course_server": "c",
                "qno": "01-000",
                "execute_reply_status": "ok",
                "start_time": 253402300799 if number else 1795355773,
            }
            for number, user in enumerate(users)
        ]
    )
    index = tmp_path / "meme.csv"
    index.write_text(
        "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\n"
        "01-000,=問1,m0,n0,c/nb.ipynb,c,x\n01-001,,m1,n0,c/nb.ipynb,c,x\n",
        encoding="utf-8",
    )
    config = ReportConfig(
        index=str(index),
        output_dir=str(tmp_path / "out"),
        exports=ExportRequest(formats=("csv", "xlsx", "moodle")),
    )
    [report] = run_report(config, store=store)
    store.close()
    assert report.exports is not None
    paths = report.exports.paths()
    rows = list(csv.reader(io.StringIO(paths["csv"].read_bytes().decode("utf-8"), newline="")))
    assert {unescape(row[1]) for row in rows[1:]} == set(users)
    assert sorted(row[8] for row in rows[1:] if row[3] == "01-000")[-1].startswith("2026-11-2")
    moodle = list(csv.reader(io.StringIO(paths["moodle"].read_bytes().decode("utf-8"), newline="")))
    assert {unescape(row[0]) for row in moodle[1:]} == set(users)
    assert all(row[1:] == ["1", "0", "1"] for row in moodle[1:])
    sheet = openpyxl.load_workbook(paths["xlsx"])["c"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
