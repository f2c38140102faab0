"""The attempts export: student code and output as CSV text, never a formula, one record each.

Code and output are the most hostile text a report carries: a formula at the start, NUL,
carriage returns alone and in pairs, quotes, commas and markup must come back from Python's
csv module and from pandas as the same text in one record per attempt (after the one ``'``
that disarms a formula). Pseudonymised exports leave the free text out unless it is kept.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cwh.enrich import DOC_ID, TARGET_INDEX
from cwh.progress import (
    ATTEMPT_COLUMNS,
    Attempt,
    ProgressCell,
    ProgressMatrix,
    Pseudonymizer,
    Question,
    build_matrix,
    parse_formats,
    real_names,
    render_attempts,
)
from tasks.embedded_store import EmbeddedStore
from tasks.progress_reports import ReportConfig, run_report
from tasks.report_exports import ExportRequest, write_exports
from tests.test_report_exports import unescape

TOKYO = ZoneInfo("Asia/Tokyo")
KEY = b"k" * 32
FORMULA = "=cmd|' /C calc'!A0\nprint('pwned')"
OUTPUT = 'nul\x00here\r\nwindows, "quoted"\rprogress 50%\r<script>alert(1)</script>\n'
MESSAGE = '-1 is not a valid, "quoted" value'
QUESTIONS = (
    Question("01-000", "問1", "c/nb.ipynb", "c"),
    Question("01-001", "@問2", "c/nb.ipynb", "c"),
)
USERS = ("zedx01", "=annx02")


def attempt(user: str, qno: str, start: int, status: str = "ok", **text: str) -> Attempt:
    return Attempt(
        user, qno, start, start + 1, status, text.get("code", "x = 1"),
        text.get("output", ""), text.get("ename", ""), text.get("evalue", ""), f"{user}{start}",
    )  # fmt: skip


def course() -> tuple[ProgressMatrix, dict[tuple[str, str], tuple[Attempt, ...]]]:
    cells = [ProgressCell(u, q.qno, 2, 1, "ok", 1795355773) for u in USERS for q in QUESTIONS]
    matrix = build_matrix("c", QUESTIONS, cells, USERS)
    attempts: dict[tuple[str, str], tuple[Attempt, ...]] = {
        (u, q.qno): (
            attempt(u, q.qno, 1795355900, "error", code=FORMULA, output=OUTPUT,
                    ename="ValueError", evalue=MESSAGE),
            attempt(u, q.qno, 1795355800),
        )
        for u in USERS
        for q in QUESTIONS
    }  # fmt: skip
    return matrix, attempts


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_attempts_is_a_format_like_the_others() -> None:
    assert parse_formats(["Attempts, moodle", "csv"]) == ("csv", "moodle", "attempts")


def test_hostile_code_and_output_round_trip_as_text_with_the_formula_disarmed() -> None:
    matrix, attempts = course()
    data = render_attempts(matrix, attempts, TOKYO)
    assert data.startswith((",".join(ATTEMPT_COLUMNS) + "\n").encode())
    rows = rows_of(data)
    assert tuple(rows[0]) == ATTEMPT_COLUMNS
    assert len(rows) == 1 + len(USERS) * len(QUESTIONS) * 2, "one record per attempt"
    users = [row[1] for row in rows[1:]]
    assert users[0] == "'=annx02" and users[-1] == "zedx01", "ordered by the names shown"
    assert [row[3] for row in rows[1:5]] == ["01-000", "01-000", "01-001", "01-001"]
    newest, older = rows[1], rows[2]
    assert newest[5:8] == ["2026-11-22T22:58:20+09:00", "2026-11-22T22:58:21+09:00", "error"]
    assert older[5] == "2026-11-22T22:56:40+09:00" and older[7:] == ["ok", "", "", "x = 1", ""]
    assert newest[10] == "'" + FORMULA and unescape(newest[10]) == FORMULA
    assert newest[11] == OUTPUT, "NUL, lone and paired carriage returns, markup: as text"
    assert newest[8:10] == ["ValueError", "'" + MESSAGE]
    assert {row[4] for row in rows[1:]} == {"問1", "'@問2"}
    for row in rows[1:]:
        assert not any(value.startswith(("=", "+", "-", "@")) for value in row), row

    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(ATTEMPT_COLUMNS) and len(frame) == len(rows) - 1
    assert frame["output"].iloc[0] == OUTPUT and frame["code"].iloc[0] == "'" + FORMULA


def test_pseudonyms_leave_out_free_text_unless_it_is_kept() -> None:
    matrix, attempts = course()
    names = Pseudonymizer(KEY).names
    dropped = rows_of(render_attempts(matrix, attempts, TOKYO, names, free_text=False))
    kept = rows_of(render_attempts(matrix, attempts, TOKYO, names, free_text=True))
    assert len(dropped) == len(kept) == 9
    text = "".join("".join(row) for row in dropped)
    assert "annx02" not in text and "zedx01" not in text and "calc" not in text
    assert "nul" not in text and "valid" not in text
    for short, full in zip(dropped[1:], kept[1:], strict=True):
        assert short[9:] == ["", "", ""] and short[:9] == full[:9]
    assert kept[1][10] == "'" + FORMULA and kept[1][8] == dropped[1][8] == "ValueError"
    shown = [(row[2], row[1]) for row in kept[1:]]
    assert shown == sorted(shown), "ordered by pseudonym, never by name"


def test_attempts_files_are_named_kept_and_pruned_like_the_others(tmp_path: Path) -> None:
    matrix, attempts = course()
    request = ExportRequest(formats=("attempts",))
    for minute in range(3):
        moment = datetime(2026, 12, 3, 9, minute, tzinfo=UTC)
        [files] = write_exports(
            tmp_path, [matrix], request, real_names, TOKYO, moment,
            attempts=[attempts], keep=2,
        )  # fmt: skip
    assert files.paths() == {"attempts": tmp_path / "c" / "attempts-20261203-090200.csv"}
    assert not files.free_text_left_out
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "attempts-20261203-090100.csv", "attempts-20261203-090200.csv", "latest-attempts.csv",
    ]  # fmt: skip
    assert (tmp_path / "c" / "latest-attempts.csv").read_bytes() == render_attempts(
        matrix,
        attempts,
        TOKYO,
    )
    pseudonymized = ExportRequest(formats=("attempts",), pseudonymize=True, key_file="unused")
    moment = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)
    [marked] = write_exports(
        tmp_path, [matrix], pseudonymized, Pseudonymizer(KEY).names, TOKYO, moment,
        attempts=[attempts],
    )  # fmt: skip
    assert marked.attempts == tmp_path / "c" / "attempts-20261203-090500.pseudonymized.csv"
    assert marked.free_text_left_out and marked.pseudonymized
    assert "calc" not in marked.attempts.read_text(encoding="utf-8")
    assert (tmp_path / "c" / "latest-attempts.pseudonymized.csv").is_file()


def _hostile_store(path: Path) -> EmbeddedStore:
    store = EmbeddedStore(path)
    base = {TARGET_INDEX: "lcwrapper-2026.11.24", "course_server": "c", "local_name": "ann"}
    store.write(
        [
            {**base, DOC_ID: "h1", "user_name": "annx01", "qno": "01-000",
             "start_time": 1795355900, "end_time": 253402300799,
             "execute_reply_status": "error", "input": FORMULA, "output": OUTPUT,
             "result_json": {"content": {"ename": "ValueError", "evalue": MESSAGE}}},
            {**base, DOC_ID: "h2", "user_name": "annx01", "qno": "01-000",
             "start_time": 1795355800, "execute_reply_status": "ok", "input": "print(1)",
             "output": "1\n"},
            {**base, DOC_ID: "h3", "user_name": "annx01", "qno": "09-999",
             "start_time": 1795355800, "execute_reply_status": "ok", "input": "gone"},
        ]
    )  # fmt: skip
    return store


@pytest.mark.parametrize("per_cell", [3, 1, 0])
def test_hostile_attempts_through_the_embedded_store_and_report(
    tmp_path: Path, per_cell: int
) -> None:
    index = tmp_path / "meme.csv"
    index.write_text(
        "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\n"
        "01-000,=問1,m0,n0,c/nb.ipynb,c,x\n01-001,,m1,n0,c/nb.ipynb,c,x\n",
        encoding="utf-8",
    )
    store = _hostile_store(tmp_path / "store.sqlite3")
    config = ReportConfig(
        index=str(index), output_dir=str(tmp_path / "out"), timezone="Asia/Tokyo",
        exports=ExportRequest(formats=("attempts",)), attempts_per_cell=per_cell,
    )  # fmt: skip
    try:
        [report] = run_report(config, store=store)
    finally:
        store.close()
    assert report.exports is not None and report.exports.attempts is not None
    data = report.exports.attempts.read_bytes()
    assert (tmp_path / "out" / "c" / "latest-attempts.csv").read_bytes() == data
    rows = rows_of(data)
    assert tuple(rows[0]) == ATTEMPT_COLUMNS
    assert len(rows) == 1 + min(per_cell, 2), "header alone without a drill-down"
    if per_cell == 0:
        return
    newest = dict(zip(ATTEMPT_COLUMNS, rows[1], strict=True))
    assert newest["user_name"] == "annx01" and newest["qlabel"] == "'=問1"
    assert newest["code"] == "'" + FORMULA and newest["output"] == OUTPUT
    assert newest["start_time"] == "2026-11-22T22:58:20+09:00"
    assert newest["end_time"] == "", "a time beyond the calendar is empty"
    assert (newest["status"], newest["error_name"]) == ("error", "ValueError")
    assert newest["error_message"] == "'" + MESSAGE
    assert "gone" not in data.decode("utf-8"), "a question outside the textbook is not shown"
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert frame["output"].iloc[0] == OUTPUT
    if per_cell > 1:
        assert rows[2][10:] == ["print(1)", "1\n"] and rows[2][7] == "ok"
