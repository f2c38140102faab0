"""Progress exports for spreadsheets, research and the LMS: csv, xlsx and a Moodle gradebook
(the fourth format, ``attempts``, is in :mod:`cwh.progress.attempts_export`).

Every export is built from the :class:`~cwh.progress.matrix.ProgressMatrix`, so it covers the
whole roster x textbook index with zeros where nothing was run, exactly like the heatmap.

* ``csv``: one row per (student, question), columns :data:`EXPORT_COLUMNS`;
  ``latest_status`` is ``ok``, ``error`` (any other status the kernel reported) or empty
  when the question was not run; ``latest_time`` is ISO 8601 with the offset of the report's
  time zone, empty when not run (or when the stored time is missing or no date at all).
* ``xlsx``: a ``summary`` sheet, then the same rows with one sheet per course.
* ``moodle``: what Moodle's "Import grades -> CSV file" reads: one row per student, the
  ``username`` column to map to Moodle's *username*, one column per question with 1 (solved:
  at least one successful run) or 0, and ``total``.
* ``attempts``: the drill-down's attempts with their code and output, one record each.

Student names are untrusted text: a cell starting with ``=``, ``+``, ``-``, ``@`` (or their
full-width forms, a tab or a carriage return) would become a formula in a spreadsheet, so in
CSV it gets a leading ``'`` and in xlsx it is stored as a string with Excel's quote prefix
(the text itself unchanged). XML cannot hold C0 control characters other than tab and line
breaks; xlsx shows them as U+FFFD, and its line ends are ``\n`` (XML readers turn a
carriage return into one anyway). With pseudonyms, rows are ordered by pseudonym, never by
name, so their order gives nothing away.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, get_args

import pandas as pd  # type: ignore[import-untyped]
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from cwh.enrich import local_name
from cwh.messages import Language, text
from cwh.progress.matrix import OK_STATUS, ProgressMatrix

__all__ = [
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ExportConfigError",
    "ExportFormat",
    "NameMap",
    "escape_formula",
    "moodle_frame",
    "parse_formats",
    "progress_frame",
    "real_names",
    "render_csv",
    "render_moodle",
    "render_xlsx",
    "sheet_names",
]

ExportFormat = Literal["csv", "xlsx", "moodle", "attempts"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
EXPORT_COLUMNS = (
    "course", "user_name", "local_name", "qno", "qlabel",
    "runs", "ok_runs", "latest_status", "latest_time",
)  # fmt: skip
SUMMARY_SHEET = "summary"
SUMMARY_COLUMNS = (
    "course", "sheet", "students", "questions", "attempted", "solved", "latest_failed",
    "runs", "ok_runs",
)  # fmt: skip
MOODLE_ID_COLUMN = "username"
MOODLE_TOTAL_COLUMN = "total"
ERROR_STATUS = "error"
_SHEET_LIMIT = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
_RESERVED_SHEETS = (SUMMARY_SHEET, "history")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")

NameMap = Callable[[str], tuple[str, str]]
"""What an export shows for a user name: (user name, local name), real or pseudonyms."""


class ExportConfigError(ValueError):
    """An export request that cannot be met (an unknown format, say)."""

    permanent = True
    """Retrying cannot help (read by the tasks' retry condition)."""


def real_names(user_name: str) -> tuple[str, str]:
    return user_name, local_name(user_name)


def parse_formats(
    values: Iterable[str] | None, language: Language = "en"
) -> tuple[ExportFormat, ...]:
    """The export formats named by ``--format`` options or a flow parameter.

    Each value may be a comma list; case and spaces are ignored and ``html`` (always
    written) is accepted and skipped. The result is in :data:`EXPORT_FORMATS` order.
    """
    wanted: set[str] = set()
    for value in values or ():
        for part in value.split(","):
            name = part.strip().lower()
            if not name or name == "html":
                continue
            if name not in EXPORT_FORMATS:
                shown = name if len(name) <= 20 else name[:20] + "..."
                known = ", ".join(("html", *EXPORT_FORMATS))
                raise ExportConfigError(
                    text("exports.format.unknown", language, name=repr(shown), known=known)
                )
            wanted.add(name)
    return tuple(f for f in EXPORT_FORMATS if f in wanted)


def escape_formula(value: str) -> str:
    """``value`` as CSV text no spreadsheet turns into a formula (a leading ``'`` if needed)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def formula_safe(value: object) -> object:
    """A frame's cell with :func:`escape_formula` applied when it is text."""
    return escape_formula(value) if isinstance(value, str) else value


def iso_time(epoch: object, tz: tzinfo) -> str:
    """Epoch seconds as ISO 8601 in ``tz``; empty for a missing time (0 or none) and for a
    value that is no date (a kernel can claim 9999-12-31, or text)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or not epoch:
        return ""
    try:
        moment = datetime.fromtimestamp(int(epoch), tz)
    except (OverflowError, OSError, ValueError):
        return ""
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        # A local mean time of centuries ago (+09:18:59): ISO 8601 offsets have no seconds.
        moment = moment.astimezone(UTC)
    return moment.isoformat()


def shown_students(matrix: ProgressMatrix, names: NameMap) -> list[tuple[str, str, str]]:
    """(user name, shown user name, shown local name), ordered by what is shown."""
    shown = [(user, *names(user)) for user in matrix.students]
    return sorted(shown, key=lambda row: (row[2], row[1]))


def progress_frame(
    matrix: ProgressMatrix, tz: tzinfo = UTC, names: NameMap = real_names
) -> pd.DataFrame:
    """One row per (student, question) of the whole matrix, columns :data:`EXPORT_COLUMNS`."""
    rows: list[tuple[object, ...]] = []
    for user, shown_user, shown_local in shown_students(matrix, names):
        for question in matrix.questions:
            cell = matrix.cell(user, question.qno)
            if cell is None:
                status, when, runs, ok_runs = "", "", 0, 0
            else:
                status = OK_STATUS if cell.last_status == OK_STATUS else ERROR_STATUS
                when, runs, ok_runs = iso_time(cell.last_time, tz), cell.runs, cell.ok_runs
            names_part = (matrix.course, shown_user, shown_local, question.qno)
            rows.append((*names_part, question.qlabel or "", runs, ok_runs, status, when))
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))


def moodle_frame(matrix: ProgressMatrix, names: NameMap = real_names) -> pd.DataFrame:
    """One row per student: ``username``, 1/0 per question (solved or not), ``total``."""
    headers = [question.label for question in matrix.questions]
    rows: list[list[object]] = []
    for user, shown_user, _ in shown_students(matrix, names):
        solved = [
            1 if (cell := matrix.cell(user, q.qno)) is not None and cell.ok_runs > 0 else 0
            for q in matrix.questions
        ]
        rows.append([shown_user, *solved, sum(solved)])
    return pd.DataFrame(rows, columns=[MOODLE_ID_COLUMN, *headers, MOODLE_TOTAL_COLUMN])


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    escaped = frame.rename(columns=escape_formula).map(formula_safe)
    # The csv module quotes a value holding a line feed but not one holding a carriage
    # return alone, which every reader takes for the end of the record: a file with such a
    # value quotes all its text.
    lone_return = any(
        isinstance(value, str) and "\r" in value
        for column in escaped.columns
        for value in escaped[column].tolist()
    )
    quoting = csv.QUOTE_NONNUMERIC if lone_return else csv.QUOTE_MINIMAL
    rendered: str = escaped.to_csv(index=False, lineterminator="\n", quoting=quoting)
    return rendered.encode("utf-8")


def render_csv(matrix: ProgressMatrix, tz: tzinfo = UTC, names: NameMap = real_names) -> bytes:
    """The csv export of one course (UTF-8, no byte-order mark)."""
    return _csv_bytes(progress_frame(matrix, tz, names))


def render_moodle(matrix: ProgressMatrix, names: NameMap = real_names) -> bytes:
    """The Moodle gradebook CSV of one course (UTF-8, comma separated)."""
    return _csv_bytes(moodle_frame(matrix, names))


def sheet_names(courses: Sequence[str]) -> list[str]:
    """Excel sheet names for ``courses``: at most 31 characters, none of ``[]:*?/\\``, not
    starting or ending with ``'``, unique ignoring case, never ``summary`` or ``History``."""
    taken = set(_RESERVED_SHEETS)
    names = []
    for course in courses:
        base = _SHEET_FORBIDDEN.sub("_", course).strip("'").strip() or "course"
        name = base[:_SHEET_LIMIT]
        number = 1
        while name.casefold() in taken:
            number += 1
            suffix = f"~{number}"
            name = base[: _SHEET_LIMIT - len(suffix)].rstrip("'") + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def _xml_text(value: object) -> object:
    """Text as XML keeps it: line ends as ``\n`` (XML readers normalise them anyway) and the
    control characters XML 1.0 cannot carry as U+FFFD."""
    if not isinstance(value, str):
        return value
    return _XML_ILLEGAL.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))


