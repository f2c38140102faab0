"""Flow ``reconcile-workers``: bring the swarm's worker pool to what the timetable wants.

One run is observe -> plan -> apply -> verify, each step a task:

* **observe** the swarm (every node: address, hostname, availability, state, live user-server
  tasks) and the VM provider (which worker addresses have a machine, running or off);
* **plan** with :func:`cwh.timetable.worker_plan.plan_reconcile`, which holds every safety rule
  (managers and foreign addresses untouched, pause before drain, never drain a node a
  student's server runs on, capacity up before down, no plan without an active worker);
* **apply** in three stages: start machines (one provider call for all creates and one for
  all power-ons), then each node's swarm steps in parallel (wait until reachable, join,
  label, availability; or pause, drain, leave), then stop machines (deletes, power-offs).
  Nodes leaving the pool are only touched once every node wanted up made it, so capacity
  never dips below both the old and the new state;
* **verify** by observing again and planning again: a converged pool plans nothing.

The target is the timetable's at the run's instant (``at``, for a fake clock in tests and
demos; otherwise the moment the run starts, which is never earlier than its scheduled time, so
a late or queued run applies what is wanted now). Runs started by the per-phase cron schedules
carry that phase's counts; the timetable wins when they disagree (an exception date, an edited
file), as :meth:`cwh.timetable.Timetable.resolve_run_target` explains in the run's report.

Every step is idempotent, so a run that failed half-way (a provider error, a node that never
joined) is completed by the next one, and a run right after a successful one does nothing.
A node still running user servers is paused, reported as busy and retried by the next run; it
is never stopped by force unless idle culling is on and both the grace period (``drain_time``)
and the culling window have passed since it was paused. The time a node was paused is kept in
its node label ``cwh.paused-since``, so it survives between runs without any other state.

Each run publishes a per-node table artifact (before -> after, actions, seconds, status) and a
summary, appends the pool it left to the node-hours ledger read by ``cwh schedule savings``,
and fails (never silently Completed) when anything could not be applied.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import docker.errors  # type: ignore[import-untyped]
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from cwh.defaults import DEFAULT_DOCKER_HOST, DEFAULT_VCP_DOCKER_URL_TEMPLATE
from cwh.timetable import (
    STATIC_PROVIDER,
    Action,
    ActionKind,
    Availability,
    Culling,
    DownType,
    Guard,
    NodeRole,
    NodeState,
    ObservedNode,
    Plan,
    ProviderCapabilities,
    RemovalPolicy,
    RunTarget,
    SwarmNode,
    SwarmNodeState,
    Timetable,
    assemble_observation,
    load_timetable,
    plan_reconcile,
)
from cwh.timetable import VmState as PlanVmState
from tasks.swarm import (
    DEFAULT_USER_SERVICE_PREFIX,
    DockerTarget,
    NodeObservation,
    docker_client,
    join_worker,
    label_node,
    observe_nodes,
    remove_node,
    set_availability,
    update_service_env,
)
from tasks.vm_providers import (
    StaticProvider,
    VmProvider,
    VmProviderError,
    VmState,
)
from tasks.worker_ledger import DEFAULT_LEDGER_PATH, pool_usage, record_pool_state

DEFAULT_NODE_LABELS: Mapping[str, str] = {"cwh.role": "worker"}
PAUSED_SINCE_LABEL = "cwh.paused-since"
NODES_ARTIFACT_KEY = "reconcile-workers-nodes"
SUMMARY_ARTIFACT_KEY = "reconcile-workers-summary"
# JupyterHub's idle culler default (CULL_SERVER_IDLE_TIMEOUT) when culling is on without one.
DEFAULT_CULL_IDLE_SECONDS = 600
BUILT_IN_PROVIDERS = ("vcp", "static", "local-dockerd")

NodeStatus = Literal["unchanged", "planned", "done", "busy", "blocked", "skipped", "failed"]

_MACHINE_UP = (ActionKind.CREATE_VM, ActionKind.POWER_ON)
_MACHINE_DOWN = (ActionKind.DELETE_VM, ActionKind.POWER_OFF)
_REACHABLE_POLL_S = 2.0

# The swarm tasks as this flow runs them. Never served from a cache: the same call twice in one
# run (observe before and after applying) must look at the swarm twice. Without their own
# timeouts (``0`` turns a task's timeout off; ``None`` would keep it): they run nested in the
# per-node tasks' worker threads, where Prefect cannot interrupt a blocking call and only warns
# on every call; the join has its own deadline.
_NESTED: dict[str, Any] = {"cache_policy": NO_CACHE, "timeout_seconds": 0}
_observe_swarm = observe_nodes.with_options(**_NESTED)
_set_availability = set_availability.with_options(**_NESTED)
_label_node = label_node.with_options(**_NESTED)
_join_worker = join_worker.with_options(**_NESTED)
_remove_node = remove_node.with_options(**_NESTED)
_update_service_env = update_service_env.with_options(cache_policy=NO_CACHE)


class ReconcileFailed(RuntimeError):
    """Something could not be applied; the message lists what. The next run retries it.

    ``report`` is the run's full report (what the run returns when it succeeds).
    """

    def __init__(self, message: str, report: Mapping[str, Any]) -> None:
        super().__init__(message, report)
        self.report = report

    def __str__(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r})"


class MachinesFailed(RuntimeError):
    """A provider call failed for some machines; ``failed`` names their addresses."""

    def __init__(self, message: str, failed: tuple[str, ...]) -> None:
        super().__init__(message, failed)
        self.failed = failed

    def __str__(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, failed={self.failed!r})"


class NodeUnreachable(RuntimeError):
    """A machine's Docker API did not answer in time (still booting, or broken)."""


