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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Problem:
    """One validation problem, attached to the notebook that needs fixing.

    ``message`` and ``hint`` are English (logs, events); ``japanese`` and ``hint_japanese``
    say the same for a Japanese report (:meth:`message_in`, :meth:`hint_in`).
    """

    kind: ProblemKind
    path: str
    message: str
    fix_command: str | None = None
    hint: str | None = None
    japanese: str = field(default="", compare=False)
    hint_japanese: str = field(default="", compare=False)

    def message_in(self, language: Language) -> str:
        return self.japanese if language == "ja" and self.japanese else self.message

    def hint_in(self, language: Language) -> str | None:
        return self.hint_japanese if language == "ja" and self.hint_japanese else self.hint

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
            _problem(
                "unlisted_path",
                issue.path,
                ("textbook.problem.unlisted", {"reason": issue.reason}),
                hint="textbook.hint.permissions",
            )
        )
    for notebook in scan.notebooks:
        if notebook.content is None:
            hint = "textbook.hint.replace_file" if notebook.file_refused else "textbook.hint.resave"
            problems.append(
                _problem(
                    "unreadable_notebook",
                    notebook.path,
                    ("textbook.problem.unreadable", {"error": notebook.error}),
                    hint=hint,
                )
            )
            continue
        if notebook.content.notebook_meme is None:
            problems.append(
                _problem(
                    "missing_notebook_meme",
                    notebook.path,
                    ("textbook.problem.missing_notebook_meme", {}),
                    fix_command=renew_meme_fix(root, notebook.path),
                )
            )
        if notebook.content.memeless_code_cells:
            cells = notebook.content.memeless_code_cells
            problems.append(
                Problem(
                    "missing_cell_meme",
                    notebook.path,
                    _missing_cells(cells, "en"),
                    renew_meme_fix(root, notebook.path),
                    japanese=_missing_cells(cells, "ja"),
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
    repeats: dict[str, list[tuple[str, int, tuple[str, int]]]] = defaultdict(list)
    for notebook in scan.notebooks:
        if notebook.content is None:
            continue
        for cell in notebook.content.questions:
            meme = cell.cell_meme if keep_branch_number else strip_branch_number(cell.cell_meme)
            where = (notebook.path, cell.position)
            if meme in first_seen:
                repeats[notebook.path].append((meme, cell.position, first_seen[meme]))
            else:
                first_seen[meme] = where
    for path, found in repeats.items():
        yield Problem(
            "duplicate_cell_meme",
            path,
            _duplicate_cells(found, "en"),
            renew_meme_fix(scan.root, path),
            japanese=_duplicate_cells(found, "ja"),
        )


def _duplicate_cells(found: Sequence[tuple[str, int, tuple[str, int]]], language: Language) -> str:
    """The duplicate cell MEMEs of one notebook, each with where it first appeared."""
    shown = "; " if language == "en" else "。"
    items = [
        text(
            "textbook.problem.duplicate_cell",
            language,
            meme=meme,
            position=position + 1,
            origin=text(
                "textbook.problem.origin", language, path=origin[0], position=origin[1] + 1
            ),
        )
        for meme, position, origin in found[:MAX_LISTED]
    ]
    listed = shown.join(items)
    if len(found) > MAX_LISTED:
        listed += text(
            "textbook.problem.duplicate_cell_more", language, count=len(found) - MAX_LISTED
        )
    return text("textbook.problem.duplicate_cell_end", language, shown=listed)


def _duplicate_notebook_memes(scan: TextbookScan) -> Iterable[Problem]:
    """Every notebook after the first (in path order) that shares a notebook MEME."""
    holders: dict[str, list[str]] = defaultdict(list)
    for notebook in scan.notebooks:
        if notebook.notebook_meme:
            holders[notebook.notebook_meme].append(notebook.path)
    for meme, paths in holders.items():
        for path in paths[1:]:
            yield _problem(
                "duplicate_notebook_meme",
                path,
                (
                    "textbook.problem.duplicate_notebook",
                    {"meme": meme, "path": path, "first": paths[0]},
                ),
                fix_command=renew_meme_fix(scan.root, path),
            )


def _problem(
    kind: ProblemKind,
    path: str,
    message: tuple[str, dict[str, object]],
    *,
    fix_command: str | None = None,
    hint: str | None = None,
) -> Problem:
    """A problem whose sentence (and hint) are catalogue messages, in both languages."""
    key, fields = message
    return Problem(
        kind,
        path,
        text(key, "en", **fields),
        fix_command,
        text(hint, "en") if hint else None,
        japanese=text(key, "ja", **fields),
        hint_japanese=text(hint, "ja") if hint else "",
    )


def _missing_cells(positions: Sequence[int], language: Language) -> str:
    shown = ", ".join(str(p + 1) for p in positions[:MAX_LISTED])
    if len(positions) > MAX_LISTED:
        shown += text("textbook.more", language, count=len(positions) - MAX_LISTED)
    cells = text(
        "textbook.problem.cell" if len(positions) == 1 else "textbook.problem.cells",
        language,
        cells=shown,
    )
    return text("textbook.problem.missing_cell_meme", language, count=len(positions), cells=cells)


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
            lines.append(f"  - {problem.message_in(language)}")
        commands = list(dict.fromkeys(p.fix_command for p in found if p.fix_command))
        hints = list(
            dict.fromkeys(p.hint_in(language) for p in found if p.hint and not p.fix_command)
        )
        if commands:
            lines.append(f"  {text('textbook.report.run', language)}")
            lines.extend(f"    {command}" for command in commands)
        lines.extend(f"  {text('textbook.report.fix', language, hint=hint)}" for hint in hints)
    return "\n".join(printable(line) for line in lines)
