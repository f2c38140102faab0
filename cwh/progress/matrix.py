"""The teacher's progress view: students x questions, built from aggregated executions.

Stores aggregate executions per (student, question, status) — Elasticsearch with nested
``terms`` or composite aggregations, SQLite with ``GROUP BY`` — and hand the groups to
:func:`combine_status_counts`, so both stores apply exactly the same rule for "the latest
status" and produce equal matrices for equal input. The matrix then lays those cells over
*every* question of the textbook index and *every* student of the roster: a question
nobody ran and a student who ran nothing are exactly what a teacher needs to see during
class.

Students are keyed by ``user_name`` (unique), never by ``local_name``, which collides across
users (``alexx1f2e3d`` and ``alexx9a8b7c`` are both "alex"); labels show the local name when
it is unambiguous.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from enum import Enum
from typing import Any, NamedTuple

import pandas as pd  # type: ignore[import-untyped]

from cwh.enrich import local_name
from cwh.messages import Language, text
from cwh.progress.window import show_start_time
from cwh.textbook import course_server_of

__all__ = [
    "OK_STATUS",
    "CellState",
    "Completion",
    "ProgressCell",
    "ProgressMatrix",
    "Question",
    "QuestionCompletion",
    "StatusCount",
    "StudentCompletion",
    "build_matrix",
    "combine_status_counts",
    "completion",
    "courses_of",
    "questions_from_index_text",
]

OK_STATUS = "ok"


class ProgressInputError(ValueError):
    """Input that cannot describe progress (an index without question columns, say)."""


@dataclass(frozen=True, slots=True)
class Question:
    """One question of the textbook, as the MEME index names it."""

    qno: str
    qlabel: str | None
    textbook_path: str
    course_server: str

    @property
    def label(self) -> str:
        return f"{self.qno} {self.qlabel}" if self.qlabel else self.qno


class StatusCount(NamedTuple):
    """Executions of one question by one student that ended with one status.

    A named tuple rather than a dataclass: stores build tens of thousands per report and
    tuple creation is several times cheaper.
    """

    user_name: str
    qno: str
    status: str
    runs: int
    last_time: int
    """Latest ``start_time`` (epoch seconds) among these executions."""


@dataclass(frozen=True, slots=True)
class ProgressCell:
    """Everything the report says about one student and one question."""

    user_name: str
    qno: str
    runs: int
    ok_runs: int
    last_status: str
    last_time: int

    @property
    def latest_failed(self) -> bool:
        return self.last_status != OK_STATUS


class CellState(Enum):
    """What the heatmap colours: the three things a teacher acts on."""

    NOT_RUN = "not run"
    OK = "ok"
    FAILED = "latest failed"


def combine_status_counts(counts: Iterable[StatusCount]) -> list[ProgressCell]:
    """Merge per-status groups into one cell per (student, question).

    The latest status is the status whose latest execution is the newest. Start times
    have one-second resolution; when a failing and a successful execution share the newest
    second, the failure wins, because a teacher would rather look once too often than miss
    a student who is stuck. Cells come back sorted by student, then question.
    """
    # One pass, unpacking the tuples (a named tuple's attributes cost a call each): a report
    # over a term of history combines tens of thousands of groups.
    merged: dict[tuple[str, str], list[Any]] = {}
    for user, qno, status, runs, last_time in counts:
        if runs <= 0:
            continue
        ok = status == OK_STATUS
        latest = (last_time, not ok, status)
        entry = merged.get((user, qno))
        if entry is None:
            merged[(user, qno)] = [runs, runs if ok else 0, latest]
            continue
        entry[0] += runs
        if ok:
            entry[1] += runs
        if latest > entry[2]:
            entry[2] = latest
    return [
        ProgressCell(user, qno, runs, ok_runs, latest[2], latest[0])
        for (user, qno), (runs, ok_runs, latest) in sorted(merged.items())
    ]


def questions_from_index_text(text: str) -> list[Question]:
    """The questions of a MEME index CSV, ordered by question number.

    Only the columns the report needs are read, so an older index (without
    ``qlabel``/``course_server``) works too; a missing
    ``course_server`` is the first directory of ``textbook_path``, as the indexer derives it.
    A question number is unique within its course only: indexes of separately numbered
    courses, concatenated, each keep all their questions (the first row of a repeated
    course and number wins).
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = set(reader.fieldnames or ())
    missing = {"qno", "textbook_path"} - header
    if missing:
        raise ProgressInputError(
            f"the MEME index lacks column(s) {', '.join(sorted(missing))}; "
            "build it with 'cwh textbook index'"
        )
    questions: dict[tuple[str, str], Question] = {}
    for record in reader:
        qno = (record.get("qno") or "").strip()
        if not qno:
            continue
        path = record.get("textbook_path") or ""
        course = record.get("course_server")
        if course is None:
            course = course_server_of(path)
        if (course, qno) not in questions:
            questions[(course, qno)] = Question(qno, record.get("qlabel") or None, path, course)
    return sorted(questions.values(), key=lambda q: (q.qno, q.course_server))


