"""The HTML report's drill-down: every run cell opens that student's latest attempts.

No script: each cell links to a section ``#a-<row>-<column>`` that CSS shows only while it
is the page's target (``:target``), so the page works offline, from a mail attachment,
under the report's Content-Security-Policy that allows no script at all. Code, output and
error messages are student-controlled: they are escaped into ``<pre>`` blocks (shown as
text, never as markup) and were capped in size by the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from html import escape

from cwh.messages import Language, text
from cwh.progress.attempts import Attempt
from cwh.progress.matrix import OK_STATUS, ProgressMatrix
from cwh.progress.window import show_start_time

__all__ = ["DRILLDOWN_CSS", "cell_anchor", "render_drilldown"]

DRILLDOWN_CSS = """
section.attempts { display: none; border: 2px solid #888; padding: 0.4em 1em;
                   margin: 0.8em 0; background: #fafafa; }
section.attempts:target { display: block; }
td.cell a { color: inherit; text-decoration: none; display: block; }
.attempt { border-top: 1px solid #ccc; padding: 0.3em 0; }
.attempt h4 { margin: 0.3em 0 0.1em; font-size: 0.85em; color: #555; }
.attempt pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff;
               border: 1px solid #e0e0e0; padding: 0.3em; margin: 0; max-height: 20em;
               overflow: auto; font-size: 0.85em; }
.attempt .failed-status { color: #b34a00; font-weight: bold; }
"""


def cell_anchor(row: int, column: int) -> str:
    """The id of the drill-down section of the matrix's ``row`` and ``column``."""
    return f"a-{row}-{column}"


def render_drilldown(
    matrix: ProgressMatrix,
    attempts: Mapping[tuple[str, str], Sequence[Attempt]],
    per_cell: int,
    tz: tzinfo,
    language: Language,
) -> str:
    """The hidden sections, one per run cell, in the matrix's order."""

    def t(key: str, **fields: object) -> str:
        return escape(text(key, language, **fields))

    labels = {
        "started": t("progress.drill.started"),
        "status": t("progress.col.status"),
        "code": t("progress.drill.code"),
        "output": t("progress.drill.output"),
        "error": t("progress.drill.error"),
    }
    back = f'<p><a href="#matrix">{t("progress.drill.back")}</a></p>'
    memo = _Shown(tz)
    parts = [
        f'<h2 id="attempts">{t("progress.drill.heading")}</h2>',
        f'<p class="meta">{t("progress.drill.hint", count=per_cell)}</p>',
    ]
    for row, user in enumerate(matrix.students):
        student = matrix.label(user)
        for column, question in enumerate(matrix.questions):
            cell = matrix.cells.get((user, question.qno))
            shown = attempts.get((user, question.qno), ())
            if cell is None or not shown:
                continue
            heading = t(
                "progress.drill.cell", student=student, question=question.label,
                shown=len(shown), runs=cell.runs,
            )  # fmt: skip
            body = "".join(_attempt(a, memo, labels) for a in shown)
            parts.append(
                f'<section class="attempts" id="{cell_anchor(row, column)}">'
                f"<h3>{heading}</h3>{body}{back}</section>"
            )
    return "\n".join(parts)


class _Shown:
    """Escaped texts and formatted minutes, each made once: a class's attempts repeat the
    same code, output and messages, and tens of thousands of them share minutes."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.texts: dict[str, str] = {}
        self.minutes: dict[int, str] = {}

    def text(self, value: str) -> str:
        shown = self.texts.get(value)
        if shown is None:
            shown = self.texts[value] = escape(value)
        return shown

    def moment(self, epoch: int) -> str:
        """A start to the second (two attempts are often a few seconds apart)."""
        minute = self.minutes.get(epoch // 60) if epoch > 0 else None
        if minute is None and epoch > 0:
            try:
                start = datetime.fromtimestamp(epoch - epoch % 60, self.tz)
            except (OverflowError, OSError, ValueError):
                return escape(show_start_time(epoch, self.tz))
            minute = self.minutes[epoch // 60] = f"{start:%Y-%m-%d %H:%M}"
        if minute is None:
            return escape(show_start_time(epoch, self.tz))
        return f"{minute}:{epoch % 60:02d}"


def _attempt(attempt: Attempt, shown: _Shown, labels: Mapping[str, str]) -> str:
    status_class = "" if attempt.status == OK_STATUS else ' class="failed-status"'
    duration = (
        f" ({attempt.end_time - attempt.start_time} s)"
        if attempt.end_time is not None and attempt.end_time >= attempt.start_time
        else ""
    )
    parts = [
        f'<div class="attempt"><p>{labels["started"]}: {shown.moment(attempt.start_time)}'
        f"{duration} · {labels['status']}: <span{status_class}>"
        f"{shown.text(attempt.status or '?')}</span></p>",
        f"<h4>{labels['code']}</h4><pre>{shown.text(attempt.code)}</pre>",
    ]
    if attempt.output.strip():
        parts.append(f"<h4>{labels['output']}</h4><pre>{shown.text(attempt.output)}</pre>")
    if attempt.ename or attempt.evalue:
        error = f"{attempt.ename}: {attempt.evalue}" if attempt.evalue else attempt.ename
        parts.append(f"<h4>{labels['error']}</h4><pre>{shown.text(error)}</pre>")
    parts.append("</div>")
    return "".join(parts)
