"""A student's latest attempts at one question: what the report's drill-down shows.

Stores return at most a few attempts per (student, question), newest first, with the code,
the output and the error cut to :data:`ATTEMPT_TEXT_LIMIT` characters: everything here is
student-controlled, and a course of hundreds of students must not turn into a report of
hundreds of megabytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple

__all__ = [
    "ATTEMPT_TEXT_LIMIT",
    "DEFAULT_ATTEMPTS",
    "Attempt",
    "cap_text",
    "latest_per_cell",
]

ATTEMPT_TEXT_LIMIT = 2000
"""Characters of code, output and error message kept per attempt."""
DEFAULT_ATTEMPTS = 3
"""Attempts shown per student and question unless configured otherwise."""


class Attempt(NamedTuple):
    """One execution as the drill-down shows it (times in epoch seconds)."""

    user_name: str
    qno: str
    start_time: int
    end_time: int | None
    status: str
    code: str
    output: str
    ename: str
    evalue: str
    doc_id: str
    """The store's id: orders executions that started in the same second."""


def cap_text(value: object, limit: int = ATTEMPT_TEXT_LIMIT) -> str:
    """``value`` if it is text of at most ``limit`` characters, else its start and "…";
    anything but text (a hostile kernel may log a number or a list) is empty."""
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + "…"


def latest_per_cell(
    attempts: Iterable[Attempt], per_cell: int
) -> dict[tuple[str, str], tuple[Attempt, ...]]:
    """Per (student, question), the newest ``per_cell`` attempts, newest first (by start,
    then id: both stores break a tie the same way)."""
    cells: dict[tuple[str, str], list[Attempt]] = {}
    for attempt in attempts:
        key = (attempt[0], attempt[1])
        found = cells.get(key)
        if found is None:
            cells[key] = [attempt]
        else:
            found.append(attempt)
    newest = itemgetter(2, 9)  # start_time, doc_id
    return {
        key: tuple(sorted(found, key=newest, reverse=True)[:per_cell])
        for key, found in cells.items()
    }
