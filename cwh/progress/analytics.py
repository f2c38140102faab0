"""Where the class is stuck: per-question figures and the errors students hit most.

A teacher's next question after the heatmap is *which question is the class stuck on, and
with which error?* The stores aggregate (per student and question: the first attempt,
the first success and the attempts before it; per student, question and error name: the
failed runs and the newest message) and hand plain tuples to :func:`question_analytics`,
so Elasticsearch and the embedded store give equal answers for equal documents. Only the
grouping of error messages happens here: numbers, quoted strings, addresses and paths are
replaced by placeholders so that ``KeyError: '年齢'`` and ``KeyError: 'age'`` count as one
error.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from cwh.enrich import normalise_error
from cwh.progress.matrix import ProgressMatrix, Question

__all__ = [
    "ERROR_TEXT_LIMIT",
    "CommonError",
    "ErrorCount",
    "FirstSuccess",
    "QuestionAnalytics",
    "normalise_error",
    "question_analytics",
]

ERROR_TEXT_LIMIT = 200
"""Characters of an exception's name and message the stores group on (messages are
student-controlled and can be megabytes long)."""
COMMON_ERRORS = 3
"""Errors listed per question."""


class FirstSuccess(NamedTuple):
    """One student's way to a question's first success (times in epoch seconds)."""

    user_name: str
    qno: str
    first_time: int
    """Start of the first attempt."""
    first_ok_time: int | None
    """Start of the first successful run; None when none succeeded."""
    runs_before_ok: int
    """Runs started before ``first_ok_time`` (0 when there is no success)."""


class ErrorCount(NamedTuple):
    """Failed runs of one student at one question with one error name (the run's
    ``result_text``: by default the exception name) and message pattern (the run's
    ``error_pattern``, see :mod:`cwh.enrich.error_messages`; empty for runs stored without one),
    and the message (``evalue``) of the newest failed run of the class with that name and
    pattern at that question; cut to :data:`ERROR_TEXT_LIMIT` characters by the store."""

    user_name: str
    qno: str
    ename: str
    evalue: str
    runs: int
    pattern: str = ""


@dataclass(frozen=True, slots=True)
class CommonError:
    """One normalised error of one question: how often, and whom it hit."""

    ename: str
    message: str
    runs: int
    students: tuple[str, ...]

    @property
    def text(self) -> str:
        name = self.ename or "?"
        return f"{name}: {self.message}" if self.message else name


@dataclass(frozen=True, slots=True)
class QuestionAnalytics:
    """Per-question figures of one course."""

    question: Question
    tried: int
    succeeded: int
    latest_failed: int
    median_attempts: float | None
    """Median over students who succeeded of the runs up to and including the first
    success."""
    median_seconds: float | None
    """Median over students who succeeded of first success minus first attempt."""
    errors: tuple[CommonError, ...]

    @property
    def stuck(self) -> int:
        """Students who tried and have not succeeded yet."""
        return self.tried - self.succeeded


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def question_analytics(
    matrix: ProgressMatrix,
    firsts: Iterable[FirstSuccess],
    errors: Iterable[ErrorCount],
    *,
    common: int = COMMON_ERRORS,
) -> list[QuestionAnalytics]:
    """Per question of ``matrix`` (its students only), most stuck first.

    Sorted by students who tried without success (descending), then students whose latest
    run failed, then questions someone tried before those nobody tried, then fewest
    successes, then question number.
    """
    students = set(matrix.students)
    known = {q.qno for q in matrix.questions}
    attempts: dict[str, list[int]] = {}
    seconds: dict[str, list[int]] = {}
    for first in firsts:
        if first.user_name not in students or first.qno not in known:
            continue
        if first.first_ok_time is not None:
            attempts.setdefault(first.qno, []).append(first.runs_before_ok + 1)
            seconds.setdefault(first.qno, []).append(first.first_ok_time - first.first_time)
    grouped = _group_errors(errors, students, known)
    result = []
    for question in matrix.questions:
        cells = [matrix.cells.get((u, question.qno)) for u in matrix.students]
        present = [c for c in cells if c is not None]
        result.append(
            QuestionAnalytics(
                question=question,
                tried=len(present),
                succeeded=sum(1 for c in present if c.ok_runs > 0),
                latest_failed=sum(1 for c in present if c.latest_failed),
                median_attempts=_median(attempts.get(question.qno, [])),
                median_seconds=_median(seconds.get(question.qno, [])),
                errors=tuple(grouped.get(question.qno, ())[:common]),
            )
        )
    return sorted(
        result,
        key=lambda a: (-a.stuck, -a.latest_failed, a.tried == 0, a.succeeded, a.question.qno),
    )


def _group_errors(
    errors: Iterable[ErrorCount], students: set[str], known: set[str]
) -> Mapping[str, list[CommonError]]:
    """Per question, the normalised errors, most runs first (then most students, text)."""
    runs: dict[tuple[str, str, str], int] = {}
    hit: dict[tuple[str, str, str], set[str]] = {}
    normalised: dict[str, str] = {}
    for user, qno, ename, evalue, count, pattern in errors:
        if user not in students or qno not in known or count <= 0:
            continue
        message = pattern or normalised.get(evalue)
        if message is None:
            message = normalised[evalue] = normalise_error(evalue)
        key = (qno, " ".join(ename.split()), message)
        runs[key] = runs.get(key, 0) + count
        hit.setdefault(key, set()).add(user)
    per_question: dict[str, list[CommonError]] = {}
    for key in sorted(runs, key=lambda k: (k[0], -runs[k], -len(hit[k]), k[1], k[2])):
        per_question.setdefault(key[0], []).append(
            CommonError(key[1], key[2], runs[key], tuple(sorted(hit[key])))
        )
    return per_question
