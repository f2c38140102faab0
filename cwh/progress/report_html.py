"""The progress report as one self-contained HTML file.

Teachers open it from a shared folder, a mail attachment or a USB stick, often without
network access to the cluster, so it contains everything: inline CSS, the heatmap as a
``data:`` URI, no script. A Content-Security-Policy forbids any other source, so the file
can never make a request (and a hostile user name cannot inject one: all text is escaped).
Where the class is stuck (:mod:`cwh.progress.analytics`) comes after who is stuck; every
run cell of the matrix opens that student's latest attempts (:mod:`cwh.progress.report_drilldown`).
Every word follows the report's language.
"""

from __future__ import annotations

import base64
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime, tzinfo
from html import escape

from cwh.messages import Language, text
from cwh.progress.analytics import QuestionAnalytics
from cwh.progress.attempts import DEFAULT_ATTEMPTS, Attempt
from cwh.progress.heatmap import STATE_COLOURS, HeatmapImage, state_name
from cwh.progress.matrix import CellState, Completion, ProgressMatrix
from cwh.progress.report_drilldown import DRILLDOWN_CSS, cell_anchor, render_drilldown
from cwh.progress.report_markdown import format_attempts, format_duration
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
    analytics: Sequence[QuestionAnalytics] | None = None,
    attempts: Mapping[tuple[str, str], Sequence[Attempt]] | None = None,
    attempts_per_cell: int = DEFAULT_ATTEMPTS,
    drilldown: str | None = None,
    language: Language = "en",
) -> str:
    """The self-contained page; ``drilldown`` is :func:`render_drilldown` of ``attempts``
    when the caller has made it already (while the analytics were still being queried)."""

    def t(key: str, **fields: object) -> str:
        return escape(text(key, language, **fields))

    title = t("progress.title", course=matrix.course)
    drilled = attempts is not None and attempts_per_cell > 0
    image = base64.b64encode(heatmap.png).decode("ascii")
    generated = t(
        "progress.generated", time=f"{generated_at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
        window=window, students=len(matrix.students), questions=len(matrix.questions),
    )  # fmt: skip
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_COLOURS}{_CSS}{DRILLDOWN_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="meta">{generated}</p>',
        _notes(matrix, language),
        '<p class="legend">'
        + "".join(
            f'<span class="{_STATE_CLASS[s]}">{escape(state_name(s, language))}</span>'
            for s in CellState
        )
        + "</p>",
        f'<img class="heatmap" alt="{t("progress.heatmap.alt", course=matrix.course)}" '
        f'width="{heatmap.width}" height="{heatmap.height}" '
        f'src="data:image/png;base64,{image}">',
        _stuck(matrix, summary, tz, language),
    ]
    if analytics is not None:
        parts.append(_analytics(analytics, language))
    parts += [
        _students(summary, language),
        _questions(summary, language),
        _matrix(matrix, tz, language, linked=drilled),
    ]
    if matrix.runs_outside_textbook:
        outside = t("progress.outside_textbook", runs=matrix.runs_outside_textbook, flow="reenrich")
        parts.append(f"<p>{outside}</p>")
    if attempts is not None and drilled:
        if drilldown is None:
            drilldown = render_drilldown(matrix, attempts, attempts_per_cell, tz, language)
        parts.append(drilldown)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _notes(matrix: ProgressMatrix, language: Language) -> str:
    notes = [matrix.suspect_note(language), matrix.others_note(language)]
    return "".join(f'<p class="meta suspect">{escape(n)}</p>' for n in notes if n)


def _analytics(analytics: Sequence[QuestionAnalytics], language: Language) -> str:
    def t(key: str, **fields: object) -> str:
        return escape(text(key, language, **fields))

    heading = f"<h2>{t('progress.analytics.heading')}</h2>"
    tried = [item for item in analytics if item.tried]
    if not tried:
        return f"{heading}<p>{t('progress.analytics.none')}</p>"
    columns = ["col.question"] + [
        f"analytics.col.{c}"
        for c in ("tried", "succeeded", "latest_failed", "attempts", "time", "errors")
    ]
    head = "".join(f"<th>{t('progress.' + c)}</th>" for c in columns)
    rows = []
    for item in tried:
        errors = "".join(
            f'<li title="{t("progress.analytics.affected", names=", ".join(e.students))}">'
            f"<code>{escape(e.text)}</code> "
            f"{t('progress.analytics.error', error='', runs=e.runs, students=len(e.students))}"
            "</li>"
            for e in item.errors
        )
        rows.append(
            f'<tr><td>{escape(item.question.label)}</td><td class="num">{item.tried}</td>'
            f'<td class="num">{item.succeeded}</td><td class="num">{item.latest_failed}</td>'
            f'<td class="num">{format_attempts(item.median_attempts)}</td>'
            f'<td class="num">{escape(format_duration(item.median_seconds, language))}</td>'
            f'<td><ul class="errors">{errors}</ul></td></tr>'
        )
    return f"{heading}<table><tr>{head}</tr>{''.join(rows)}</table>"


