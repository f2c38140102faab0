"""Index rows: from scanned notebooks and their numbers to the MEME index CSV.

The CSV is the contract with ``cwh enrich``:
header ``qno, qlabel, lc_cell_meme, lc_notebook_meme, textbook_path, course_server,
code``, the csv module's default dialect, UTF-8 without BOM. ``lc_cell_meme`` loses its
branch numbers by default (first five ``-`` parts) because executions are matched on
the cell's UUID, while students' copies carry their own branch numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from cwh.textbook.paths import course_server_of
from cwh.textbook.scanner import ScannedNotebook

MEME_UUID_PARTS = 5
UUID_LENGTH = 36


class IndexRow(NamedTuple):
    """One question cell of the textbook, as written to the index (a tuple, so the csv
    module writes it without conversion; 12,000 rows are written on every build)."""

    qno: str
    qlabel: str
    lc_cell_meme: str
    lc_notebook_meme: str
    textbook_path: str
    course_server: str
    code: str


INDEX_COLUMNS: tuple[str, ...] = IndexRow._fields


def strip_branch_number(meme: str) -> str:
    """Keep the UUID part of a MEME (its first five ``-`` parts); other values unchanged."""
    if (
        len(meme) > UUID_LENGTH
        and meme[UUID_LENGTH] == "-"
        and meme.count("-", 0, UUID_LENGTH) == 4
    ):
        return meme[:UUID_LENGTH]  # the usual shape, without splitting
    parts = meme.split("-", MEME_UUID_PARTS)
    return "-".join(parts[:MEME_UUID_PARTS]) if len(parts) > MEME_UUID_PARTS else meme


def first_label(pattern: re.Pattern[str] | None, markdown: str | None) -> str:
    if pattern is None or markdown is None:
        return ""
    found = pattern.search(markdown)
    return found.group(0) if found else ""


def build_rows(
    notebooks: Iterable[ScannedNotebook],
    numbers: Mapping[str, int],
    *,
    qno_format: str,
    qlabel_pattern: re.Pattern[str] | None,
    keep_branch_number: bool,
) -> list[IndexRow]:
    """Rows in question-number order: by notebook number, then by cell order."""
    rows: list[IndexRow] = []
    for notebook in sorted(notebooks, key=lambda nb: (numbers[nb.path], nb.path)):
        if notebook.content is None:
            continue
        number = numbers[notebook.path]
        notebook_meme = notebook.content.notebook_meme or ""
        path = notebook.path
        course = course_server_of(path)
        for cell_index, cell in enumerate(notebook.content.questions):
            meme = cell.cell_meme if keep_branch_number else strip_branch_number(cell.cell_meme)
            label = first_label(qlabel_pattern, cell.preceding_markdown)
            qno = qno_format.format(number, cell_index)
            rows.append(IndexRow(qno, label, meme, notebook_meme, path, course, cell.code))
    return rows


def render_csv(rows: Iterable[IndexRow]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


class IndexFormatError(ValueError):
    """An existing index file that does not have the expected columns."""


def parse_csv(data: bytes) -> list[IndexRow]:
    """Read an index written by :func:`render_csv` or by an older indexer.

    Missing optional columns (older indexes lack ``qlabel``/``course_server``) read as
    ``""``; a file without ``qno``/``lc_cell_meme`` is rejected.
    """
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    missing = {"qno", "lc_cell_meme", "lc_notebook_meme"} - set(header)
    if missing:
        raise IndexFormatError(f"not a MEME index: missing column(s) {', '.join(sorted(missing))}")
    exact = tuple(header) == INDEX_COLUMNS
    positions = [header.index(name) if name in header else None for name in INDEX_COLUMNS]
    rows: list[IndexRow] = []
    for line, record in enumerate(reader, start=2):
        if not record:
            continue
        if exact:
            if len(record) != len(INDEX_COLUMNS):
                raise IndexFormatError(
                    f"line {line} has {len(record)} fields, expected {len(INDEX_COLUMNS)}"
                )
            rows.append(IndexRow._make(record))
        else:
            rows.append(
                IndexRow._make(
                    record[p] if p is not None and p < len(record) else "" for p in positions
                )
            )
    return rows
