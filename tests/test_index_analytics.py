"""Analytics combined from per-index parts equal analytics over all executions at once.

:mod:`cwh.progress.index_analytics` is checked against a plain computation over random
executions spread over random indices, including indices that straddle another index's
first success (the case the store must count for), and its cache file against hostile
content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.progress import (
    AnalyticsCache,
    Attempt,
    CellSpan,
    ErrorCount,
    ErrorRuns,
    FirstSuccess,
    IndexAnalytics,
    NewestMessage,
    RunsBefore,
    combine_attempts,
    combine_errors,
    combine_first_successes,
    latest_per_cell,
    runs_before_needed,
)


class Run(NamedTuple):
    index: str
    user: str
    qno: str
    start: int
    ok: bool
    ename: str
    pattern: str
    doc_id: str


def _firsts(runs: Sequence[Run]) -> list[FirstSuccess]:
    cells: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        cells.setdefault((run.user, run.qno), []).append(run)
    result = []
    for (user, qno), found in sorted(cells.items()):
        ok = min((r.start for r in found if r.ok), default=None)
        before = 0 if ok is None else sum(1 for r in found if not r.ok and r.start < ok)
        result.append(FirstSuccess(user, qno, min(r.start for r in found), ok, before))
    return result


def _errors(runs: Sequence[Run]) -> list[ErrorCount]:
    failed = [r for r in runs if not r.ok]
    counts: dict[tuple[str, str, str, str], int] = {}
    for run in failed:
        key = (run.user, run.qno, run.ename, run.pattern)
        counts[key] = counts.get(key, 0) + 1
    newest: dict[tuple[str, str, str], Run] = {}
    for run in failed:
        known = newest.get((run.qno, run.ename, run.pattern))
        if known is None or (run.start, run.doc_id) > (known.start, known.doc_id):
            newest[(run.qno, run.ename, run.pattern)] = run
    return [
        ErrorCount(
            user, qno, ename, f"message {newest[(qno, ename, pattern)].doc_id}", count, pattern
        )
        for (user, qno, ename, pattern), count in sorted(counts.items())
    ]


def _attempt(run: Run) -> Attempt:
    return Attempt(
        run.user, run.qno, run.start, None, "ok" if run.ok else "error", "code", "", "", "",
        run.doc_id,
    )  # fmt: skip


def _part(runs: Sequence[Run], per_cell: int) -> IndexAnalytics:
    """One index's part, computed plainly from its own runs."""
    spans = []
    for first in _firsts(runs):
        cell = [r for r in runs if (r.user, r.qno) == (first.user_name, first.qno)]
        spans.append(
            CellSpan(
                first.user_name, first.qno, first.first_time, max(r.start for r in cell),
                len(cell), first.first_ok_time, first.runs_before_ok,
            )
        )  # fmt: skip
    failed = [r for r in runs if not r.ok]
    errors = [ErrorRuns(e.user_name, e.qno, e.ename, e.pattern, e.runs) for e in _errors(runs)]
    messages = []
    for qno, ename, pattern in sorted({(r.qno, r.ename, r.pattern) for r in failed}):
        newest = max(
            (r for r in failed if (r.qno, r.ename, r.pattern) == (qno, ename, pattern)),
            key=lambda r: (r.start, r.doc_id),
        )
        messages.append(
            NewestMessage(
                qno, ename, pattern, newest.start, newest.doc_id, f"message {newest.doc_id}"
            )
        )
    attempts = [a for c in latest_per_cell(map(_attempt, runs), per_cell).values() for a in c]
    return IndexAnalytics("m", tuple(spans), tuple(errors), tuple(messages), tuple(attempts))


def _counted(runs: Sequence[Run], needed: Sequence[RunsBefore]) -> dict[RunsBefore, int]:
    return {
        item: sum(
            1
            for r in runs
            if (r.index, r.user, r.qno) == (item.index_name, item.user_name, item.qno)
            and not r.ok
            and r.start < item.cutoff
        )
        for item in needed
    }


