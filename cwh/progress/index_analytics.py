"""The per-question analytics and the drill-down, assembled from one part per index.

Executions live in daily indices and during class only the newest change. A report every
few minutes over a term of history would otherwise aggregate every execution again for
the first successes, the errors and the newest attempts of each (student, question). So
the Elasticsearch store computes these figures **per index** (:class:`IndexAnalytics`),
keeps the parts of unchanged indices between reports (:class:`AnalyticsCache`, tied to
each index's marker like :mod:`cwh.progress.cache`) and combines them here:

* newest attempts: the newest N of the union are among each index's newest N;
* errors: failed runs add up; the message shown is the newest of all indices (by start,
  then id, as a single query orders them);
* first successes: the first attempt and the first success are minimums. The runs before
  the first success add up per index: all runs of an index that ended before it, none of
  an index that started at or after it, the index's own count for the index that holds
  it. An index that straddles another index's first success (executions are filed by
  day, so only a backfill or a clock far off does that) cannot be split from its part:
  :func:`runs_before_needed` names those (index, cell, cutoff) and the store counts them.

Every figure is therefore exactly what one query over all indices gives; the store's tests
compare both ways, and with the embedded store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from cwh.progress.analytics import ErrorCount, FirstSuccess
from cwh.progress.attempts import Attempt, latest_per_cell
from cwh.progress.columns import MAYBE_NUMBER, NUMBER, TEXT, columns_of, rows_of

__all__ = [
    "AnalyticsCache",
    "CellSpan",
    "CourseAnalytics",
    "ErrorRuns",
    "IndexAnalytics",
    "NewestMessage",
    "RunsBefore",
    "combine_attempts",
    "combine_errors",
    "combine_first_successes",
    "runs_before_needed",
]

FORMAT_VERSION = 1


class CellSpan(NamedTuple):
    """One (student, question) within one index (times in epoch seconds)."""

    user_name: str
    qno: str
    first_time: int
    last_time: int
    runs: int
    first_ok_time: int | None
    runs_before_ok: int
    """This index's runs started before its own ``first_ok_time`` (0 without one)."""


class ErrorRuns(NamedTuple):
    """Failed runs of one student at one question with one error name and message
    pattern (``error_pattern``, empty when not stored), in one index."""

    user_name: str
    qno: str
    ename: str
    pattern: str
    runs: int


class NewestMessage(NamedTuple):
    """The newest failed run's message of one (question, error name, pattern) in one
    index."""

    qno: str
    ename: str
    pattern: str
    start_time: int
    doc_id: str
    evalue: str


class RunsBefore(NamedTuple):
    """A count the parts cannot give: the runs of one cell in one index before ``cutoff``."""

    index_name: str
    user_name: str
    qno: str
    cutoff: int