def _heads(language: Language, *keys: str) -> str:
    return "".join(f"<th>{escape(text(f'progress.col.{key}', language))}</th>" for key in keys)


def _stuck(matrix: ProgressMatrix, summary: Completion, tz: tzinfo, language: Language) -> str:
    questions = {q.qno: q for q in matrix.questions}
    rows = [
        f"<tr><td>{escape(matrix.label(c.user_name))}</td>"
        f"<td>{escape(questions[c.qno].label)}</td><td>{escape(c.last_status)}</td>"
        f'<td class="num">{c.runs - c.ok_runs}/{c.runs}</td>'
        f"<td>{_time_epoch(c.last_time, tz)}</td></tr>"
        for c in summary.stuck
    ]
    if not rows:
        return (
            f"<h2>{escape(text('progress.stuck.heading', language))}</h2>"
            f"<p>{escape(text('progress.stuck.nobody_short', language))}</p>"
        )
    heading = escape(text("progress.stuck.heading_count", language, count=len(rows)))
    head = _heads(language, "student", "question", "status", "failed_runs", "last_run")
    return f"<h2>{heading}</h2><table><tr>{head}</tr>" + "".join(rows) + "</table>"


def _students(summary: Completion, language: Language) -> str:
    rows = [
        f"<tr><td>{escape(s.label)}</td><td>{_bar(s.ratio)}</td>"
        f'<td class="num">{s.completed}/{s.total}</td><td class="num">{s.attempted}</td>'
        f'<td class="num">{s.failing}</td></tr>'
        for s in sorted(summary.students, key=lambda s: (s.ratio, s.label))
    ]
    head = _heads(language, "student", "completion", "done", "tried", "failing")
    return (
        f"<h2>{escape(text('progress.per_student', language))}</h2>"
        f"<table><tr>{head}</tr>" + "".join(rows) + "</table>"
    )


def _questions(summary: Completion, language: Language) -> str:
    rows = [
        f"<tr><td>{escape(q.question.label)}</td><td>{_bar(q.ratio)}</td>"
        f'<td class="num">{q.completed}/{q.total}</td><td class="num">{q.attempted}</td>'
        f'<td class="num">{q.failing}</td></tr>'
        for q in summary.questions
    ]
    head = _heads(language, "question", "completion", "students_done", "tried", "failing")
    return (
        f"<h2>{escape(text('progress.per_question', language))}</h2>"
        f"<table><tr>{head}</tr>" + "".join(rows) + "</table>"
    )


def _matrix(matrix: ProgressMatrix, tz: tzinfo, language: Language, *, linked: bool) -> str:
    """The whole table; a class of hundreds of students has tens of thousands of cells, so
    each distinct minute and status is formatted and escaped once, not once per cell. With
    ``linked``, every run cell links to its drill-down section."""
    head = "".join(f"<th>{escape(q.label)}</th>" for q in matrix.questions)
    minutes: dict[Hashable, str] = {}
    statuses: dict[str, str] = {}
    ok_class, failed_class = _STATE_CLASS[CellState.OK], _STATE_CLASS[CellState.FAILED]
    template = escape(text("progress.matrix.cell", language, ok="\0", runs="\1",
                           status="\2", time="\3"))  # fmt: skip
    rows = []
    for row, user in enumerate(matrix.students):
        cells = []
        for column, question in enumerate(matrix.questions):
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
            title = (
                template.replace("\0", str(cell.ok_runs)).replace("\1", str(cell.runs))
                .replace("\2", status).replace("\3", clock)
            )  # fmt: skip
            shown = f"{cell.ok_runs}/{cell.runs}"
            if linked:
                shown = f'<a href="#{cell_anchor(row, column)}">{shown}</a>'
            cells.append(f'<td class="cell {state}" title="{title}">{shown}</td>')
        rows.append(f"<tr><th>{escape(matrix.label(user))}</th>{''.join(cells)}</tr>")
    heading = escape(text("progress.matrix.heading", language))
    student = escape(text("progress.col.student", language))
    return (
        f'<h2 id="matrix">{heading}</h2>'
        f"<table><tr><th>{student}</th>{head}</tr>{''.join(rows)}</table>"
    )


def _bar(ratio: float) -> str:
    return f'<span class="bar"><span style="width:{ratio * 100:.0f}%"></span></span> {ratio:.0%}'


def _time(moment: datetime, tz: tzinfo) -> str:
    return escape(f"{moment.astimezone(tz):%Y-%m-%d %H:%M %Z}")


def _time_epoch(epoch: int, tz: tzinfo) -> str:
    return escape(show_start_time(epoch, tz))