def _summary_row(matrix: ProgressMatrix, sheet: str) -> tuple[object, ...]:
    cells = matrix.cells.values()
    return (
        matrix.course,
        sheet,
        len(matrix.students),
        len(matrix.questions),
        len(cells),
        sum(1 for c in cells if c.ok_runs > 0),
        sum(1 for c in cells if c.latest_failed),
        sum(c.runs for c in cells),
        sum(c.ok_runs for c in cells),
    )


def render_xlsx(
    matrices: Sequence[ProgressMatrix],
    tz: tzinfo = UTC,
    names: NameMap = real_names,
    *,
    generated_at: datetime | None = None,
) -> bytes:
    """One workbook: the ``summary`` sheet, then one sheet per course (the csv rows).

    Written in openpyxl's write-only mode, which streams rows to the file instead of
    building a cell object per value: several times faster for a class of hundreds of
    students by a hundred questions.
    """
    sheets = sheet_names([m.course for m in matrices])
    summary = pd.DataFrame(
        [_summary_row(m, s) for m, s in zip(matrices, sheets, strict=True)],
        columns=list(SUMMARY_COLUMNS),
    )
    frames = [(SUMMARY_SHEET, summary)]
    frames += [(s, progress_frame(m, tz, names)) for m, s in zip(matrices, sheets, strict=True)]
    book = Workbook(write_only=True)
    for name, frame in frames:
        _write_sheet(book.create_sheet(name), frame)
    if generated_at is not None:
        moment = generated_at.astimezone(UTC).replace(tzinfo=None)
        book.properties.created = moment
        book.properties.modified = moment
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write_sheet(sheet: Any, frame: pd.DataFrame) -> None:
    """Header and rows, strings kept strings: nothing we write is a formula, a cell that a
    spreadsheet would read as one when edited gets the quote prefix, and empty text is an
    empty cell. Widths fit the text, capped; the header row stays in view."""
    header = [_xml_text(column) for column in frame.columns]
    columns = [[_xml_text(value) for value in frame[column].tolist()] for column in frame.columns]
    for number, (title, values) in enumerate(zip(header, columns, strict=True), start=1):
        longest = max((len(v) for v in values if isinstance(v, str)), default=0)
        width = max(len(str(title)) + 2, min(longest + 2, 40), 8)
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_xlsx_cell(sheet, value) for value in header])
    for row in zip(*columns, strict=True):
        sheet.append([_xlsx_cell(sheet, value) for value in row])


def _xlsx_cell(sheet: Any, value: object) -> object:
    if value == "":
        return None
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell
    return value
