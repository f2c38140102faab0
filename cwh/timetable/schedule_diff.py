"""What separates a deployment's schedules on the Prefect server from those a timetable implies.

The timetable file is the single source of the reconcile deployment's cron schedules
(:func:`cwh.timetable.prefect_schedules`); the server holds what was last applied or deployed.
:func:`diff_schedules` compares the two by slug, which is how ``cwh schedule apply`` keeps a
schedule's identity (its id, and the runs already planned from it) while its time or counts
change, and what the reconcile flow's safety net reports as drift.

A deployed schedule belongs to the timetable when its slug is one the file generates, or when
it looks generated: the safety-net slug, or a ``phase`` parameter equal to its slug (every phase
schedule carries one). Such a schedule whose phase left the file is removed. Any other schedule
(no slug, or added by hand under another slug) is *unowned*: reported, and removed only on
request (``prune``), since someone put it there on purpose.

Only what the file decides is compared: cron line, time zone and parameters. Whether a schedule
is active is the operator's switch (pausing a schedule in the UI is not drift) and stays as it
is. The safety net's interval is not in the file either: a deployment's own interval is kept
(:func:`safety_net_interval`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from cwh.messages import Language, text
from cwh.timetable.cron import SAFETY_NET_SLUG, PrefectSchedule

COMPARED_FIELDS = ("cron", "timezone", "parameters")
_SAFETY_NET_CRON = re.compile(r"^(?:\*/(\d{1,2})|0) \* \* \* \*$")


@dataclass(frozen=True)
class DeployedSchedule:
    """One schedule as the Prefect server holds it, reduced to what a timetable decides.

    ``cron`` and ``timezone`` are None for a schedule that is not a cron schedule (interval,
    rrule); ``kind`` then names it.
    """

    id: str
    slug: str | None
    cron: str | None
    timezone: str | None
    parameters: Mapping[str, object] = field(default_factory=dict)
    active: bool = True
    kind: str = "cron"

    @property
    def label(self) -> str:
        """How a person recognises the schedule: its slug, else its kind and id."""
        return self.slug or f"({self.kind} {self.id})"


@dataclass(frozen=True)
class ScheduleChange:
    """A deployed schedule the file still has, whose ``fields`` differ from the file's."""

    deployed: DeployedSchedule
    wanted: PrefectSchedule
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleDiff:
    """Desired against deployed: what to add, update in place, remove and leave."""

    add: tuple[PrefectSchedule, ...] = ()
    update: tuple[ScheduleChange, ...] = ()
    remove: tuple[DeployedSchedule, ...] = ()
    unchanged: tuple[DeployedSchedule, ...] = ()
    unowned: tuple[DeployedSchedule, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        """Applying it would not touch the server."""
        return not (self.add or self.update or self.remove)

    @property
    def in_sync(self) -> bool:
        """The deployment holds exactly the file's schedules and nothing else."""
        return self.changes_nothing and not self.unowned


class ScheduleDriftPayload(TypedDict):
    """Payload of the ``cwh.schedule.drift`` event: the difference, as small dicts."""

    deployment: str
    added: list[dict[str, object]]
    changed: list[dict[str, object]]
    removed: list[dict[str, object]]
    unowned: list[dict[str, object]]


def owned_by_the_timetable(schedule: DeployedSchedule) -> bool:
    """Whether ``schedule`` looks generated from a timetable (see the module's docstring)."""
    if schedule.slug is None:
        return False
    return schedule.slug == SAFETY_NET_SLUG or schedule.parameters.get("phase") == schedule.slug


def diff_schedules(
    wanted: Sequence[PrefectSchedule],
    deployed: Sequence[DeployedSchedule],
    *,
    prune: bool = False,
) -> ScheduleDiff:
    """Match ``deployed`` to ``wanted`` by slug and say what differs.

    With ``prune`` the unowned schedules are removed too. A slug the server holds twice (it
    refuses that, but an older server may hold it) keeps its first schedule; the others are
    removed.
    """
    by_slug: dict[str, DeployedSchedule] = {}
    leftovers: list[DeployedSchedule] = []
    for held in deployed:
        if held.slug is not None and held.slug not in by_slug:
            by_slug[held.slug] = held
        else:
            leftovers.append(held)
    add: list[PrefectSchedule] = []
    update: list[ScheduleChange] = []
    unchanged: list[DeployedSchedule] = []
    for schedule in wanted:
        current = by_slug.pop(schedule.slug, None)
        if current is None:
            add.append(schedule)
            continue
        differing = differing_fields(schedule, current)
        if differing:
            update.append(ScheduleChange(current, schedule, differing))
        else:
            unchanged.append(current)
    remove: list[DeployedSchedule] = []
    unowned: list[DeployedSchedule] = []
    slugs = {schedule.slug for schedule in wanted}
    for held in [*by_slug.values(), *leftovers]:
        if prune or held.slug in slugs or owned_by_the_timetable(held):
            remove.append(held)
        else:
            unowned.append(held)
    return ScheduleDiff(tuple(add), tuple(update), tuple(remove), tuple(unchanged), tuple(unowned))


def differing_fields(wanted: PrefectSchedule, deployed: DeployedSchedule) -> tuple[str, ...]:
    """The compared fields in which ``deployed`` is not what the file wants."""
    found: list[str] = []
    if deployed.cron is None or _cron_text(deployed.cron) != _cron_text(wanted.cron):
        found.append("cron")
    if deployed.timezone != wanted.timezone:
        found.append("timezone")
    if dict(deployed.parameters) != dict(wanted.parameters):
        found.append("parameters")
    return tuple(found)


def safety_net_interval(deployed: Sequence[DeployedSchedule], default: int = 15) -> int:
    """The safety net's interval in minutes as the deployment has it, else ``default``.

    The file does not say how often the safety net runs (``cwh schedule apply
    --safety-net-minutes`` does), so a comparison keeps the deployment's interval when it is
    one the safety net may have (a divisor of an hour).
    """
    for schedule in deployed:
        if schedule.slug != SAFETY_NET_SLUG or schedule.cron is None:
            continue
        match = _SAFETY_NET_CRON.match(_cron_text(schedule.cron))
        if match is None:
            return default
        minutes = int(match.group(1) or 60)
        return minutes if 1 <= minutes <= 60 and 60 % minutes == 0 else default
    return default


def drift_payload(deployment: str, diff: ScheduleDiff) -> ScheduleDriftPayload:
    """The difference as the ``cwh.schedule.drift`` event carries it."""
    changed: list[dict[str, object]] = []
    for change in diff.update:
        entry: dict[str, object] = {"slug": change.wanted.slug}
        for name in change.fields:
            entry[name] = {
                "deployed": _deployed_value(change.deployed, name),
                "file": _wanted_value(change.wanted, name),
            }
        changed.append(entry)
    return {
        "deployment": deployment,
        "added": [_wanted_summary(schedule) for schedule in diff.add],
        "changed": changed,
        "removed": [_deployed_summary(schedule) for schedule in diff.remove],
        "unowned": [_deployed_summary(schedule) for schedule in diff.unowned],
    }


def render_schedule_diff(
    diff: ScheduleDiff,
    *,
    deployment: str,
    source: str,
    language: Language,
    notes: Sequence[str] = (),
) -> str:
    """What ``cwh schedule apply`` does (or, in a dry run, would do), one line per schedule."""
    lines = [text("schedule_sync.note", language, note=note) for note in notes]
    for schedule in diff.add:
        lines.append(
            text(
                "schedule_sync.add",
                language,
                slug=schedule.slug,
                cron=schedule.cron,
                timezone=schedule.timezone,
                parameters=_json(dict(schedule.parameters)),
            )
        )
    for change in diff.update:
        changes = "; ".join(
            text(
                "schedule_sync.change",
                language,
                field=name,
                deployed=_shown(_deployed_value(change.deployed, name)),
                file=_shown(_wanted_value(change.wanted, name)),
            )
            for name in change.fields
        )
        slug = change.wanted.slug
        lines.append(text("schedule_sync.update", language, slug=slug, changes=changes))
    for gone in diff.remove:
        key = "schedule_sync.remove" if owned_by_the_timetable(gone) else "schedule_sync.prune"
        lines.append(text(key, language, slug=gone.label))
    for foreign in diff.unowned:
        lines.append(text("schedule_sync.unowned", language, slug=foreign.label))
    if diff.changes_nothing:
        count = len(diff.unchanged)
        lines.append(
            text("schedule_sync.in_sync", language, deployment=deployment, file=source, count=count)
        )
    else:
        lines.append(
            text(
                "schedule_sync.summary",
                language,
                deployment=deployment,
                added=len(diff.add),
                updated=len(diff.update),
                removed=len(diff.remove),
                unchanged=len(diff.unchanged),
            )
        )
    return "\n".join(lines) + "\n"


def _shown(value: object) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _wanted_summary(schedule: PrefectSchedule) -> dict[str, object]:
    return {
        "slug": schedule.slug,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "parameters": dict(schedule.parameters),
    }


def _deployed_summary(schedule: DeployedSchedule) -> dict[str, object]:
    summary: dict[str, object] = {"slug": schedule.slug, "id": schedule.id}
    if schedule.cron is None:
        summary["kind"] = schedule.kind
    else:
        summary["cron"] = schedule.cron
        summary["timezone"] = schedule.timezone
    summary["parameters"] = dict(schedule.parameters)
    return summary


def _deployed_value(schedule: DeployedSchedule, name: str) -> object:
    if name == "cron":
        return schedule.cron if schedule.cron is not None else schedule.kind
    if name == "timezone":
        return schedule.timezone
    return dict(schedule.parameters)


def _wanted_value(schedule: PrefectSchedule, name: str) -> object:
    if name == "cron":
        return schedule.cron
    if name == "timezone":
        return schedule.timezone
    return dict(schedule.parameters)


def _cron_text(cron: str) -> str:
    return " ".join(cron.split())
