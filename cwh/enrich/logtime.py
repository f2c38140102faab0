"""Timestamps and time-zone abbreviations of lc_wrapper logs.

lc_wrapper stamps `start time:` / `end time:` with ``strftime('%Y-%m-%d %H:%M:%S(%Z)')`` in the
kernel's local zone, so a log carries a zone *abbreviation*, not an offset. Abbreviations are not
unique world-wide (``CST`` is UTC-6 in Chicago and UTC+8 in Shanghai), so the parser never guesses:
it looks the abbreviation up in an explicit table and refuses unknown ones. Numeric
abbreviations, which tzdata uses for zones without a letter name (``+07``, ``-03``, ``+0545``),
carry their offset and are understood without a table entry.

Converting a timestamp sits on the hot path of the live enrichment filter (tens of thousands of
records per second), so this module avoids ``datetime.strptime``: the epoch is computed with
integer arithmetic and the minute prefix is memoised, because the records of a stream cluster in
time. It also defines the window of years enrichment accepts (``year_window``): a timestamp
outside it is a forgery or a broken clock, and such a time must never reach a date formatter
(or a report) that cannot represent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Final

__all__ = [
    "DEFAULT_FIRST_YEAR",
    "DEFAULT_LAST_YEAR",
    "DEFAULT_TIME_WINDOW",
    "DEFAULT_ZONES",
    "TIMESTAMP_PATTERN",
    "DayNames",
    "ZoneSpecError",
    "local_seconds",
    "minute_seconds",
    "parse_offset",
    "parse_zone_mapping",
    "split_timestamp",
    "utc_text",
    "year_window",
    "zone_offset",
]

_HOUR: Final = 3600

# Enrichment's sane time window: executions are accepted from 1 January of the first year to
# 31 December of the last (UTC); see ``year_window``.
DEFAULT_FIRST_YEAR = 2000
DEFAULT_LAST_YEAR = 2100
# The last year whose end (1 January of the next) is still a valid date.
_LAST_REPRESENTABLE_YEAR = 9998

# Every letter abbreviation below is one that tzdata uses, between 2019 and 2030, for exactly one
# UTC offset in every zone that uses it (``tests/test_logrecord.py`` re-checks this against the
# installed tzdata). Ambiguous ones -- CST, CDT, IST, PST -- are deliberately absent: a
# deployment that needs one states its meaning with ``parse_zone_mapping`` (``CST=+08:00``).
# ``Z`` and ``UT`` are not tzdata abbreviations but unambiguous spellings of UTC.
DEFAULT_ZONES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "UTC": 0,
        "UT": 0,
        "Z": 0,
        "GMT": 0,
        "WET": 0,
        "WEST": 1 * _HOUR,
        "BST": 1 * _HOUR,
        "CET": 1 * _HOUR,
        "CEST": 2 * _HOUR,
        "MET": 1 * _HOUR,
        "MEST": 2 * _HOUR,
        "WAT": 1 * _HOUR,
        "EET": 2 * _HOUR,
        "EEST": 3 * _HOUR,
        "CAT": 2 * _HOUR,
        "SAST": 2 * _HOUR,
        "IDT": 3 * _HOUR,
        "EAT": 3 * _HOUR,
        "MSK": 3 * _HOUR,
        "PKT": 5 * _HOUR,
        "WIB": 7 * _HOUR,
        "WITA": 8 * _HOUR,
        "HKT": 8 * _HOUR,
        "AWST": 8 * _HOUR,
        "WIT": 9 * _HOUR,
        "JST": 9 * _HOUR,
        "KST": 9 * _HOUR,
        "ACST": 9 * _HOUR + 30 * 60,
        "ACDT": 10 * _HOUR + 30 * 60,
        "AEST": 10 * _HOUR,
        "AEDT": 11 * _HOUR,
        "ChST": 10 * _HOUR,
        "NZST": 12 * _HOUR,
        "NZDT": 13 * _HOUR,
        "NST": -(3 * _HOUR + 30 * 60),
        "NDT": -(2 * _HOUR + 30 * 60),
        "ADT": -3 * _HOUR,
        "AST": -4 * _HOUR,
        "EDT": -4 * _HOUR,
        "EST": -5 * _HOUR,
        "MDT": -6 * _HOUR,
        "MST": -7 * _HOUR,
        "PDT": -7 * _HOUR,
        "AKDT": -8 * _HOUR,
        "AKST": -9 * _HOUR,
        "HDT": -9 * _HOUR,
        "HST": -10 * _HOUR,
        "SST": -11 * _HOUR,
    }
)

# Real offsets lie within -12:00..+14:00; the bound leaves room for odd historical values while
# still catching typos such as ``+90:00``.
_MAX_OFFSET: Final = 18 * _HOUR

# Characters that would make an abbreviation impossible to find again in ``...(ZONE)``.
_FORBIDDEN_IN_ZONE: Final = frozenset("()=:\n\r\t ")

_TIMESTAMP_LENGTH: Final = len("YYYY-mm-dd HH:MM:SS")
_DAYS_BEFORE_MONTH: Final = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
# "00".."59" -> int: one dict lookup both validates (ASCII digits only) and converts.
_SECOND_VALUES: Final[dict[str, int]] = {f"{n:02d}": n for n in range(60)}

#: The shape ``split_timestamp`` accepts, for use inside a larger pattern matched against one
#: line: group 1 is the ``YYYY-mm-dd HH:MM`` part (not yet validated: see ``minute_seconds``),
#: group 2 the seconds ("00".."59"), group 3 the zone (at least one character).
TIMESTAMP_PATTERN: Final = r"([^\n]{16}):([0-5][0-9])\(([^\n]+)\)"


class ZoneSpecError(ValueError):
    """A ``ABBR=+HH:MM`` zone specification (for example a CLI option) is malformed."""


def parse_offset(text: str) -> int | None:
    """Offset in seconds for ``+HH:MM``, ``-HHMM``, ``+HH`` or ``+H``; ``None`` when malformed.

    The sign is mandatory so that a bare number cannot be mistaken for a zone name, and only ASCII
    digits count (``int()`` would otherwise accept other scripts' digits).
    """
    if len(text) < 2 or text[0] not in "+-" or not text.isascii():
        return None
    digits = text[1:]
    if len(digits) == 5 and digits[2] == ":":
        digits = digits[:2] + digits[3:]
    if not digits.isdigit() or len(digits) not in (1, 2, 4):
        return None
    hours = int(digits[:2]) if len(digits) >= 2 else int(digits)
    minutes = int(digits[2:]) if len(digits) == 4 else 0
    if minutes >= 60:
        return None
    seconds = hours * _HOUR + minutes * 60
    if seconds > _MAX_OFFSET:
        return None
    return -seconds if text[0] == "-" else seconds


def parse_zone_mapping(specs: Iterable[str]) -> dict[str, int]:
    """Parse ``ABBR=OFFSET`` specifications (``CST=+08:00``, ``IST=+0530``, ``NPT=+05:45``).

    Returns only the given abbreviations; callers that want the defaults as well merge them:
    ``{**DEFAULT_ZONES, **parse_zone_mapping(specs)}``. Giving one abbreviation two different
    offsets is an error rather than "last wins", because it is almost certainly a typo.
    """
    mapping: dict[str, int] = {}
    for spec in specs:
        name, sep, offset_text = spec.partition("=")
        name = name.strip()
        offset_text = offset_text.strip()
        if not sep:
            raise ZoneSpecError(f"zone spec {spec!r} is not ABBR=OFFSET (for example 'JST=+09:00')")
        if not name:
            raise ZoneSpecError(f"zone spec {spec!r} has no abbreviation before '='")
        if any(char in _FORBIDDEN_IN_ZONE for char in name) or not name.isprintable():
            raise ZoneSpecError(
                f"zone abbreviation {name!r} in {spec!r} contains a character that cannot appear "
                "inside '(...)' of a log timestamp"
            )
        offset = parse_offset(offset_text)
        if offset is None:
            raise ZoneSpecError(
                f"zone offset {offset_text!r} in {spec!r} is not a signed UTC offset "
                "+HH:MM, -HHMM or +HH within ±18:00"
            )
        previous = mapping.get(name)
        if previous is not None and previous != offset:
            raise ZoneSpecError(
                f"zone abbreviation {name!r} is given two different offsets "
                f"({_format_offset(previous)} and {_format_offset(offset)})"
            )
        mapping[name] = offset
    return mapping


def zone_offset(zone: str, zones: Mapping[str, int]) -> int | None:
    """UTC offset of ``zone``: the table entry, else a numeric abbreviation's own offset."""
    offset = zones.get(zone)
    if offset is not None:
        return offset
    return parse_offset(zone)


def split_timestamp(value: str) -> tuple[int, str] | None:
    """Split ``YYYY-mm-dd HH:MM:SS(ZONE)`` into (local seconds, zone); ``None`` when malformed.

    Local seconds count from 1970-01-01 00:00:00 *in the timestamp's own zone*; subtracting the
    zone's offset gives the epoch. Keeping the two apart lets the caller compare a header's start
    time with the local time encoded in the log file name without knowing the zone.
    """
    if len(value) < _TIMESTAMP_LENGTH + 3 or value[-1] != ")" or value[16:20:3] != ":(":
        return None
    second = _SECOND_VALUES.get(value[17:19])
    if second is None:
        return None
    minute_start = minute_seconds(value[:16])
    if minute_start is None:
        return None
    return minute_start + second, value[_TIMESTAMP_LENGTH + 1 : -1]


def local_seconds(text: str) -> int | None:
    """Seconds since 1970-01-01 00:00:00 of a naive ``YYYY-mm-dd HH:MM:SS``; ``None`` if invalid."""
    if len(text) != _TIMESTAMP_LENGTH or text[16] != ":":
        return None
    second = _SECOND_VALUES.get(text[17:])
    if second is None:
        return None
    minute_start = minute_seconds(text[:16])
    if minute_start is None:
        return None
    return minute_start + second


@lru_cache(maxsize=4096)
def minute_seconds(text: str) -> int | None:
    """Local seconds at the start of ``YYYY-mm-dd HH:MM``, memoised (records cluster in time).

    None when ``text`` is not a valid minute of that form.
    """
    if (
        len(text) != 16
        or not text.isascii()
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != " "
        or text[13] != ":"
    ):
        return None
    fields = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16])
    if not all(field.isdigit() for field in fields):
        return None
    year, month, day, hour, minute = (int(field) for field in fields)
    if year < 1 or not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59:
        return None
    return _days_since_epoch(year, month, day) * 86400 + hour * _HOUR + minute * 60


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Proleptic Gregorian day number relative to 1970-01-01 (year >= 1)."""
    previous = year - 1
    days_before_year = previous * 365 + previous // 4 - previous // 100 + previous // 400
    days_before_month = _DAYS_BEFORE_MONTH[month - 1] + (1 if month > 2 and _is_leap(year) else 0)
    return days_before_year + days_before_month + day - 1 - 719162


def _format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), _HOUR)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def year_window(first_year: int, last_year: int) -> tuple[int, int]:
    """(epoch of 1 January ``first_year``, epoch of 1 January after ``last_year``), UTC.

    Raises ``ValueError`` unless ``1 <= first_year <= last_year <= 9998``.
    """
    if not 1 <= first_year <= last_year <= _LAST_REPRESENTABLE_YEAR:
        raise ValueError(
            f"time window years {first_year}..{last_year} must satisfy "
            f"1 <= first <= last <= {_LAST_REPRESENTABLE_YEAR}"
        )
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


DEFAULT_TIME_WINDOW = year_window(DEFAULT_FIRST_YEAR, DEFAULT_LAST_YEAR)


def utc_text(epoch: int) -> str:
    """``epoch`` as ISO 8601 UTC, or as the bare number when no date has that time."""
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return str(epoch)


# "00".."59": the seconds of a timestamp, without formatting an integer per record.
_TWO_DIGITS = tuple(f"{n:02}" for n in range(60))
_CACHED_PERIODS = 4096


class DayNames:
    """Caches the date part of index names and the minute part of timestamps.

    Formatting dates with ``strftime`` would cost more than parsing a small record; the
    records of a class cluster in a few days and minutes, so the text of a day and of a
    minute is computed once and a timestamp only appends its seconds.
    """

    def __init__(self) -> None:
        self._days: dict[int, tuple[str, str]] = {}
        self._minutes: dict[int, tuple[str, str]] = {}

    def _names(self, key: int) -> tuple[str, str]:
        names = self._days.get(key)
        if names is None:
            date = datetime.fromtimestamp(key * 86400, UTC)
            names = (date.strftime("%Y.%m.%d"), date.strftime("%Y-%m-%dT"))
            if len(self._days) > _CACHED_PERIODS:
                self._days.clear()
            self._days[key] = names
        return names

    def _minute(self, key: int) -> tuple[str, str]:
        """(``YYYY-mm-ddTHH:MM:``, ``YYYY.mm.dd``) of the minute ``key`` (epoch // 60)."""
        names = self._minutes.get(key)
        if names is None:
            days, minutes = divmod(key, 1440)
            day, iso_date = self._names(days)
            hours, minute = divmod(minutes, 60)
            names = (f"{iso_date}{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minute]}:", day)
            if len(self._minutes) > _CACHED_PERIODS:
                self._minutes.clear()
            self._minutes[key] = names
        return names

    def day(self, epoch: int) -> str:
        return self._names(epoch // 86400)[0]

    def iso(self, epoch: int) -> str:
        return self.stamp(epoch)[0]

    def stamp(self, epoch: int) -> tuple[str, str]:
        """(ISO 8601 UTC timestamp, ``YYYY.mm.dd`` day) of ``epoch``, for one document."""
        minute, second = divmod(epoch, 60)
        prefix, day = self._minute(minute)
        return f"{prefix}{_TWO_DIGITS[second]}Z", day
