"""Reader of our own timetable document.

``class_days`` + ``phases`` (the start ``H:MM`` and the ``active``/``pause``/``drain`` counts of
each phase, summing to the number of addresses), and/or ``default`` + ``periods`` (begin/end at
daily, weekly, monthly, yearly or one-off granularity), plus ``ip_addresses``, ``timezone``,
``down_type``, ``drain_time``, ``exceptions`` (with ``makeup: true`` entries), the academic
calendar (``holidays: JP``, ``terms:``; see :mod:`cwh.timetable.academic`) and optional
``culling`` and
``force_idle_after`` (how long JupyterHub must see a server idle before the flow may stop it
to free a node; without it no server is ever stopped).

With phases, the last phase of a class day stays in force until the next class day's first
phase; on an exception date the class phases do not start, so the last phase simply stays.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from cwh.timetable.model import (
    WEEKDAY_ABBREVIATIONS,
    Anchor,
    Culling,
    DownType,
    Granularity,
    Target,
    Window,
)
from cwh.timetable.read_common import (
    Collector,
    Counted,
    Spec,
    add_period,
    counter,
    read_common,
    read_culling,
    read_down_type,
    read_minutes,
    read_name,
    read_split,
    target_of,
)
from cwh.timetable.text import parse_clock, parse_duration, parse_weekday

_CWH_KEYS = (
    "timezone",
    "ip_addresses",
    "down_type",
    "drain_time",
    "class_days",
    "phases",
    "default",
    "periods",
    "exceptions",
    "holidays",
    "terms",
    "culling",
    "description",
    "force_idle_after",
)
_PHASE_KEYS = ("name", "start", "active", "pause", "drain", "drain_time", "culling")
_PERIOD_KEYS = ("name", "begin", "end", "node_count", "active", "pause", "drain_time", "culling")


def read_cwh(
    document: Mapping[object, object], collector: Collector, down_type: DownType | None
) -> Spec | None:
    collector.keys("", document, _CWH_KEYS)
    spec = Spec(form="cwh")
    read_common(document, spec, collector, lambda key: key)
    read_down_type(document, "down_type", spec, collector, down_type, required=False)
    spec.drain_time = read_minutes(document.get("drain_time", 0), "drain_time", collector)
    if "culling" in document:
        spec.culling = read_culling(document["culling"], "culling", collector) or Culling()
    spec.holidays = document.get("holidays")
    terms = document.get("terms", [])
    if isinstance(terms, list):
        spec.terms = [(f"terms[{index}]", item) for index, item in enumerate(terms)]
    else:
        collector.add("terms", "must be a list of {from, to, name} teaching periods")
    if document.get("force_idle_after") is not None:
        value = document["force_idle_after"]
        spec.force_idle_after = collector.read("force_idle_after", parse_duration, value)
    has_phases = "phases" in document
    if has_phases:
        _read_phases(document, spec, collector)
    elif "class_days" in document:
        collector.add("class_days", "given without phases; add the phases of a class day")
    if "default" in document:
        if has_phases:
            collector.add(
                "default", "not used with phases: the last phase of the day is the default"
            )
        else:
            _read_default(document["default"], spec, collector)
    elif not has_phases:
        collector.add(
            "",
            "nothing scheduled: add class_days and phases, or a default node count "
            "(with optional periods)",
        )
    periods = document.get("periods", [])
    if not isinstance(periods, list):
        collector.add("periods", "must be a list of {begin, end, node_count}")
        return spec
    for index, item in enumerate(periods):
        where = f"periods[{index}]"
        if not isinstance(item, Mapping):
            collector.add(where, "must be a mapping with begin, end and node_count")
            continue
        collector.keys(where, item, _PERIOD_KEYS)
        fallback = f"period-{index + 1}"
        name = read_name(item.get("name", fallback), f"{where}.name", collector, fallback)
        add_period(item, where, name, spec, collector)
    return spec


@dataclass(frozen=True)
class _Phase:
    minute: int
    target: Target
    name: str
    label: str
    drain_time: int | None
    culling: Culling | None


def _read_phases(document: Mapping[object, object], spec: Spec, collector: Collector) -> None:
    """Class phases become weekly windows from each phase's start to the next one's, on every
    class day; the last phase of the day is the default, in force until the next class day."""
    days = _read_class_days(document.get("class_days"), spec, collector)
    phases = document["phases"]
    if not isinstance(phases, list) or not phases:
        collector.add("phases", "must be a non-empty list of {start, active, pause, drain}")
        return
    parsed: list[_Phase] = []
    names: dict[str, str] = {}
    for index, item in enumerate(phases):
        where = f"phases[{index}]"
        if not isinstance(item, Mapping):
            collector.add(where, "must be a mapping with start, active, pause and drain")
            continue
        collector.keys(where, item, _PHASE_KEYS)
        fallback = f"phase-{index + 1}"
        name = read_name(item.get("name", fallback), f"{where}.name", collector, fallback)
        if name in names:
            collector.add(f"{where}.name", f"'{name}' is already used by {names[name]}")
        names[name] = where
        phase = _read_phase(item, where, name, spec, collector)
        if phase is None:
            continue
        if parsed and phase.minute <= parsed[-1].minute:
            collector.add(
                f"{where}.start",
                f"{phase.minute // 60}:{phase.minute % 60:02d} does not come after "
                f"{parsed[-1].label}; list the phases of a class day in time order, each "
                "starting later than the one before",
            )
            continue
        parsed.append(phase)
    if len(parsed) != len(phases) or not days:
        return
    last = parsed[-1]
    spec.default, spec.default_name = last.target, last.name
    spec.default_culling, spec.default_drain_time = last.culling, last.drain_time
    for weekday in sorted(days):
        for current, following in itertools.pairwise(parsed):
            begin = _weekly(weekday, current.minute)
            end = _weekly(weekday, following.minute)
            source = f"{current.label} on {WEEKDAY_ABBREVIATIONS[weekday]}"
            spec.windows.append(
                Window(
                    current.name,
                    source,
                    begin,
                    end,
                    current.target,
                    current.drain_time,
                    current.culling,
                )
            )
    if len(parsed) == 1:
        spec.notes.append("only one phase: the node counts never change, class_days has no effect")


def _read_class_days(raw: object, spec: Spec, collector: Collector) -> list[int]:
    if raw is None:
        collector.add("class_days", "missing; list the weekdays of the class, e.g. [mon, 水]")
        return []
    values = raw if isinstance(raw, list) else [raw]
    days: list[int] = []
    for index, value in enumerate(values):
        where = f"class_days[{index}]" if isinstance(raw, list) else "class_days"
        weekday = collector.read(where, parse_weekday, value)
        if weekday is None:
            continue
        if weekday in days:
            spec.notes.append(f"{where}: {value!r} is listed twice; once is enough")
            continue
        days.append(weekday)
    return days


def _read_phase(
    item: Mapping[object, object], where: str, name: str, spec: Spec, collector: Collector
) -> _Phase | None:
    if "start" not in item:
        collector.add(f"{where}.start", "missing; give the phase's start time as H:MM")
        return None
    clock = collector.read(f"{where}.start", parse_clock, item["start"])
    split = read_split(item, where, collector)
    drain_time = None
    if "drain_time" in item:
        drain_time = read_minutes(item["drain_time"], f"{where}.drain_time", collector)
    culling = None
    if "culling" in item:
        culling = read_culling(item["culling"], f"{where}.culling", collector)
    if clock is None or split is None:
        return None
    target = spec.count_split(where, split)
    minute = clock[0] * 60 + clock[1]
    return _Phase(minute, target, name, f"{where} ({name})", drain_time, culling)


def _weekly(weekday: int, minute: int) -> Anchor:
    return Anchor(Granularity.WEEKLY, minute // 60, minute % 60, weekday=weekday)


def _read_default(value: object, spec: Spec, collector: Collector) -> None:
    if isinstance(value, Mapping):
        collector.keys("default", value, ("node_count", "active", "pause", "name", "culling"))
        target = target_of(value, "default", collector)
        if "name" in value:
            spec.default_name = read_name(value["name"], "default.name", collector, "default")
        if "culling" in value:
            spec.default_culling = read_culling(value["culling"], "default.culling", collector)
    else:
        count = collector.read("default", counter("default"), value)
        target = None if count is None else Target(count)
    if target is not None:
        spec.default = target
        spec.counted.append(Counted("default", target))
