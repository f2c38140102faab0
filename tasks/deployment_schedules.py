"""A deployment's schedules on the Prefect server: read them, and bring them to a timetable's.

``cwh schedule apply`` and the reconcile flow's drift check share these functions. The
comparison itself is pure (:func:`cwh.timetable.diff_schedules`); here the server's schedules
are read into :class:`cwh.timetable.DeployedSchedule` and a diff is applied: new schedules
created with their slug, changed ones updated in place (same id, same slug), gone ones
deleted. A change makes the server drop the deployment's future auto-scheduled runs and plan
them again; applying a diff that changes nothing sends nothing, so those runs stay.

Talking to the server fails as :class:`PrefectApiError` with a message a person can act on:
no server configured (the client would otherwise start a throw-away in-process server and
apply the schedules to it), server unreachable, deployment unknown or ambiguous, request
refused. Nothing is changed before the deployment and its schedules were read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import DeploymentSchedule
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from cwh.messages import Language, text
from cwh.setup import redact_url
from cwh.timetable import (
    DeployedSchedule,
    PrefectSchedule,
    ScheduleDiff,
    Timetable,
    diff_schedules,
    prefect_schedules,
    safety_net_interval,
)
from tasks.common import OutsideSystemError

if TYPE_CHECKING:
    from prefect.client.schemas.responses import DeploymentResponse


class PrefectApiError(OutsideSystemError):
    """The Prefect server could not be used; the message says why, in the operator's language."""

    def __str__(self) -> str:
        return self.cause


@dataclass(frozen=True)
class DeploymentSchedules:
    """A deployment as found on the server, with its schedules."""

    id: UUID
    name: str
    full_name: str
    schedules: tuple[DeployedSchedule, ...]


def api_url(language: Language = "en") -> str:
    """The configured Prefect API; an error when none is (never a throw-away local server)."""
    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectApiError("PREFECT_API_URL", text("schedule_sync.no_server", language))
    return str(url)


@contextmanager
def prefect_client(language: Language = "en") -> Iterator[SyncPrefectClient]:
    """A client of the configured server; transport and HTTP errors become PrefectApiError."""
    url = redact_url(api_url(language))
    try:
        with get_client(sync_client=True) as client:
            yield client
    except httpx.HTTPStatusError as exc:
        reason = f"HTTP {exc.response.status_code}: {_detail(exc.response)}"
        message = text("schedule_sync.refused", language, url=url, reason=reason)
        raise PrefectApiError(url, message) from None
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        message = text("schedule_sync.unreachable", language, url=url, reason=reason)
        raise PrefectApiError(url, message, permanent=False) from None


def read_deployment_schedules(
    client: SyncPrefectClient, name: str, language: Language = "en"
) -> DeploymentSchedules:
    """The deployment ``name`` (``flow/deployment``, or a deployment name only one flow has)."""
    deployment = _find(client, name, language)
    flow = client.read_flow(deployment.flow_id)
    schedules = client.read_deployment_schedules(deployment.id)
    return DeploymentSchedules(
        id=deployment.id,
        name=deployment.name,
        full_name=f"{flow.name}/{deployment.name}",
        schedules=tuple(deployed_schedule(schedule) for schedule in schedules),
    )


def read_deployment_schedules_by_id(
    client: SyncPrefectClient, deployment_id: UUID, language: Language = "en"
) -> DeploymentSchedules:
    """The deployment with ``deployment_id`` (a flow run's), with its schedules."""
    try:
        deployment = client.read_deployment(deployment_id)
    except ObjectNotFound:
        name = str(deployment_id)
        message = text("schedule_sync.no_deployment", language, name=name)
        raise PrefectApiError(name, message) from None
    flow = client.read_flow(deployment.flow_id)
    return DeploymentSchedules(
        id=deployment.id,
        name=deployment.name,
        full_name=f"{flow.name}/{deployment.name}",
        schedules=tuple(deployed_schedule(item) for item in deployment.schedules),
    )