_runs = st.lists(
    st.tuples(
        st.sampled_from(["p-1", "p-2", "p-3"]),
        st.sampled_from(["ann", "bob"]),
        st.sampled_from(["01", "02"]),
        st.integers(0, 30),
        st.booleans(),
        st.sampled_from(["KeyError", "NameError"]),
        st.sampled_from(["", "name <str> is not defined", "<str>"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_runs, st.integers(1, 3))
def test_parts_combine_to_the_figures_of_all_executions(
    raw: list[tuple[str, str, str, int, bool, str, str]], per_cell: int
) -> None:
    runs = [Run(*row, doc_id=f"d{n:03d}") for n, row in enumerate(raw)]
    parts = {
        name: _part([r for r in runs if r.index == name], per_cell)
        for name in sorted({r.index for r in runs})
    }
    needed = runs_before_needed(parts)
    assert combine_first_successes(parts, _counted(runs, needed)) == _firsts(runs)
    assert combine_errors(parts.values()) == _errors(runs)
    expected = latest_per_cell(map(_attempt, runs), per_cell)
    assert latest_per_cell(combine_attempts(parts.values(), per_cell), per_cell) == expected


def test_only_an_index_that_straddles_a_first_success_is_counted() -> None:
    runs = [
        Run("p-1", "ann", "01", 10, False, "KeyError", "", "a"),
        Run("p-1", "ann", "01", 50, False, "KeyError", "", "b"),
        Run("p-2", "ann", "01", 20, True, "", "", "c"),
        Run("p-2", "bob", "01", 20, True, "", "", "d"),
        Run("p-1", "bob", "01", 5, False, "KeyError", "", "e"),
    ]
    parts = {name: _part([r for r in runs if r.index == name], 3) for name in ("p-1", "p-2")}
    assert runs_before_needed(parts) == [RunsBefore("p-1", "ann", "01", 20)]
    with pytest.raises(KeyError):
        combine_first_successes(parts, {})
    firsts = combine_first_successes(parts, {RunsBefore("p-1", "ann", "01", 20): 1})
    assert firsts == [FirstSuccess("ann", "01", 10, 20, 1), FirstSuccess("bob", "01", 5, 20, 1)]


def test_the_cache_keeps_parts_by_marker_and_reads_back_what_it_wrote() -> None:
    part = _part([Run("p-1", "ann", "01", 10, False, "KeyError", "", "a")], 2)
    cache = AnalyticsCache()
    assert cache.stale({"p-1": "m", "p-2": "x"}) == ["p-1", "p-2"]
    cache.update({"p-1": "m", "p-2": "x"}, {"p-1": part, "p-2": IndexAnalytics("x")})
    assert cache.stale({"p-1": "m", "p-2": "x"}) == []
    assert cache.stale({"p-1": "m", "p-2": "y", "p-3": "z"}) == ["p-2", "p-3"]
    read = AnalyticsCache.from_json(cache.to_json())
    assert read == cache
    cache.update({"p-2": "x"}, {})
    assert list(cache.parts) == ["p-2"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"version": 99, "parts": {}}',
        b'{"version": 1, "parts": {"p-1": {"marker": 3}}}',
        b'{"version": 1, "parts": {"p-1": {"marker": "m", "spans": [[]], "errors": [], '
        b'"messages": [], "attempts": []}}}',
        b'{"version": 1, "parts": {"p-1": {"marker": "m", "spans": [["a"],["b"],[1],[true],'
        b'[1],[null],[0]], "errors": [[],[],[],[]], "messages": [[],[],[],[],[]], '
        b'"attempts": [[],[],[],[],[],[],[],[],[],[]]}}}',
        b'{"version": 1, "parts": {"p-1": {"marker": "m", "spans": [[],[],[],[],[],[],[]], '
        b'"errors": [[],[],[],[]], "messages": [[],[],[],[],[],[]], '
        b'"attempts": [[],[],[],[],[],[],[],[],[],[]]}}}',
        b"\xff" * 100,
    ],
)
def test_a_damaged_cache_file_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"analytics cache|column|marker"):
        AnalyticsCache.from_json(data)