def courses_of(questions: Iterable[Question]) -> list[str]:
    return sorted({q.course_server for q in questions})


@dataclass(frozen=True)
class ProgressMatrix:
    """Students x questions for one course; absent cells mean "not run"."""

    course: str
    students: tuple[str, ...]
    questions: tuple[Question, ...]
    cells: Mapping[tuple[str, str], ProgressCell]
    runs_outside_textbook: int = 0
    """Runs whose qno is not (or no longer) a question of the course's current index."""
    labels: Mapping[str, str] = field(default_factory=dict)
    suspect_runs: int = 0
    """Suspect executions of the course, window and students: their record does not match
    the files on disk (see ``cwh.enrich.provenance``)."""
    suspect_included: bool = False
    """Whether the cells count the suspect executions; by default they are left out."""
    others_left_out: int = 0
    """Users with runs who are not students of the course's roster (teachers, assistants),
    left out of the matrix."""

    def suspect_note(self, language: Language = "en") -> str | None:
        """One sentence on the suspect executions, None when there are none."""
        if not self.suspect_runs:
            return None
        one = "progress.suspect.one" if self.suspect_runs == 1 else "progress.suspect.many"
        runs = text(one, language, count=self.suspect_runs)
        key = "progress.suspect.included" if self.suspect_included else "progress.suspect.left_out"
        return text(key, language, runs=runs)

    def others_note(self, language: Language = "en") -> str | None:
        """One sentence on the users outside the student group left out, None for none."""
        if not self.others_left_out:
            return None
        return text("progress.others.left_out", language, count=self.others_left_out)

    def cell(self, user_name: str, qno: str) -> ProgressCell | None:
        return self.cells.get((user_name, qno))

    def state(self, user_name: str, qno: str) -> CellState:
        cell = self.cells.get((user_name, qno))
        if cell is None:
            return CellState.NOT_RUN
        return CellState.FAILED if cell.latest_failed else CellState.OK

    def label(self, user_name: str) -> str:
        return self.labels.get(user_name, user_name)

    def to_frame(self) -> pd.DataFrame:
        """Long form: one row per student and question, including those never run."""
        rows = []
        for user in self.students:
            for question in self.questions:
                cell = self.cells.get((user, question.qno))
                rows.append(
                    {
                        "user_name": user,
                        "student": self.label(user),
                        "qno": question.qno,
                        "qlabel": question.qlabel,
                        "runs": cell.runs if cell else 0,
                        "ok_runs": cell.ok_runs if cell else 0,
                        "last_status": cell.last_status if cell else None,
                        "last_time": cell.last_time if cell else None,
                        "state": self.state(user, question.qno).value,
                    }
                )
        columns = [
            "user_name", "student", "qno", "qlabel", "runs", "ok_runs",
            "last_status", "last_time", "state",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def state_frame(self) -> pd.DataFrame:
        """Wide form of the states: index = students, columns = question numbers."""
        data = [[self.state(u, q.qno).value for q in self.questions] for u in self.students]
        return pd.DataFrame(
            data,
            index=pd.Index(list(self.students), name="user_name"),
            columns=[q.qno for q in self.questions],
        )

    def table_rows(self, tz: tzinfo = UTC) -> list[dict[str, Any]]:
        """One row per student for a table artifact: ``runs/ok status HH:MM`` per question."""
        rows = []
        for user in self.students:
            row: dict[str, Any] = {"student": self.label(user), "user_name": user}
            for question in self.questions:
                cell = self.cells.get((user, question.qno))
                row[question.label] = (
                    ""
                    if cell is None
                    else f"{cell.ok_runs}/{cell.runs} {cell.last_status} "
                    f"{show_start_time(cell.last_time, tz)}"
                )
            rows.append(row)
        return rows


def build_matrix(
    course: str,
    questions: Iterable[Question],
    cells: Iterable[ProgressCell],
    roster: Iterable[str] = (),
    students: Sequence[str] | None = None,
    *,
    roster_only: bool = False,
) -> ProgressMatrix:
    """Lay ``cells`` over every question of ``course`` and every student.

    Students are the roster plus anyone with a run in the course; ``students`` (user or
    local names), when given, narrows both to those named. Runs of question numbers that
    the course's index does not list are counted in ``runs_outside_textbook`` instead of
    growing phantom columns. With ``roster_only``, users outside the roster (teachers and
    assistants trying the exercises) are left out and counted in ``others_left_out``.
    """
    course_questions = tuple(q for q in questions if q.course_server == course)
    known = {q.qno for q in course_questions}
    kept: dict[tuple[str, str], ProgressCell] = {}
    outside = 0
    users = set(roster)
    others: set[str] = set()
    for cell in cells:
        if roster_only and cell.user_name not in users:
            others.add(cell.user_name)
            continue
        if cell.qno in known:
            kept[(cell.user_name, cell.qno)] = cell
            users.add(cell.user_name)
        else:
            outside += cell.runs
    if students is not None:
        wanted = set(students)
        users = {u for u in users if u in wanted or local_name(u) in wanted}
        kept = {key: cell for key, cell in kept.items() if key[0] in users}
    ordered = tuple(sorted(users, key=lambda u: (local_name(u), u)))
    return ProgressMatrix(
        course=course,
        students=ordered,
        questions=course_questions,
        cells=kept,
        runs_outside_textbook=outside,
        labels=_labels(ordered),
        others_left_out=len(others),
    )


def _labels(users: Sequence[str]) -> dict[str, str]:
    by_local: dict[str, list[str]] = {}
    for user in users:
        by_local.setdefault(local_name(user), []).append(user)
    labels = {}
    for short, owners in by_local.items():
        for user in owners:
            labels[user] = short if len(owners) == 1 and short else user
    return labels


@dataclass(frozen=True, slots=True)
class _Tally:
    """Counts over one row (a student's questions) or one column (a question's students)."""

    completed: int
    """Cells with at least one successful run."""
    attempted: int
    failing: int
    """Cells whose latest run failed."""
    total: int

    @property
    def ratio(self) -> float:
        return self.completed / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class StudentCompletion(_Tally):
    user_name: str
    label: str


@dataclass(frozen=True, slots=True)
class QuestionCompletion(_Tally):
    question: Question


@dataclass(frozen=True)
class Completion:
    students: tuple[StudentCompletion, ...]
    questions: tuple[QuestionCompletion, ...]
    stuck: tuple[ProgressCell, ...]
    """Cells whose latest run failed, most recent first."""


def completion(matrix: ProgressMatrix) -> Completion:
    """Completion per student and per question, and who is stuck where."""
    students = []
    for user in matrix.students:
        row = [matrix.cells.get((user, q.qno)) for q in matrix.questions]
        students.append(StudentCompletion(*_tally(row), user_name=user, label=matrix.label(user)))
    questions = []
    for question in matrix.questions:
        column = [matrix.cells.get((u, question.qno)) for u in matrix.students]
        questions.append(QuestionCompletion(*_tally(column), question=question))
    stuck = sorted(
        (c for c in matrix.cells.values() if c.latest_failed),
        key=lambda c: (-c.last_time, c.user_name, c.qno),
    )
    return Completion(tuple(students), tuple(questions), tuple(stuck))


def _tally(cells: list[ProgressCell | None]) -> tuple[int, int, int, int]:
    """The fields of :class:`_Tally` for one row or column (``None`` where a cell has no runs)."""
    present = [c for c in cells if c is not None]
    completed = sum(1 for c in present if c.ok_runs > 0)
    failing = sum(1 for c in present if c.latest_failed)
    return completed, len(present), failing, len(cells)
