"""The HTML drill-down and the per-question analytics: escaped, script-free, in a real
headless Chromium, and in Japanese and English.

Student code and output containing markup (``<script>``, ``<img onerror>``) go through the
embedded store and the report builder into the page; Chromium's DOM must hold them as text
only, and the page must load without a console message.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cwh.enrich import DOC_ID, TARGET_INDEX, error_pattern
from cwh.progress import (
    ErrorCount,
    FirstSuccess,
    ProgressCell,
    Question,
    build_matrix,
    completion,
    normalise_error,
    parse_roster,
    question_analytics,
    render_heatmap,
    render_markdown,
)
from tasks.embedded_store import EmbeddedStore
from tasks.progress_reports import ReportConfig, course_report, load_inputs
from tests.enrich_support import ROOT

SCRIPT = "<script>document.title='pwned'</script>"
IMAGE = "<img src=x onerror=\"document.body.innerHTML='pwned'\">"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _index(path: Path) -> Path:
    path.write_text(
        "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\n"
        "01-000,問1-1,m0,n,python-basic/nb.ipynb,python-basic,x\n"
        "01-001,問1-2,m1,n,python-basic/nb.ipynb,python-basic,x\n",
        encoding="utf-8",
    )
    return path


def _hostile_report(tmp_path: Path, language: str) -> str:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    base = {TARGET_INDEX: "lcwrapper-2026.11.22", "course_server": "python-basic"}
    store.write(
        [
            {**base, DOC_ID: "a1", "user_name": "annx01", "qno": "01-000", "start_time": 1795355800,
             "end_time": 1795355801, "execute_reply_status": "error", "input": SCRIPT,
             "output": IMAGE, "result_text": "NameError",
             "result_json": {"content": {"ename": "NameError", "evalue": f"name {SCRIPT}"}}},
            {**base, DOC_ID: "a2", "user_name": "annx01", "qno": "01-000", "start_time": 1795355900,
             "execute_reply_status": "ok", "input": "print(1)", "output": "1\n"},
            {**base, DOC_ID: "t1", "user_name": "teacherx09", "qno": "01-000",
             "start_time": 1795355950, "execute_reply_status": "ok", "input": "x", "output": ""},
        ]
    )  # fmt: skip
    roster = tmp_path / "roster.txt"
    roster.write_text("annx01\nbobx02\n", encoding="utf-8")
    config = ReportConfig(
        index=str(_index(tmp_path / "meme.csv")), roster=str(roster),
        output_dir=str(tmp_path), language=language,
    )  # fmt: skip
    questions, loaded, _ = load_inputs(config)
    report = course_report(store, config, questions, loaded, "python-basic", NOW)
    store.close()
    assert report.matrix.students == ("annx01", "bobx02")
    assert report.matrix.others_left_out == 1
    return report.html


def test_drilldown_shows_student_markup_as_text_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is required (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(_hostile_report(tmp_path, "en"), encoding="utf-8")
    common = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr", "--v=0", "--window-size=1000,900",
    ]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri() + "#a-0-0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    problems = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line
    ]
    assert problems == []
    parsed = _Dom()
    parsed.feed(dom.stdout)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 1 and (images[0].get("src") or "").startswith("data:image/png")
    assert all("onerror" not in attrs for _, attrs in parsed.tags)
    text = "".join(parsed.text)
    assert SCRIPT in text and IMAGE in text and f"NameError: name {SCRIPT}" in text
    assert "pwned" not in "".join(text.split(SCRIPT)).replace(IMAGE, "")
    assert "<title>Progress: python-basic</title>" in dom.stdout
    sections = [attrs.get("id") for tag, attrs in parsed.tags if tag == "section"]
    assert sections == ["a-0-0"]
    assert ("a", {"href": "#a-0-0"}) in parsed.tags


def test_the_page_and_its_analytics_speak_japanese(tmp_path: Path) -> None:
    page = _hostile_report(tmp_path, "ja")
    assert '<html lang="ja">' in page
    assert "クラスがつまずいている問題" in page and "学生・問題ごとの実行履歴" in page
    assert "学生グループ外の利用者 1 人" in page
    assert "Completion per student" not in page


def test_error_messages_are_grouped_once_normalised() -> None:
    assert normalise_error("'年齢'") == "<str>"
    assert normalise_error("name 'df2' is not defined") == "name <str> is not defined"
    assert (
        normalise_error("[Errno 2] No such file or directory: /home/ann/data 3.csv at 0x7f3a")
        == "[Errno <num>] No such file or directory: <path> <num>.csv at <addr>"
    )
    assert normalise_error("index 12 is out of bounds for axis 0 with size 3") == (
        "index <num> is out of bounds for axis <num> with size <num>"
    )


def test_analytics_put_the_question_the_class_is_stuck_on_first() -> None:
    questions = [
        Question("01-000", None, "c/nb.ipynb", "c"),
        Question("01-001", None, "c/nb.ipynb", "c"),
    ]
    cells = [
        ProgressCell("ann", "01-000", 3, 1, "ok", 130),
        ProgressCell("bob", "01-000", 1, 1, "ok", 100),
        ProgressCell("ann", "01-001", 2, 0, "error", 200),
        ProgressCell("bob", "01-001", 1, 0, "KeyboardInterrupt", 210),
        ProgressCell("teacher", "01-001", 1, 1, "ok", 220),
    ]
    matrix = build_matrix("c", questions, cells, ["ann", "bob"], roster_only=True)
    firsts = [
        FirstSuccess("ann", "01-000", 100, 130, 2),
        FirstSuccess("bob", "01-000", 100, 100, 0),
        FirstSuccess("ann", "01-001", 190, None, 0),
        FirstSuccess("teacher", "01-001", 220, 220, 0),
    ]
    errors = [
        ErrorCount("ann", "01-001", "KeyError", "'年齢'", 2),
        ErrorCount("bob", "01-001", "KeyError", "'age'", 1),
        ErrorCount("ann", "01-000", "NameError", "name 'x' is not defined", 2),
        ErrorCount("teacher", "01-001", "ValueError", "v", 5),
        ErrorCount("bob", "01-001", "TypeError", "'int' object is not callable", 1,
                   "<str> object is not callable"),
        ErrorCount("ann", "01-001", "TypeError", "can only concatenate str (not \"int\") to str",
                   1, "can only concatenate str (not <str>) to str"),
        ErrorCount("bob", "01-001", "TypeError", "'str' object is not callable", 1,
                   "<str> object is not callable"),
    ]  # fmt: skip
    stuck, solved = question_analytics(matrix, firsts, errors)
    assert stuck.question.qno == "01-001"
    assert (stuck.tried, stuck.succeeded, stuck.latest_failed, stuck.stuck) == (2, 0, 2, 2)
    assert (stuck.median_attempts, stuck.median_seconds) == (None, None)
    assert [(e.text, e.runs, e.students) for e in stuck.errors] == [
        ("KeyError: <str>", 3, ("ann", "bob")),
        ("TypeError: <str> object is not callable", 2, ("bob",)),
        ("TypeError: can only concatenate str (not <str>) to str", 1, ("ann",)),
    ], "one exception name, two kinds of message: two errors"
    assert (solved.median_attempts, solved.median_seconds) == (2.0, 15.0)
    assert matrix.others_left_out == 1


def test_a_passwd_roster_narrowed_to_the_student_group() -> None:
    passwd = (
        "annx01:x:2001:100::/home/annx01:/bin/bash\n"
        "teacherx09:x:2002:200::/home/teacherx09:/bin/bash\n"
    )
    assert parse_roster(passwd).students("c") == ["annx01", "teacherx09"]
    assert parse_roster(passwd, student_group="100").students("c") == ["annx01"]


def test_cwh_report_speaks_japanese_and_takes_the_drilldown_options(tmp_path: Path) -> None:
    database = tmp_path / "store.sqlite3"
    store = EmbeddedStore(database)
    store.write(
        [
            {DOC_ID: f"r{n}", TARGET_INDEX: "lcwrapper-2026.11.22", "user_name": "annx01",
             "course_server": "python-basic", "qno": "01-000", "start_time": 1795355800 + n,
             "execute_reply_status": "ok" if n else "error", "input": f"print({n})"}
            for n in range(3)
        ]
    )  # fmt: skip
    store.close()
    done = subprocess.run(
        [
            sys.executable, "-m", "deployments.cli.main", "report",
            "--index", str(_index(tmp_path / "meme.csv")), "--database", str(database),
            "--output-dir", str(tmp_path / "reports"), "--language", "ja", "--attempts", "1",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "python-basic: 学生 1 人 × 問題 2 問、最新の実行が失敗 0 件" in done.stdout
    page = next((tmp_path / "reports").rglob("*.html")).read_text(encoding="utf-8")
    assert page.count('<div class="attempt">') == 1 and "print(2)" in page
    assert "print(1)" not in page
    refused = subprocess.run(
        [sys.executable, "-m", "deployments.cli.main", "report", "--index", "x", "--language",
         "fr", "--database", str(database)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "unknown language 'fr'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_markdown_and_heatmap_follow_the_language() -> None:
    questions = [Question("01-000", "問1-1", "c/nb.ipynb", "c")]
    matrix = build_matrix("c", questions, [ProgressCell("ann", "01-000", 2, 0, "error", 100)])
    summary = completion(matrix)
    analytics = question_analytics(matrix, [], [ErrorCount("ann", "01-000", "KeyError", "'a'", 2)])
    japanese = render_markdown(
        matrix, summary, generated_at=NOW, window="全期間", analytics=analytics, language="ja"
    )
    assert "# 進捗: c" in japanese and "## クラスがつまずいている問題" in japanese
    assert "KeyError: \\<str\\>（2 回、1 人）" in japanese
    english = render_markdown(matrix, summary, generated_at=NOW, window="all", analytics=analytics)
    assert "KeyError: \\<str\\> (2 runs, 1 students)" in english
    assert render_heatmap(matrix, language="ja").png != render_heatmap(matrix).png


def test_the_enricher_stores_the_pattern_of_a_failed_runs_message() -> None:
    failed = {
        "msg_type": "error",
        "content": {"ename": "NameError", "evalue": "name 'df2' is not defined"},
    }
    assert error_pattern(failed) == "name <str> is not defined"
    assert error_pattern({"content": {"evalue": "x" * 5_000_000}}) == "x" * 200
    for no_message in (None, 3, [], {"content": []}, {"content": {"evalue": 7}}):
        assert error_pattern(no_message) is None
