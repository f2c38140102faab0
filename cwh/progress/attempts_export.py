"""The ``attempts`` export: the drill-down's attempts as a CSV, one record per attempt.

Researchers want what students actually tried, not only counts: every attempt the HTML
drill-down shows (the newest N per student and question, N = ``attempts_per_cell``; none
when the drill-down is off, so the file is its header alone), columns
:data:`ATTEMPT_COLUMNS`. Records are ordered like the csv export's rows (by the names or
pseudonyms shown), then by question in the textbook's order, then newest first; attempts at
a question that is no longer in the textbook are not shown in the drill-down and not here.

Code, output and error messages are student-controlled text with line breaks, quotes,
commas, NUL and other control characters. Every value of a record is quoted, so a lone
carriage return (a progress bar's output) cannot end a record either, and Python's csv
module and pandas read one record per attempt. A value that a spreadsheet would take for a
formula gets a leading ``'`` exactly as in the csv export; a lone surrogate (which UTF-8
cannot carry) becomes U+FFFD. That text can also carry names (a home path, a ``print`` of
the user), so pseudonymised exports leave ``code``, ``output`` and ``error_message`` empty
unless free text is asked for; ``error_name`` (an exception's class name) stays.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, tzinfo

import pandas as pd  # type: ignore[import-untyped]

from cwh.progress.attempts import Attempt
from cwh.progress.exports import NameMap, formula_safe, iso_time, real_names, shown_students
from cwh.progress.matrix import ProgressMatrix

__all__ = ["ATTEMPT_COLUMNS", "attempts_frame", "render_attempts"]

ATTEMPT_COLUMNS = (
    "course", "user_name", "local_name", "qno", "qlabel", "start_time", "end_time",
    "status", "error_name", "error_message", "code", "output",
)  # fmt: skip
_SURROGATE = re.compile("[\ud800-\udfff]")

AttemptsByCell = Mapping[tuple[str, str], Sequence[Attempt]]
"""A course's shown attempts per (user name, qno), newest first."""


def _text(value: object) -> str:
    """Stored text as UTF-8 can write it; anything but text (a hostile kernel's number or
    list) is empty."""
    if not isinstance(value, str):
        return ""
    return _SURROGATE.sub("\ufffd", value)


def attempts_frame(
    matrix: ProgressMatrix,
    attempts: AttemptsByCell,
    tz: tzinfo = UTC,
    names: NameMap = real_names,
    *,
    free_text: bool = True,
) -> pd.DataFrame:
    """One row per shown attempt of ``matrix``'s students, columns :data:`ATTEMPT_COLUMNS`;
    without ``free_text``, ``error_message``, ``code`` and ``output`` are empty."""
    rows: list[tuple[str, ...]] = []
    for user, shown_user, shown_local in shown_students(matrix, names):
        for question in matrix.questions:
            for attempt in attempts.get((user, question.qno), ()):
                if free_text:
                    message, code, output = attempt.evalue, attempt.code, attempt.output
                else:
                    message = code = output = ""
                rows.append(
                    (
                        matrix.course, shown_user, shown_local, question.qno,
                        question.qlabel or "", iso_time(attempt.start_time, tz),
                        iso_time(attempt.end_time, tz), _text(attempt.status),
                        _text(attempt.ename), _text(message), _text(code), _text(output),
                    )
                )  # fmt: skip
    return pd.DataFrame(rows, columns=list(ATTEMPT_COLUMNS))


def render_attempts(
    matrix: ProgressMatrix,
    attempts: AttemptsByCell,
    tz: tzinfo = UTC,
    names: NameMap = real_names,
    *,
    free_text: bool = True,
) -> bytes:
    """The attempts export of one course (UTF-8, no byte-order mark): the header line as
    :data:`ATTEMPT_COLUMNS`, then one record per attempt with every value quoted."""
    frame = attempts_frame(matrix, attempts, tz, names, free_text=free_text).map(formula_safe)
    records: str = frame.to_csv(
        index=False, header=False, lineterminator="\n", quoting=csv.QUOTE_ALL
    )
    return (",".join(ATTEMPT_COLUMNS) + "\n" + records).encode("utf-8")
