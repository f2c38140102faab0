"""The progress report as one self-contained HTML file.

Teachers open it from a shared folder, a mail attachment or a USB stick, often without
network access to the cluster, so it contains everything: inline CSS, the heatmap as a
``data:`` URI, no script. A Content-Security-Policy forbids any other source, so the file
can never make a request (and a hostile user name cannot inject one: all text is escaped).
"""

from __future__ import annotations

import base64
from collections.abc import Hashable
from datetime import datetime, tzinfo
from html import escape

from cwh.progress.heatmap import STATE_COLOURS, HeatmapImage
from cwh.progress.matrix import CellState, Completion, ProgressMatrix
from cwh.progress.window import show_start_time, start_time_key

__all__ = ["render_html"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_COLOURS = (
    f":root {{ --ok: {STATE_COLOURS[CellState.OK]}; "
    f"--not-run: {STATE_COLOURS[CellState.NOT_RUN]}; "
    f"--failed: {STATE_COLOURS[CellState.FAILED]}; }}"
)

_CSS = """
body { font-family: "DejaVu Sans", "Noto Sans CJK JP", "IPAGothic", sans-serif;
       margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.meta { color: #555; }
table { border-collapse: collapse; margin-top: 0.5em; }
th, td { border: 1px solid #d0d0d0; padding: 2px 6px; font-size: 0.85em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; }
td.cell { text-align: center; min-width: 2.2em; }
.bar { background: var(--not-run); width: 8em; height: 0.8em; display: inline-block; }
.bar span { background: var(--ok); height: 100%; display: block; }
.not-run { background: var(--not-run); }
.ok { background: var(--ok); color: #fff; }
.failed { background: var(--failed); color: #fff; }
img.heatmap { max-width: 100%; height: auto; border: 1px solid #ddd; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; }
"""

_STATE_CLASS = {CellState.NOT_RUN: "not-run", CellState.OK: "ok", CellState.FAILED: "failed"}


def render_html(
    matrix: ProgressMatrix,
    summary: Completion,
    heatmap: HeatmapImage,
    *,
    generated_at: datetime,
    window: str,
    tz: tzinfo,
) -> str:
    course = escape(matrix.course)
    image = base64.b64encode(heatmap.png).decode("ascii")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ja"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Progress: {course}</title>",
        f"<style>{_COLOURS}{_CSS}</style></head><body>",
        f"<h1>Progress: {course}</h1>",
        f'<p class="meta">Generated {_time(generated_at, tz)}; window: {escape(window)}; '
        f"{len(matrix.students)} students, {len(matrix.questions)} questions.</p>",
        _suspect(matrix),
        '<p class="legend">'
        + "".join(f'<span class="{_STATE_CLASS[s]}">{escape(s.value)}</span>' for s in CellState)
        + "</p>",
        f'<img class="heatmap" alt="Heatmap of {course}: one row per student, one column per '
        f'question" width="{heatmap.width}" height="{heatmap.height}" '
        f'src="data:image/png;base64,{image}">',
        _stuck(matrix, summary, tz),
        _students(summary),
        _questions(summary),
        _matrix(matrix, tz),
    ]
    if matrix.runs_outside_textbook:
        parts.append(
            f"<p>{matrix.runs_outside_textbook} run(s) name question numbers the current "
            "index does not list; run the <code>reenrich</code> flow after a textbook "
            "release.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _suspect(matrix: ProgressMatrix) -> str:
    note = matrix.suspect_note()
    return "" if note is None else f'<p class="meta suspect">{escape(note)}</p>'


def _stuck(matrix: ProgressMatrix, summary: Completion, tz: tzinfo) -> str:
    questions = {q.qno: q for q in matrix.questions}
    rows = [
        f"<tr><td>{escape(matrix.label(c.user_name))}</td>"
        f"<td>{escape(questions[c.qno].label)}</td><td>{escape(c.last_status)}</td>"
        f'<td class="num">{c.runs - c.ok_runs}/{c.runs}</td>'
        f"<td>{_time_epoch(c.last_time, tz)}</td></tr>"
        for c in summary.stuck
    ]
    if not rows:
        return "<h2>Latest run failed</h2><p>Nobody is stuck.</p>"
    return (
        f"<h2>Latest run failed ({len(rows)})</h2><table><tr><th>student</th><th>question"
        "</th><th>status</th><th>failed / runs</th><th>last run</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _students(summary: Completion) -> str:
    rows = [
        f"<tr><td>{escape(s.label)}</td><td>{_bar(s.ratio)}</td>"
        f'<td class="num">{s.completed}/{s.total}</td><td class="num">{s.attempted}</td>'
        f'<td class="num">{s.failing}</td></tr>'
        for s in sorted(summary.students, key=lambda s: (s.ratio, s.label))
    ]
    return (
        "<h2>Completion per student</h2><table><tr><th>student</th><th>completion</th>"
        "<th>done</th><th>tried</th><th>failing</th></tr>" + "".join(rows) + "</table>"
    )


def _questions(summary: Completion) -> str:
    rows = [
        f"<tr><td>{escape(q.question.label)}</td><td>{_bar(q.ratio)}</td>"
        f'<td class="num">{q.completed}/{q.total}</td><td class="num">{q.attempted}</td>'
        f'<td class="num">{q.failing}</td></tr>'
        for q in summary.questions
    ]
    return (
        "<h2>Completion per question</h2><table><tr><th>question</th><th>completion</th>"
        "<th>students done</th><th>tried</th><th>failing</th></tr>" + "".join(rows) + "</table>"
    )


def _matrix(matrix: ProgressMatrix, tz: tzinfo) -> str:
    """The whole table; a class of hundreds of students has tens of thousands of cells, so
    each distinct minute and status is formatted and escaped once, not once per cell."""
    head = "".join(f"<th>{escape(q.label)}</th>" for q in matrix.questions)
    minutes: dict[Hashable, str] = {}
    statuses: dict[str, str] = {}
    ok_class, failed_class = _STATE_CLASS[CellState.OK], _STATE_CLASS[CellState.FAILED]
    rows = []
    for user in matrix.students:
        cells = []
        for question in matrix.questions:
            cell = matrix.cells.get((user, question.qno))
            if cell is None:
                cells.append('<td class="cell not-run"></td>')
                continue
            minute = start_time_key(cell.last_time)
            clock = minutes.get(minute)
            if clock is None:
                clock = minutes[minute] = _time_epoch(cell.last_time, tz)
            status = statuses.get(cell.last_status)
            if status is None:
                status = statuses[cell.last_status] = escape(cell.last_status)
            state = failed_class if cell.latest_failed else ok_class
            cells.append(
                f'<td class="cell {state}" title="{cell.ok_runs} of {cell.runs} run(s) ok; '
                f'last {status} at {clock}">{cell.ok_runs}/{cell.runs}</td>'
            )
        rows.append(f"<tr><th>{escape(matrix.label(user))}</th>{''.join(cells)}</tr>")
    return (
        "<h2>Students × questions (successful runs / runs)</h2>"
        f"<table><tr><th>student</th>{head}</tr>{''.join(rows)}</table>"
    )


def _bar(ratio: float) -> str:
    return f'<span class="bar"><span style="width:{ratio * 100:.0f}%"></span></span> {ratio:.0%}'


def _time(moment: datetime, tz: tzinfo) -> str:
    return escape(f"{moment.astimezone(tz):%Y-%m-%d %H:%M %Z}")


def _time_epoch(epoch: int, tz: tzinfo) -> str:
    return escape(show_start_time(epoch, tz))
