"""What an index build reports: a per-notebook table and a markdown summary.

Both are plain data built from an :class:`~cwh.textbook.index.IndexOutcome`, so the flow that
publishes them as artifacts only hands them over. Control characters in file names are escaped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cwh.safe_input import printable
from cwh.textbook.index import IndexOutcome

MAX_LISTED_PATHS = 50
_HEADLINES = {
    "written": "index updated",
    "unchanged": "index already up to date",
    "refused": "index NOT written",
}


def more_suffix(total: int, shown: int) -> str:
    """`` and N more`` when only ``shown`` of ``total`` items are listed, else nothing."""
    return f" and {total - shown} more" if total > shown else ""


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
    outcome: IndexOutcome, textbook_dir: str, changed_paths: Sequence[str] | None
) -> str:
    """The build in a few lines: what was written, from what, why, and the problems."""
    lines = [
        f"## Textbook index: {_HEADLINES[outcome.status]}",
        "",
        f"- Textbook: {_code(textbook_dir)}",
        f"- Index: {_code(str(outcome.index))}",
        f"- Questions: {outcome.rows} from {len(outcome.notebooks)} notebook(s)"
        f" ({outcome.files_read} notebook file(s) read, the rest from the cache)",
        f"- Problems: {len(outcome.problems)}",
    ]
    if changed_paths is not None:
        shown = ", ".join(_code(p) for p in changed_paths[:MAX_LISTED_PATHS])
        more = more_suffix(len(changed_paths), MAX_LISTED_PATHS)
        lines.append(f"- Triggered by {len(changed_paths)} changed path(s): {shown}{more}")
    if outcome.changed_textbook_paths:
        shown = ", ".join(_code(p) for p in outcome.changed_textbook_paths[:MAX_LISTED_PATHS])
        lines.append(f"- Notebooks whose questions changed: {shown}")
    if outcome.refusal:
        lines += ["", f"**{outcome.refusal}**"]
    if outcome.problems:
        lines += ["", "### Problems", ""]
        for problem in outcome.problems:
            fix = _code(problem.fix_command) if problem.fix_command else problem.hint or ""
            lines.append(f"- {_code(problem.path)}: {problem.message} To fix: {fix}")
    return "\n".join(printable(line) for line in lines) + "\n"


def _code(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (a longer fence, padded)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if longest else ""
    return f"{fence}{padding}{text}{padding}{fence}"
