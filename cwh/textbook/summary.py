"""What an index build reports: a per-notebook table and a markdown summary.

Both are plain data built from an :class:`~cwh.textbook.index.IndexOutcome`, so the flow that
publishes them as artifacts only hands them over. Control characters in file names are escaped.
The summary speaks the run's language (``textbook.*`` messages); the table's column names are
data and stay English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cwh.messages import Language, text
from cwh.safe_input import printable
from cwh.textbook.index import IndexOutcome

MAX_LISTED_PATHS = 50


def more_suffix(total: int, shown: int, language: Language = "en") -> str:
    """`` and N more`` when only ``shown`` of ``total`` items are listed, else nothing."""
    return text("textbook.more", language, count=total - shown) if total > shown else ""


def notebook_table(outcome: IndexOutcome) -> list[dict[str, object]]:
    """One row per notebook: its number, path, course, questions, problems and status."""
    return [
        {
            "number": nb.number,
            "textbook_path": printable(nb.path),
            "course_server": nb.course_server,
            "questions": nb.questions,
            "labelled": nb.labelled,
            "problems": nb.problems,
            "status": nb.status,
            "lc_notebook_meme": nb.notebook_meme or "",
        }
        for nb in outcome.notebooks
    ]


def summary_markdown(
    outcome: IndexOutcome,
    textbook_dir: str,
    changed_paths: Sequence[str] | None,
    language: Language = "en",
) -> str:
    """The build in a few lines: what was written, from what, why, and the problems."""
    headline = text(f"textbook.summary.{outcome.status}", language)
    questions = text(
        "textbook.summary.questions",
        language,
        rows=outcome.rows,
        notebooks=len(outcome.notebooks),
        read=outcome.files_read,
    )
    lines = [
        f"## {text('textbook.summary.title', language, headline=headline)}",
        "",
        f"- {text('textbook.summary.textbook', language, path=_code(textbook_dir))}",
        f"- {text('textbook.summary.index', language, path=_code(str(outcome.index)))}",
        f"- {questions}",
        f"- {text('textbook.summary.problems', language, count=len(outcome.problems))}",
    ]
    if changed_paths is not None:
        shown = ", ".join(_code(p) for p in changed_paths[:MAX_LISTED_PATHS])
        more = more_suffix(len(changed_paths), MAX_LISTED_PATHS, language)
        triggered = text(
            "textbook.summary.triggered", language, count=len(changed_paths), paths=shown, more=more
        )
        lines.append(f"- {triggered}")
    if outcome.changed_textbook_paths:
        shown = ", ".join(_code(p) for p in outcome.changed_textbook_paths[:MAX_LISTED_PATHS])
        lines.append(f"- {text('textbook.summary.changed', language, paths=shown)}")
    if outcome.refusal:
        lines += ["", f"**{outcome.refusal_in(language)}**"]
    if outcome.problems:
        lines += ["", f"### {text('textbook.summary.problems_heading', language)}", ""]
        for problem in outcome.problems:
            hint = problem.hint_in(language) or ""
            fix = _code(problem.fix_command) if problem.fix_command else hint
            path, message = _code(problem.path), problem.message_in(language)
            line = text("textbook.summary.problem", language, path=path, message=message, fix=fix)
            lines.append(f"- {line}")
    return "\n".join(printable(line) for line in lines) + "\n"


def _code(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (a longer fence, padded)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if longest else ""
    return f"{fence}{padding}{text}{padding}{fence}"