# --------------------------------------------------------------------- providers


_ATTACHED: dict[str, VmProvider] = {}


@contextlib.contextmanager
def attached_provider(name: str, provider: VmProvider) -> Iterator[str]:
    """Let runs in this process use ``provider`` when they are given ``provider=name``.

    For machines that only exist inside the current process: the ``local-dockerd`` "VMs" of
    a :class:`tasks.local_swarm.LocalSwarm` lab (tests, demos), or a provider wrapped to
    inject faults. Deployments use the built-in ``vcp`` and ``static`` providers.
    """
    if name in ("vcp", "static"):
        raise ValueError(f"{name!r} is a built-in provider; attach under another name")
    if name in _ATTACHED:
        raise ValueError(f"a provider is already attached as {name!r}")
    _ATTACHED[name] = provider
    try:
        yield name
    finally:
        del _ATTACHED[name]


def resolve_provider(
    name: str,
    workers: Sequence[str],
    *,
    vcp_block: str | None = None,
    node_docker_url: str = DEFAULT_VCP_DOCKER_URL_TEMPLATE,
) -> tuple[VmProvider, ProviderCapabilities]:
    """The provider a run uses and what it can do."""
    if name in _ATTACHED:
        provider = _ATTACHED[name]
        return provider, ProviderCapabilities(name, power_control=provider.supports_power)
    if name == "static":
        return StaticProvider(workers, node_docker_url), STATIC_PROVIDER
    if name == "vcp":
        if not vcp_block:
            raise ValueError(
                "provider 'vcp' needs vcp_block: the name of a saved 'VCP Worker Unit' block "
                "(unit group, unit and VCC access token)"
            )
        from blocks.vcp import VcpWorkerUnit

        unit = cast(VcpWorkerUnit, VcpWorkerUnit.load(vcp_block))
        vcp = unit.provider()
        return vcp, ProviderCapabilities("vcp", power_control=vcp.supports_power)
    if name == "local-dockerd":
        raise ValueError(
            "provider 'local-dockerd' uses the dockerd 'VMs' of a local swarm lab running in "
            "this process; attach one first with attached_provider('local-dockerd', "
            "LocalDockerdProvider(lab))"
        )
    raise ValueError(f"unknown provider {name!r}; use one of {', '.join(BUILT_IN_PROVIDERS)}")


# --------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class PoolObservation:
    """Everything one observation saw: per address, plus the swarm's host names."""

    nodes: Mapping[str, ObservedNode]
    hostnames: Mapping[str, str]
    seconds: float


@dataclass(frozen=True)
class NodeOutcome:
    """What happened to one worker address in the apply step."""

    address: str
    status: NodeStatus
    message: str = ""
    seconds: float = 0.0


@dataclass
class _NodeSteps:
    """One address's actions, split by who carries them out."""

    machine_up: list[Action] = field(default_factory=list)
    swarm: list[Action] = field(default_factory=list)
    machine_down: list[Action] = field(default_factory=list)


def split_actions(plan: Plan) -> dict[str, _NodeSteps]:
    """Per address (plan order kept): provider steps before, swarm steps, provider steps after."""
    steps: dict[str, _NodeSteps] = {}
    for action in plan.actions:
        node = steps.setdefault(action.address, _NodeSteps())
        if action.kind in _MACHINE_UP:
            node.machine_up.append(action)
        elif action.kind in _MACHINE_DOWN:
            node.machine_down.append(action)
        else:
            node.swarm.append(action)
    return steps


