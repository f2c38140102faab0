"""The progress cache: what it reuses, what it counts again, and that sums never change."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cwh.progress import (
    MAX_OPEN_INDICES,
    ProgressCache,
    StatusCount,
    combine_status_counts,
    merge_status_counts,
)


class FakeIndices:
    """Indices of status counts with markers, and a log of what was counted."""

    def __init__(self, days: int) -> None:
        self.data: dict[str, list[StatusCount]] = {}
        self.versions: dict[str, int] = {}
        self.counted: list[tuple[str, ...]] = []
        for day in range(days):
            self.add(f"x-2026.11.{day + 1:02}", StatusCount("ann", f"01-{day:03}", "ok", 1, day))

    def add(self, name: str, count: StatusCount) -> None:
        self.data.setdefault(name, []).append(count)
        self.versions[name] = self.versions.get(name, 0) + 1

    def markers(self) -> dict[str, str]:
        return {name: f"v{version}" for name, version in self.versions.items()}

    def all_but(self, excluded: Sequence[str]) -> list[StatusCount]:
        names = tuple(n for n in sorted(self.data) if n not in excluded)
        self.counted.append(names)
        return [c for n in names for c in self.data[n]]

    def each(self, names: Sequence[str]) -> list[list[StatusCount]]:
        self.counted += [(n,) for n in names]
        return [list(self.data[n]) for n in names]

    def truth(self) -> list[object]:
        return combine_status_counts(c for counts in self.data.values() for c in counts)


def _report(cache: ProgressCache, indices: FakeIndices) -> list[object]:
    indices.counted = []
    counts, _ = cache.counts(indices.markers(), indices.all_but, indices.each)
    assert combine_status_counts(counts) == indices.truth()
    return counts


def test_first_report_counts_old_days_together_and_the_newest_apart() -> None:
    indices, cache = FakeIndices(5), ProgressCache()
    _report(cache, indices)
    assert sorted(indices.counted) == [
        ("x-2026.11.01", "x-2026.11.02", "x-2026.11.03"),
        ("x-2026.11.04",),
        ("x-2026.11.05",),
    ]
    assert cache.changed


def test_an_unchanged_store_is_not_counted_again() -> None:
    indices, cache = FakeIndices(5), ProgressCache()
    _report(cache, indices)
    cache.changed = False
    _report(cache, indices)
    assert indices.counted == []
    assert not cache.changed


def test_only_the_index_that_changed_is_counted() -> None:
    indices, cache = FakeIndices(5), ProgressCache()
    _report(cache, indices)
    indices.add("x-2026.11.05", StatusCount("bob", "01-004", "error", 2, 99))
    _report(cache, indices)
    assert indices.counted == [("x-2026.11.05",)]


def test_a_new_day_is_counted_alone_and_yesterday_settles_once_quiet() -> None:
    indices, cache = FakeIndices(5), ProgressCache()
    _report(cache, indices)
    indices.add("x-2026.11.06", StatusCount("ann", "02-000", "ok", 1, 100))
    _report(cache, indices)
    assert indices.counted == [("x-2026.11.06",)]
    assert "x-2026.11.04" in cache.settled_markers, "no longer among the newest: settled"
    _report(cache, indices)
    assert indices.counted == []


@pytest.mark.parametrize("change", ["backfill", "delete"])
def test_a_change_to_a_settled_day_counts_everything_again(change: str) -> None:
    indices, cache = FakeIndices(5), ProgressCache()
    _report(cache, indices)
    if change == "backfill":
        indices.add("x-2026.11.01", StatusCount("ann", "01-000", "error", 3, 5))
    else:
        del indices.data["x-2026.11.02"], indices.versions["x-2026.11.02"]
    _report(cache, indices)
    assert len(indices.counted) == 3, "a full count: old days together, the newest two apart"


def test_many_new_old_days_are_counted_in_one_pass() -> None:
    indices, cache = FakeIndices(3), ProgressCache()
    _report(cache, indices)
    for day in range(MAX_OPEN_INDICES + 1):
        indices.add(f"x-2026.10.{day + 1:02}", StatusCount("cy", "00-000", "ok", 1, day))
    _report(cache, indices)
    assert len(indices.counted) == 3


def test_the_saved_cache_reads_back_equal_and_broken_files_are_refused() -> None:
    indices, cache = FakeIndices(4), ProgressCache()
    _report(cache, indices)
    copy = ProgressCache.from_json(cache.to_json())
    assert copy == cache
    indices.counted = []
    copy.counts(indices.markers(), indices.all_but, indices.each)
    assert indices.counted == []
    for broken in (b"", b"[]", b'{"version": 99}', cache.to_json().replace(b'"ok"', b"7")):
        with pytest.raises(ValueError):
            ProgressCache.from_json(broken)


def test_merging_adds_runs_and_keeps_the_latest_time() -> None:
    merged = merge_status_counts(
        [
            StatusCount("ann", "01-000", "ok", 2, 10),
            StatusCount("ann", "01-000", "error", 1, 30),
            StatusCount("ann", "01-000", "ok", 3, 20),
        ]
    )
    assert merged == [
        StatusCount("ann", "01-000", "ok", 5, 20),
        StatusCount("ann", "01-000", "error", 1, 30),
    ]
