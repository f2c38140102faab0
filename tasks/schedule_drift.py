"""The reconcile deployment's schedules against its timetable, checked by the safety net.

The cron schedules of the reconcile deployment are generated from the timetable file, but the
file and the server can part: the file is edited and nobody runs ``cwh schedule apply``, or
an old ``prefect.yaml`` is deployed again, or someone edits a schedule in the UI. Each run
started by the safety-net schedule (recognised by the schedule that created it, whose slug is
:data:`cwh.timetable.SAFETY_NET_SLUG`) compares the deployment's schedules with those the
file implies at the run's instant and, when they differ, emits ``cwh.schedule.drift`` with
the difference (an automation can mail it); when they agree nothing is emitted. Runs that
do not come from a deployment have no schedules to compare and skip the check quietly.

The check never fails a reconcile: a server that cannot be read is logged as a warning, and
the pool is reconciled all the same.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from prefect import task
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.events import emit_event

from cwh.messages import language_setting, text
from cwh.timetable import (
    SAFETY_NET_SLUG,
    ScheduleDiff,
    Timetable,
    diff_schedules,
    drift_payload,
    prefect_schedules,
    safety_net_interval,
)
from tasks.common import NOT_CACHED, run_logger
from tasks.deployment_schedules import (
    DeploymentSchedules,
    PrefectApiError,
    prefect_client,
    read_deployment_schedules_by_id,
)

SCHEDULE_DRIFT_EVENT = "cwh.schedule.drift"
SCHEDULE_RESOURCE_PREFIX = "cwh.schedule."
CREATED_BY_SCHEDULE = "SCHEDULE"


def started_by_the_safety_net(flow_run: FlowRun | None) -> UUID | None:
    """The deployment of ``flow_run`` when its safety-net schedule created it, else None."""
    if flow_run is None or flow_run.deployment_id is None or flow_run.created_by is None:
        return None
    creator = flow_run.created_by
    if creator.type != CREATED_BY_SCHEDULE or creator.display_value != SAFETY_NET_SLUG:
        return None
    return flow_run.deployment_id


def safety_net_deployment() -> UUID | None:
    """The current flow run's deployment when the safety net started the run, else None."""
    context = FlowRunContext.get()
    return started_by_the_safety_net(context.flow_run if context is not None else None)


def schedule_resource(deployment: DeploymentSchedules) -> dict[str, str]:
    """The event resource of a deployment's schedules."""
    return {
        "prefect.resource.id": f"{SCHEDULE_RESOURCE_PREFIX}{deployment.name}",
        "prefect.resource.name": deployment.full_name,
        "cwh.deployment": deployment.full_name,
    }


def report_schedule_drift(
    deployment_id: UUID, timetable: Timetable, at: datetime, language: str | None = None
) -> ScheduleDiff:
    """Compare the deployment's schedules with ``timetable``'s at ``at``; emit on a difference.

    Raises :class:`tasks.deployment_schedules.PrefectApiError` when the server cannot be read.
    """
    spoken = language_setting(language)
    with prefect_client(spoken) as client:
        deployment = read_deployment_schedules_by_id(client, deployment_id, spoken)
    minutes = safety_net_interval(deployment.schedules)
    wanted, _notes = prefect_schedules(timetable, reference=at, safety_net_minutes=minutes)
    diff = diff_schedules(wanted, deployment.schedules)
    if diff.in_sync:
        return diff
    payload = drift_payload(deployment.full_name, diff)
    emit_event(
        event=SCHEDULE_DRIFT_EVENT,
        resource=schedule_resource(deployment),
        payload=dict(payload),
    )
    run_logger(__name__).warning(
        "%s",
        text(
            "schedule_sync.drift",
            spoken,
            deployment=deployment.full_name,
            added=len(payload["added"]),
            changed=len(payload["changed"]),
            removed=len(payload["removed"]),
            unowned=len(payload["unowned"]),
        ),
    )
    return diff


@task(name="check-schedule-drift", **NOT_CACHED)
def check_schedule_drift(
    deployment_id: UUID, timetable: Timetable, at: datetime, language: str | None = None
) -> bool | None:
    """Whether the deployment's schedules drifted from ``timetable`` (None: not checked).

    A server that cannot be read is a warning, never the reconcile's failure.
    """
    try:
        diff = report_schedule_drift(deployment_id, timetable, at, language)
    except PrefectApiError as exc:
        run_logger(__name__).warning(
            "%s",
            text(
                "schedule_sync.drift_unchecked",
                language_setting(language),
                deployment=deployment_id,
                reason=exc,
            ),
        )
        return None
    return not diff.in_sync
