"""The time window and zone a progress report is read in, from the user's words, and how
the report shows a stored start time.

Times are ISO-8601 dates or date-times; one without an offset is read in the report's zone.
``last_minutes`` is the window ending now. Stored start times come from students' kernels:
any value, however wrong, is shown as what it is instead of stopping the report.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SHOWN_FROM = int(datetime(1, 1, 2, tzinfo=UTC).timestamp())
_SHOWN_UNTIL = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
"""Start times shown as a clock: a day inside the calendar's ends, so every zone can show
them and a time is valid or not whatever the report's zone."""
NO_START_TIME = "no start_time"


class ReportConfigError(ValueError):
    """Report parameters that cannot work (unknown course, bad time, bad zone)."""


def parse_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportConfigError(f"unknown time zone {name!r} (use an IANA name)") from None


def parse_time(value: str, zone: tzinfo) -> datetime:
    """ISO-8601 date or date-time; without an offset it is read in the report's zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportConfigError(
            f"cannot read time {value!r}; use ISO-8601 such as 2026-11-24T09:00 or 2026-11-24"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    return _within_calendar(moment, zone, value)


def _within_calendar(moment: datetime, zone: tzinfo, value: str) -> datetime:
    """``moment``, once checked that it can be shown in UTC and in the report's zone."""
    try:
        moment.astimezone(UTC)
        moment.astimezone(zone)
    except (OverflowError, ValueError):
        raise ReportConfigError(
            f"time {value!r} is too close to the ends of the calendar to report on"
        ) from None
    return moment


def window_from(
    since: str | None, until: str | None, last_minutes: int | None, zone: tzinfo, now: datetime
) -> tuple[datetime | None, datetime | None]:
    if last_minutes is not None:
        if since is not None:
            raise ReportConfigError("give either since or last_minutes, not both")
        if last_minutes <= 0:
            raise ReportConfigError(f"last_minutes must be positive, not {last_minutes}")
        try:
            start: datetime | None = _within_calendar(
                now - timedelta(minutes=last_minutes), zone, f"{last_minutes} minutes ago"
            )
        except OverflowError:
            raise ReportConfigError(f"last_minutes {last_minutes} reaches before year 1") from None
    else:
        start = parse_time(since, zone) if since else None
    end = parse_time(until, zone) if until else None
    if start is not None and end is not None and start >= end:
        raise ReportConfigError(f"the window is empty: {start.isoformat()} is not before {end}")
    return start, end


def describe_window(
    since: datetime | None, until: datetime | None, zone: tzinfo, zone_name: str
) -> str:
    """The window as the report's heading says it, in the report's zone."""
    if since is None and until is None:
        return "all executions"
    start = f"{since.astimezone(zone):%Y-%m-%d %H:%M}" if since else "the start"
    end = f"{until.astimezone(zone):%Y-%m-%d %H:%M}" if until else "now"
    return f"{start} to {end} ({zone_name})"


def start_time_key(value: object) -> Hashable:
    """What two start times share exactly when :func:`show_start_time` shows them alike
    in any zone: the minute of a time it shows as a clock, else the value itself."""
    seconds = _seconds(value)
    if seconds is not None and seconds != 0 and _SHOWN_FROM <= seconds < _SHOWN_UNTIL:
        return seconds // 60
    return ("as stored", value if isinstance(value, Hashable) else repr(value))


def show_start_time(value: object, tz: tzinfo) -> str:
    """A stored start time (epoch seconds) as ``MM-DD HH:MM`` in ``tz``.

    A missing time (stored as 0 or null) is shown as :data:`NO_START_TIME`; anything that is
    no time at all (text, NaN, a number beyond the calendar such as ``9999-12-31 23:59:59``
    in a zone east of UTC) is shown as ``invalid start_time <value>``, so one bad document is
    visible in the report instead of stopping it.
    """
    seconds = _seconds(value)
    if seconds == 0 or value is None:
        return NO_START_TIME
    if seconds is not None and _SHOWN_FROM <= seconds < _SHOWN_UNTIL:
        try:
            return datetime.fromtimestamp(seconds, tz).strftime("%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):
            pass
    shown = repr(value)
    return f"invalid start_time {shown if len(shown) <= 40 else shown[:39] + '…'}"


def _seconds(value: object) -> int | None:
    """``value`` as whole epoch seconds, or None when it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None
