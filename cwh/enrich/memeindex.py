"""The textbook MEME index: cell MEME -> exercise number, notebook MEME -> textbook file.

The index is the CSV written by the textbook indexer (columns ``qno, qlabel,
lc_cell_meme, lc_notebook_meme, textbook_path, course_server, code``).  It is read
while students are working, so a reader must be able to tell a complete file from one
that is still being written: parsing is strict (header present, every row as wide as
the header, the last row terminated by a newline, quotes balanced) and any violation
raises ``MemeIndexError`` so that the caller keeps its previous table instead of
publishing half of one.

Values stay strings (a course called ``2025`` is the string ``"2025"``, never a
number).  ``qlabel`` and ``course_server`` columns are optional (older indexes lack
them); a missing ``course_server`` is derived from ``textbook_path`` exactly as the
indexer derives it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar, NamedTuple

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

__all__ = [
    "CellEntry",
    "MemeIndex",
    "MemeIndexError",
    "NotebookEntry",
    "cell_meme_uuid",
]

REQUIRED_COLUMNS = ("qno", "lc_cell_meme", "lc_notebook_meme", "textbook_path")
_UUID_PARTS = 5
_LINES_SHOWN = 10
# Five non-empty parts: each part runs to the next "-" (no backtracking is possible), so a
# match is exactly the first five parts of ``split("-")`` when none of them is empty.
_UUID_HEAD = re.compile(r"[^-]+-[^-]+-[^-]+-[^-]+-[^-]+")


class MemeIndexError(ValueError):
    """The CSV text is not a complete, well-formed MEME index."""


def cell_meme_uuid(lc_cell_meme: str) -> str | None:
    """The first five ``-``-separated parts of a MEME (the UUID without branch numbers).

    nblineage appends branch numbers (``<uuid>-1-7636``) when a notebook is opened on a
    server with another signature or a cell is copied; the UUID part identifies the
    textbook cell regardless.  None when the value has fewer than five parts or one of
    them is empty, since such a value cannot be a MEME.
    """
    head = _UUID_HEAD.match(lc_cell_meme)
    return None if head is None else head[0]


class CellEntry(NamedTuple):
    """What the index knows about one textbook code cell.

    Named tuples, not frozen dataclasses: an index holds one per textbook cell and is
    rebuilt on every release, and a tuple is built several times faster.
    """

    qno: str
    qlabel: str | None
    lc_notebook_meme: str


class NotebookEntry(NamedTuple):
    """Where a textbook notebook lives: its path below the textbook root and its course."""

    textbook_path: str
    course_server: str


class MemeIndex:
    """Read-only lookups into one version of the MEME index.

    ``problems`` describes rows that were skipped or shadowed (for example a cell MEME
    listed twice: the first row wins, so appending a copied cell never renumbers the
    exercise it was copied from).
    """

    EMPTY: ClassVar[MemeIndex]

    __slots__ = ("_cells", "_notebooks", "_notebooks_by_uuid", "problems")

    def __init__(
        self,
        cells: Mapping[str, CellEntry],
        notebooks: Mapping[str, NotebookEntry],
        problems: tuple[str, ...] = (),
    ) -> None:
        # Private copies, never handed out: plain dicts answer ``get`` faster than read-only
        # proxies, and the enrichment filter looks two of them up for every record.
        self._cells: dict[str, CellEntry] = dict(cells)
        self._notebooks: dict[str, NotebookEntry] = dict(notebooks)
        self._notebooks_by_uuid: dict[str, NotebookEntry] = _unambiguous_by_uuid(self._notebooks)
        self.problems: tuple[str, ...] = problems

    @classmethod
    def from_csv_text(cls, text: str) -> MemeIndex:
        """Parse a complete index; raise ``MemeIndexError`` for anything incomplete."""
        if not isinstance(text, str):
            raise MemeIndexError(f"index text must be str, not {type(text).__name__}")
        text = text.removeprefix("\ufeff")
        if not text:
            raise MemeIndexError("the index is empty (no header line)")
        if not text.endswith("\n"):
            raise MemeIndexError(
                "the last row is not terminated by a newline: the file is truncated "
                "or still being written"
            )
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader)
            columns = _column_positions(header)
            return cls._from_rows(reader, columns, len(header))
        except csv.Error as exc:
            raise MemeIndexError(f"line {reader.line_num}: malformed CSV: {exc}") from exc

    @classmethod
    def _from_rows(
        cls,
        reader: _CsvReader,
        columns: Mapping[str, int],
        width: int,
    ) -> MemeIndex:
        cells: dict[str, CellEntry] = {}
        # Line of each cell's first row, and the lines of any later rows for the same cell
        # (rare: a list per cell would cost more than the rest of the row's work).
        cell_lines: dict[str, int] = {}
        cell_repeats: dict[str, list[int]] = {}
        notebooks: dict[str, NotebookEntry] = {}
        notebook_values: dict[str, tuple[str, str]] = {}
        notebook_lines: dict[str, int] = {}
        notebook_conflicts: dict[str, list[int]] = {}
        problems: list[str] = []
        qno_at, meme_at, nb_at, path_at = (columns[name] for name in REQUIRED_COLUMNS)
        qlabel_at = columns.get("qlabel")
        course_at = columns.get("course_server")
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != width:
                raise MemeIndexError(
                    f"line {line}: {len(row)} fields where the header has {width}: "
                    "the file is damaged or still being written"
                )
            qno, lc_cell_meme, lc_notebook_meme = row[qno_at], row[meme_at], row[nb_at]
            textbook_path = row[path_at]
            if lc_notebook_meme and textbook_path:
                course = row[course_at] if course_at is not None else _course_of(textbook_path)
                known = notebook_values.get(lc_notebook_meme)
                if known is None:
                    notebooks[lc_notebook_meme] = NotebookEntry(textbook_path, course)
                    notebook_values[lc_notebook_meme] = (textbook_path, course)
                    notebook_lines[lc_notebook_meme] = line
                elif known != (textbook_path, course):
                    notebook_conflicts.setdefault(lc_notebook_meme, []).append(line)
            elif not lc_notebook_meme:
                problems.append(f"line {line}: empty lc_notebook_meme; no notebook entry")
            else:
                problems.append(f"line {line}: empty textbook_path; no notebook entry")
            uuid = cell_meme_uuid(lc_cell_meme)
            if uuid is None:
                problems.append(
                    f"line {line}: lc_cell_meme {lc_cell_meme!r} is not a MEME; row skipped"
                )
                continue
            if not qno:
                problems.append(f"line {line}: empty qno for cell {uuid}; row skipped")
                continue
            if uuid in cells:
                cell_repeats.setdefault(uuid, []).append(line)
                continue
            qlabel = row[qlabel_at] if qlabel_at is not None else ""
            cells[uuid] = CellEntry(qno, qlabel or None, lc_notebook_meme)
            cell_lines[uuid] = line
        # Ordered by each cell's first row.
        for uuid in sorted(cell_repeats, key=cell_lines.__getitem__):
            lines = [cell_lines[uuid], *cell_repeats[uuid]]
            problems.append(
                f"cell MEME {uuid} is listed on {_line_list(lines)}; "
                f"line {lines[0]} (qno {cells[uuid].qno}) kept"
            )
        for meme, lines in notebook_conflicts.items():
            kept = notebooks[meme]
            problems.append(
                f"notebook MEME {meme} names another textbook file on "
                f"{_line_list(lines)}; line {notebook_lines[meme]} "
                f"({kept.textbook_path}) kept"
            )
        return cls(cells, notebooks, tuple(problems))

    def cell(self, uuid: str) -> CellEntry | None:
        """The textbook cell whose MEME UUID is ``uuid``.

        A full MEME with branch numbers is accepted too (it is reduced to its UUID on a
        miss, so the common call with a bare UUID costs one dict lookup).
        """
        entry = self._cells.get(uuid)
        if entry is None and uuid.count("-") >= _UUID_PARTS:
            bare = cell_meme_uuid(uuid)
            if bare is not None:
                return self._cells.get(bare)
        return entry

    def notebook(self, lc_notebook_meme: str) -> NotebookEntry | None:
        """The textbook notebook with this notebook MEME.

        Exact match first; otherwise the MEME's UUID part is compared with the UUID
        parts of the indexed MEMEs, so a branch number on either side does not lose
        the match.  A UUID shared by notebooks at different paths is never guessed.
        """
        entry = self._notebooks.get(lc_notebook_meme)
        if entry is None:
            bare = cell_meme_uuid(lc_notebook_meme)
            if bare is not None:
                return self._notebooks_by_uuid.get(bare)
        return entry

    def cell_uuids(self) -> Collection[str]:
        """The MEME UUID of every textbook cell in the index."""
        return self._cells.keys()

    @property
    def notebook_count(self) -> int:
        """Number of distinct notebook MEMEs in the index."""
        return len(self._notebooks)

    def __len__(self) -> int:
        """Number of textbook cells (distinct cell MEME UUIDs) in the index."""
        return len(self._cells)

    def __repr__(self) -> str:
        return (
            f"MemeIndex(cells={len(self._cells)}, notebooks={len(self._notebooks)}, "
            f"problems={len(self.problems)})"
        )


def _column_positions(header: list[str]) -> dict[str, int]:
    names = [name.strip() for name in header]
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            raise MemeIndexError(f"line 1: column {name!r} appears twice in the header")
        seen[name] = position
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise MemeIndexError(
            f"line 1: header lacks required column(s) {', '.join(missing)} "
            f"(found: {', '.join(names) or 'nothing'})"
        )
    return seen


def _course_of(textbook_path: str) -> str:
    head, sep, _ = textbook_path.partition("/")
    return head if sep else ""


def _unambiguous_by_uuid(notebooks: Mapping[str, NotebookEntry]) -> dict[str, NotebookEntry]:
    by_uuid: dict[str, NotebookEntry] = {}
    ambiguous: set[str] = set()
    for meme, entry in notebooks.items():
        uuid = cell_meme_uuid(meme)
        if uuid is None or uuid in ambiguous:
            continue
        known = by_uuid.get(uuid)
        if known is None:
            by_uuid[uuid] = entry
        elif known != entry:
            del by_uuid[uuid]
            ambiguous.add(uuid)
    return by_uuid


def _line_list(lines: list[int]) -> str:
    """``line 7`` or ``lines 3, 7, 9`` (the first ten, then a count)."""
    if len(lines) == 1:
        return f"line {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:_LINES_SHOWN])
    extra = len(lines) - _LINES_SHOWN
    return f"lines {shown} and {extra} more" if extra > 0 else f"lines {shown}"


MemeIndex.EMPTY = MemeIndex({}, {})
