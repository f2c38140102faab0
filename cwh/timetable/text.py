"""Parsing of the small pieces a timetable is written with: weekdays, clock times, period
anchors, exception dates, and the YAML/JSON documents themselves.

Every parser raises :class:`FieldError` with a message that says what to write instead; the
loader adds *where* the value was found. Weekdays are English names and abbreviations or
Japanese ``月``/``月曜日``, case-insensitive; the mappings of the OCS document and the old
swarm list may also give ``0`` (Sunday) to ``6`` (Saturday).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from cwh.safe_input import BoundedLoader, InputRules, parse_json, parse_yaml
from cwh.timetable.model import Anchor, Granularity


class FieldError(ValueError):
    """One value that cannot be read; the message says how to write it."""


_WEEKDAY_NAMES: tuple[tuple[str, ...], ...] = (
    ("monday", "mon", "月", "月曜", "月曜日"),
    ("tuesday", "tue", "tues", "火", "火曜", "火曜日"),
    ("wednesday", "wed", "水", "水曜", "水曜日"),
    ("thursday", "thu", "thur", "thurs", "木", "木曜", "木曜日"),
    ("friday", "fri", "金", "金曜", "金曜日"),
    ("saturday", "sat", "土", "土曜", "土曜日"),
    ("sunday", "sun", "日", "日曜", "日曜日"),
)
_WEEKDAY_BY_NAME: dict[str, int] = {
    name: weekday for weekday, names in enumerate(_WEEKDAY_NAMES) for name in names
}
_CLOCK = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})"
_DAILY_RE = re.compile(rf"{_CLOCK}")
_WEEKLY_RE = re.compile(rf"(?P<weekday>[^\d\s:/]+)\s*{_CLOCK}")
_MONTHLY_RE = re.compile(rf"(?:(?P<day>\d{{1,2}})\s*日\s*|(?P<day2>\d{{1,2}})\s+){_CLOCK}")
_YEARLY_RE = re.compile(
    rf"(?:(?P<month>\d{{1,2}})\s*/\s*(?P<day>\d{{1,2}})"
    rf"|(?P<month2>\d{{1,2}})\s*月\s*(?P<day2>\d{{1,2}})\s*日)\s*{_CLOCK}"
)
_ONCE_RE = re.compile(
    rf"(?:(?P<year>\d{{4}})\s*[/-]\s*(?P<month>\d{{1,2}})\s*[/-]\s*(?P<day>\d{{1,2}})"
    rf"|(?P<year2>\d{{4}})\s*年\s*(?P<month2>\d{{1,2}})\s*月\s*(?P<day2>\d{{1,2}})\s*日)"
    rf"\s*{_CLOCK}"
)
_DATE_RE = re.compile(r"(?P<year>\d{4})\s*[/-]\s*(?P<month>\d{1,2})\s*[/-]\s*(?P<day>\d{1,2})")
ANCHOR_EXAMPLES = "'9:00' (daily), 'Mon 9:00', '1日 9:00', '12/29 0:00' or '2025/4/1 9:00'"


def parse_weekday(value: object) -> int:
    """Weekday number with Monday = 0 from a name (any supported spelling) or 0 (Sun)..6 (Sat)."""
    if isinstance(value, bool):
        raise FieldError(f"{value!r} is not a weekday; write a name such as 'mon' or '月'")
    if isinstance(value, int):
        if 0 <= value <= 6:
            return (value - 1) % 7
        raise FieldError(f"weekday number {value} is out of range; use 0 (Sunday) to 6 (Saturday)")
    if not isinstance(value, str):
        raise FieldError(f"{value!r} is not a weekday; write a name such as 'mon' or '月'")
    text = value.strip().lower()
    if text in _WEEKDAY_BY_NAME:
        return _WEEKDAY_BY_NAME[text]
    hint = _closest(text, list(_WEEKDAY_BY_NAME), cutoff=0.5)
    raise FieldError(
        f"{value!r} is not a weekday{hint}; "
        "write mon..sun, monday..sunday, 月..日 or 月曜日..日曜日"
    )


def parse_clock(value: object) -> tuple[int, int]:
    """``(hour, minute)`` from ``H:MM`` in 24-hour form."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise FieldError(f"{value!r} is a number, not a time; write H:MM in quotes, e.g. '8:30'")
    if not isinstance(value, str):
        raise FieldError(f"{value!r} is not a time; write H:MM in 24-hour form, e.g. '8:30'")
    match = _DAILY_RE.fullmatch(value.strip())
    if match is None:
        raise FieldError(
            f"{value!r} is not a time; write H:MM in 24-hour form, e.g. '8:30' or '16:00'"
        )
    return _checked_clock(value, match)


