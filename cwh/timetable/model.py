"""Value types of the worker-node timetable.

Every input form (our own phases/periods document, the OCS document, the old swarm list, an
Ansible ``group_vars`` file) is converted into these few types, so the rest of the code
(desired state, previews, Prefect schedules, planning) knows exactly one model.

Times inside the model are *wall-clock* times of the timetable's zone: a class at "Mon 9:00"
means 9:00 on the local clock whatever the UTC offset of that day, which is what teachers mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

WEEKDAY_ABBREVIATIONS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class NodeState(StrEnum):
    """What the timetable wants for one worker address.

    ``active`` takes new user servers; ``pause`` keeps its running servers but takes no new ones;
    ``power_down`` keeps the VM but switched off; ``deleted`` means no VM at all.
    """

    ACTIVE = "active"
    PAUSE = "pause"
    POWER_DOWN = "power_down"
    DELETED = "deleted"

    @property
    def is_up(self) -> bool:
        """True when the node must be a running swarm member."""
        return self in (NodeState.ACTIVE, NodeState.PAUSE)


class DownType(StrEnum):
    """What happens to the VM of a node that is not needed."""

    DELETED = "deleted"
    POWER_DOWN = "power_down"


class Granularity(StrEnum):
    """How often a period recurs; ``once`` is a specific date."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"
    ONCE = "once"


@dataclass(frozen=True, slots=True)
class Target:
    """Up-node counts wanted during a phase or period; every other address is down."""

    active: int
    pause: int = 0

    @property
    def up(self) -> int:
        return self.active + self.pause

    def __str__(self) -> str:
        return f"active {self.active}, pause {self.pause}"


@dataclass(frozen=True, slots=True)
class NodeCounts:
    """How many worker addresses are in each state at one instant."""

    active: int
    pause: int
    power_down: int
    deleted: int

    @property
    def up(self) -> int:
        return self.active + self.pause

    @property
    def total(self) -> int:
        return self.active + self.pause + self.power_down + self.deleted

    def as_dict(self) -> dict[str, int]:
        return {
            NodeState.ACTIVE.value: self.active,
            NodeState.PAUSE.value: self.pause,
            NodeState.POWER_DOWN.value: self.power_down,
            NodeState.DELETED.value: self.deleted,
        }

    def __str__(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.as_dict().items() if count)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A point of a recurring cycle (or a specific date for ``once``), on the local clock.

    ``weekday`` counts from Monday = 0 like :mod:`datetime`; the readers convert the documents
    that count from Sunday = 0.
    """

    granularity: Granularity
    hour: int
    minute: int
    weekday: int | None = None
    day: int | None = None
    month: int | None = None
    year: int | None = None

    @classmethod
    def once_at(cls, moment: datetime) -> Anchor:
        """The one-off anchor at ``moment``'s date and minute (on its own clock)."""
        return cls(
            Granularity.ONCE,
            moment.hour,
            moment.minute,
            day=moment.day,
            month=moment.month,
            year=moment.year,
        )

    @property
    def minute_of_day(self) -> int:
        return self.hour * 60 + self.minute

    def key(self) -> tuple[int, ...]:
        """Position inside the cycle; used to decide whether a period wraps into the next cycle."""
        match self.granularity:
            case Granularity.DAILY:
                return (self.minute_of_day,)
            case Granularity.WEEKLY:
                return (_required(self.weekday), self.minute_of_day)
            case Granularity.MONTHLY:
                return (_required(self.day), self.minute_of_day)
            case Granularity.YEARLY:
                return (_required(self.month), _required(self.day), self.minute_of_day)
            case Granularity.ONCE:
                return (
                    _required(self.year),
                    _required(self.month),
                    _required(self.day),
                    self.minute_of_day,
                )

    def __str__(self) -> str:
        clock = f"{self.hour}:{self.minute:02d}"
        match self.granularity:
            case Granularity.DAILY:
                return clock
            case Granularity.WEEKLY:
                return f"{WEEKDAY_ABBREVIATIONS[_required(self.weekday)]} {clock}"
            case Granularity.MONTHLY:
                return f"day {self.day} {clock}"
            case Granularity.YEARLY:
                return f"{self.month}/{self.day} {clock}"
            case Granularity.ONCE:
                return f"{self.year}/{self.month}/{self.day} {clock}"


def _required(value: int | None) -> int:
    if value is None:
        raise ValueError("anchor is missing a field its granularity needs")
    return value


@dataclass(frozen=True, slots=True)
class Culling:
    """Idle-server culling settings of JupyterHub; ``None`` fields leave the current value alone.

    Phases may carry their own values so that servers are culled sooner after class.
    """

    enabled: bool | None = None
    idle_timeout: int | None = None
    max_age: int | None = None
    every: int | None = None

    def over(self, base: Culling) -> Culling:
        """These settings, falling back to ``base`` for every field left unset."""
        return Culling(
            enabled=base.enabled if self.enabled is None else self.enabled,
            idle_timeout=base.idle_timeout if self.idle_timeout is None else self.idle_timeout,
            max_age=base.max_age if self.max_age is None else self.max_age,
            every=base.every if self.every is None else self.every,
        )

    def is_empty(self) -> bool:
        return (self.enabled, self.idle_timeout, self.max_age, self.every) == (None,) * 4


@dataclass(frozen=True, slots=True)
class Window:
    """A recurring (or one-off) stretch of time with its own node counts.

    ``begin`` and ``end`` share one granularity; an ``end`` at or before ``begin`` in the cycle
    means the window runs into the next cycle (22:00-7:00 spans midnight). ``drain_time`` is the
    number of minutes before this window starts during which the nodes it takes away are already
    paused; ``None`` uses the timetable's value.
    """

    name: str
    source: str
    begin: Anchor
    end: Anchor
    target: Target
    drain_time: int | None = None
    culling: Culling | None = None

    @property
    def granularity(self) -> Granularity:
        return self.begin.granularity

    def describe(self) -> str:
        return f"{self.source} ({self.begin} - {self.end})"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a timetable document: where it is and what to change."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class TimetableError(ValueError):
    """A timetable document that cannot be used; lists every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun} to fix:\n{lines}")
