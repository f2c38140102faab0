"""Reader of the old swarm schedule list.

``[{schedule: {day_of_week, hour, minute}, availability: {active, pause, drain}}]`` (or the
same with the counts beside ``schedule``): each entry is a trigger, and the latest trigger that
fired is in force. "drain" there meant a removed node. The list never names a down type; the
caller passes the one its installation used.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from cwh.timetable.model import Anchor, DownType, Granularity, Target, Window
from cwh.timetable.read_common import Collector, Spec, read_split
from cwh.timetable.text import parse_anchor


def read_swarm_list(
    items: list[object], prefix: str, collector: Collector, down_type: DownType
) -> Spec | None:
    spec = Spec(form="swarm-list", down_type=down_type)
    if not items:
        collector.add(prefix, "the schedule list is empty; give at least one entry")
        return None
    triggers: list[tuple[Anchor, Target, str, int]] = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("schedule"), Mapping):
            collector.add(where, "needs schedule: {day_of_week, hour, minute} and the counts")
            continue
        counts_source = item.get("availability", item)
        if not isinstance(counts_source, Mapping):
            collector.add(f"{where}.availability", "must map active, pause and drain to counts")
            continue
        anchor = collector.read(f"{where}.schedule", parse_anchor, item["schedule"])
        split = read_split(counts_source, where, collector)
        if anchor is None or split is None:
            continue
        if anchor.granularity in (Granularity.YEARLY, Granularity.ONCE):
            collector.add(f"{where}.schedule", "old schedules repeat daily, weekly or monthly")
            continue
        target = spec.count_split(where, split)
        triggers.append((anchor, target, where, index))
    if len(triggers) != len(items):
        return spec
    _triggers_to_windows(triggers, spec, collector, prefix)
    return spec


def _triggers_to_windows(
    triggers: list[tuple[Anchor, Target, str, int]],
    spec: Spec,
    collector: Collector,
    prefix: str,
) -> None:
    """Turn "latest trigger wins" entries into windows between consecutive triggers."""
    kinds = {anchor.granularity for anchor, *_ in triggers}
    if Granularity.MONTHLY in kinds and len(kinds) > 1:
        collector.add(prefix, "monthly entries cannot be mixed with daily or weekly ones")
        return
    if kinds == {Granularity.DAILY, Granularity.WEEKLY}:
        expanded = []
        for anchor, target, where, index in triggers:
            if anchor.granularity is Granularity.WEEKLY:
                expanded.append((anchor, target, where, index))
                continue
            for weekday in range(7):
                weekly = Anchor(Granularity.WEEKLY, anchor.hour, anchor.minute, weekday=weekday)
                expanded.append((weekly, target, where, index))
        triggers = expanded
    ordered = sorted(triggers, key=lambda trigger: trigger[0].key())
    for (first, *_rest), (second, _t, where, _i) in itertools.pairwise(ordered):
        if first.key() == second.key():
            collector.add(where, f"fires at the same time as another entry ({second})")
            return
    _anchor, last_target, _where, last_index = ordered[-1]
    spec.default = last_target
    spec.default_name = f"entry-{last_index + 1}"
    for (begin, target, where, index), (end, *_rest) in itertools.pairwise(ordered):
        spec.windows.append(Window(f"entry-{index + 1}", where, begin, end, target))
