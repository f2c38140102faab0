"""Load and validate a worker timetable from any of the supported documents.

Four shapes are recognised, so existing installations migrate without editing anything:

``cwh`` (ours)
    ``class_days`` + ``phases`` (start ``H:MM`` and the ``active``/``pause``/``drain`` counts of
    each phase, summing to the number of addresses), and/or ``default`` + ``periods`` (begin/end
    at daily, weekly, monthly, yearly or one-off granularity), plus ``ip_addresses``,
    ``timezone``, ``down_type``, ``drain_time``, ``exceptions`` and optional ``culling``.
``ocs``
    vcp-schedule-utils' document: ``{default: {node_count, down_type, drain_time?,
    max_node_count?}, schedule: [{node_count, period: {begin, end}, drain_time?}]}``.
``swarm-list``
    the older list ``[{schedule: {day_of_week, hour, minute}, availability: {active, pause,
    drain}}]`` (or its flattened form), where "drain" meant a removed node.
``group-vars``
    an Ansible ``group_vars`` file holding either of the two above in ``vcnode_schedule`` and the
    addresses in ``vcnode_all_ipaddress``.

Validation collects every problem before giving up, names the offending entry and says what to
write instead. With phases, the last phase of a class day stays in force until the next class
day's first phase, which is what "latest trigger wins" meant in the old format; on an exception
date the class phases do not start, so the last phase simply stays.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cwh.defaults import DEFAULT_TIMEZONE
from cwh.timetable.calendar import day_is_clamped, first_overlap
from cwh.timetable.model import (
    WEEKDAY_ABBREVIATIONS,
    Anchor,
    Culling,
    DownType,
    Granularity,
    Problem,
    Target,
    TimetableError,
    Window,
)
from cwh.timetable.table import Timetable
from cwh.timetable.text import (
    FieldError,
    Opaque,
    load_document,
    parse_anchor,
    parse_clock,
    parse_count,
    parse_exception,
    parse_weekday,
    suggest,
)

_T = TypeVar("_T")
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
    "culling",
    "description",
)
_OCS_KEYS = ("default", "schedule", "ip_addresses", "timezone", "exceptions")
_PHASE_KEYS = ("name", "start", "active", "pause", "drain", "drain_time", "culling")
_PERIOD_KEYS = ("name", "begin", "end", "node_count", "active", "pause", "drain_time", "culling")
_CULLING_KEYS = ("enabled", "idle_timeout", "max_age", "every")
_LEGACY_DOWN_TYPES = {"scale-out": DownType.DELETED, "power-ctl": DownType.POWER_DOWN}
_MAX_EXCEPTION_DAYS = 3660


def load_timetable(
    path: Path,
    *,
    ips: Sequence[str] | None = None,
    down_type: DownType | None = None,
) -> Timetable:
    """Read and validate ``path``; ``ips`` replaces the file's address list when given.

    ``down_type`` is used only when the document does not say (the old swarm list never does;
    its installations used ``deleted`` for "scale-out" and ``power_down`` for "power-ctl").
    """
    try:
        document = load_document(path)
    except FieldError as exc:
        raise TimetableError(str(path), [Problem("", str(exc))]) from exc
    except OSError as exc:
        raise TimetableError(str(path), [Problem("", f"cannot read the file: {exc}")]) from exc
    return parse_timetable(document, source=str(path), ips=ips, down_type=down_type)


def parse_timetable(
    document: object,
    *,
    source: str = "timetable",
    ips: Sequence[str] | None = None,
    down_type: DownType | None = None,
) -> Timetable:
    """Validate an already parsed document; see the module docstring for the accepted shapes."""
    collector = _Collector()
    spec = _read_any(document, collector, down_type)
    if spec is not None and ips is not None:
        spec.ips, spec.ips_where = list(ips), "--ips"
    timetable = _build(spec, collector) if spec is not None else None
    if collector.problems or timetable is None:
        raise TimetableError(source, collector.problems or [Problem("", "nothing to schedule")])
    return timetable


@dataclass
class _Counted:
    """A target and where it was written, for the checks against the address list."""

    where: str
    target: Target
    declared_total: int | None = None
    drain: int = 0


@dataclass
class _Spec:
    form: str
    ips: list[object] | None = None
    ips_where: str = "ip_addresses"
    timezone: object = DEFAULT_TIMEZONE
    down_type: DownType = DownType.DELETED
    drain_time: int = 0
    default_drain_time: int | None = None
    default: Target | None = None
    default_name: str = "default"
    default_culling: Culling | None = None
    windows: list[Window] = field(default_factory=list)
    exceptions: set[date] = field(default_factory=set)
    max_nodes: int | None = None
    culling: Culling = field(default_factory=Culling)
    counted: list[_Counted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def read(self, where: str, parser: Callable[[object], _T], value: object) -> _T | None:
        if isinstance(value, Opaque):
            self.add(where, f"is encrypted ({value.tag}); give the value in plain text")
            return None
        try:
            return parser(value)
        except FieldError as exc:
            self.add(where, str(exc))
            return None

    def keys(self, where: str, mapping: Mapping[object, object], allowed: Sequence[str]) -> None:
        for key in mapping:
            if str(key) not in allowed:
                hint = suggest(str(key), list(allowed)) or f"; known keys: {', '.join(allowed)}"
                self.add(f"{where}.{key}" if where else str(key), f"unknown key{hint}")


def _read_any(document: object, collector: _Collector, down_type: DownType | None) -> _Spec | None:
    if isinstance(document, list):
        return _read_swarm_list(document, "", collector, down_type or DownType.DELETED)
    if not isinstance(document, Mapping):
        collector.add(
            "",
            "expected a mapping (our timetable, an OCS document or group_vars) or a list "
            f"(old swarm schedule), got {type(document).__name__}",
        )
        return None
    if "vcnode_schedule" in document:
        return _read_group_vars(document, collector, down_type)
    if "schedule" in document and not {"phases", "periods"} & set(document):
        return _read_ocs(document, "", collector, down_type)
    return _read_cwh(document, collector, down_type)


def _read_group_vars(
    document: Mapping[object, object], collector: _Collector, down_type: DownType | None
) -> _Spec | None:
    legacy = document.get("schedule")
    if "schedule_down_type" in document:
        down_type = collector.read(
            "schedule_down_type", _parse_down_type, document["schedule_down_type"]
        )
    elif isinstance(legacy, str) and legacy in _LEGACY_DOWN_TYPES:
        down_type = _LEGACY_DOWN_TYPES[legacy]
    inner = document["vcnode_schedule"]
    spec: _Spec | None
    if isinstance(inner, list):
        spec = _read_swarm_list(inner, "vcnode_schedule", collector, down_type or DownType.DELETED)
    elif isinstance(inner, Mapping):
        spec = _read_ocs(inner, "vcnode_schedule", collector, down_type)
    else:
        collector.add("vcnode_schedule", "must be an OCS schedule mapping or an old swarm list")
        return None
    if spec is None:
        return None
    spec.form = "group-vars"
    if "vcnode_all_ipaddress" in document:
        spec.ips_where = "vcnode_all_ipaddress"
        spec.ips = _address_list(document[spec.ips_where], spec.ips_where, collector)
    return spec


def _read_ocs(
    document: Mapping[object, object],
    prefix: str,
    collector: _Collector,
    down_type: DownType | None,
) -> _Spec | None:
    def at(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    collector.keys(prefix, document, _OCS_KEYS)
    spec = _Spec(form="ocs")
    _read_common(document, spec, collector, at)
    default = document.get("default")
    if not isinstance(default, Mapping):
        collector.add(at("default"), "missing; give node_count and down_type of normal times")
        return None
    where = at("default")
    collector.keys(where, default, ("node_count", "down_type", "drain_time", "max_node_count"))
    if "down_type" in default:
        parsed = collector.read(f"{where}.down_type", _parse_down_type, default["down_type"])
        spec.down_type = parsed or DownType.DELETED
    elif down_type is not None:
        spec.down_type = down_type
    else:
        collector.add(f"{where}.down_type", "missing; write deleted or power_down")
    spec.drain_time = _minutes(default.get("drain_time", 0), f"{where}.drain_time", collector)
    if "max_node_count" in default:
        limit = collector.read(
            f"{where}.max_node_count", _counter("max_node_count"), default["max_node_count"]
        )
        if limit == 0:
            collector.add(f"{where}.max_node_count", "must be at least 1")
        spec.max_nodes = limit or None
    if "node_count" not in default:
        collector.add(f"{where}.node_count", "missing; give the number of nodes in normal times")
    else:
        count = collector.read(f"{where}.node_count", _counter("node_count"), default["node_count"])
        if count is not None:
            spec.default = Target(count)
            spec.counted.append(_Counted(where, spec.default))
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
        _add_period(fields, item_where, f"period-{index + 1}", spec, collector)
    return spec


def _read_swarm_list(
    items: list[object], prefix: str, collector: _Collector, down_type: DownType
) -> _Spec | None:
    spec = _Spec(form="swarm-list", down_type=down_type)
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
        counts = [
            collector.read(f"{where}.{name}", _counter(name), counts_source.get(name, 0))
            for name in ("active", "pause", "drain")
        ]
        if anchor is None or None in counts:
            continue
        if anchor.granularity in (Granularity.YEARLY, Granularity.ONCE):
            collector.add(f"{where}.schedule", "old schedules repeat daily, weekly or monthly")
            continue
        active, pause, drain = (value or 0 for value in counts)
        target = Target(active, pause)
        spec.counted.append(_Counted(where, target, active + pause + drain, drain))
        triggers.append((anchor, target, where, index))
    if len(triggers) != len(items):
        return spec
    _triggers_to_windows(triggers, spec, collector, prefix)
    return spec


def _triggers_to_windows(
    triggers: list[tuple[Anchor, Target, str, int]],
    spec: _Spec,
    collector: _Collector,
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


def _read_cwh(
    document: Mapping[object, object], collector: _Collector, down_type: DownType | None
) -> _Spec | None:
    collector.keys("", document, _CWH_KEYS)
    spec = _Spec(form="cwh")
    _read_common(document, spec, collector, lambda key: key)
    if "down_type" in document:
        spec.down_type = (
            collector.read("down_type", _parse_down_type, document["down_type"]) or DownType.DELETED
        )
    elif down_type is not None:
        spec.down_type = down_type
    spec.drain_time = _minutes(document.get("drain_time", 0), "drain_time", collector)
    if "culling" in document:
        spec.culling = _read_culling(document["culling"], "culling", collector) or Culling()
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
        name = item.get("name", f"period-{index + 1}")
        _add_period(item, where, str(name), spec, collector)
    return spec


@dataclass(frozen=True)
class _Phase:
    minute: int
    target: Target
    name: str
    label: str
    drain_time: int | None
    culling: Culling | None


def _read_phases(document: Mapping[object, object], spec: _Spec, collector: _Collector) -> None:
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
        name = str(item.get("name", f"phase-{index + 1}"))
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


def _read_class_days(raw: object, spec: _Spec, collector: _Collector) -> list[int]:
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
    item: Mapping[object, object], where: str, name: str, spec: _Spec, collector: _Collector
) -> _Phase | None:
    if "start" not in item:
        collector.add(f"{where}.start", "missing; give the phase's start time as H:MM")
        return None
    clock = collector.read(f"{where}.start", parse_clock, item["start"])
    counts = [
        collector.read(f"{where}.{key}", _counter(key), item.get(key, 0))
        for key in ("active", "pause", "drain")
    ]
    drain_time = None
    if "drain_time" in item:
        drain_time = _minutes(item["drain_time"], f"{where}.drain_time", collector)
    culling = None
    if "culling" in item:
        culling = _read_culling(item["culling"], f"{where}.culling", collector)
    if clock is None or None in counts:
        return None
    active, pause, drain = (value or 0 for value in counts)
    target = Target(active, pause)
    spec.counted.append(_Counted(where, target, active + pause + drain, drain))
    minute = clock[0] * 60 + clock[1]
    return _Phase(minute, target, name, f"{where} ({name})", drain_time, culling)


def _weekly(weekday: int, minute: int) -> Anchor:
    return Anchor(Granularity.WEEKLY, minute // 60, minute % 60, weekday=weekday)


def _read_default(value: object, spec: _Spec, collector: _Collector) -> None:
    if isinstance(value, Mapping):
        collector.keys("default", value, ("node_count", "active", "pause", "name", "culling"))
        target = _target_of(value, "default", collector)
        if "name" in value:
            spec.default_name = str(value["name"])
        if "culling" in value:
            spec.default_culling = _read_culling(value["culling"], "default.culling", collector)
    else:
        count = collector.read("default", _counter("default"), value)
        target = None if count is None else Target(count)
    if target is not None:
        spec.default = target
        spec.counted.append(_Counted("default", target))


def _target_of(item: Mapping[object, object], where: str, collector: _Collector) -> Target | None:
    if "node_count" in item and ("active" in item or "pause" in item):
        collector.add(where, "give either node_count or active (with pause), not both")
        return None
    if "node_count" in item:
        key = "node_count"
    elif "active" in item:
        key = "active"
    else:
        collector.add(where, "missing node_count (or active and pause)")
        return None
    active = collector.read(f"{where}.{key}", _counter(key), item[key])
    pause = collector.read(f"{where}.pause", _counter("pause"), item.get("pause", 0))
    if active is None or pause is None:
        return None
    return Target(active, pause)


def _add_period(
    item: Mapping[object, object],
    where: str,
    name: str,
    spec: _Spec,
    collector: _Collector,
) -> None:
    if "begin" not in item or "end" not in item:
        collector.add(where, "needs both begin and end")
        return
    begin = collector.read(f"{where}.begin", parse_anchor, item["begin"])
    end = collector.read(f"{where}.end", parse_anchor, item["end"])
    target = _target_of(item, where, collector)
    drain_time = (
        _minutes(item["drain_time"], f"{where}.drain_time", collector)
        if "drain_time" in item
        else None
    )
    culling = (
        _read_culling(item["culling"], f"{where}.culling", collector) if "culling" in item else None
    )
    if begin is None or end is None or target is None:
        return
    spec.counted.append(_Counted(where, target))
    if begin.granularity is not end.granularity:
        collector.add(
            where,
            f"begin '{begin}' is {begin.granularity} but end '{end}' is {end.granularity}; "
            "write both the same way, e.g. 'Mon 9:00' and 'Mon 16:00'",
        )
        return
    if begin.key() == end.key():
        collector.add(where, f"begins and ends at the same time ({begin}); a period needs a length")
        return
    if begin.granularity is Granularity.ONCE and end.key() < begin.key():
        collector.add(where, f"ends ({end}) before it begins ({begin}); swap them")
        return
    spec.windows.append(Window(name, where, begin, end, target, drain_time, culling))


def _read_common(
    document: Mapping[object, object],
    spec: _Spec,
    collector: _Collector,
    at: Callable[[str], str],
) -> None:
    if "ip_addresses" in document:
        spec.ips = _address_list(document["ip_addresses"], at("ip_addresses"), collector)
        spec.ips_where = at("ip_addresses")
    if "timezone" in document:
        spec.timezone = document["timezone"]
    exceptions = document.get("exceptions", [])
    if not isinstance(exceptions, list):
        collector.add(at("exceptions"), "must be a list of dates or date ranges")
        return
    for index, value in enumerate(exceptions):
        where = f"{at('exceptions')}[{index}]"
        span = collector.read(where, parse_exception, value)
        if span is None:
            continue
        first, last = span
        if (last - first).days > _MAX_EXCEPTION_DAYS:
            collector.add(where, f"spans more than {_MAX_EXCEPTION_DAYS} days; check the years")
            continue
        spec.exceptions.update(first + timedelta(days=n) for n in range((last - first).days + 1))


def _address_list(value: object, where: str, collector: _Collector) -> list[object] | None:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return list(value)
    collector.add(where, "must be a list of IP addresses")
    return None


def _read_culling(value: object, where: str, collector: _Collector) -> Culling | None:
    if not isinstance(value, Mapping):
        collector.add(where, f"must map {', '.join(_CULLING_KEYS)} to values")
        return None
    collector.keys(where, value, _CULLING_KEYS)
    enabled = value.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        collector.add(f"{where}.enabled", "must be true or false")
        enabled = None
    numbers = {
        key: collector.read(f"{where}.{key}", _counter(key), value[key])
        for key in ("idle_timeout", "max_age", "every")
        if key in value
    }
    return Culling(
        enabled=enabled,
        idle_timeout=numbers.get("idle_timeout"),
        max_age=numbers.get("max_age"),
        every=numbers.get("every"),
    )


def _minutes(value: object, where: str, collector: _Collector) -> int:
    minutes = collector.read(where, _counter("drain_time (minutes)"), value)
    return minutes or 0


def _counter(what: str) -> Callable[[object], int]:
    def parse(value: object) -> int:
        return parse_count(value, what)

    return parse


def _parse_down_type(value: object) -> DownType:
    choices = [member.value for member in DownType]
    if isinstance(value, str) and value in choices:
        return DownType(value)
    hint = suggest(str(value), choices) if isinstance(value, str) else ""
    raise FieldError(f"{value!r} is not a down_type{hint}; write deleted or power_down")


def _build(spec: _Spec, collector: _Collector) -> Timetable | None:
    addresses = _check_addresses(spec, collector)
    zone = _check_timezone(spec.timezone, collector)
    limit = spec.max_nodes if spec.max_nodes is not None else len(addresses or [])
    if addresses is not None and spec.max_nodes is not None:
        if spec.max_nodes > len(addresses):
            collector.add(
                "max_node_count",
                f"{spec.max_nodes} nodes but only {len(addresses)} worker addresses; "
                "list more addresses or lower max_node_count",
            )
        elif spec.max_nodes < len(addresses):
            spec.notes.append(
                f"max_node_count is {spec.max_nodes}: the last "
                f"{len(addresses) - spec.max_nodes} address(es) are always deleted"
            )
    if addresses is not None:
        _check_counts(spec, len(addresses), limit, collector)
    _check_overlaps(spec, collector)
    for window in spec.windows:
        if day_is_clamped(window.begin) or day_is_clamped(window.end):
            spec.notes.append(
                f"{window.describe()}: in months without that day, the month's last day is used"
            )
    if collector.problems or addresses is None or zone is None or spec.default is None:
        return None
    return Timetable(
        ip_addresses=tuple(addresses),
        default=spec.default,
        windows=tuple(spec.windows),
        timezone=zone,
        down_type=spec.down_type,
        drain_time=spec.drain_time,
        default_drain_time=spec.default_drain_time,
        default_name=spec.default_name,
        exceptions=frozenset(spec.exceptions),
        max_nodes=spec.max_nodes,
        culling=spec.culling,
        default_culling=spec.default_culling,
        form=spec.form,
        notes=tuple(spec.notes),
    )


def _check_addresses(spec: _Spec, collector: _Collector) -> list[str] | None:
    if spec.ips is None:
        collector.add(
            "ip_addresses", "no worker addresses: add ip_addresses to the file or pass --ips a,b,c"
        )
        return None
    if not spec.ips:
        collector.add(spec.ips_where, "is empty; list at least one worker address")
        return None
    addresses: list[str] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(spec.ips):
        where = f"{spec.ips_where}[{index}]"
        try:
            address = str(ipaddress.ip_address(str(raw).strip()))
        except ValueError:
            collector.add(where, f"{raw!r} is not an IP address")
            continue
        if address in first_seen:
            collector.add(
                where,
                f"{address} is listed twice (also {spec.ips_where}[{first_seen[address]}]); "
                "every worker needs its own address",
            )
            continue
        first_seen[address] = index
        addresses.append(address)
    return addresses if len(addresses) == len(spec.ips) else None


def _check_timezone(value: object, collector: _Collector) -> ZoneInfo | None:
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    hint = suggest(str(value), sorted(available_timezones()))
    collector.add("timezone", f"{value!r} is not an IANA time zone{hint}; e.g. Asia/Tokyo")
    return None


def _check_counts(spec: _Spec, total: int, limit: int, collector: _Collector) -> None:
    for counted in spec.counted:
        target = counted.target
        if counted.declared_total is not None:
            if counted.declared_total != total:
                collector.add(
                    counted.where,
                    f"active {target.active} + pause {target.pause} + drain {counted.drain} = "
                    f"{counted.declared_total} nodes, but there are {total} worker addresses; "
                    f"make the counts add up to {total}",
                )
            continue
        if target.up > limit:
            what = "max_node_count" if spec.max_nodes is not None else "worker addresses"
            collector.add(
                counted.where,
                f"{target.up} nodes is more than the {limit} {what}; "
                "lower the count or list more addresses",
            )


def _check_overlaps(spec: _Spec, collector: _Collector) -> None:
    """Overlaps are an error in our format; in the reference's documents the earlier entry wins.

    The reference resolves overlapping periods by list order. Documents written for it keep
    that meaning, so installations migrate unchanged, but every overlap is reported as a note.
    """
    exceptions = frozenset(spec.exceptions)
    for index, later in enumerate(spec.windows):
        for earlier in spec.windows[:index]:
            moment = first_overlap(earlier, later, exceptions)
            if moment is None:
                continue
            clash = (
                f"({later.begin} - {later.end}) overlaps {earlier.describe()}, "
                f"e.g. at {moment:%a %Y-%m-%d %H:%M}"
            )
            if spec.form != "cwh":
                spec.notes.append(
                    f"{later.source} {clash}; as in vcp-schedule-utils, {earlier.source} "
                    "(listed first) wins while both apply"
                )
                break
            one_off = Granularity.ONCE in (earlier.granularity, later.granularity)
            both_one_off = earlier.granularity is later.granularity is Granularity.ONCE
            fix = (
                "shorten one of them, or list that date under exceptions so only the "
                "one-off period applies"
                if one_off and not both_one_off
                else "shorten or remove one of them (to cancel classes on given dates, "
                "list the dates under exceptions)"
            )
            collector.add(later.source, f"{clash}; periods must not overlap: {fix}")
            break
