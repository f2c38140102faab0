"""Progress counts of unchanged indices, kept between reports so they are not recounted.

Executions live in daily indices (``<prefix>-YYYY.MM.DD``) and only the newest ones change
during class: the report that runs every five minutes would otherwise re-aggregate a whole
term of history each time, and aggregating costs in proportion to indices times
(student, question) pairs, not to what changed. This cache keeps

* **settled** counts: the merged counts of every index whose content is unchanged, with
  the marker each index had when it was counted;
* **recent** counts: one entry per index that may still change (the newest ones, and any
  index that changed since the last report), each with its own marker.

A report reads every index's current marker (the store defines it: it must change whenever
the index's content does), reuses what still matches and counts only the rest. When a
settled index changed or disappeared (a backfill into an old day, a re-enrichment, a
deleted index), everything is counted again: a full count costs what a report without
the cache costs, so correctness never depends on guessing what a change touched.

The counts are :class:`cwh.progress.StatusCount` groups; merging groups of the same
(student, question, status) adds runs and keeps the latest time, which is exactly what
counting the union of the indices gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from cwh.progress.columns import NUMBER, TEXT, columns_of, rows_of
from cwh.progress.matrix import StatusCount

__all__ = ["CacheUse", "ProgressCache", "merge_status_counts"]

FORMAT_VERSION = 1
HOT_INDICES = 2
"""The newest indices by name are always counted on their own and never settled: at any
time of the school day (Asia/Tokyo is UTC+9) the executions of today fall in at most two
UTC days, and they keep changing while class goes on."""
MAX_OPEN_INDICES = 8
"""More unsettled indices than this (say, after a backfill created many old days) are
counted together in one pass, which is cheaper than a request per index."""

CountAllBut = Callable[[Sequence[str]], list[StatusCount]]
"""Counts every index except the named ones, in one pass (the store's aggregation)."""
CountEach = Callable[[Sequence[str]], list[list[StatusCount]]]
"""Counts each named index on its own (in parallel, say): one list of counts per name."""


class _IndexCounts(NamedTuple):
    marker: str
    counts: tuple[StatusCount, ...]


@dataclass(frozen=True)
class CacheUse:
    """What one report reused and what it counted, for logs, tests and benchmarks."""

    reused: tuple[str, ...]
    counted: tuple[str, ...]
    full: bool
    """True when everything was counted again (no valid settled counts)."""


def merge_status_counts(counts: Iterable[StatusCount]) -> list[StatusCount]:
    """One group per (student, question, status): runs added, the latest time kept."""
    merged: dict[tuple[str, str, str], StatusCount] = {}
    for count in counts:
        key = (count.user_name, count.qno, count.status)
        known = merged.get(key)
        if known is None:
            merged[key] = count
        else:
            merged[key] = known._replace(
                runs=known.runs + count.runs, last_time=max(known.last_time, count.last_time)
            )
    return list(merged.values())


@dataclass
class ProgressCache:
    settled_markers: dict[str, str] = field(default_factory=dict)
    settled: list[StatusCount] = field(default_factory=list)
    recent: dict[str, _IndexCounts] = field(default_factory=dict)
    changed: bool = field(default=False, compare=False)
    """Whether :meth:`counts` changed anything that is worth saving."""

    def counts(
        self,
        markers: Mapping[str, str],
        count_all_but: CountAllBut,
        count_each: CountEach,
    ) -> tuple[list[StatusCount], CacheUse]:
        """The counts over every index of ``markers``, updating the cache as it goes.

        The result may hold several groups of one (student, question, status), one per
        part it was assembled from; :func:`cwh.progress.combine_status_counts` adds them.
        """
        names = sorted(markers)
        hot = set(names[-HOT_INDICES:])
        settled_valid = all(markers.get(n) == m for n, m in self.settled_markers.items())
        known = set(self.settled_markers) | set(self.recent)
        unsettled = [n for n in names if n not in self.settled_markers]
        if (
            not settled_valid
            or (not known and names)
            or len([n for n in unsettled if n not in hot]) > MAX_OPEN_INDICES
        ):
            return self._count_everything(markers, names, hot, count_all_but, count_each)
        reused = [n for n in names if n in self.settled_markers]
        to_count: list[str] = []
        recent: dict[str, _IndexCounts] = {}
        for name in unsettled:
            previous = self.recent.get(name)
            if previous is not None and previous.marker == markers[name]:
                reused.append(name)
                if name in hot:
                    recent[name] = previous
                else:
                    self._settle(name, previous)
            else:
                to_count.append(name)
        for name, counts in zip(to_count, count_each(to_count) if to_count else [], strict=True):
            recent[name] = _IndexCounts(markers[name], tuple(counts))
        self.changed = recent.keys() != self.recent.keys() or bool(to_count) or self.changed
        self.recent = recent
        return self._total(), CacheUse(tuple(sorted(reused)), tuple(to_count), full=False)

    def _count_everything(
        self,
        markers: Mapping[str, str],
        names: list[str],
        hot: set[str],
        count_all_but: CountAllBut,
        count_each: CountEach,
    ) -> tuple[list[StatusCount], CacheUse]:
        newest = sorted(hot)
        older = [n for n in names if n not in hot]
        # The newest are counted while the older ones are: the store's node is busy with
        # the large count's shards only part of the time.
        with ThreadPoolExecutor(1) as pool:
            newest_counts = pool.submit(count_each, newest) if newest else None
            self.settled = merge_status_counts(count_all_but(newest)) if older else []
            each = newest_counts.result() if newest_counts is not None else []
        self.settled_markers = {n: markers[n] for n in older}
        self.recent = {
            name: _IndexCounts(markers[name], tuple(counts))
            for name, counts in zip(newest, each, strict=True)
        }
        self.changed = True
        return self._total(), CacheUse((), tuple(names), full=True)

    def _total(self) -> list[StatusCount]:
        total = list(self.settled)
        for entry in self.recent.values():
            total += entry.counts
        return total

    def _settle(self, name: str, entry: _IndexCounts) -> None:
        self.settled = merge_status_counts([*self.settled, *entry.counts])
        self.settled_markers[name] = entry.marker
        self.changed = True

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": FORMAT_VERSION,
                "settled_markers": self.settled_markers,
                "settled": _columns(self.settled),
                "recent": {
                    name: {"marker": e.marker, "counts": _columns(e.counts)}
                    for name, e in self.recent.items()
                },
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> ProgressCache:
        """The cache saved by :meth:`to_json`; ``ValueError`` for anything else."""
        try:
            raw: Any = orjson.loads(data)
            if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
                raise ValueError("not a progress cache of this version")
            markers = raw["settled_markers"]
            if not isinstance(markers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in markers.items()
            ):
                raise ValueError("settled markers are not names and markers")
            recent = {
                str(name): _IndexCounts(str(entry["marker"]), _counts(entry["counts"]))
                for name, entry in raw["recent"].items()
            }
            return cls(dict(markers), list(_counts(raw["settled"])), recent)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unreadable progress cache: {exc}") from None


_COUNT_TYPES = (TEXT, TEXT, TEXT, NUMBER, NUMBER)


def _columns(counts: Sequence[StatusCount]) -> list[list[Any]]:
    return columns_of(counts, len(_COUNT_TYPES))


def _counts(columns: Any) -> tuple[StatusCount, ...]:
    return rows_of(columns, _COUNT_TYPES, StatusCount)
