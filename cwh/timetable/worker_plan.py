"""Plan the actions that bring the worker pool from what is observed to what the timetable wants.

Pure: the reconcile flow observes the swarm and the VM provider, calls :func:`plan_reconcile`,
applies the returned :class:`Action` list in order and observes again to verify. Planning the
same observation twice gives the same plan, and an observation that already matches the desired
state gives no actions, so a run can be repeated at any time and a run that failed part-way is
finished by the next one.

Safety rules, all enforced here so that every caller gets them:

* only addresses of the worker list are touched; swarm managers never, even when listed;
* a node leaving the pool is paused first (no new user servers), and drained, removed from the
  swarm and switched off or deleted only when no user server runs on it. Every drain carries
  the ``idle`` guard: the executor re-checks right before draining, which is race-free because
  the node is already paused. A busy node stays paused, waits and is reported on every run,
  however long it waits and whatever the hub's culling settings: a server that outlives the
  culling window is by definition in use. Only a timetable that sets ``force_idle_after``
  frees a node, and only by stopping, through JupyterHub, servers the hub itself reports idle
  for that long, when that frees the whole node (:mod:`cwh.timetable.hub_servers`); one
  recently used server keeps the node;
* nodes wanted up are brought up before any node is taken down, so capacity never dips
  below what both the old and the new state provide;
* a plan that leaves no active worker is refused unless explicitly allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from cwh.timetable.hub_servers import HubServer, HubServers, servers_to_stop
from cwh.timetable.model import NodeState
from cwh.timetable.observed import (
    Availability,
    NodeRole,
    ObservedNode,
    ProviderCapabilities,
    SwarmNode,
    SwarmNodeState,
    VmState,
)
from cwh.timetable.reason_text import plan_reason


class ActionKind(StrEnum):
    """Steps of a plan. An action without ``node_id`` works on the node found by address:
    ``join`` makes the machine leave any swarm it still believes it belongs to, then joins it
    as a worker; ``label`` and ``set_availability`` right after a join address the new node.
    ``stop_server`` stops one user server of the node through JupyterHub (``hub_user`` and
    ``hub_server`` name it), never by touching its container.
    """

    CREATE_VM = "create_vm"
    POWER_ON = "power_on"
    JOIN = "join"
    LABEL = "label"
    SET_AVAILABILITY = "set_availability"
    STOP_SERVER = "stop_server"
    DRAIN = "drain"
    REMOVE_FROM_SWARM = "remove_from_swarm"
    DELETE_VM = "delete_vm"
    POWER_OFF = "power_off"


class Guard(StrEnum):
    """A precondition the executor must check right before running the action.

    ``idle``: no user server task runs on the node. If one does, the executor skips this and the
    node's remaining actions and reports the node as busy; the next run retries.
    """

    IDLE = "idle"


@dataclass(frozen=True)
class RemovalPolicy:
    """What the timetable says about nodes still running user servers.

    ``grace`` (the timetable's ``drain_time``) is how long a paused busy node may wait before
    it is reported as stuck. ``force_idle_after`` (``None``: never) is how long JupyterHub
    must have seen no activity on every server of a node before those servers are stopped.
    """

    grace: timedelta = timedelta(0)
    force_idle_after: timedelta | None = None

    def stuck_after(self, paused_since: datetime | None) -> datetime | None:
        """From when a busy node paused at ``paused_since`` counts as stuck."""
        if paused_since is None:
            return None
        return paused_since.astimezone(UTC) + self.grace


@dataclass(frozen=True)
class Action:
    """One step of a plan; ``node_id`` names the swarm entry the step works on, if any."""

    kind: ActionKind
    address: str
    reason: str
    node_id: str | None = None
    availability: Availability | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    guard: Guard | None = None
    hub_user: str | None = None
    hub_server: str = ""

    def describe(self) -> str:
        shows_target = self.kind is ActionKind.SET_AVAILABILITY and self.availability is not None
        target = f" {self.availability}" if shows_target else ""
        if self.hub_user is not None:
            target = f" {self.hub_user}" + (f"/{self.hub_server}" if self.hub_server else "")
        return f"{self.kind}{target} {self.address}"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "action": self.kind.value,
            "address": self.address,
            "reason": self.reason,
        }
        if self.node_id is not None:
            data["node_id"] = self.node_id
        if self.availability is not None:
            data["availability"] = self.availability.value
        if self.labels:
            data["labels"] = dict(self.labels)
        if self.guard is not None:
            data["guard"] = self.guard.value
        if self.hub_user is not None:
            data["user"] = self.hub_user
            data["server"] = self.hub_server
        return data


@dataclass(frozen=True)
class Blocked:
    """A worker address that cannot reach its desired state in this run, and why."""

    address: str
    reason: str
    retry_after: datetime | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"address": self.address, "reason": self.reason}
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after.isoformat()
        return data


@dataclass(frozen=True)
class Untouched:
    """An observed node the plan leaves alone on purpose (manager, or not a worker address)."""

    address: str
    reason: str


@dataclass(frozen=True)
class Plan:
    at: datetime
    desired: Mapping[str, NodeState]
    actions: tuple[Action, ...]
    blocked: tuple[Blocked, ...] = ()
    untouched: tuple[Untouched, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.actions

    def actions_for(self, address: str) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.address == address)

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "nodes": {address: state.value for address, state in self.desired.items()},
            "actions": [action.to_json() for action in self.actions],
            "blocked": [blocked.to_json() for blocked in self.blocked],
            "untouched": [
                {"address": item.address, "reason": item.reason} for item in self.untouched
            ],
        }


class PlanRefused(ValueError):
    """The desired state is unsafe to apply (for example, no active worker would remain)."""


def plan_reconcile(
    desired: Mapping[str, NodeState],
    observed: Mapping[str, ObservedNode],
    *,
    at: datetime,
    provider: ProviderCapabilities,
    policy: RemovalPolicy | None = None,
    labels: Mapping[str, str] | None = None,
    allow_zero_active: bool = False,
    hub: HubServers | None = None,
) -> Plan:
    """The ordered actions from ``observed`` to ``desired`` (worker addresses in list order).

    ``observed`` may hold more addresses than ``desired`` (every swarm node, say): they are
    reported as untouched. A worker address missing from ``observed`` has no VM and no swarm
    entry. ``labels`` are the node labels every up worker must carry. ``hub`` is what
    JupyterHub reported about its servers; it matters only with ``force_idle_after`` set.
    """
    if at.tzinfo is None:
        raise ValueError("plan time must be timezone-aware")
    if not allow_zero_active and NodeState.ACTIVE not in desired.values():
        raise PlanRefused(
            "the desired state leaves no active worker, so no student could start a server; "
            "fix the timetable or set allow_zero_active to allow it"
        )
    planner = _Planner(at, provider, policy or RemovalPolicy(), dict(labels or {}), hub)
    for address, state in desired.items():
        node = observed.get(address, ObservedNode.absent(address))
        planner.plan_node(node, state)
    untouched = [
        Untouched(address, _untouched_reason(node))
        for address, node in observed.items()
        if address not in desired
    ]
    return Plan(
        at=at,
        desired=dict(desired),
        actions=tuple(planner.up_actions + planner.down_actions),
        blocked=tuple(planner.blocked),
        untouched=tuple(untouched),
    )


class _Planner:
    def __init__(
        self,
        at: datetime,
        provider: ProviderCapabilities,
        policy: RemovalPolicy,
        labels: dict[str, str],
        hub: HubServers | None,
    ) -> None:
        self.at = at
        self.provider = provider
        self.policy = policy
        self.labels = labels
        self.hub = hub
        self.up_actions: list[Action] = []
        self.down_actions: list[Action] = []
        self.blocked: list[Blocked] = []

    def plan_node(self, node: ObservedNode, state: NodeState) -> None:
        managers = [entry for entry in node.swarm if entry.role is NodeRole.MANAGER]
        if managers:
            self._block(node, plan_reason("manager"))
            return
        if state.is_up:
            self._plan_up(node, Availability(state.value))
        else:
            self._plan_down(node, state)

    def _plan_up(self, node: ObservedNode, wanted: Availability) -> None:
        steps: list[Action] = []
        ready = [entry for entry in node.swarm if entry.state is SwarmNodeState.READY]
        member = ready[0] if ready and node.vm is VmState.RUNNING else None
        match node.vm:
            case VmState.ERROR:
                self._block(node, plan_reason("vm_error"))
                return
            case VmState.BOOTING | VmState.UNKNOWN:
                self._block(node, plan_reason("vm_pending", vm=node.vm))
                return
            case VmState.ABSENT:
                if ready:
                    self._block(node, plan_reason("vm_missing_swarm_ready"))
                    return
                if not self.provider.manages_vms:
                    self._block(node, plan_reason("cannot_create", provider=self.provider.name))
                    return
                steps.append(self._act(ActionKind.CREATE_VM, node, plan_reason("create")))
            case VmState.POWERED_OFF:
                if ready:
                    self._block(node, plan_reason("off_swarm_ready"))
                    return
                if not self.provider.power_control:
                    self._block(node, plan_reason("cannot_power_on", provider=self.provider.name))
                    return
                steps.append(self._act(ActionKind.POWER_ON, node, plan_reason("power_on")))
            case VmState.RUNNING:
                pass
        for stale in node.swarm:
            if stale is not member:
                steps.append(self._remove_stale(node, stale))
        if member is None:
            steps.append(self._act(ActionKind.JOIN, node, plan_reason("join")))
            if self.labels:
                steps.append(self._label(node, None, self.labels))
            reason = plan_reason("newly_joined", wanted=wanted)
            steps.append(self._availability(node, None, wanted, reason))
        else:
            missing = {k: v for k, v in self.labels.items() if member.labels.get(k) != v}
            if missing:
                steps.append(self._label(node, member.node_id, missing))
            if member.availability is not wanted:
                reason = plan_reason("availability", current=member.availability, wanted=wanted)
                steps.append(self._availability(node, member.node_id, wanted, reason))
        self.up_actions.extend(steps)

    def _plan_down(self, node: ObservedNode, state: NodeState) -> None:
        powerless = self.provider.manages_vms and not self.provider.power_control
        if state is NodeState.POWER_DOWN and powerless:
            self._block(
                node,
                plan_reason("cannot_power_off", provider=self.provider.name),
            )
            return
        if node.vm in (VmState.BOOTING, VmState.UNKNOWN) and self.provider.manages_vms:
            self._block(node, plan_reason("vm_pending_down", vm=node.vm))
            return
        ready = [entry for entry in node.swarm if entry.state is SwarmNodeState.READY]
        member = ready[0] if ready else None
        steps: list[Action] = []
        if member is not None and member.availability is Availability.DRAIN:
            if node.running_user_tasks:
                self._block(node, self._busy_reason(node, plan_reason("drained_waits")))
                return
        elif member is not None:
            leaving = self._leave(node, member, steps)
            if not leaving:
                self.down_actions.extend(steps)
                return
        if not self.provider.manages_vms:
            self.down_actions.extend(steps)
            return
        if member is not None:
            leave = plan_reason("leaves")
            steps.append(self._act(ActionKind.REMOVE_FROM_SWARM, node, leave, member.node_id))
        for stale in node.swarm:
            if stale is not member:
                steps.append(self._remove_stale(node, stale))
        steps.extend(self._vm_down(node, state))
        self.down_actions.extend(steps)

    def _leave(self, node: ObservedNode, member: SwarmNode, steps: list[Action]) -> bool:
        """Pause, then drain ``member`` if no user server keeps it; False when it must wait.

        A busy node that was already paused before this run may be freed by stopping its
        servers through the hub (only with ``force_idle_after``); the drain keeps its
        ``idle`` guard, so it happens only once those servers are really gone.
        """
        paused_before = member.availability is not Availability.ACTIVE
        if not paused_before:
            steps.append(
                self._availability(
                    node, member.node_id, Availability.PAUSE, plan_reason("pause_first")
                )
            )
        if node.running_user_tasks:
            if not paused_before:
                self._block(node, self._busy_reason(node, plan_reason("paused_now")))
                return False
            decision = servers_to_stop(
                node.user_servers,
                node.running_user_tasks,
                self.hub,
                self.policy.force_idle_after,
            )
            if not decision.stop:
                self._block(node, self._busy_reason(node, decision.reason))
                return False
            steps.extend(self._stop(node, server, decision.reason) for server in decision.stop)
        reason = (
            plan_reason("idle_stopped_first")
            if node.running_user_tasks
            else plan_reason("no_user_server")
        )
        steps.append(
            Action(
                ActionKind.DRAIN,
                node.address,
                reason,
                node_id=member.node_id,
                availability=Availability.DRAIN,
                guard=Guard.IDLE,
            )
        )
        return True

    @staticmethod
    def _busy_reason(node: ObservedNode, why: str) -> str:
        count = node.running_user_tasks
        return plan_reason("busy", count=count, why=why)

    @staticmethod
    def _stop(node: ObservedNode, server: HubServer, reason: str) -> Action:
        return Action(
            ActionKind.STOP_SERVER,
            node.address,
            reason,
            hub_user=server.user,
            hub_server=server.name,
        )

    def _vm_down(self, node: ObservedNode, state: NodeState) -> list[Action]:
        if state is NodeState.DELETED and node.vm is not VmState.ABSENT:
            return [self._act(ActionKind.DELETE_VM, node, plan_reason("delete_vm"))]
        if state is NodeState.POWER_DOWN:
            if node.vm is VmState.RUNNING:
                return [self._act(ActionKind.POWER_OFF, node, plan_reason("power_off"))]
            if node.vm is VmState.ERROR:
                self._block(node, plan_reason("vm_error_down"))
        return []

    def _remove_stale(self, node: ObservedNode, stale: SwarmNode) -> Action:
        reason = plan_reason("stale", hostname=stale.hostname, state=stale.state)
        return self._act(ActionKind.REMOVE_FROM_SWARM, node, reason, stale.node_id)

    def _availability(
        self, node: ObservedNode, node_id: str | None, wanted: Availability, reason: str
    ) -> Action:
        return Action(
            ActionKind.SET_AVAILABILITY, node.address, reason, node_id=node_id, availability=wanted
        )

    def _label(self, node: ObservedNode, node_id: str | None, labels: Mapping[str, str]) -> Action:
        return Action(
            ActionKind.LABEL,
            node.address,
            plan_reason("labels"),
            node_id=node_id,
            labels=dict(labels),
        )

    @staticmethod
    def _act(
        kind: ActionKind, node: ObservedNode, reason: str, node_id: str | None = None
    ) -> Action:
        return Action(kind, node.address, reason, node_id=node_id)

    def _block(self, node: ObservedNode, reason: str, retry_after: datetime | None = None) -> None:
        self.blocked.append(Blocked(node.address, reason, retry_after))


def _untouched_reason(node: ObservedNode) -> str:
    if any(entry.role is NodeRole.MANAGER for entry in node.swarm):
        return plan_reason("untouched_manager")
    return plan_reason("untouched_foreign")