def run_instant(at: datetime | None, timetable: Timetable) -> datetime:
    """The instant a run plans for; a time without offset is read in the timetable's zone."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        return at.replace(tzinfo=timetable.timezone)
    return at


def removal_policy(timetable: Timetable, target: RunTarget, at: datetime) -> RemovalPolicy:
    """When a busy node may be stopped anyway: grace of the phase entered, culling window.

    Culling settings come from the timetable; without them culling counts as off, so a busy
    node waits for its users however long it takes.
    """
    entered = next((w for w in timetable.windows if w.name == target.state.phase), None)
    grace = timedelta(minutes=timetable.drain_before(entered))
    culling = timetable.culling_at(at)
    window = None
    if culling.enabled:
        window = timedelta(seconds=culling.idle_timeout or DEFAULT_CULL_IDLE_SECONDS)
    return RemovalPolicy(grace=grace, cull_window=window)


def culling_env(culling: Culling) -> dict[str, str]:
    """The hub's culling variables for the settings that are given (others left alone)."""
    env: dict[str, str] = {}
    if culling.enabled is not None:
        env["CULL_SERVER"] = "yes" if culling.enabled else "no"
    for name, value in (
        ("CULL_SERVER_IDLE_TIMEOUT", culling.idle_timeout),
        ("CULL_SERVER_MAX_AGE", culling.max_age),
        ("CULL_SERVER_EVERY", culling.every),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def to_swarm_node(node: NodeObservation) -> SwarmNode:
    """A swarm node as the planner sees it; unknown API values read as unknown, not errors."""
    try:
        state = SwarmNodeState(node.state)
    except ValueError:
        state = SwarmNodeState.UNKNOWN
    try:
        availability = Availability(node.availability)
    except ValueError:
        availability = Availability.DRAIN
    role = NodeRole.MANAGER if node.role == "manager" else NodeRole.WORKER
    return SwarmNode(node.node_id, node.hostname, role, availability, state, dict(node.labels))


def paused_since(node: NodeObservation) -> datetime | None:
    """When the node was paused, from its label; None when active, unlabelled or unreadable."""
    if node.availability == Availability.ACTIVE.value:
        return None
    text = node.labels.get(PAUSED_SINCE_LABEL)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def describe_node(node: ObservedNode | None, manages_vms: bool) -> str:
    """``vm running · active`` and the like, for the report."""
    if node is None:
        return "no VM" if manages_vms else "not in the swarm"
    parts = (
        [f"VM {node.vm}" if node.vm is not PlanVmState.ABSENT else "no VM"] if manages_vms else []
    )
    members = [
        f"{entry.availability}"
        + ("" if entry.state is SwarmNodeState.READY else f" ({entry.state})")
        for entry in node.swarm
    ]
    parts.append(", ".join(members) if members else "not in the swarm")
    if node.running_user_tasks:
        parts.append(f"{node.running_user_tasks} user server(s)")
    return " · ".join(parts)


def node_rows(
    plan: Plan,
    before: PoolObservation,
    after: PoolObservation | None,
    outcomes: Mapping[str, NodeOutcome],
    manages_vms: bool,
) -> list[dict[str, object]]:
    """One table row per worker address: before -> after, actions, status and seconds."""
    rows: list[dict[str, object]] = []
    for address, wanted in plan.desired.items():
        actions = plan.actions_for(address)
        outcome = outcomes.get(address)
        hostname = (after.hostnames.get(address) if after else None) or before.hostnames.get(
            address, ""
        )
        rows.append(
            {
                "address": address,
                "hostname": hostname,
                "wanted": wanted.value,
                "before": describe_node(before.nodes.get(address), manages_vms),
                "after": describe_node(after.nodes.get(address), manages_vms) if after else "",
                "actions": "; ".join(action.describe() for action in actions) or "-",
                "status": outcome.status if outcome else "unchanged",
                "seconds": round(outcome.seconds, 2) if outcome else 0.0,
                "note": outcome.message if outcome else "",
            }
        )
    return rows


def summary_markdown(report: Mapping[str, Any]) -> str:
    """The run's summary artifact."""
    if report["dry_run"]:
        headline = "dry run (nothing applied)"
    elif report["failed"] or report["blocked"]:
        headline = "NOT converged"
    elif report["busy"]:
        headline = f"waiting for user servers on {len(report['busy'])} node(s)"
    else:
        headline = "converged"
    durations = report["durations"]
    lines = [
        f"## Worker pool: {headline}",
        "",
        f"- At: {report['at']} ({report['timezone']})",
        f"- Target: phase `{report['phase']}` from the {report['target_source']}: {report['note']}",
        f"- Provider: {report['provider']}",
        f"- Actions: {len(report['actions'])} planned",
        "- Seconds: " + ", ".join(f"{step} {seconds:.2f}" for step, seconds in durations.items()),
    ]
    for item in report["busy"]:
        lines.append(f"- Busy, retried next run: {item['address']}: {item['reason']}")
    for item in report["blocked"]:
        lines.append(f"- **Blocked**: {item['address']}: {item['reason']}")
    for item in report["failed"]:
        lines.append(f"- **Failed**: {item['address']}: {item['error']}")
    for item in report["untouched"]:
        lines.append(f"- Untouched: {item['address']} ({item['reason']})")
    if report["culling"]:
        culling = report["culling"]
        state = "updated" if culling["changed"] else "already set"
        lines.append(f"- Culling on `{culling['service']}` ({state}): {culling['env']}")
    if report["ledger"]:
        lines.append(f"- Node-hours ledger: `{report['ledger']}`")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- steps (tasks)


@task(name="observe-worker-pool", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def observe_pool(
    manager: DockerTarget,
    provider: VmProvider,
    user_service_prefix: str = DEFAULT_USER_SERVICE_PREFIX,
) -> PoolObservation:
    """The swarm's nodes and the provider's machines, joined by address."""
    started = time.monotonic()
    swarm = _observe_swarm(manager, user_service_prefix)
    vms = {address: PlanVmState(state.value) for address, state in provider.list_vms().items()}
    entries = [(node.address, to_swarm_node(node), node.running_user_tasks) for node in swarm]
    since = {node.node_id: moment for node in swarm if (moment := paused_since(node))}
    hostnames: dict[str, str] = {}
    for node in swarm:
        if node.state == SwarmNodeState.READY.value or node.address not in hostnames:
            hostnames[node.address] = node.hostname
    return PoolObservation(
        nodes=assemble_observation(vms, entries, since),
        hostnames=hostnames,
        seconds=time.monotonic() - started,
    )


@task(name="plan-worker-actions", cache_policy=NO_CACHE)
def plan_pool(
    desired: Mapping[str, NodeState],
    observed: Mapping[str, ObservedNode],
    at: datetime,
    provider: ProviderCapabilities,
    policy: RemovalPolicy,
    labels: Mapping[str, str],
    allow_zero_active: bool,
) -> Plan:
    """The ordered actions (pure and deterministic, hence no retries)."""
    return plan_reconcile(
        desired,
        observed,
        at=at,
        provider=provider,
        policy=policy,
        labels=labels,
        allow_zero_active=allow_zero_active,
    )


@task(name="start-worker-machines", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def start_machines(provider: VmProvider, create: list[str], power_on: list[str]) -> None:
    """Create and power on machines, one provider call each.

    Raises :class:`MachinesFailed` naming only the machines that are not running afterwards,
    so the nodes that did come up still join in this run.
    """
    errors = _provider_calls([(provider.create, create), (provider.power_on, power_on)])
    if errors:
        wanted = [*create, *power_on]
        failed = _machines_not_in(provider, wanted, (VmState.RUNNING, VmState.BOOTING))
        if failed:
            raise MachinesFailed("; ".join(errors), failed)
        get_run_logger().warning("provider reported %s, yet every machine runs", errors)


@task(name="stop-worker-machines", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def stop_machines(provider: VmProvider, delete: list[str], power_off: list[str]) -> None:
    """Delete and power off machines that already left the swarm."""
    errors = _provider_calls([(provider.delete, delete), (provider.power_off, power_off)])
    if errors:
        vms = _list_or_none(provider)
        failed = tuple(
            [ip for ip in delete if vms is None or ip in vms]
            + [ip for ip in power_off if vms is None or vms.get(ip) is not VmState.POWERED_OFF]
        )
        if failed:
            raise MachinesFailed("; ".join(errors), failed)


@task(
    name="apply-node-actions",
    task_run_name="apply-{address}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=5,
)
def apply_node_actions(
    manager: DockerTarget,
    address: str,
    actions: list[Action],
    node_docker_url: str,
    at: datetime,
    live_labels: Mapping[str, Mapping[str, str]],
    user_service_prefix: str = DEFAULT_USER_SERVICE_PREFIX,
    join_timeout_s: float = 300.0,
) -> NodeOutcome:
    """Carry out one address's swarm steps in order.

    Every step is idempotent, so a retry (or the next run) after a failure part-way simply
    continues. ``live_labels`` are the labels of the address's live swarm entries by node ID.
    An empty ``node_docker_url`` (the provider has no machine there) is never dialled: an
    empty Docker URL would mean this host's own daemon. Returns a ``busy`` outcome, leaving
    the rest for a later run, when a user server runs on a node about to be drained.
    """
    started = time.monotonic()
    log = get_run_logger()
    joined: str | None = None
    for action in actions:
        ref = action.node_id or joined or address
        match action.kind:
            case ActionKind.JOIN:
                if not node_docker_url:
                    raise NodeUnreachable(f"the provider knows no Docker API for {address}")
                _wait_reachable(node_docker_url, join_timeout_s)
                joined = _join_worker(manager, node_docker_url, address, join_timeout_s)
            case ActionKind.LABEL:
                _label_node(manager, ref, dict(action.labels))
            case ActionKind.SET_AVAILABILITY:
                assert action.availability is not None
                _set_availability(manager, ref, action.availability.value)
                _track_pause(manager, ref, action.availability, at, live_labels.get(ref, {}))
            case ActionKind.DRAIN:
                if action.guard is Guard.IDLE:
                    busy = _user_servers_on(manager, ref, user_service_prefix)
                    if busy:
                        message = (
                            f"{len(busy)} user server(s) started on it ({', '.join(busy)}); "
                            "it stays paused and the next run retries"
                        )
                        log.warning("%s: %s", address, message)
                        return NodeOutcome(address, "busy", message, time.monotonic() - started)
                _set_availability(manager, ref, Availability.DRAIN.value)
                _track_pause(manager, ref, Availability.DRAIN, at, live_labels.get(ref, {}))
            case ActionKind.REMOVE_FROM_SWARM:
                if ref in live_labels and node_docker_url:
                    _leave_swarm(node_docker_url, address)
                _remove_node(manager, ref, force=ref in live_labels)
            case _:
                raise ValueError(f"{action.kind} is not a swarm step")
    return NodeOutcome(address, "done", "", time.monotonic() - started)


def _track_pause(
    manager: DockerTarget,
    ref: str,
    availability: Availability,
    at: datetime,
    labels: Mapping[str, str],
) -> None:
    """Remember when a node stopped taking new servers; forget it when it is active again.

    An existing stamp is kept: the grace period runs from the first pause.
    """
    if availability is Availability.ACTIVE:
        if PAUSED_SINCE_LABEL in labels:
            _label_node(manager, ref, {PAUSED_SINCE_LABEL: None})
    elif PAUSED_SINCE_LABEL not in labels:
        _label_node(manager, ref, {PAUSED_SINCE_LABEL: at.isoformat()})


def _user_servers_on(manager: DockerTarget, node_id: str, prefix: str) -> tuple[str, ...]:
    for node in _observe_swarm(manager, prefix):
        if node.node_id == node_id:
            return node.user_tasks
    return ()


def _wait_reachable(url: str, timeout: float) -> None:
    """Wait until the machine's Docker API answers (a fresh VM boots first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with docker_client(url, timeout=10) as client:
                client.ping()
                return
        except docker.errors.DockerException as exc:
            reason = str(exc)
        if time.monotonic() >= deadline:
            raise NodeUnreachable(f"{url} did not answer within {timeout:.0f} s: {reason}")
        time.sleep(_REACHABLE_POLL_S)


def _leave_swarm(url: str, address: str) -> None:
    """Ask the drained node to leave the swarm itself.

    A node removed only on the manager keeps a revoked identity: it retries in a loop and,
    once powered on again, takes about 20 s before its API even answers. Leaving first keeps
    a powered-off node clean for the next class. If the node cannot be reached, the manager
    removes it anyway (the caller forces the removal of a live entry).
    """
    try:
        with docker_client(url, timeout=30) as client:
            if client.info()["Swarm"].get("LocalNodeState", "inactive") != "inactive":
                client.api.leave_swarm(force=False)
    except docker.errors.DockerException as exc:
        get_run_logger().warning(
            "%s could not leave the swarm itself (%s); removing it", address, exc
        )


def _provider_calls(calls: Sequence[tuple[Any, list[str]]]) -> list[str]:
    """Run each non-empty provider call; collect the errors instead of stopping at the first."""
    errors: list[str] = []
    for method, ips in calls:
        if not ips:
            continue
        try:
            method(ips)
        except VmProviderError as exc:
            errors.append(str(exc))
    return errors


def _list_or_none(provider: VmProvider) -> dict[str, VmState] | None:
    try:
        return provider.list_vms()
    except VmProviderError:
        return None


def _machines_not_in(
    provider: VmProvider, ips: Sequence[str], states: tuple[VmState, ...]
) -> tuple[str, ...]:
    vms = _list_or_none(provider)
    return tuple(ip for ip in ips if vms is None or vms.get(ip) not in states)


# --------------------------------------------------------------------- the flow


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
    join_timeout_s: float = 300.0,
    action_retries: int = 1,
) -> dict[str, Any]:
    """Reconcile the worker pool with ``timetable`` (our format or the reference's, YAML/JSON).

    ``phase``/``active``/``pause``/``drain`` come from a per-phase cron schedule (see
    ``cwh schedule to-prefect``); without them the timetable decides. ``provider`` is ``vcp``
    (with ``vcp_block``), ``static`` (machines always on; ``node_docker_url`` reaches them to
    join) or a provider attached in this process. ``hub_service`` names the JupyterHub swarm
    service whose culling variables follow the timetable's per-phase culling settings.
    ``ledger`` (None: off) is the node-hours file of ``cwh schedule savings``.
    """
    log = get_run_logger()
    table = load_timetable(
        Path(timetable).expanduser(), ips=ips, down_type=DownType(down_type) if down_type else None
    )
    moment = run_instant(at, table)
    target = table.resolve_run_target(moment, active=active, pause=pause, drain=drain, phase=phase)
    log.info("target at %s: phase %s (%s)", moment.isoformat(), target.state.phase, target.note)
    vm_provider, capabilities = resolve_provider(
        provider, table.ip_addresses, vcp_block=vcp_block, node_docker_url=node_docker_url
    )
    manager = _docker_target(docker_host, docker_host_block)
    labels = dict(DEFAULT_NODE_LABELS if node_labels is None else node_labels)
    policy = removal_policy(table, target, moment)
    durations: dict[str, float] = {}

    before = observe_pool(manager, vm_provider, user_service_prefix)
    durations["observe"] = before.seconds
    started = time.monotonic()
    plan = plan_pool(
        target.state.nodes,
        before.nodes,
        moment,
        capabilities,
        policy,
        labels,
        allow_zero_active,
    )
    durations["plan"] = time.monotonic() - started
    log.info("plan: %d action(s), %d blocked", len(plan.actions), len(plan.blocked))

    outcomes: dict[str, NodeOutcome] = {}
    after: PoolObservation | None = None
    culling: dict[str, Any] | None = None
    problems: list[dict[str, str]] = []
    if dry_run:
        outcomes = {a.address: NodeOutcome(a.address, "planned") for a in plan.actions}
    else:
        started = time.monotonic()
        outcomes = _apply(
            plan,
            before,
            manager,
            vm_provider,
            moment,
            user_service_prefix=user_service_prefix,
            join_timeout_s=join_timeout_s,
            retries=action_retries,
        )
        if hub_service:
            culling = _apply_culling(manager, hub_service, table.culling_at(moment), problems)
        durations["apply"] = time.monotonic() - started
        after = observe_pool(manager, vm_provider, user_service_prefix)
        started = time.monotonic()
        remaining = plan_pool(plan.desired, after.nodes, moment, capabilities, policy, labels, True)
        durations["verify"] = after.seconds + time.monotonic() - started
        problems.extend(_unfinished(remaining, outcomes))

    busy, blocked = _waiting(plan, before, outcomes)
    _mark_waiting(outcomes, busy, blocked)
    failed = [
        {"address": address, "error": outcome.message}
        for address, outcome in outcomes.items()
        if outcome.status in ("failed", "skipped")
    ] + problems
    ledger_path = None
    if ledger and after is not None:
        ledger_path = _record_node_hours(ledger, table, after, capabilities, moment, failed)

    report: dict[str, Any] = {
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
        "nodes": node_rows(plan, before, after, outcomes, capabilities.manages_vms),
        "busy": busy,
        "blocked": blocked,
        "failed": failed,
        "untouched": [{"address": u.address, "reason": u.reason} for u in plan.untouched],
        "culling": culling,
        "ledger": ledger_path,
        "durations": {step: round(seconds, 3) for step, seconds in durations.items()},
    }
    _publish(report)
    if not dry_run and (failed or blocked):
        lines = "; ".join(
            f"{item['address']}: {item.get('error') or item.get('reason')}"
            for item in [*failed, *blocked]
        )
        raise ReconcileFailed(
            f"the worker pool did not converge ({lines}); the next run retries", report
        )
    return report


def _mark_waiting(
    outcomes: dict[str, NodeOutcome], busy: list[dict[str, str]], blocked: list[dict[str, str]]
) -> None:
    """A node waiting for its users shows as busy, with the reason, even though its pause
    step was done; a node the plan could not touch shows as blocked."""
    for item in busy:
        address = item["address"]
        seconds = outcomes[address].seconds if address in outcomes else 0.0
        outcomes[address] = NodeOutcome(address, "busy", item["reason"], seconds)
    for item in blocked:
        address = item["address"]
        outcomes.setdefault(address, NodeOutcome(address, "blocked", item["reason"]))


def _record_node_hours(
    ledger: str,
    table: Timetable,
    after: PoolObservation,
    capabilities: ProviderCapabilities,
    at: datetime,
    failed: list[dict[str, str]],
) -> str | None:
    """Append the pool this run left to the ledger; a failure is reported, not fatal here."""
    running, powered_off = pool_usage(
        table.ip_addresses, after.nodes, manages_vms=capabilities.manages_vms
    )
    state = record_pool_state(
        ledger, at, table.ip_addresses, running, powered_off, _run_id(), return_state=True
    )
    if state.is_failed():
        error = _error_text(state.result(raise_on_failure=False))
        failed.append({"address": "ledger", "error": f"node-hours not recorded: {error}"})
        return None
    return str(Path(ledger).expanduser())


def _publish(report: Mapping[str, Any]) -> None:
    """The run's artifacts: the per-node table and the summary."""
    create_table_artifact(
        key=NODES_ARTIFACT_KEY,
        table=report["nodes"],
        description=f"Worker nodes at {report['at']}: before -> after",
    )
    create_markdown_artifact(
        key=SUMMARY_ARTIFACT_KEY,
        markdown=summary_markdown(report),
        description=f"Worker pool reconcile at {report['at']}",
    )


def _unfinished(remaining: Plan, outcomes: Mapping[str, NodeOutcome]) -> list[dict[str, str]]:
    """Verification: actions still planned on nodes that did not already fail or wait."""
    reported = {a for a, o in outcomes.items() if o.status in ("failed", "skipped", "busy")}
    return [
        {"address": action.address, "error": f"still to do after this run: {action.describe()}"}
        for action in remaining.actions
        if action.address not in reported
    ]


def _apply(
    plan: Plan,
    before: PoolObservation,
    manager: DockerTarget,
    provider: VmProvider,
    at: datetime,
    *,
    user_service_prefix: str,
    join_timeout_s: float,
    retries: int,
) -> dict[str, NodeOutcome]:
    """Start machines, run the swarm steps per node, stop machines; up before down.

    A node's seconds include the provider call its machine was part of.
    """
    steps = split_actions(plan)
    up = {a: s for a, s in steps.items() if plan.desired[a].is_up}
    down = {a: s for a, s in steps.items() if not plan.desired[a].is_up}
    outcomes: dict[str, NodeOutcome] = {}
    spent: dict[str, float] = {}
    apply = apply_node_actions.with_options(retries=retries)

    def run_swarm_steps(group: Mapping[str, _NodeSteps]) -> None:
        futures: dict[str, PrefectFuture[NodeOutcome]] = {}
        for address, node_steps in group.items():
            if outcomes.get(address, _DONE).status != "done" or not node_steps.swarm:
                continue
            futures[address] = apply.submit(
                manager,
                address,
                node_steps.swarm,
                _docker_url(provider, address),
                at,
                _live_labels(before.nodes.get(address)),
                user_service_prefix,
                join_timeout_s,
            )
        for address, future in futures.items():
            result = future.result(raise_on_failure=False)
            if isinstance(result, NodeOutcome):
                outcomes[address] = result
            else:
                outcomes[address] = NodeOutcome(address, "failed", _error_text(result))

    starting = {a: s.machine_up for a, s in up.items() if s.machine_up}
    start = start_machines.with_options(retries=retries)
    _machines(start, provider, starting, ActionKind.CREATE_VM, outcomes, spent)
    run_swarm_steps(up)
    if any(outcomes.get(a, _DONE).status == "failed" for a in up):
        for address in down:
            outcomes[address] = NodeOutcome(
                address,
                "skipped",
                "not taken down because bringing other nodes up failed (capacity first); "
                "the next run retries",
            )
    else:
        run_swarm_steps(down)
        stopping = {
            a: s.machine_down
            for a, s in down.items()
            if s.machine_down and outcomes.get(a, _DONE).status == "done"
        }
        stop = stop_machines.with_options(retries=retries)
        _machines(stop, provider, stopping, ActionKind.DELETE_VM, outcomes, spent)
    return {
        address: replace(outcome, seconds=outcome.seconds + spent.get(address, 0.0))
        for address, outcome in outcomes.items()
    }


def _machines(
    step: Any,
    provider: VmProvider,
    batch: Mapping[str, Sequence[Action]],
    first: ActionKind,
    outcomes: dict[str, NodeOutcome],
    spent: dict[str, float],
) -> None:
    """One provider task for a batch of machines: those with ``first`` (create or delete)
    and the others (power on or off). Records each machine's outcome and the seconds taken."""
    if not batch:
        return
    primary = [address for address, actions in batch.items() if _has(actions, first)]
    secondary = [address for address in batch if address not in primary]
    started = time.monotonic()
    state = step(provider, primary, secondary, return_state=True)
    seconds = time.monotonic() - started
    failures = _machine_failures(state, list(batch))
    for address in batch:
        spent[address] = seconds
        if address in failures:
            outcomes[address] = NodeOutcome(address, "failed", failures[address])
        else:
            outcomes.setdefault(address, NodeOutcome(address, "done"))


_DONE = NodeOutcome("", "done")


def _docker_url(provider: VmProvider, address: str) -> str:
    """The machine's Docker API; empty when the provider has no machine there (a node only
    known as a stale swarm entry), in which case no step needs it."""
    try:
        return provider.docker_url(address)
    except VmProviderError:
        return ""


def _has(actions: Sequence[Action], kind: ActionKind) -> bool:
    return any(action.kind is kind for action in actions)


def _live_labels(node: ObservedNode | None) -> dict[str, Mapping[str, str]]:
    if node is None:
        return {}
    return {
        entry.node_id: dict(entry.labels)
        for entry in node.swarm
        if entry.state is SwarmNodeState.READY
    }


def _machine_failures(state: Any, addresses: Sequence[str]) -> dict[str, str]:
    """Per address, why the provider step failed (empty when it succeeded)."""
    if not state.is_failed():
        return {}
    error = state.result(raise_on_failure=False)
    failed = error.failed if isinstance(error, MachinesFailed) else tuple(addresses)
    return {address: _error_text(error) for address in failed}


def _error_text(error: object) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _apply_culling(
    manager: DockerTarget, service: str, culling: Culling, problems: list[dict[str, str]]
) -> dict[str, Any] | None:
    """Set the hub's culling variables for the phase in force (no update when equal)."""
    env = culling_env(culling)
    if not env:
        return None
    state = _update_service_env(manager, service, env, return_state=True)
    if state.is_failed():
        error = _error_text(state.result(raise_on_failure=False))
        problems.append({"address": service, "error": f"culling settings not applied: {error}"})
        return {"service": service, "env": env, "changed": False}
    return {"service": service, "env": env, "changed": bool(state.result())}


def _waiting(
    plan: Plan, before: PoolObservation, outcomes: Mapping[str, NodeOutcome]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Nodes waiting for their user servers (not a failure), and nodes blocked otherwise."""
    busy: list[dict[str, str]] = []
    blocked: list[dict[str, str]] = []
    for item in plan.blocked:
        node = before.nodes.get(item.address)
        leaving = not plan.desired[item.address].is_up
        entry = {"address": item.address, "reason": item.reason}
        if leaving and node is not None and node.running_user_tasks:
            busy.append(entry)
        else:
            blocked.append(entry)
    for address, outcome in outcomes.items():
        if outcome.status == "busy":
            busy.append({"address": address, "reason": outcome.message})
    return busy, blocked


def _docker_target(docker_host: str, docker_host_block: str | None) -> DockerTarget:
    if docker_host_block is None:
        return docker_host
    from prefect_docker import DockerHost  # type: ignore[import-untyped]

    block: DockerTarget = DockerHost.load(docker_host_block)
    return block


def _run_id() -> str | None:
    run_id = flow_run.id
    return str(run_id) if run_id else None
