"""The health check's totals from the embedded store: read-only, and the same rules apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwh.health import HealthLimits, assess
from tasks.embedded_store import EmbeddedStore
from tasks.health_store import embedded_figures


def _execution(number: int, *, suspect: bool = False) -> dict[str, object]:
    return {
        "doc_id": f"e{number}",
        "target_index": "lcwrapper-2026.12.06",
        "start_time": 1_800_000_000 + number,
        "user_name": "alice",
        **({"suspect": True} if suspect else {}),
    }


def _dead(number: int, reason: str) -> dict[str, object]:
    return {
        "doc_id": f"d{number}",
        "target_index": "lcwrapper-deadletter-2026.12.06",
        "raw": f"garbage {number}",
        "error_type": reason,
        "error_message": "test",
        "@timestamp": "2026-12-06T00:00:00Z",
    }


def test_embedded_totals_and_the_counts_since_the_last_run(tmp_path: Path) -> None:
    database = tmp_path / "executions.sqlite3"
    with pytest.raises(FileNotFoundError):
        embedded_figures(database)
    assert not database.exists()

    store = EmbeddedStore(database)
    store.write([_execution(1), _execution(2, suspect=True), _dead(1, "LogParseError")])
    first = embedded_figures(database)
    assert (first.executions, first.suspect) == (2, 1)
    assert first.dead_letters == {"LogParseError": 1}
    assert first.newest == 1_800_000_002.0

    store.write([_execution(3, suspect=True)] + [_dead(n, "TimeOutOfRange") for n in range(2, 5)])
    store.close()
    second = embedded_figures(database)
    limits = HealthLimits(dead_letter_threshold=3)
    baseline = assess(
        now=2e9, previous=None, checks=[], store=first, delivery=None, crashed=[], limits=limits
    )
    report = assess(
        now=2e9 + 600,
        previous=baseline.state,
        checks=[],
        store=second,
        delivery=None,
        crashed=[],
        limits=limits,
    )
    assert report.counts.suspect == 1 and report.counts.executions == 1
    assert report.counts.dead_letters_by_reason == {"TimeOutOfRange": 3}
    assert [e.event for e in report.events] == ["cwh.deadletters.rising"]
