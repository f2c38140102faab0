"""The worker pool as the reconcile flow sees and changes it: the swarm's nodes and the
provider's machines, joined by worker address.

* **providers**: which :class:`~tasks.vm_providers.VmProvider` a run uses (``static``,
  ``vcp`` from a saved block, or one attached in this process with :func:`attached_provider`);
* **observe**: the swarm's nodes and the provider's machines, per address;
* **apply** in three stages: start machines (one provider call for all creates and one for
  all power-ons), then each node's swarm steps in parallel (wait until reachable, join,
  label, availability; or pause, drain, leave), then stop machines (deletes, power-offs).
  Nodes leaving the pool are only touched once every node wanted up made it, so capacity
  never dips below both the old and the new state;
* the hub's culling variables and the node-hours ledger.

A node's pause time is kept in its node label ``cwh.paused-since``, so the grace period and
culling window survive between runs without any other state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import docker.errors  # type: ignore[import-untyped]
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from blocks.loading import load_block
from blocks.vcp import VcpWorkerUnit
from cwh.defaults import DEFAULT_VCP_DOCKER_URL_TEMPLATE
from cwh.timetable import (
    PAUSED_SINCE_LABEL,
    STATIC_PROVIDER,
    Action,
    ActionKind,
    AddressError,
    Availability,
    Culling,
    CullingChange,
    Guard,
    HubServers,
    NodeOutcome,
    NodeState,
    NodeSteps,
    ObservedNode,
    Plan,
    PoolObservation,
    ProviderCapabilities,
    RemovalPolicy,
    SwarmNodeState,
    Timetable,
    assemble_observation,
    culling_env,
    paused_since,
    plan_reason,
    plan_reconcile,
    split_actions,
    to_swarm_node,
)
from cwh.timetable import VmState as PlanVmState
from tasks.common import run_logger
from tasks.demo_pool import DEMO_PROVIDER, DemoProvider
from tasks.swarm import DockerTarget, docker_client, update_service_env
from tasks.swarm_nodes import (
    DEFAULT_USER_SERVICE_PREFIX,
    join_worker,
    label_node,
    observe_nodes,
    remove_node,
    set_availability,
)
from tasks.vm_providers import StaticProvider, VmProvider, VmProviderError, VmState, vcp_provider
from tasks.worker_ledger import pool_usage, record_pool_state

BUILT_IN_PROVIDERS = ("vcp", "static", DEMO_PROVIDER)
# Providers that only exist in the process that attaches them (the tests' and the benchmark's
# local dockerd lab): known by name so an unattached one is reported as such.
IN_PROCESS_PROVIDERS = ("local-dockerd",)
_REACHABLE_POLL_S = 2.0

# The swarm tasks as the reconcile flow runs them. Never served from a cache: the same call
# twice in one run (observe before and after applying) must look at the swarm twice. Without
# their own timeouts (``0`` turns a task's timeout off; ``None`` would keep it): they run nested
# in the per-node tasks' worker threads, where Prefect cannot interrupt a blocking call and only
# warns on every call; the join has its own deadline.
_NESTED: dict[str, Any] = {"cache_policy": NO_CACHE, "timeout_seconds": 0}
_observe_swarm = observe_nodes.with_options(**_NESTED)
_set_availability = set_availability.with_options(**_NESTED)
_label_node = label_node.with_options(**_NESTED)
_join_worker = join_worker.with_options(**_NESTED)
_remove_node = remove_node.with_options(**_NESTED)
_update_service_env = update_service_env.with_options(cache_policy=NO_CACHE)


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
    the tests' local swarm lab, or a provider wrapped to inject faults. Deployments use the
    built-in ``vcp`` and ``static`` providers.
    """
    if name in BUILT_IN_PROVIDERS:
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
    if name == DEMO_PROVIDER:
        return DemoProvider(workers), ProviderCapabilities(DEMO_PROVIDER, power_control=True)
    if name == "vcp":
        if not vcp_block:
            raise ValueError(
                "provider 'vcp' needs vcp_block: the name of a saved 'VCP Worker Unit' block "
                "(unit group, unit and VCC access token)"
            )
        unit = load_block(VcpWorkerUnit, vcp_block)
        vcp = vcp_provider(unit)
        return vcp, ProviderCapabilities("vcp", power_control=vcp.supports_power)
    if name in IN_PROCESS_PROVIDERS:
        raise ValueError(
            f"provider {name!r} uses the dockerd 'VMs' of a local swarm lab running in "
            f"this process; attach one first with attached_provider({name!r}, "
            "LocalDockerdProvider(lab))"
        )
    known = (*BUILT_IN_PROVIDERS, *IN_PROCESS_PROVIDERS)
    raise ValueError(f"unknown provider {name!r}; use one of {', '.join(known)}")


