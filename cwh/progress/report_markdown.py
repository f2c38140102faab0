"""The progress summary as markdown: what the Prefect artifact shows a teacher first.

Who is stuck, where the class is stuck (per-question analytics), then completion both
ways; every word from the ``progress`` messages, in the report's language. Names, labels
and error messages come from users and are escaped for markdown tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from cwh.messages import Language, text
from cwh.progress.analytics import QuestionAnalytics
from cwh.progress.matrix import Completion, ProgressMatrix
from cwh.progress.window import show_start_time

__all__ = ["format_duration", "render_markdown"]


def format_duration(seconds: float | None, language: Language) -> str:
    """``75`` as "1 min 15 s" (or "1 分 15 秒"); None as an empty text."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return text("progress.duration.seconds", language, seconds=whole)
    if whole < 3600:
        return text("progress.duration.minutes", language, minutes=whole // 60, seconds=whole % 60)
    return text(
        "progress.duration.hours", language, hours=whole // 3600, minutes=whole % 3600 // 60
    )


def format_attempts(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def render_markdown(
    matrix: ProgressMatrix,
    summary: Completion,
    *,
    generated_at: datetime,
    window: str,
    tz: tzinfo = UTC,
    html_location: str | None = None,
    analytics: Sequence[QuestionAnalytics] | None = None,
    language: Language = "en",
) -> str:
    """The summary a teacher reads first: who is stuck, where, then completion both ways."""

    def t(key: str, **fields: object) -> str:
        return text(key, language, **fields)

    questions = {q.qno: q for q in matrix.questions}
    moment = f"{generated_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    lines = [
        f"# {_md(t('progress.title', course=matrix.course))}",
        "",
        t(
            "progress.generated",
            time=moment,
            window=_md(window),
            students=len(matrix.students),
            questions=len(matrix.questions),
        ),
    ]
    for note in (matrix.suspect_note(language), matrix.others_note(language)):
        if note:
            lines += ["", _md(note)]
    if html_location:
        lines += ["", f"{t('progress.html_link')} [{_md(html_location)}]({html_location})"]
    lines += ["", f"## {t('progress.stuck.heading_count', count=len(summary.stuck))}", ""]
    if summary.stuck:
        columns = ["col.student", "col.question", "col.failed_runs", "col.last_run"]
        lines += _header([t(f"progress.{c}") for c in columns])
        for cell in summary.stuck:
            question = questions[cell.qno]
            shown = show_start_time(cell.last_time, tz)
            lines.append(
                f"| {_md(matrix.label(cell.user_name))} | {_md(question.label)} "
                f"| {cell.runs - cell.ok_runs}/{cell.runs} | {_md(shown)} |"
            )
    else:
        lines.append(t("progress.stuck.nobody"))
    if analytics is not None:
        lines += ["", f"## {t('progress.analytics.heading')}", ""]
        lines += _analytics(matrix, analytics, language)
    lines += ["", f"## {t('progress.per_student')}", ""]
    lines += _header([t(f"progress.col.{c}") for c in ("student", "done", "tried", "failing")])
    for student in sorted(summary.students, key=lambda s: (s.ratio, s.label)):
        lines.append(
            f"| {_md(student.label)} | {student.completed}/{student.total} "
            f"({student.ratio:.0%}) | {student.attempted} | {student.failing} |"
        )
    lines += ["", f"## {t('progress.per_question')}", ""]
    lines += _header([t(f"progress.col.{c}") for c in ("question", "done", "tried", "failing")])
    for item in summary.questions:
        lines.append(
            f"| {_md(item.question.label)} | {item.completed}/{item.total} "
            f"({item.ratio:.0%}) | {item.attempted} | {item.failing} |"
        )
    if matrix.runs_outside_textbook:
        lines += [
            "",
            t("progress.outside_textbook", runs=matrix.runs_outside_textbook, flow="`reenrich`"),
        ]
    return "\n".join(lines) + "\n"


def _analytics(
    matrix: ProgressMatrix, analytics: Sequence[QuestionAnalytics], language: Language
) -> list[str]:
    tried = [item for item in analytics if item.tried]
    if not tried:
        return [text("progress.analytics.none", language)]
    columns = ["col.question", *(f"analytics.col.{c}" for c in (
        "tried", "succeeded", "latest_failed", "attempts", "time", "errors"))]  # fmt: skip
    lines = _header([text(f"progress.{c}", language) for c in columns])
    for item in tried:
        errors = "<br>".join(
            _md(
                text(
                    "progress.analytics.error",
                    language,
                    error=error.text,
                    runs=error.runs,
                    students=len(error.students),
                )
            )
            for error in item.errors
        )
        lines.append(
            f"| {_md(item.question.label)} | {item.tried} | {item.succeeded} "
            f"| {item.latest_failed} | {format_attempts(item.median_attempts)} "
            f"| {_md(format_duration(item.median_seconds, language))} | {errors} |"
        )
    return lines


def _header(names: list[str]) -> list[str]:
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def _md(value: str) -> str:
    """Escape text for a markdown table cell (names and labels come from users)."""
    escaped = value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for char in "*_`[]<>#":
        escaped = escaped.replace(char, "\\" + char)
    return escaped
