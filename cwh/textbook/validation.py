"""Textbook validation: the problems that make executions unattributable.

A notebook or a code cell without a MEME cannot be matched; a cell MEME that appears twice
makes the match ambiguous; one notebook MEME must belong to one textbook path. Every
problem names the notebook files involved and the command that fixes them:
``jupyter nblineage new-root-meme SRC DST`` gives the notebook and all its cells fresh MEMEs
in a copy, which then replaces the original.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from cwh.messages import Language, text
from cwh.safe_input import printable
from cwh.textbook.rows import strip_branch_number
from cwh.textbook.scanner import TextbookScan

ProblemKind = Literal[
    "unreadable_notebook",
    "unlisted_path",
    "missing_notebook_meme",
    "missing_cell_meme",
    "duplicate_cell_meme",
    "duplicate_notebook_meme",
]

MAX_LISTED = 10
_RESAVE_HINT = (
    "open it in Jupyter and save it again (or restore the released copy), then rebuild the index."
)
_REPLACE_FILE_HINT = (
    "put the notebook file itself there (a regular file inside the textbook directory, within"
    " the size limit) or leave it out with --exclude, then rebuild the index."
)


@dataclass(frozen=True)
class Problem:
    """One validation problem, attached to the notebook that needs fixing."""

    kind: ProblemKind
    path: str
    message: str
    fix_command: str | None = None
    hint: str | None = None

    @property
    def fix(self) -> str:
        if self.fix_command is not None:
            return f"run: {self.fix_command}"
        return self.hint or ""

    def describe(self) -> str:
        """One line for a log, control characters of file names escaped."""
        return printable(f"{self.path}: {self.message} To fix, {self.fix}")


def fixed_copy_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.fixed{path.suffix}")


def renew_meme_fix(root: Path, relative: str) -> str:
    """The exact commands that give ``relative`` fresh MEMEs in place."""
    source = root / PurePosixPath(relative)
    target = fixed_copy_path(source)
    quoted_source, quoted_target = shell_quote(str(source)), shell_quote(str(target))
    return (
        f"jupyter nblineage new-root-meme {quoted_source} {quoted_target}"
        f" && mv {quoted_target} {quoted_source}"
    )


def shell_quote(word: str) -> str:
    """``word`` as one shell word; a name with control characters gets bash's ``$'...'``
    quoting, so the command stays printable and still names the right file."""
    if printable(word) == word:
        return shlex.quote(word)
    return "$'" + printable(word.replace("\\", "\\\\").replace("'", "\\'")) + "'"


def validate_scan(scan: TextbookScan, *, keep_branch_number: bool = False) -> list[Problem]:
    """All problems of the scanned textbook, sorted by notebook path then kind."""
    root = scan.root
    problems: list[Problem] = []
    for issue in scan.issues:
        problems.append(
            Problem(
                "unlisted_path",
                issue.path,
                f"Not indexed: {issue.reason}.",
                hint="check the name and permissions, then rebuild the index.",
            )
        )
    for notebook in scan.notebooks:
        if notebook.content is None:
            problems.append(
                Problem(
                    "unreadable_notebook",
                    notebook.path,
                    f"Notebook skipped: {notebook.error}.",
                    hint=_REPLACE_FILE_HINT if notebook.file_refused else _RESAVE_HINT,
                )
            )
            continue
        if notebook.content.notebook_meme is None:
            problems.append(
                Problem(
                    "missing_notebook_meme",
                    notebook.path,
                    "Missing lc_notebook_meme value (metadata.lc_notebook_meme.current),"
                    " so executions cannot be traced to this notebook.",
                    renew_meme_fix(root, notebook.path),
                )
            )
        if notebook.content.memeless_code_cells:
            cells = notebook.content.memeless_code_cells
            problems.append(
                Problem(
                    "missing_cell_meme",
                    notebook.path,
                    f"Missing lc_cell_meme value in {len(cells)} code cell(s)"
                    f" ({_cell_list(cells)}); these cells get no question number.",
                    renew_meme_fix(root, notebook.path),
                )
            )
    problems.extend(_duplicate_cell_memes(scan, keep_branch_number))
    problems.extend(_duplicate_notebook_memes(scan))
    order = {kind: index for index, kind in enumerate(_KIND_ORDER)}
    problems.sort(key=lambda p: (tuple(p.path.split("/")), order[p.kind], p.message))
    return problems


_KIND_ORDER: tuple[ProblemKind, ...] = (
    "unlisted_path",
    "unreadable_notebook",
    "missing_notebook_meme",
    "missing_cell_meme",
    "duplicate_notebook_meme",
    "duplicate_cell_meme",
)


def _duplicate_cell_memes(scan: TextbookScan, keep_branch_number: bool) -> Iterable[Problem]:
    """Each later occurrence of a cell MEME is reported against its notebook."""
    first_seen: dict[str, tuple[str, int]] = {}
    repeats: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for notebook in scan.notebooks:
        if notebook.content is None:
            continue
        for cell in notebook.content.questions:
            meme = cell.cell_meme if keep_branch_number else strip_branch_number(cell.cell_meme)
            where = (notebook.path, cell.position)
            if meme in first_seen:
                first_path, first_position = first_seen[meme]
                origin = f"{first_path} cell {first_position + 1}"
                repeats[notebook.path].append((meme, cell.position, origin))
            else:
                first_seen[meme] = where
    for path, found in repeats.items():
        shown = "; ".join(
            f"Duplicate lc_cell_meme value: {meme} (cell {position + 1}, first in {origin})"
            for meme, position, origin in found[:MAX_LISTED]
        )
        more = f"; and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
        yield Problem(
            "duplicate_cell_meme",
            path,
            f"{shown}{more}. Executions of these cells cannot be told apart"
            " (if this notebook holds the originals, renew the other notebook instead).",
            renew_meme_fix(scan.root, path),
        )


def _duplicate_notebook_memes(scan: TextbookScan) -> Iterable[Problem]:
    """Every notebook after the first (in path order) that shares a notebook MEME."""
    holders: dict[str, list[str]] = defaultdict(list)
    for notebook in scan.notebooks:
        if notebook.notebook_meme:
            holders[notebook.notebook_meme].append(notebook.path)
    for meme, paths in holders.items():
        for path in paths[1:]:
            yield Problem(
                "duplicate_notebook_meme",
                path,
                f"Different textbook_path has same lc_notebook_meme value {meme}:"
                f" {path} and {paths[0]} (a copied notebook; if {path} is the original,"
                f" renew {paths[0]} instead).",
                renew_meme_fix(scan.root, path),
            )


def _cell_list(positions: Sequence[int]) -> str:
    shown = ", ".join(str(p + 1) for p in positions[:MAX_LISTED])
    extra = f" and {len(positions) - MAX_LISTED} more" if len(positions) > MAX_LISTED else ""
    return f"cell {shown}{extra}" if len(positions) == 1 else f"cells {shown}{extra}"


def format_report(
    problems: Sequence[Problem], *, textbook_dir: Path, language: Language = "en"
) -> str:
    """A human-readable report grouped by notebook, each with its fix; control characters
    in file names are escaped. The frame speaks ``language``; each problem's own sentence is
    the validator's."""
    if not problems:
        return printable(text("textbook.report.clean", language, textbook=textbook_dir))
    by_path: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_path[problem.path].append(problem)
    lines = [
        text(
            "textbook.report.found",
            language,
            problems=len(problems),
            files=len(by_path),
            textbook=textbook_dir,
        ),
    ]
    for path, found in by_path.items():
        lines.append("")
        lines.append(path)
        for problem in found:
            lines.append(f"  - {problem.message}")
        commands = list(dict.fromkeys(p.fix_command for p in found if p.fix_command))
        hints = list(dict.fromkeys(p.hint for p in found if p.hint and not p.fix_command))
        if commands:
            lines.append(f"  {text('textbook.report.run', language)}")
            lines.extend(f"    {command}" for command in commands)
        lines.extend(f"  {text('textbook.report.fix', language, hint=hint)}" for hint in hints)
    return "\n".join(printable(line) for line in lines)