# --------------------------------------------------------------------- steps (tasks)


@task(name="observe-worker-pool", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def observe_pool(
    manager: DockerTarget,
    provider: VmProvider,
    user_service_prefix: str = DEFAULT_USER_SERVICE_PREFIX,
) -> PoolObservation:
    """The swarm's nodes and the provider's machines, joined by address."""
    started = time.monotonic()
    if isinstance(provider, DemoProvider):
        swarm = provider.observe_swarm()
    else:
        swarm = _observe_swarm(manager, user_service_prefix)
    vms = {address: PlanVmState(state.value) for address, state in provider.list_vms().items()}
    entries = [(node.address, to_swarm_node(node), node.running_user_tasks) for node in swarm]
    since = {node.node_id: moment for node in swarm if (moment := paused_since(node))}
    servers = {node.node_id: node.user_tasks for node in swarm}
    hostnames: dict[str, str] = {}
    for node in swarm:
        if node.state == SwarmNodeState.READY.value or node.address not in hostnames:
            hostnames[node.address] = node.hostname
    return PoolObservation(
        nodes=assemble_observation(vms, entries, since, servers),
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
    hub: HubServers | None = None,
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
        hub=hub,
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
        run_logger(__name__).warning("provider reported %s, yet every machine runs", errors)


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
    log = run_logger(__name__)
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
                        listed = ", ".join(busy)
                        message = plan_reason("started_on_it", count=len(busy), servers=listed)
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
        run_logger(__name__).warning(
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


# --------------------------------------------------------------------- applying a plan


def apply_plan(
    plan: Plan,
    before: PoolObservation,
    manager: DockerTarget,
    provider: VmProvider,
    at: datetime,
    *,
    user_service_prefix: str,
    join_timeout_s: float,
    retries: int,
    before_down: Callable[[], None] | None = None,
) -> dict[str, NodeOutcome]:
    """Start machines, run the swarm steps per node, stop machines; up before down.

    ``before_down`` (stopping idle servers through the hub) runs only once every node wanted
    up made it. A node's seconds include the provider call its machine was part of.
    """
    steps = split_actions(plan)
    up = {a: s for a, s in steps.items() if plan.desired[a].is_up}
    down = {a: s for a, s in steps.items() if not plan.desired[a].is_up}
    outcomes: dict[str, NodeOutcome] = {}
    spent: dict[str, float] = {}
    apply = apply_node_actions.with_options(retries=retries)

    def run_swarm_steps(group: Mapping[str, NodeSteps]) -> None:
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
                plan_reason("skipped_down"),
            )
    else:
        if before_down is not None:
            before_down()
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


def apply_culling(
    manager: DockerTarget, service: str, culling: Culling, problems: list[AddressError]
) -> CullingChange | None:
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


def _run_id() -> str | None:
    run_id = flow_run.id
    return str(run_id) if run_id else None


def record_node_hours(
    ledger: str,
    table: Timetable,
    after: PoolObservation,
    capabilities: ProviderCapabilities,
    at: datetime,
    failed: list[AddressError],
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