def deployed_schedule(schedule: DeploymentSchedule) -> DeployedSchedule:
    """The server's schedule reduced to what a timetable decides."""
    inner = schedule.schedule
    if isinstance(inner, CronSchedule):
        return DeployedSchedule(
            id=str(schedule.id),
            slug=schedule.slug,
            cron=inner.cron,
            timezone=inner.timezone,
            parameters=dict(schedule.parameters),
            active=schedule.active,
        )
    kind = type(inner).__name__.removesuffix("Schedule").lower()
    return DeployedSchedule(
        id=str(schedule.id),
        slug=schedule.slug,
        cron=None,
        timezone=getattr(inner, "timezone", None),
        parameters=dict(schedule.parameters),
        active=schedule.active,
        kind=kind,
    )


def apply_schedule_diff(client: SyncPrefectClient, deployment_id: UUID, diff: ScheduleDiff) -> None:
    """Create, update in place and delete as ``diff`` says; nothing when it changes nothing.

    Deletions go first, so a slug freed by a removed duplicate can never collide with a
    creation; updates keep each schedule's ``active`` switch as the operator left it.
    """
    for gone in diff.remove:
        try:
            client.delete_deployment_schedule(deployment_id, UUID(gone.id))
        except ObjectNotFound:
            continue
    for change in diff.update:
        client.update_deployment_schedule(
            deployment_id,
            UUID(change.deployed.id),
            schedule=_cron(change.wanted),
            parameters=dict(change.wanted.parameters),
        )
    if diff.add:
        client.create_deployment_schedules(
            deployment_id,
            [
                DeploymentScheduleCreate(
                    schedule=_cron(schedule),
                    active=True,
                    parameters=dict(schedule.parameters),
                    slug=schedule.slug,
                )
                for schedule in diff.add
            ],
        )


def _find(client: SyncPrefectClient, name: str, language: Language) -> DeploymentResponse:
    if "/" in name:
        try:
            return client.read_deployment_by_name(name)
        except (ObjectNotFound, ValueError):
            raise PrefectApiError(
                name, text("schedule_sync.no_deployment", language, name=name)
            ) from None
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
    )
    if not found:
        raise PrefectApiError(name, text("schedule_sync.no_deployment", language, name=name))
    if len(found) > 1:
        flows = {flow.id: flow.name for flow in client.read_flows()}
        choices = ", ".join(sorted(f"{flows.get(d.flow_id, d.flow_id)}/{d.name}" for d in found))
        raise PrefectApiError(
            name, text("schedule_sync.ambiguous", language, name=name, choices=choices)
        )
    return found[0]


def _cron(schedule: PrefectSchedule) -> CronSchedule:
    return CronSchedule(cron=schedule.cron, timezone=schedule.timezone)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:300] if detail else response.reason_phrase


@dataclass(frozen=True)
class ScheduleSync:
    """What :func:`sync_deployment_schedules` found and did."""

    deployment: DeploymentSchedules
    diff: ScheduleDiff
    notes: tuple[str, ...]
    applied: bool


def sync_deployment_schedules(
    name: str,
    timetable: Timetable,
    *,
    at: datetime,
    prune: bool = False,
    dry_run: bool = False,
    safety_net_minutes: int | None = None,
    language: Language = "en",
) -> ScheduleSync:
    """Bring the schedules of deployment ``name`` to those ``timetable`` implies at ``at``.

    ``safety_net_minutes`` None keeps the deployment's safety-net interval (15 for a new one).
    With ``dry_run`` the server is only read. Raises :class:`PrefectApiError`.
    """
    with prefect_client(language) as client:
        deployment = read_deployment_schedules(client, name, language)
        minutes = safety_net_minutes or safety_net_interval(deployment.schedules)
        wanted, notes = prefect_schedules(timetable, reference=at, safety_net_minutes=minutes)
        diff = diff_schedules(wanted, deployment.schedules, prune=prune)
        if not dry_run:
            apply_schedule_diff(client, deployment.id, diff)
    return ScheduleSync(deployment, diff, tuple(notes), not dry_run and not diff.changes_nothing)
