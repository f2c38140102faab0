"""Reader of the OCS (vcp-schedule-utils) document.

``{default: {node_count, down_type, drain_time?, max_node_count?}, schedule: [{node_count,
period: {begin, end}, drain_time?}]}``, optionally with ``ip_addresses``, ``timezone`` and
``exceptions`` as in our format. Overlapping periods keep that format's meaning: the entry listed
first wins (see :mod:`cwh.timetable.load`).
"""

from __future__ import annotations

from collections.abc import Mapping

from cwh.timetable.model import DownType, Target
from cwh.timetable.read_common import (
    Collector,
    Counted,
    Spec,
    add_period,
    counter,
    read_common,
    read_down_type,
    read_minutes,
)

_OCS_KEYS = ("default", "schedule", "ip_addresses", "timezone", "exceptions")


def read_ocs(
    document: Mapping[object, object],
    prefix: str,
    collector: Collector,
    down_type: DownType | None,
) -> Spec | None:
    def at(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    collector.keys(prefix, document, _OCS_KEYS)
    spec = Spec(form="ocs")
    read_common(document, spec, collector, at)
    default = document.get("default")
    if not isinstance(default, Mapping):
        collector.add(at("default"), "missing; give node_count and down_type of normal times")
        return None
    where = at("default")
    collector.keys(where, default, ("node_count", "down_type", "drain_time", "max_node_count"))
    read_down_type(default, f"{where}.down_type", spec, collector, down_type, required=True)
    spec.drain_time = read_minutes(default.get("drain_time", 0), f"{where}.drain_time", collector)
    if "max_node_count" in default:
        limit = collector.read(
            f"{where}.max_node_count", counter("max_node_count"), default["max_node_count"]
        )
        if limit == 0:
            collector.add(f"{where}.max_node_count", "must be at least 1")
        spec.max_nodes = limit or None
    if "node_count" not in default:
        collector.add(f"{where}.node_count", "missing; give the number of nodes in normal times")
    else:
        count = collector.read(f"{where}.node_count", counter("node_count"), default["node_count"])
        if count is not None:
            spec.default = Target(count)
            spec.counted.append(Counted(where, spec.default))
    items = document.get("schedule", [])
    if not isinstance(items, list):
        collector.add(at("schedule"), "must be a list of {node_count, period: {begin, end}}")
        return spec
    for index, item in enumerate(items):
        item_where = f"{at('schedule')}[{index}]"
        if not isinstance(item, Mapping):
            collector.add(item_where, "must be a mapping with node_count and period")
            continue
        collector.keys(item_where, item, ("node_count", "period", "drain_time"))
        period = item.get("period")
        if not isinstance(period, Mapping) or not {"begin", "end"} <= set(period):
            collector.add(f"{item_where}.period", "needs begin and end")
            continue
        collector.keys(f"{item_where}.period", period, ("begin", "end"))
        fields: dict[object, object] = {"begin": period["begin"], "end": period["end"]}
        fields.update((key, item[key]) for key in ("node_count", "drain_time") if key in item)
        add_period(fields, item_where, f"period-{index + 1}", spec, collector)
    return spec
