"""What the timetable readers share: the specification they fill in, the problem collector and
the readers of fields that several formats have in common (addresses, exceptions, periods,
counts, culling, down_type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from cwh.defaults import DEFAULT_TIMEZONE
from cwh.safe_input import printable
from cwh.timetable.academic import FIRST_YEAR, LAST_YEAR
from cwh.timetable.model import (
    Culling,
    DownType,
    Granularity,
    Problem,
    Target,
    Window,
)
from cwh.timetable.text import (
    FieldError,
    Opaque,
    parse_anchor,
    parse_count,
    parse_exception_entry,
    suggest,
)

_T = TypeVar("_T")
_CULLING_KEYS = ("enabled", "idle_timeout", "max_age", "every")
MAX_EXCEPTION_DAYS = 3660


@dataclass
class Counted:
    """A target and where it was written, for the checks against the address list."""

    where: str
    target: Target
    declared_total: int | None = None
    drain: int = 0


@dataclass
class Spec:
    """What a reader found in a document; :mod:`cwh.timetable.load` checks it as a whole."""

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
    makeup_days: set[date] = field(default_factory=set)
    reasons: dict[date, str] = field(default_factory=dict)
    exception_where: dict[date, str] = field(default_factory=dict)
    holidays: object = None
    terms: list[tuple[str, object]] = field(default_factory=list)
    max_nodes: int | None = None
    culling: Culling = field(default_factory=Culling)
    force_idle_after: timedelta | None = None
    counted: list[Counted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count_split(self, where: str, split: tuple[int, int, int]) -> Target:
        """Record an entry that gives every node a state, so its total is checked too."""
        active, pause, drain = split
        target = Target(active, pause)
        self.counted.append(Counted(where, target, active + pause + drain, drain))
        return target


class Collector:
    """Every problem of a document, so that all of them are reported at once."""

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


def read_down_type(
    mapping: Mapping[object, object],
    where: str,
    spec: Spec,
    collector: Collector,
    fallback: DownType | None,
    *,
    required: bool,
) -> None:
    """Set ``spec.down_type`` from the document, else from ``fallback`` (the caller's choice).

    A missing one is a problem only where the format demands it (the OCS default).
    """
    if "down_type" in mapping:
        parsed = collector.read(where, parse_down_type, mapping["down_type"])
        spec.down_type = parsed or DownType.DELETED
    elif fallback is not None:
        spec.down_type = fallback
    elif required:
        collector.add(where, "missing; write deleted or power_down")


def read_split(
    source: Mapping[object, object], where: str, collector: Collector
) -> tuple[int, int, int] | None:
    """The ``active``, ``pause`` and ``drain`` counts of one entry, each 0 when not given."""
    counts = [
        collector.read(f"{where}.{key}", counter(key), source.get(key, 0))
        for key in ("active", "pause", "drain")
    ]
    if None in counts:
        return None
    active, pause, drain = (value or 0 for value in counts)
    return active, pause, drain


def target_of(item: Mapping[object, object], where: str, collector: Collector) -> Target | None:
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
    active = collector.read(f"{where}.{key}", counter(key), item[key])
    pause = collector.read(f"{where}.pause", counter("pause"), item.get("pause", 0))
    if active is None or pause is None:
        return None
    return Target(active, pause)


def add_period(
    item: Mapping[object, object],
    where: str,
    name: str,
    spec: Spec,
    collector: Collector,
) -> None:
    if "begin" not in item or "end" not in item:
        collector.add(where, "needs both begin and end")
        return
    begin = collector.read(f"{where}.begin", parse_anchor, item["begin"])
    end = collector.read(f"{where}.end", parse_anchor, item["end"])
    target = target_of(item, where, collector)
    drain_time = (
        read_minutes(item["drain_time"], f"{where}.drain_time", collector)
        if "drain_time" in item
        else None
    )
    culling = (
        read_culling(item["culling"], f"{where}.culling", collector) if "culling" in item else None
    )
    if begin is None or end is None or target is None:
        return
    spec.counted.append(Counted(where, target))
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


def read_common(
    document: Mapping[object, object],
    spec: Spec,
    collector: Collector,
    at: Callable[[str], str],
) -> None:
    if "ip_addresses" in document:
        spec.ips = address_list(document["ip_addresses"], at("ip_addresses"), collector)
        spec.ips_where = at("ip_addresses")
    if "timezone" in document:
        spec.timezone = document["timezone"]
    exceptions = document.get("exceptions", [])
    if not isinstance(exceptions, list):
        collector.add(at("exceptions"), "must be a list of dates or date ranges")
        return
    for index, value in enumerate(exceptions):
        where = f"{at('exceptions')}[{index}]"
        entry = collector.read(where, parse_exception_entry, value)
        if entry is None:
            continue
        first, last = entry.first, entry.last
        if (last - first).days > MAX_EXCEPTION_DAYS:
            collector.add(where, f"spans more than {MAX_EXCEPTION_DAYS} days; check the years")
            continue
        if not (first.year >= FIRST_YEAR and last.year <= LAST_YEAR):
            collector.add(where, f"lies outside the years {FIRST_YEAR}-{LAST_YEAR}; check the year")
            continue
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        other = spec.exceptions if entry.makeup else spec.makeup_days
        clash = next((day for day in days if day in other), None)
        if clash is not None:
            kind = "cancels classes on" if entry.makeup else "makes a makeup day of"
            collector.add(
                where,
                f"{spec.exception_where[clash]} already {kind} {clash}; a date is either a "
                "makeup day or a cancelled day, remove one of the two",
            )
            continue
        (spec.makeup_days if entry.makeup else spec.exceptions).update(days)
        for day in days:
            spec.exception_where[day] = where
            if entry.reason:
                spec.reasons[day] = entry.reason


MAX_NAME_LENGTH = 100


def read_name(value: object, where: str, collector: Collector, fallback: str) -> str:
    """A phase or period name: text (or a number) of printable characters; ``fallback`` when
    it cannot be used, after recording why."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        hint = "; quote it" if isinstance(value, bool) else ""
        collector.add(where, f"a name must be text, got {type(value).__name__}{hint}")
        return fallback
    text = str(value)
    if printable(text) != text:
        collector.add(where, f"'{printable(text)}' holds control characters; write a plain name")
        return fallback
    if len(text) > MAX_NAME_LENGTH:
        collector.add(where, f"is longer than {MAX_NAME_LENGTH} characters; shorten it")
        return fallback
    return text


def address_list(value: object, where: str, collector: Collector) -> list[object] | None:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return list(value)
    collector.add(where, "must be a list of IP addresses")
    return None


def read_culling(value: object, where: str, collector: Collector) -> Culling | None:
    if not isinstance(value, Mapping):
        collector.add(where, f"must map {', '.join(_CULLING_KEYS)} to values")
        return None
    collector.keys(where, value, _CULLING_KEYS)
    enabled = value.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        collector.add(f"{where}.enabled", "must be true or false")
        enabled = None
    numbers = {
        key: collector.read(f"{where}.{key}", counter(key), value[key])
        for key in ("idle_timeout", "max_age", "every")
        if key in value
    }
    return Culling(
        enabled=enabled,
        idle_timeout=numbers.get("idle_timeout"),
        max_age=numbers.get("max_age"),
        every=numbers.get("every"),
    )


def read_minutes(value: object, where: str, collector: Collector) -> int:
    minutes = collector.read(where, counter("drain_time (minutes)"), value)
    return minutes or 0


def counter(what: str) -> Callable[[object], int]:
    def parse(value: object) -> int:
        return parse_count(value, what)

    return parse


def parse_down_type(value: object) -> DownType:
    choices = [member.value for member in DownType]
    if isinstance(value, str) and value in choices:
        return DownType(value)
    hint = suggest(str(value), choices) if isinstance(value, str) else ""
    raise FieldError(f"{value!r} is not a down_type{hint}; write deleted or power_down")