def parse_anchor(value: object) -> Anchor:
    """A period boundary written as text (notebook syntax) or as an OCS document's mapping."""
    if isinstance(value, Mapping):
        return _anchor_from_mapping(value)
    if isinstance(value, datetime):
        return Anchor.once_at(value)
    if not isinstance(value, str):
        raise FieldError(f"{value!r} is not a period boundary; write e.g. {ANCHOR_EXAMPLES}")
    text = value.strip()
    if match := _ONCE_RE.fullmatch(text):
        year, month, day = _groups(match, "year", "month", "day")
        hour, minute = _checked_clock(value, match)
        _check_date(value, year, month, day)
        return Anchor(Granularity.ONCE, hour, minute, day=day, month=month, year=year)
    if match := _YEARLY_RE.fullmatch(text):
        month, day = _groups(match, "month", "day")
        hour, minute = _checked_clock(value, match)
        _check_date(value, 2024, month, day)
        return Anchor(Granularity.YEARLY, hour, minute, day=day, month=month)
    if match := _MONTHLY_RE.fullmatch(text):
        (day,) = _groups(match, "day")
        hour, minute = _checked_clock(value, match)
        _check_day_of_month(value, day)
        return Anchor(Granularity.MONTHLY, hour, minute, day=day)
    if match := _WEEKLY_RE.fullmatch(text):
        weekday = parse_weekday(match.group("weekday"))
        hour, minute = _checked_clock(value, match)
        return Anchor(Granularity.WEEKLY, hour, minute, weekday=weekday)
    if match := _DAILY_RE.fullmatch(text):
        hour, minute = _checked_clock(value, match)
        return Anchor(Granularity.DAILY, hour, minute)
    raise FieldError(f"{value!r} is not a period boundary; write e.g. {ANCHOR_EXAMPLES}")


def parse_date(value: object) -> date:
    """A calendar date from YAML's date type, ``YYYY-MM-DD`` or ``YYYY/M/D``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and (match := _DATE_RE.fullmatch(value.strip())):
        year, month, day = (int(match.group(name)) for name in ("year", "month", "day"))
        _check_date(value, year, month, day)
        return date(year, month, day)
    raise FieldError(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2025-05-05")


@dataclass(frozen=True, slots=True)
class DateEntry:
    """An inclusive date range with what was written beside it: an ``exceptions:`` entry
    (``makeup`` holds classes instead of cancelling them) or a ``terms:`` entry."""

    first: date
    last: date
    reason: str = ""
    makeup: bool = False


def parse_exception(value: object) -> tuple[date, date]:
    """An exception entry as an inclusive date range; see :func:`parse_exception_entry`."""
    entry = parse_exception_entry(value)
    return entry.first, entry.last


def parse_exception_entry(value: object) -> DateEntry:
    """An exception entry.

    Accepted: a date, ``"2025-12-27..2026-01-04"``, ``{date: D}`` or ``{from: A, to: B}``,
    each mapping optionally with a ``reason`` that documents the entry and ``makeup: true``
    for a makeup class day (classes run even on a holiday or outside the terms).
    """
    if isinstance(value, Mapping):
        unknown = set(value) - {"date", "from", "to", "reason", "makeup"}
        if unknown:
            raise FieldError(
                f"unknown keys {sorted(map(str, unknown))}; use date, or from and to, "
                "plus an optional reason and makeup: true"
            )
        makeup = value.get("makeup", False)
        if not isinstance(makeup, bool):
            raise FieldError(f"makeup must be true or false, got {makeup!r}")
        first, last = _date_range(value)
        return DateEntry(first, last, _reason(value.get("reason", "")), makeup)
    if isinstance(value, str) and ".." in value:
        first_text, _, last_text = value.partition("..")
        return DateEntry(*_ordered(parse_date(first_text), parse_date(last_text)))
    day = parse_date(value)
    return DateEntry(day, day)


def parse_term(value: object) -> DateEntry:
    """A teaching period: ``{from: A, to: B, name: N}`` or ``"A..B"``; the reason is the name."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"from", "to", "name"}
        if unknown:
            raise FieldError(
                f"unknown keys {sorted(map(str, unknown))}; use from and to, plus an optional name"
            )
        if "from" not in value or "to" not in value:
            raise FieldError("a term needs both from: and to: (its first and last day)")
        first, last = _ordered(parse_date(value["from"]), parse_date(value["to"]))
        return DateEntry(first, last, _reason(value.get("name", "")))
    if isinstance(value, str) and ".." in value:
        first_text, _, last_text = value.partition("..")
        return DateEntry(*_ordered(parse_date(first_text), parse_date(last_text)))
    raise FieldError(f"{value!r} is not a term; write {{from: 2026-04-08, to: 2026-07-31}}")


