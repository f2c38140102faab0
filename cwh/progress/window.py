"""The time window and zone a progress report is read in, from the user's words.

Times are ISO-8601 dates or date-times; one without an offset is read in the report's zone.
``last_minutes`` is the window ending now.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def window_from(
    since: str | None, until: str | None, last_minutes: int | None, zone: tzinfo, now: datetime
) -> tuple[datetime | None, datetime | None]:
    if last_minutes is not None:
        if since is not None:
            raise ReportConfigError("give either since or last_minutes, not both")
        if last_minutes <= 0:
            raise ReportConfigError(f"last_minutes must be positive, not {last_minutes}")
        start: datetime | None = now - timedelta(minutes=last_minutes)
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
