"""The HTML report: self-contained, escaped, and rendered by a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest

from cwh.progress import (
    ProgressCell,
    Question,
    build_matrix,
    completion,
    render_heatmap,
    render_html,
)

HOSTILE = 'evil<script>alert(1)</script>"x9f'
QUESTIONS = [
    Question("01-000", "問1-1", "python-basic/01.ipynb", "python-basic"),
    Question("01-001", '<img src="http://example.invalid/x.png">', "python-basic/01.ipynb",
             "python-basic"),
]  # fmt: skip
CELLS = [
    ProgressCell("annx01", "01-000", 2, 1, "ok", 1795355800),
    ProgressCell(HOSTILE, "01-001", 1, 0, "error", 1795355900),
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]


def _page() -> str:
    matrix = build_matrix("python-basic", QUESTIONS, CELLS, roster=["bobx02"])
    return render_html(
        matrix,
        completion(matrix),
        render_heatmap(matrix),
        generated_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        window="all executions",
        tz=ZoneInfo("Asia/Tokyo"),
    )


def test_page_is_self_contained_and_escapes_user_text() -> None:
    page = _page()
    collector = _Collector()
    collector.feed(page)
    assert "script" not in collector.tags
    assert collector.urls and all(
        url.startswith("data:image/png;base64,") for url in collector.urls
    )
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "Content-Security-Policy" in page
    assert "2026-11-24 10:00 JST" in page
    assert "問1-1" in page


def test_chromium_renders_the_page_without_errors(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is required (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(_page(), encoding="utf-8")
    shot = tmp_path / "shot.png"
    common = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr", "--v=0", "--window-size=1000,900",
    ]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<h1>Progress: python-basic</h1>" in dom.stdout
    assert 'class="heatmap"' in dom.stdout
    shot_run = subprocess.run(
        [*common, f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot_run.returncode == 0, shot_run.stderr[-2000:]
    for log in (dom.stderr, shot_run.stderr):
        problems = [
            line
            for line in log.splitlines()
            if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line
        ]
        assert problems == []
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (900, 1000)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"