MAX_REASON_LENGTH = 100


def _date_range(value: Mapping[Any, Any]) -> tuple[date, date]:
    if "date" in value:
        day = parse_date(value["date"])
        return day, day
    if "from" in value and "to" in value:
        return _ordered(parse_date(value["from"]), parse_date(value["to"]))
    raise FieldError("give either date: YYYY-MM-DD or both from: and to:")


def _reason(value: object) -> str:
    """A reason or name written beside a date: short printable text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError(f"a reason or name must be text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_REASON_LENGTH or not text.isprintable():
        raise FieldError(
            f"a reason or name must be printable text of at most {MAX_REASON_LENGTH} characters"
        )
    return text


def parse_count(value: object, what: str) -> int:
    """A non-negative whole number of nodes or minutes."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{what} must be a whole number, got {value!r}")
    if value < 0:
        raise FieldError(f"{what} must be 0 or more, got {value}")
    return value


_DURATION_RE = re.compile(r"(?:(?P<hours>\d{1,4})\s*h)?\s*(?:(?P<minutes>\d{1,6})\s*m(?:in)?)?")
MAX_DURATION = timedelta(days=30)


def parse_duration(value: object) -> timedelta:
    """A positive span of time: ``30m``, ``2h``, ``1h30m``, or a whole number of minutes."""
    how = "write minutes or hours, e.g. 30m, 2h or 1h30m"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldError(f"{value!r} is not a duration; {how}")
    if isinstance(value, int):
        span = timedelta(minutes=value)
    else:
        match = _DURATION_RE.fullmatch(value.strip())
        if match is None or not value.strip():
            raise FieldError(f"{value!r} is not a duration; {how}")
        hours, minutes = (int(match.group(key) or 0) for key in ("hours", "minutes"))
        span = timedelta(hours=hours, minutes=minutes)
    if span <= timedelta(0):
        raise FieldError(f"{value!r} must be longer than zero; {how}")
    if span > MAX_DURATION:
        raise FieldError(f"{value!r} is longer than 30 days; {how}")
    return span


def suggest(word: str, choices: list[str]) -> str:
    """``" (did you mean 'x'?)"`` when a choice is close to ``word``, else an empty string."""
    return _closest(word, choices, cutoff=0.6)


def _closest(word: str, choices: list[str], *, cutoff: float) -> str:
    """The best matches only: equally close ones, those sharing the first letter first."""
    scored = []
    for choice in choices:
        ratio = difflib.SequenceMatcher(None, word.lower(), choice.lower()).ratio()
        if ratio >= cutoff:
            scored.append((ratio, choice))
    if not scored:
        return ""
    best = max(ratio for ratio, _choice in scored)
    initial = word[:1].lower()
    close = [
        (choice[:1].lower() != initial, choice) for ratio, choice in scored if ratio >= best - 0.05
    ]
    matches = [choice for _other_initial, choice in sorted(close)][:3]
    return f" (did you mean {_or_list(matches)}?)"


@dataclass(frozen=True, slots=True)
class Opaque:
    """A YAML value under a local tag (``!vault``) that we neither need nor may decrypt."""

    tag: str


MAX_TIMETABLE_BYTES = 1 << 20
"""Largest timetable file read; real ones are a few kilobytes."""
MAX_TIMETABLE_DEPTH = 32
"""Deepest nesting accepted in a timetable document (real ones nest four or five levels)."""
MAX_TIMETABLE_VALUES = 100_000
"""Most values a timetable document may hold, YAML aliases expanded."""


def load_document(path: Path) -> object:
    """Parse a JSON or YAML file; the extension decides, anything but ``.json`` is YAML.

    The file is read through :mod:`cwh.safe_input`: a regular file of at most
    :data:`MAX_TIMETABLE_BYTES`, UTF-8, nested at most :data:`MAX_TIMETABLE_DEPTH` levels, with
    YAML aliases expanding to at most :data:`MAX_TIMETABLE_VALUES` values. Any refusal is an
    :class:`~cwh.safe_input.InputRefused`. YAML is read with the booleans of YAML 1.2 (only
    ``true`` and ``false``; ``on``, ``off``, ``yes`` and ``no`` stay text, so a phase named
    ``off`` keeps its name), ``8:30`` stays the text "8:30" (YAML 1.1 would turn it into the
    number 510), and duplicate keys are an error instead of silently keeping the last.
    Values under local tags such as Ansible's ``!vault`` become :class:`Opaque`, so a real
    ``group_vars`` file loads.
    """
    name = str(path)
    text = InputRules(MAX_TIMETABLE_BYTES).read_text(path, name)
    if path.suffix.lower() == ".json":
        return parse_json(
            text,
            name,
            max_depth=MAX_TIMETABLE_DEPTH,
            max_values=MAX_TIMETABLE_VALUES,
            object_pairs_hook=_unique_pairs,
        )
    return parse_yaml(
        text,
        name,
        loader=_TimetableLoader,
        max_depth=MAX_TIMETABLE_DEPTH,
        max_values=MAX_TIMETABLE_VALUES,
    )


