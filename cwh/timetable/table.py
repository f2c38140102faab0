"""The worker-node timetable: which worker address should be in which state at any instant.

A :class:`Timetable` is built by :mod:`cwh.timetable.load` from any supported document. It holds
a default node count and windows (class phases, periods) that override it, in the timetable's own
time zone. Asking it at an instant gives the node counts and the per-address states, by the
rules migrated installations already rely on:

* the window in force gives the up-node count, else the default;
* ``drain_time`` minutes before a scale-down, the nodes that will go are already paused;
* addresses are handed out in list order: active first, then pause, then power_down, the rest
  deleted. With ``down_type: power_down``, addresses that no phase ever needs are deleted rather
  than kept switched off.

The answer depends only on the instant asked about, never on the time the code runs, so a
missed or failed reconcile is corrected by the next one. Instants become wall-clock times by the
one rule for clock changes of :func:`~cwh.timetable.calendar.wall_clock` and
:func:`~cwh.timetable.calendar.first_instant`, so previews, plans and reconcile runs agree on
the days clocks change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

from cwh.defaults import DEFAULT_TIMEZONE
from cwh.messages import Language, text
from cwh.timetable.academic import AcademicCalendar, DayKind, DayStatus
from cwh.timetable.calendar import INSTANT, Recurrence, first_instant, wall_clock
from cwh.timetable.model import (
    Culling,
    DownType,
    NodeCounts,
    NodeState,
    Target,
    Window,
)


@dataclass(frozen=True)
class PausedAhead:
    """Nodes paused early so they drain before a smaller phase begins."""

    nodes: int
    phase: str
    boundary: datetime


@dataclass(frozen=True)
class TimetableState:
    """The desired state at one instant, with the phase in force and why it looks this way.

    ``note`` is the English sentence runs record; ``paused_ahead`` holds the same facts for
    texts in other languages.
    """

    at: datetime
    phase: str
    counts: NodeCounts
    nodes: Mapping[str, NodeState]
    note: str = ""
    paused_ahead: PausedAhead | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "phase": self.phase,
            "nodes": {address: state.value for address, state in self.nodes.items()},
        }


@dataclass(frozen=True)
class RunTarget:
    """What one reconcile run should aim for, and whether the timetable or the caller decided."""

    state: TimetableState
    source: Literal["timetable", "parameters"]
    note: str


@dataclass(frozen=True)
class Timetable:
    """Validated timetable; build it with :func:`cwh.timetable.load.load_timetable`."""

    ip_addresses: tuple[str, ...]
    default: Target
    windows: tuple[Window, ...] = ()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    down_type: DownType = DownType.DELETED
    drain_time: int = 0
    default_drain_time: int | None = None
    default_name: str = "default"
    exceptions: frozenset[date] = frozenset()
    max_nodes: int | None = None
    culling: Culling = field(default_factory=Culling)
    default_culling: Culling | None = None
    force_idle_after: timedelta | None = None
    form: str = "cwh"
    notes: tuple[str, ...] = ()
    academic: AcademicCalendar | None = None
    """Holidays, terms and makeup days; ``None``: only ``exceptions`` are off days."""

    def __post_init__(self) -> None:
        if not self.ip_addresses:
            raise ValueError("a timetable needs at least one worker address")
        if len(set(self.ip_addresses)) != len(self.ip_addresses):
            raise ValueError("worker addresses must be unique")
        limit = self.node_limit
        if limit > len(self.ip_addresses):
            raise ValueError(f"max_nodes {limit} exceeds the {len(self.ip_addresses)} addresses")
        for target in (self.default, *(window.target for window in self.windows)):
            if target.active < 0 or target.pause < 0 or target.up > limit:
                raise ValueError(f"node counts ({target}) must be within 0..{limit}")

    @property
    def node_limit(self) -> int:
        """How many addresses may ever be up (the OCS document's ``max_node_count``)."""
        return len(self.ip_addresses) if self.max_nodes is None else self.max_nodes

    @cached_property
    def largest_up(self) -> int:
        """The most nodes any phase or the default ever needs."""
        return max(target.up for target in (self.default, *(w.target for w in self.windows)))

    @cached_property
    def _recurrences(self) -> tuple[Recurrence, ...]:
        return tuple(Recurrence(window) for window in self.windows)

    @cached_property
    def longest_drain(self) -> int:
        drains = [w.drain_time for w in self.windows if w.drain_time is not None]
        if self.default_drain_time is not None:
            drains.append(self.default_drain_time)
        return max([self.drain_time, *drains])

    def desired_state(self, at: datetime) -> dict[str, NodeState]:
        """``{address: state}`` wanted at ``at`` (a timezone-aware instant), in address order."""
        return dict(self.state_at(at).nodes)

    def counts_at(self, at: datetime) -> NodeCounts:
        return self.state_at(at).counts

    def state_at(self, at: datetime) -> TimetableState:
        """Desired state at ``at`` with the phase in force and any early pause explained."""
        return self._state(self._local(at), at.astimezone(self.timezone))

    def instant_of(self, local: datetime) -> datetime:
        """The aware instant at which this timetable's clock reaches the naive ``local``.

        A wall-clock time the clock skips becomes the first instant after the gap; one it
        passes twice becomes its first occurrence.
        """
        return first_instant(local.replace(tzinfo=None), self.timezone)

    def default_state(self) -> dict[str, NodeState]:
        """The default counts with no early pause (``--force-default`` of vcp-schedule-utils)."""
        return self.assign(self.default)

    def counts_for(self, target: Target) -> NodeCounts:
        """Split the addresses that ``target`` leaves down between power_down and deleted."""
        total = len(self.ip_addresses)
        if target.up > self.node_limit:
            raise ValueError(f"{target.up} up nodes exceed the limit of {self.node_limit}")
        power_down = 0
        if self.down_type is DownType.POWER_DOWN:
            power_down = max(0, min(self.node_limit, self.largest_up) - target.up)
        return NodeCounts(
            active=target.active,
            pause=target.pause,
            power_down=power_down,
            deleted=total - target.up - power_down,
        )

    def assign(self, target: Target) -> dict[str, NodeState]:
        """Hand out the addresses in list order: active, pause, power_down, then deleted."""
        counts = self.counts_for(target)
        states = (
            [NodeState.ACTIVE] * counts.active
            + [NodeState.PAUSE] * counts.pause
            + [NodeState.POWER_DOWN] * counts.power_down
            + [NodeState.DELETED] * counts.deleted
        )
        return dict(zip(self.ip_addresses, states, strict=True))

    def transitions(self, start: datetime, end: datetime) -> list[TimetableState]:
        """The state in force at ``start``, then every change until ``end`` (exclusive).

        Each change is dated at the instant it takes effect (see :meth:`instant_of`), so a
        plan for that instant shows the same change.
        """
        local_start, local_end = self._local(start), self._local(end)
        if local_end <= local_start:
            raise ValueError("the end of a preview must come after its start")
        candidates = {local_start}
        lookahead = local_end + timedelta(minutes=self.longest_drain) + INSTANT
        for boundary in self._boundaries(local_start, lookahead):
            if boundary < local_end:
                candidates.add(boundary)
            _target, entered = self._raw(boundary)
            early = boundary - timedelta(minutes=self.drain_before(entered))
            if local_start <= early < local_end:
                candidates.add(early)
        moments = {start} | {self.instant_of(local) for local in candidates if local > local_start}
        result: list[TimetableState] = []
        for moment in sorted(moment for moment in moments if start <= moment < end):
            state = self.state_at(moment)
            previous = result[-1] if result else None
            if previous is None or (state.nodes, state.phase) != (previous.nodes, previous.phase):
                result.append(state)
        return result

    def culling_at(self, at: datetime) -> Culling:
        """Culling settings in force at ``at``: the phase's values over the timetable's."""
        _target, window = self._raw(self._local(at))
        specific = window.culling if window is not None else self.default_culling
        return self.culling if specific is None else specific.over(self.culling)

    def drain_before(self, entered: Window | None) -> int:
        """Minutes of early pause before entering ``entered`` (``None``: the default state)."""
        own = self.default_drain_time if entered is None else entered.drain_time
        return self.drain_time if own is None else own

    def is_exception(self, day: date) -> bool:
        """True on a date listed under ``exceptions`` (classes cancelled)."""
        return day in self.exceptions

    @cached_property
    def academic_calendar(self) -> AcademicCalendar:
        """The one rule for which dates are class days (:mod:`cwh.timetable.academic`);
        ``exceptions`` is always this timetable's own."""
        if self.academic is None:
            return AcademicCalendar(exceptions=self.exceptions)
        return replace(self.academic, exceptions=self.exceptions)

    def is_off_day(self, day: date) -> bool:
        """True when recurring phases and periods do not start on the local date ``day``
        (an exception, a holiday, or outside every term; a makeup day is never off)."""
        return day in self.academic_calendar

    def day_status(self, day: date, language: Language = "en") -> DayStatus:
        """Whether ``day`` is a class day and why not, names in ``language``."""
        return self.academic_calendar.status(day, language)

    def resolve_run_target(
        self,
        at: datetime,
        *,
        active: int | None = None,
        pause: int | None = None,
        drain: int | None = None,
        phase: str | None = None,
    ) -> RunTarget:
        """Decide what a reconcile run aims for.

        Without counts the timetable decides. Counts with a ``phase`` come from a cron schedule
        (see :mod:`cwh.timetable.cron`): cron cannot skip off days and prefect.yaml
        may be older than the timetable file, so the timetable wins when they disagree and the
        note says why. Counts without a phase are an operator's explicit override and are obeyed.
        On an off day (exception, holiday, outside every term) the note says so and why.
        """
        scheduled = self.state_at(at)
        local_day = self._local(at).date()
        status = self.day_status(local_day)
        off = {"day": local_day, "off": _off_reason(status)} if status.off else {}
        if active is None and pause is None and drain is None:
            note = _note("derived_off", **off) if off else _note("derived")
            return RunTarget(scheduled, "timetable", note)
        requested = self._requested_target(active, pause, drain)
        if phase is None:
            nodes = self.assign(requested)
            counts = self.counts_for(requested)
            state = TimetableState(scheduled.at, "manual", counts, nodes, "counts given by the run")
            return RunTarget(state, "parameters", _note("explicit"))
        wanted = Target(scheduled.counts.active, scheduled.counts.pause)
        if wanted == requested:
            return RunTarget(scheduled, "parameters", _note("agrees", phase=phase))
        fields = {"phase": phase, "requested": requested, "wanted": wanted}
        key = "disagrees_off" if off else "disagrees"
        note = _note(key, timetable_phase=scheduled.phase, **fields, **off)
        return RunTarget(scheduled, "timetable", note)

    def _requested_target(self, active: int | None, pause: int | None, drain: int | None) -> Target:
        if active is None:
            raise ValueError("give 'active' whenever 'pause' or 'drain' is given")
        target = Target(active, pause or 0)
        if min(target.active, target.pause, drain or 0) < 0:
            raise ValueError("node counts must be 0 or more")
        if drain is not None and target.up + drain != len(self.ip_addresses):
            raise ValueError(
                f"active {target.active} + pause {target.pause} + drain {drain} must add up to "
                f"the {len(self.ip_addresses)} worker addresses"
            )
        if target.up > self.node_limit:
            raise ValueError(f"{target.up} up nodes exceed the {self.node_limit} allowed")
        return target

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{at.isoformat()} has no time zone; give an aware datetime")
        return wall_clock(at, self.timezone)

    def _raw(self, local: datetime) -> tuple[Target, Window | None]:
        for recurrence in self._recurrences:
            if recurrence.occurrence_at(local, self.academic_calendar) is not None:
                return recurrence.window.target, recurrence.window
        return self.default, None

    def _boundaries(self, start: datetime, stop: datetime) -> list[datetime]:
        found: set[datetime] = set()
        for recurrence in self._recurrences:
            for begin, end in recurrence.occurrences(start, stop, self.academic_calendar):
                found.update(moment for moment in (begin, end) if start <= moment < stop)
        return sorted(found)

    def _state(self, local: datetime, at: datetime) -> TimetableState:
        raw, window = self._raw(local)
        phase = window.name if window is not None else self.default_name
        future_up, ahead = raw.up, None
        if self.longest_drain and raw.up:
            horizon = local + timedelta(minutes=self.longest_drain) + INSTANT
            for boundary in self._boundaries(local + INSTANT, horizon):
                target, entered = self._raw(boundary)
                early = boundary - timedelta(minutes=self.drain_before(entered))
                if early <= local and target.up < future_up:
                    future_up, ahead = target.up, (boundary, entered)
        effective = Target(min(raw.active, future_up), raw.up - min(raw.active, future_up))
        note, paused_ahead = "", None
        if ahead is not None and effective != raw:
            boundary, entered = ahead
            name = entered.name if entered is not None else self.default_name
            paused_ahead = PausedAhead(raw.active - effective.active, name, boundary)
            note = (
                f"{paused_ahead.nodes} node(s) paused ahead of '{name}' "
                f"at {boundary:%Y-%m-%d %H:%M}"
            )
        counts = self.counts_for(effective)
        return TimetableState(at, phase, counts, self.assign(effective), note, paused_ahead)


def _note(key: str, /, **fields: object) -> str:
    """A run target's note, in English: the report shows it in its own language
    (:func:`cwh.timetable.reason_text.reason_in`)."""
    return text(f"reconcile.note.{key}", "en", **fields)


def _off_reason(status: DayStatus) -> str:
    """Why a day is off, in a few English words for a run's note."""
    if status.kind is DayKind.HOLIDAY:
        return _note("off_holiday_named", name=status.name) if status.name else _note("off_holiday")
    if status.kind is DayKind.OUTSIDE_TERM:
        return _note("off_outside_term")
    if status.name:
        return _note("off_exception_named", name=status.name)
    return _note("off_exception")
