"""Flow ``reconcile-workers``: bring the swarm's worker pool to what the timetable wants.

One run is observe -> plan -> apply -> verify, each step a task of :mod:`tasks.worker_pool`:

* **observe** the swarm (every node: address, hostname, availability, state, live user-server
  tasks) and the VM provider (which worker addresses have a machine, running or off);
* **plan** with :func:`cwh.timetable.plan_reconcile`, which holds every safety rule
  (managers and foreign addresses untouched, pause before drain, never drain a node a
  student's server runs on, capacity up before down, no plan without an active worker);
* **apply**: start machines, run each node's swarm steps, stop machines (up before down);
* **verify** by observing again and planning again: a converged pool plans nothing.

The target is the timetable's at the run's instant (``at``, for a fake clock in tests and
demos; otherwise the moment the run starts, so a late or queued run applies what is wanted
now). Runs started by the per-phase cron schedules carry that phase's counts; the timetable
wins when they disagree, as :meth:`cwh.timetable.Timetable.resolve_run_target` explains in the
run's report.

Every step is idempotent, so a run that failed half-way is completed by the next one, and a
run right after a successful one does nothing. A node still running user servers is paused,
reported as busy and retried by the next run, however long that takes and whatever the
culling settings; once it has waited longer than ``drain_time`` each run emits the event
``cwh.workers.stuck``. Only a timetable with ``force_idle_after`` frees such a node: when the
hub (``hub_block``) reports every server on it idle for that long, those servers are stopped
through the hub's API and the node is drained as usual.

Each run publishes a per-node table artifact, a summary and the week picture (the coming seven
days of the pool, holidays and off days shaded; :mod:`tasks.worker_week`), appends the pool it
left to the node-hours ledger read by ``cwh schedule savings``, and fails (never silently
Completed) when anything could not be applied.

A run started by the deployment's safety-net schedule first compares the deployment's
schedules with the timetable and emits ``cwh.schedule.drift`` when they differ
(:mod:`tasks.schedule_drift`); the check never fails the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from blocks import BlockNotFound
from cwh.defaults import DEFAULT_DOCKER_HOST, DEFAULT_VCP_DOCKER_URL_TEMPLATE
from cwh.messages import Language, text
from cwh.timetable import (
    AddressError,
    AddressReason,
    CullingChange,
    DownType,
    NodeOutcome,
    PoolObservation,
    ReconcileReport,
    TimetableError,
    failure_message,
    failures,
    load_timetable,
    mark_waiting,
    node_rows,
    node_table,
    removal_policy,
    run_instant,
    stuck_nodes,
    summary_markdown,
    unfinished,
    waiting,
)
from tasks.demo_pool import DEMO_PROVIDER
from tasks.jupyterhub_api import hub_api_from_block, observe_hub_servers, stop_idle_servers
from tasks.language import named_block_language
from tasks.schedule_drift import check_schedule_drift, safety_net_deployment
from tasks.swarm import docker_target
from tasks.swarm_nodes import DEFAULT_USER_SERVICE_PREFIX
from tasks.worker_events import emit_stuck_nodes
from tasks.worker_ledger import DEFAULT_LEDGER_PATH
from tasks.worker_pool import (
    apply_culling,
    apply_plan,
    observe_pool,
    plan_pool,
    record_node_hours,
    resolve_provider,
)
from tasks.worker_week import publish_week_picture

DEFAULT_NODE_LABELS: Mapping[str, str] = {"cwh.role": "worker"}
NODES_ARTIFACT_KEY = "reconcile-workers-nodes"
SUMMARY_ARTIFACT_KEY = "reconcile-workers-summary"


class ReconcileFailed(RuntimeError):
    """Something could not be applied; the message lists what. The next run retries it.

    ``report`` is the run's full report (what the run returns when it succeeds).
    """

    def __init__(self, message: str, report: ReconcileReport) -> None:
        super().__init__(message, report)
        self.report = report

    def __str__(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r})"


@flow(
    name="reconcile-workers",
    description="Bring the swarm's worker nodes and VMs to the state the timetable wants.",
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
)
def reconcile_workers(
    timetable: str,
    phase: str | None = None,
    active: int | None = None,
    pause: int | None = None,
    drain: int | None = None,
    at: datetime | None = None,
    provider: str = "vcp",
    vcp_block: str | None = None,
    docker_host: str = DEFAULT_DOCKER_HOST,
    docker_host_block: str | None = None,
    node_docker_url: str = DEFAULT_VCP_DOCKER_URL_TEMPLATE,
    ips: list[str] | None = None,
    down_type: Literal["deleted", "power_down"] | None = None,
    dry_run: bool = False,
    allow_zero_active: bool = False,
    ledger: str | None = DEFAULT_LEDGER_PATH,
    node_labels: dict[str, str] | None = None,
    user_service_prefix: str = DEFAULT_USER_SERVICE_PREFIX,
    hub_service: str | None = None,
    hub_block: str | None = None,
    join_timeout_s: float = 300.0,
    action_retries: int = 1,
    language: str | None = None,
) -> ReconcileReport:
    """Reconcile the worker pool with ``timetable`` (our format or the OCS document, YAML/JSON).

    ``phase``/``active``/``pause``/``drain`` come from a per-phase cron schedule (see
    ``cwh schedule to-prefect``); without them the timetable decides. ``provider`` is ``vcp``
    (with ``vcp_block``), ``static`` (machines always on; ``node_docker_url`` reaches them to
    join) or a provider attached in this process. ``hub_service`` names the JupyterHub swarm
    service whose culling variables follow the timetable's per-phase culling settings;
    ``hub_block`` the CoursewareHub block whose JupyterHub API (URL and token) tells which
    servers are idle when the timetable sets ``force_idle_after``.
    ``ledger`` (None: off) is the node-hours file of ``cwh schedule savings``. A timetable
    that cannot be used ends the run as Failed with its problems as the message (no
    traceback: the file is at fault, not the run). ``language`` (``ja``/``en``) is that of the
    artifacts and the week picture; unset, that of the ``hub_block`` CoursewareHub block when
    one is named, else ``CWH_LANGUAGE``.
    """
    log = get_run_logger()
    try:
        lang = named_block_language(language, hub_block)
    except BlockNotFound as exc:
        log.error("%s", exc)
        return Failed(message=str(exc))  # type: ignore[return-value]
    try:
        table = load_timetable(
            Path(timetable).expanduser(),
            ips=ips,
            down_type=DownType(down_type) if down_type else None,
        )
    except TimetableError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc))  # type: ignore[return-value]
    if provider == DEMO_PROVIDER and not dry_run:
        message = "the demo provider only plans: run it with dry_run: true"
        log.error("%s", message)
        return Failed(message=message)  # type: ignore[return-value]
    moment = run_instant(at, table)
    if (deployment_id := safety_net_deployment()) is not None:
        check_schedule_drift(deployment_id, table, moment)
    target = table.resolve_run_target(moment, active=active, pause=pause, drain=drain, phase=phase)
    log.info("target at %s: phase %s (%s)", moment.isoformat(), target.state.phase, target.note)
    vm_provider, capabilities = resolve_provider(
        provider, table.ip_addresses, vcp_block=vcp_block, node_docker_url=node_docker_url
    )
    manager = docker_target(docker_host, docker_host_block)
    labels = dict(DEFAULT_NODE_LABELS if node_labels is None else node_labels)
    policy = removal_policy(table, target, moment)
    forcing = policy.force_idle_after is not None
    hub_api = hub_api_from_block(hub_block) if hub_block and forcing else None
    durations: dict[str, float] = {}

    before = observe_pool(manager, vm_provider, user_service_prefix)
    durations["observe"] = before.seconds
    hub = observe_hub_servers(hub_api, user_service_prefix) if hub_api is not None else None
    if forcing and hub_api is None:
        log.warning("force_idle_after is set but no JupyterHub API is known (hub_block)")
    started = time.monotonic()
    plan = plan_pool(
        target.state.nodes,
        before.nodes,
        moment,
        capabilities,
        policy,
        labels,
        allow_zero_active,
        hub,
    )
    durations["plan"] = time.monotonic() - started
    log.info("plan: %d action(s), %d blocked", len(plan.actions), len(plan.blocked))

    outcomes: dict[str, NodeOutcome] = {}
    after: PoolObservation | None = None
    culling: CullingChange | None = None
    problems: list[AddressError] = []
    stopped: list[AddressReason] = []
    if dry_run:
        outcomes = {a.address: NodeOutcome(a.address, "planned") for a in plan.actions}
    else:
        started = time.monotonic()

        def stop_idle() -> None:
            done, not_done = stop_idle_servers(hub_api, list(plan.actions))
            stopped.extend(done)
            problems.extend(not_done)

        outcomes = apply_plan(
            plan,
            before,
            manager,
            vm_provider,
            moment,
            user_service_prefix=user_service_prefix,
            join_timeout_s=join_timeout_s,
            retries=action_retries,
            before_down=stop_idle,
        )
        if hub_service:
            culling = apply_culling(manager, hub_service, table.culling_at(moment), problems)
        durations["apply"] = time.monotonic() - started
        after = observe_pool(manager, vm_provider, user_service_prefix)
        started = time.monotonic()
        remaining = plan_pool(plan.desired, after.nodes, moment, capabilities, policy, labels, True)
        durations["verify"] = after.seconds + time.monotonic() - started
        problems.extend(unfinished(remaining, outcomes))

    busy, blocked = waiting(plan, before, outcomes)
    mark_waiting(outcomes, busy, blocked)
    waiting_long = stuck_nodes(
        [item["address"] for item in busy], before.nodes, before.hostnames, policy, moment
    )
    if waiting_long and not dry_run:
        emit_stuck_nodes(waiting_long)
    failed = failures(outcomes, problems)
    ledger_path = None
    if ledger and after is not None:
        ledger_path = record_node_hours(ledger, table, after, capabilities, moment, failed)

    report: ReconcileReport = {
        "at": moment.isoformat(),
        "timezone": table.timezone.key,
        "phase": target.state.phase,
        "target_source": target.source,
        "note": target.note,
        "provider": capabilities.name,
        "dry_run": dry_run,
        "converged": not dry_run and not (failed or blocked or busy),
        "desired": {address: state.value for address, state in plan.desired.items()},
        "actions": [action.to_json() for action in plan.actions],
        "nodes": node_rows(plan, before, after, outcomes, capabilities.manages_vms, lang),
        "busy": busy,
        "blocked": blocked,
        "failed": failed,
        "untouched": [{"address": u.address, "reason": u.reason} for u in plan.untouched],
        "stuck": [
            {
                "address": node.address,
                "node": node.node,
                "servers": list(node.servers),
                "since": node.since.isoformat(),
            }
            for node in waiting_long
        ],
        "servers_stopped": stopped,
        "culling": culling,
        "ledger": ledger_path,
        "durations": {step: round(seconds, 3) for step, seconds in durations.items()},
    }
    _publish(report, lang)
    publish_week_picture(table, moment, lang, return_state=True)
    if not dry_run and (failed or blocked):
        raise ReconcileFailed(failure_message(report, lang), report)
    return report


def _publish(report: ReconcileReport, language: Language) -> None:
    """The run's artifacts: the per-node table and the summary."""
    create_table_artifact(
        key=NODES_ARTIFACT_KEY,
        table=node_table(report["nodes"], language),
        description=text("reconcile.artifact.nodes", language, at=report["at"]),
    )
    create_markdown_artifact(
        key=SUMMARY_ARTIFACT_KEY,
        markdown=summary_markdown(report, language),
        description=text("reconcile.artifact.summary", language, at=report["at"]),
    )