class _TimetableLoader(BoundedLoader):
    """The bounded loader without sexagesimal numbers, with duplicate-key detection and
    opaque local tags."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[object, yaml.Node] = {}
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given on line {first}); keep only one",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TimetableLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in BoundedLoader.yaml_implicit_resolvers.items()
}
_TimetableLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_TimetableLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_opaque(_loader: BoundedLoader, tag_suffix: str, _node: yaml.Node) -> Opaque:
    return Opaque(tag="!" + tag_suffix)


_TimetableLoader.add_multi_constructor("!", _construct_opaque)


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise FieldError(f"duplicate key {key!r} in a JSON object; keep only one")
        result[key] = value
    return result


def _anchor_from_mapping(value: Mapping[Any, Any]) -> Anchor:
    allowed = {"year", "month", "day", "day_of_week", "hour", "minute"}
    unknown = set(map(str, value)) - allowed
    if unknown:
        raise FieldError(
            f"unknown keys {sorted(unknown)} in a period boundary; use {sorted(allowed)}"
        )
    if "hour" not in value or "minute" not in value:
        raise FieldError("a period boundary needs both hour and minute")
    hour = _ranged(value["hour"], "hour", 0, 23)
    minute = _ranged(value["minute"], "minute", 0, 59)
    keys = set(value)
    if "year" in keys:
        if not {"month", "day"} <= keys or "day_of_week" in keys:
            raise FieldError("a specific date needs year, month and day (and no day_of_week)")
        year = _ranged(value["year"], "year", 2000, 9999)
        month = _ranged(value["month"], "month", 1, 12)
        day = _ranged(value["day"], "day", 1, 31)
        _check_date(f"{year}/{month}/{day}", year, month, day)
        return Anchor(Granularity.ONCE, hour, minute, day=day, month=month, year=year)
    if "month" in keys:
        if "day" not in keys or "day_of_week" in keys:
            raise FieldError("a yearly boundary needs month and day (and no day_of_week)")
        month = _ranged(value["month"], "month", 1, 12)
        day = _ranged(value["day"], "day", 1, 31)
        _check_date(f"{month}/{day}", 2024, month, day)
        return Anchor(Granularity.YEARLY, hour, minute, day=day, month=month)
    if "day" in keys:
        if "day_of_week" in keys:
            raise FieldError("give either day (monthly) or day_of_week (weekly), not both")
        return Anchor(Granularity.MONTHLY, hour, minute, day=_ranged(value["day"], "day", 1, 31))
    if "day_of_week" in keys:
        weekday = parse_weekday(value["day_of_week"])
        return Anchor(Granularity.WEEKLY, hour, minute, weekday=weekday)
    return Anchor(Granularity.DAILY, hour, minute)


def _ranged(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise FieldError(f"{name} {value} is out of range; use {low} to {high}")
    return value


def _checked_clock(original: object, match: re.Match[str]) -> tuple[int, int]:
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    if hour == 24 and minute == 0:
        raise FieldError(f"{original!r}: there is no 24:00; write 0:00 of the following day")
    if hour > 23 or minute > 59:
        raise FieldError(
            f"{original!r} is not a time of day; hours run 0-23 and minutes 00-59 (H:MM)"
        )
    return hour, minute


def _groups(match: re.Match[str], *names: str) -> tuple[int, ...]:
    """Values of named groups that exist in two alternative spellings (``x`` and ``x2``)."""
    values = []
    for name in names:
        text = match.group(name) or match.group(f"{name}2")
        values.append(int(text))
    return tuple(values)


def _check_date(original: object, year: int, month: int, day: int) -> None:
    try:
        date(year, month, day)
    except ValueError as exc:
        raise FieldError(f"{original!r} is not a calendar date ({exc})") from exc


def _check_day_of_month(original: object, day: int) -> None:
    if not 1 <= day <= 31:
        raise FieldError(f"{original!r}: a day of the month runs from 1 to 31")


def _ordered(first: date, last: date) -> tuple[date, date]:
    if last < first:
        raise FieldError(f"the range ends ({last}) before it starts ({first}); swap them")
    return first, last


def _or_list(words: list[str]) -> str:
    quoted = [f"'{word}'" for word in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