@dataclass(frozen=True)
class IndexAnalytics:
    """What one index contributes to a course's analytics and drill-down."""

    marker: str
    """The index's content marker when these were computed (see :mod:`cwh.progress.cache`)."""
    spans: tuple[CellSpan, ...] = ()
    errors: tuple[ErrorRuns, ...] = ()
    messages: tuple[NewestMessage, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    """The index's newest attempts per cell (as many as the report shows)."""


@dataclass(frozen=True)
class CourseAnalytics:
    """A course's first successes, error counts and newest attempts, as the stores' three
    queries (:class:`tasks.store.Store`) return them."""

    firsts: list[FirstSuccess]
    errors: list[ErrorCount]
    attempts: list[Attempt]


def runs_before_needed(parts: Mapping[str, IndexAnalytics]) -> list[RunsBefore]:
    """The counts :func:`combine_first_successes` needs from the store (usually none)."""
    first_ok = _first_ok_times(parts)
    needed = []
    for name, part in parts.items():
        for span in part.spans:
            cutoff = first_ok.get((span.user_name, span.qno))
            if cutoff is not None and _straddles(span, cutoff):
                needed.append(RunsBefore(name, span.user_name, span.qno, cutoff))
    return needed


def combine_first_successes(
    parts: Mapping[str, IndexAnalytics], counted: Mapping[RunsBefore, int]
) -> list[FirstSuccess]:
    """Per (student, question), over all ``parts``; ``counted`` answers
    :func:`runs_before_needed` (a missing answer is a ``KeyError``: never a guess)."""
    first_ok = _first_ok_times(parts)
    firsts: dict[tuple[str, str], int] = {}
    before: dict[tuple[str, str], int] = {}
    for name, part in parts.items():
        for span in part.spans:
            key = (span.user_name, span.qno)
            known = firsts.get(key)
            firsts[key] = span.first_time if known is None else min(known, span.first_time)
            cutoff = first_ok.get(key)
            if cutoff is None:
                continue
            if span.first_ok_time == cutoff:
                runs = span.runs_before_ok
            elif span.last_time < cutoff:
                runs = span.runs
            elif span.first_time >= cutoff:
                runs = 0
            else:
                runs = counted[RunsBefore(name, key[0], key[1], cutoff)]
            before[key] = before.get(key, 0) + runs
    return [
        FirstSuccess(user, qno, first, first_ok.get((user, qno)), before.get((user, qno), 0))
        for (user, qno), first in sorted(firsts.items())
    ]


def combine_errors(parts: Iterable[IndexAnalytics]) -> list[ErrorCount]:
    """Failed runs per (student, question, error name, pattern) with the class's newest
    message of that name and pattern at that question."""
    runs: dict[tuple[str, str, str, str], int] = {}
    newest: dict[tuple[str, str, str], NewestMessage] = {}
    for part in parts:
        for error in part.errors:
            key = (error.user_name, error.qno, error.ename, error.pattern)
            runs[key] = runs.get(key, 0) + error.runs
        for message in part.messages:
            group = (message.qno, message.ename, message.pattern)
            known = newest.get(group)
            if known is None or (message.start_time, message.doc_id) > (
                known.start_time,
                known.doc_id,
            ):
                newest[group] = message
    result = []
    for (user, qno, ename, pattern), count in sorted(runs.items()):
        shown = newest.get((qno, ename, pattern))
        evalue = shown.evalue if shown else ""
        result.append(ErrorCount(user, qno, ename, evalue, count, pattern))
    return result


def combine_attempts(parts: Iterable[IndexAnalytics], per_cell: int) -> list[Attempt]:
    """The newest ``per_cell`` attempts of every cell over all ``parts``."""
    everything = (attempt for part in parts for attempt in part.attempts)
    return [a for cell in latest_per_cell(everything, per_cell).values() for a in cell]


def _first_ok_times(parts: Mapping[str, IndexAnalytics]) -> dict[tuple[str, str], int]:
    first_ok: dict[tuple[str, str], int] = {}
    for part in parts.values():
        for span in part.spans:
            if span.first_ok_time is None:
                continue
            key = (span.user_name, span.qno)
            known = first_ok.get(key)
            first_ok[key] = span.first_ok_time if known is None else min(known, span.first_ok_time)
    return first_ok


def _straddles(span: CellSpan, cutoff: int) -> bool:
    """Whether some but maybe not all of an index's runs of a cell started before
    ``cutoff``, another index's first success."""
    return span.first_ok_time != cutoff and span.first_time < cutoff <= span.last_time


@dataclass
class AnalyticsCache:
    """The parts of the indices seen by the previous report, by index name."""

    parts: dict[str, IndexAnalytics] = field(default_factory=dict)

    def stale(self, markers: Mapping[str, str]) -> list[str]:
        """Indices of ``markers`` whose part is missing or was computed on other content."""
        return sorted(
            name
            for name, marker in markers.items()
            if name not in self.parts or self.parts[name].marker != marker
        )

    def update(self, markers: Mapping[str, str], fresh: Mapping[str, IndexAnalytics]) -> None:
        """Take ``fresh`` parts and forget the indices that no longer exist."""
        merged = {**self.parts, **fresh}
        self.parts = {name: merged[name] for name in markers if name in merged}

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": FORMAT_VERSION,
                "parts": {
                    name: {
                        "marker": part.marker,
                        "spans": columns_of(part.spans, len(_SPAN_TYPES)),
                        "errors": columns_of(part.errors, len(_ERROR_TYPES)),
                        "messages": columns_of(part.messages, len(_MESSAGE_TYPES)),
                        "attempts": columns_of(part.attempts, len(_ATTEMPT_TYPES)),
                    }
                    for name, part in self.parts.items()
                },
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> AnalyticsCache:
        """The cache saved by :meth:`to_json`; ``ValueError`` for anything else."""
        try:
            raw: Any = orjson.loads(data)
            if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
                raise ValueError("not an analytics cache of this version")
            parts = {}
            for name, entry in raw["parts"].items():
                if not isinstance(name, str) or not isinstance(entry["marker"], str):
                    raise ValueError("an index name or marker is not text")
                parts[name] = IndexAnalytics(
                    entry["marker"],
                    rows_of(entry["spans"], _SPAN_TYPES, CellSpan),
                    rows_of(entry["errors"], _ERROR_TYPES, ErrorRuns),
                    rows_of(entry["messages"], _MESSAGE_TYPES, NewestMessage),
                    rows_of(entry["attempts"], _ATTEMPT_TYPES, Attempt),
                )
            return cls(parts)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unreadable analytics cache: {exc}") from None


_SPAN_TYPES = (TEXT, TEXT, NUMBER, NUMBER, NUMBER, MAYBE_NUMBER, NUMBER)
_ERROR_TYPES = (TEXT, TEXT, TEXT, TEXT, NUMBER)
_MESSAGE_TYPES = (TEXT, TEXT, TEXT, NUMBER, TEXT, TEXT)
_ATTEMPT_TYPES = (TEXT, TEXT, NUMBER, MAYBE_NUMBER, *[TEXT] * 6)
