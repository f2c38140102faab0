"""Reconcile planning: safety rules, idempotency, and convergence after failures part-way.

Convergence is checked against a small executor model that applies actions the way the
reconcile flow does (with the documented ``idle`` guard), so a plan that could never finish,
or that would touch something it must not, fails here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.timetable import (
    STATIC_PROVIDER,
    Action,
    ActionKind,
    Availability,
    Guard,
    HubServer,
    HubServers,
    NodeRole,
    NodeState,
    ObservedNode,
    PlanRefused,
    ProviderCapabilities,
    RemovalPolicy,
    SwarmNode,
    SwarmNodeState,
    VmState,
    assemble_observation,
    converged_observation,
    observed_from_json,
    observed_to_json,
    plan_reconcile,
)

NOW = datetime(2025, 4, 7, 4, 0, tzinfo=UTC)
VCP = ProviderCapabilities("vcp")
NO_POWER = ProviderCapabilities("openstack", power_control=False)
LABELS = {"cwh.role": "worker"}
A, B, C = "10.4.0.1", "10.4.0.2", "10.4.0.3"


def member(
    node_id: str,
    availability: Availability = Availability.ACTIVE,
    state: SwarmNodeState = SwarmNodeState.READY,
    role: NodeRole = NodeRole.WORKER,
    labels: Mapping[str, str] | None = None,
) -> SwarmNode:
    return SwarmNode(node_id, f"host-{node_id}", role, availability, state, dict(labels or LABELS))


def up(
    address: str, availability: Availability = Availability.ACTIVE, **extra: object
) -> ObservedNode:
    node = ObservedNode(address, VmState.RUNNING, (member(f"id-{address}", availability),))
    return dataclasses.replace(node, **extra)  # type: ignore[arg-type]


def kinds(actions: tuple[Action, ...]) -> list[tuple[str, str]]:
    return [(action.kind.value, action.address) for action in actions]


def plan(
    desired: Mapping[str, NodeState],
    observed: Mapping[str, ObservedNode],
    **options: object,
) -> object:
    settings_ = {"at": NOW, "provider": VCP, "labels": LABELS, **options}
    return plan_reconcile(desired, observed, **settings_)  # type: ignore[arg-type]


def test_observed_equal_to_desired_plans_nothing() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.PAUSE, C: NodeState.DELETED}
    result = plan_reconcile(
        desired, converged_observation(desired, VCP, LABELS), at=NOW, provider=VCP, labels=LABELS
    )
    assert result.is_empty and result.blocked == ()


def test_scale_out_creates_joins_labels_and_activates() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.ACTIVE, C: NodeState.PAUSE}
    observed = {A: up(A), B: ObservedNode(B, VmState.POWERED_OFF)}
    result = plan(desired, observed)
    assert kinds(result.actions) == [
        ("power_on", B),
        ("join", B),
        ("label", B),
        ("set_availability", B),
        ("create_vm", C),
        ("join", C),
        ("label", C),
        ("set_availability", C),
    ]
    assert result.actions[-1].availability is Availability.PAUSE


def test_idle_node_is_paused_then_drained_under_the_idle_guard_then_removed() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED, C: NodeState.POWER_DOWN}
    result = plan(desired, {A: up(A), B: up(B), C: up(C, Availability.PAUSE)})
    assert kinds(result.actions) == [
        ("set_availability", B),
        ("drain", B),
        ("remove_from_swarm", B),
        ("delete_vm", B),
        ("drain", C),
        ("remove_from_swarm", C),
        ("power_off", C),
    ]
    drains = [action for action in result.actions if action.kind is ActionKind.DRAIN]
    assert all(action.guard is Guard.IDLE for action in drains)
    assert result.actions[0].availability is Availability.PAUSE


def test_busy_node_is_paused_and_reported_never_removed_silently() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    policy = RemovalPolicy(grace=timedelta(minutes=60))
    result = plan(desired, {A: up(A), B: up(B, running_user_tasks=2)}, policy=policy)
    assert kinds(result.actions) == [("set_availability", B)]
    (blocked,) = result.blocked
    assert blocked.address == B
    assert "2 user server(s) still running" in blocked.reason


def test_busy_paused_node_is_never_forced_whatever_the_time_and_culling() -> None:
    """A server that outlives the culling window is in use: no elapsed time frees its node."""
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    policy = RemovalPolicy(grace=timedelta(minutes=30))
    paused_at = NOW - timedelta(minutes=40)
    busy = up(
        B,
        Availability.PAUSE,
        running_user_tasks=1,
        paused_since=paused_at,
        user_servers=("jupyter-alice",),
    )
    for later in (timedelta(0), timedelta(minutes=5), timedelta(days=30)):
        result = plan(desired, {A: up(A), B: busy}, policy=policy, at=NOW + later)
        assert result.actions == ()
        (blocked,) = result.blocked
        assert blocked.address == B and blocked.retry_after is None
        assert "1 user server(s) still running; it stays paused" in blocked.reason
        assert "force_idle_after is not set" in blocked.reason
    # An idle hub server changes nothing either without force_idle_after.
    hub = HubServers((HubServer("alice", "", "jupyter-alice", NOW - timedelta(days=3)),), NOW)
    result = plan(desired, {A: up(A), B: busy}, policy=policy, hub=hub)
    assert result.actions == ()


def test_force_idle_after_stops_idle_servers_through_the_hub_then_drains_under_the_guard() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    policy = RemovalPolicy(grace=timedelta(0), force_idle_after=timedelta(minutes=30))
    busy = up(
        B,
        Availability.PAUSE,
        running_user_tasks=2,
        paused_since=NOW - timedelta(minutes=1),
        user_servers=("jupyter-alice", "jupyter-bob--lab"),
    )
    idle = NOW - timedelta(minutes=31)
    hub = HubServers(
        (
            HubServer("alice", "", "jupyter-alice", idle),
            HubServer("bob", "lab", "jupyter-bob--lab", idle - timedelta(hours=5)),
            HubServer("carol", "", "jupyter-carol", NOW),
        ),
        NOW,
    )
    result = plan(desired, {A: up(A), B: busy}, policy=policy, hub=hub)
    assert kinds(result.actions) == [
        ("stop_server", B),
        ("stop_server", B),
        ("drain", B),
        ("remove_from_swarm", B),
        ("delete_vm", B),
    ]
    stops = result.actions[:2]
    assert [(a.hub_user, a.hub_server) for a in stops] == [("alice", ""), ("bob", "lab")]
    assert stops[1].describe() == f"stop_server bob/lab {B}"
    assert stops[1].to_json()["user"] == "bob" and stops[1].to_json()["server"] == "lab"
    assert result.actions[2].guard is Guard.IDLE

    # One server used a minute ago keeps the node, and the idle one with it.
    recent = HubServers((hub.servers[0], HubServer("bob", "lab", "jupyter-bob--lab", NOW)), NOW)
    kept = plan(desired, {A: up(A), B: busy}, policy=policy, hub=recent)
    assert kept.actions == ()
    assert "bob/lab was used 0 s ago, within force_idle_after 30 min" in kept.blocked[0].reason


@pytest.mark.parametrize(
    ("hub", "reason"),
    [
        (None, "JupyterHub was not asked"),
        (HubServers.unavailable("HTTP 403"), "could not tell which are idle (HTTP 403)"),
        (HubServers((), NOW), "reports no ready server for jupyter-alice"),
        (
            HubServers((HubServer("alice", "", "jupyter-alice", None),), NOW),
            "does not know when alice was last used",
        ),
    ],
)
def test_a_hub_that_cannot_tell_frees_nothing(hub: HubServers | None, reason: str) -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    policy = RemovalPolicy(force_idle_after=timedelta(minutes=30))
    busy = up(B, Availability.PAUSE, running_user_tasks=1, user_servers=("jupyter-alice",))
    result = plan(desired, {A: up(A), B: busy}, policy=policy, hub=hub)
    assert result.actions == ()
    assert reason in result.blocked[0].reason


def test_servers_are_stopped_only_on_a_node_paused_before_the_run() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    policy = RemovalPolicy(force_idle_after=timedelta(minutes=30))
    hub = HubServers((HubServer("alice", "", "jupyter-alice", NOW - timedelta(days=1)),), NOW)
    active = up(B, running_user_tasks=1, user_servers=("jupyter-alice",))
    result = plan(desired, {A: up(A), B: active}, policy=policy, hub=hub)
    assert kinds(result.actions) == [("set_availability", B)]
    assert "it is paused now" in result.blocked[0].reason


def test_managers_and_foreign_nodes_are_never_touched() -> None:
    manager = ObservedNode(B, VmState.RUNNING, (member("mgr", role=NodeRole.MANAGER),))
    foreign = up("10.9.9.9")
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    result = plan(desired, {A: up(A), B: manager, "10.9.9.9": foreign})
    assert result.actions == ()
    assert [item.address for item in result.blocked] == [B]
    assert "manager" in result.blocked[0].reason
    assert [(item.address, item.reason) for item in result.untouched] == [
        ("10.9.9.9", "address is not in the worker list")
    ]


def test_a_plan_without_active_workers_is_refused_unless_allowed() -> None:
    desired = {A: NodeState.PAUSE, B: NodeState.DELETED}
    with pytest.raises(PlanRefused, match="no active worker"):
        plan(desired, {A: up(A), B: up(B)})
    allowed = plan(desired, {A: up(A), B: up(B)}, allow_zero_active=True)
    assert ("set_availability", A) in kinds(allowed.actions)


def test_stale_entries_from_a_recreated_vm_are_removed() -> None:
    node = ObservedNode(
        A,
        VmState.RUNNING,
        (member("old", state=SwarmNodeState.DOWN), member("new")),
    )
    result = plan({A: NodeState.ACTIVE}, {A: node})
    assert [(a.kind.value, a.node_id) for a in result.actions] == [("remove_from_swarm", "old")]


def test_a_vm_that_never_joined_is_joined() -> None:
    result = plan({A: NodeState.ACTIVE}, {A: ObservedNode(A, VmState.RUNNING)})
    assert kinds(result.actions) == [("join", A), ("label", A), ("set_availability", A)]


def test_missing_labels_are_added_and_drained_node_reactivated() -> None:
    node = ObservedNode(A, VmState.RUNNING, (member("x", Availability.DRAIN, labels={"a": "b"}),))
    result = plan({A: NodeState.ACTIVE}, {A: node})
    assert kinds(result.actions) == [("label", A), ("set_availability", A)]
    assert result.actions[0].labels == LABELS


def test_provider_limits_are_reported() -> None:
    booting = ObservedNode(B, VmState.BOOTING)
    broken = ObservedNode(C, VmState.ERROR)
    result = plan(
        {A: NodeState.ACTIVE, B: NodeState.ACTIVE, C: NodeState.ACTIVE},
        {A: up(A), B: booting, C: broken},
    )
    assert result.actions == ()
    assert [item.address for item in result.blocked] == [B, C]
    no_power = plan(
        {A: NodeState.ACTIVE, B: NodeState.POWER_DOWN}, {A: up(A), B: up(B)}, provider=NO_POWER
    )
    assert "set down_type: deleted" in no_power.blocked[0].reason
    assert no_power.actions == ()


def test_static_pool_only_changes_availability() -> None:
    desired = {A: NodeState.ACTIVE, B: NodeState.DELETED}
    result = plan(desired, {A: up(A), B: up(B)}, provider=STATIC_PROVIDER)
    assert kinds(result.actions) == [("set_availability", B), ("drain", B)]
    done = converged_observation(desired, STATIC_PROVIDER, LABELS)
    assert plan(desired, done, provider=STATIC_PROVIDER).is_empty
    missing = plan({A: NodeState.ACTIVE}, {}, provider=STATIC_PROVIDER)
    assert "cannot make one" in missing.blocked[0].reason


def test_bring_up_comes_before_any_take_down() -> None:
    desired = {A: NodeState.DELETED, B: NodeState.ACTIVE}
    result = plan(desired, {A: up(A), B: ObservedNode.absent(B)})
    addresses = [action.address for action in result.actions]
    assert addresses == [B, B, B, B, A, A, A, A]


def test_observed_nodes_round_trip_through_json() -> None:
    nodes = {
        A: up(A, paused_since=NOW, running_user_tasks=3, user_servers=("a", "b", "c")),
        B: ObservedNode(B, VmState.POWERED_OFF),
    }
    assert observed_from_json(observed_to_json(nodes.values())) == nodes
    with pytest.raises(ValueError, match=r"\[0\]\.vm: 'on' is not one of running"):
        observed_from_json([{"address": A, "vm": "on"}])
    with pytest.raises(ValueError, match="has no time zone offset"):
        observed_from_json([{"address": A, "vm": "running", "paused_since": "2025-04-07T09:00"}])


class _Executor:
    """Applies actions as the reconcile flow does; ``fail_at`` stops it part-way."""

    def __init__(self, observed: dict[str, ObservedNode]) -> None:
        self.observed = observed
        self.joins = 0

    def apply(self, actions: tuple[Action, ...], fail_at: int | None) -> None:
        skipped: set[str] = set()
        for index, action in enumerate(actions):
            if fail_at is not None and index >= fail_at:
                return
            if action.address in skipped:
                continue
            node = self.observed.get(action.address, ObservedNode.absent(action.address))
            if action.guard is Guard.IDLE and node.running_user_tasks:
                skipped.add(action.address)
                continue
            self.observed[action.address] = self._step(node, action)

    def _step(self, node: ObservedNode, action: Action) -> ObservedNode:
        match action.kind:
            case ActionKind.CREATE_VM | ActionKind.POWER_ON:
                return dataclasses.replace(node, vm=VmState.RUNNING)
            case ActionKind.JOIN:
                self.joins += 1
                fresh = SwarmNode(
                    f"join-{self.joins}",
                    "h",
                    NodeRole.WORKER,
                    Availability.ACTIVE,
                    SwarmNodeState.READY,
                    {},
                )
                return dataclasses.replace(node, swarm=(*node.swarm, fresh))
            case ActionKind.LABEL | ActionKind.SET_AVAILABILITY | ActionKind.DRAIN:
                return dataclasses.replace(
                    node, swarm=tuple(_update(e, action) for e in node.swarm)
                )
            case ActionKind.REMOVE_FROM_SWARM:
                kept = tuple(e for e in node.swarm if e.node_id != action.node_id)
                return dataclasses.replace(node, swarm=kept)
            case ActionKind.DELETE_VM | ActionKind.POWER_OFF:
                vm = VmState.ABSENT if action.kind is ActionKind.DELETE_VM else VmState.POWERED_OFF
                down = tuple(dataclasses.replace(e, state=SwarmNodeState.DOWN) for e in node.swarm)
                return dataclasses.replace(node, vm=vm, swarm=down)


def _update(entry: SwarmNode, action: Action) -> SwarmNode:
    if entry.state is not SwarmNodeState.READY or action.node_id not in (None, entry.node_id):
        return entry
    if action.kind is ActionKind.LABEL:
        return dataclasses.replace(entry, labels={**entry.labels, **action.labels})
    assert action.availability is not None
    return dataclasses.replace(entry, availability=action.availability)


STATES = st.sampled_from(list(NodeState))
INITIAL = st.sampled_from(["absent", "off", "active", "pause", "drain", "unjoined", "stale"])


def _initial(address: str, kind: str) -> ObservedNode:
    match kind:
        case "absent":
            return ObservedNode.absent(address)
        case "off":
            return ObservedNode(address, VmState.POWERED_OFF)
        case "unjoined":
            return ObservedNode(address, VmState.RUNNING)
        case "stale":
            return ObservedNode(
                address, VmState.RUNNING, (member("gone", state=SwarmNodeState.DOWN),)
            )
        case _:
            return up(address, Availability(kind))


@settings(max_examples=200, deadline=None)
@given(
    desired_states=st.lists(STATES, min_size=1, max_size=6),
    initial=st.lists(INITIAL, min_size=6, max_size=6),
    failures=st.lists(st.one_of(st.none(), st.integers(0, 12)), min_size=4, max_size=4),
)
def test_failed_runs_converge_and_a_second_run_plans_nothing(
    desired_states: list[NodeState], initial: list[str], failures: list[int | None]
) -> None:
    addresses = [f"10.5.0.{n}" for n in range(1, len(desired_states) + 1)]
    desired = dict(zip(addresses, desired_states, strict=True))
    executor = _Executor({a: _initial(a, k) for a, k in zip(addresses, initial, strict=False)})
    for fail_at in [*failures, None]:
        result = plan_reconcile(
            desired, executor.observed, at=NOW, provider=VCP, labels=LABELS, allow_zero_active=True
        )
        assert result.blocked == ()
        executor.apply(result.actions, fail_at)
    final = plan_reconcile(
        desired, executor.observed, at=NOW, provider=VCP, labels=LABELS, allow_zero_active=True
    )
    assert final.is_empty, final.actions
    for address, state in desired.items():
        node = executor.observed.get(address, ObservedNode.absent(address))
        ready = [entry for entry in node.swarm if entry.state is SwarmNodeState.READY]
        if state.is_up:
            assert [entry.availability.value for entry in ready] == [state.value]
        else:
            assert node.swarm == ()
            expected = (
                {VmState.ABSENT}
                if state is NodeState.DELETED
                else {
                    VmState.POWERED_OFF,
                    VmState.ABSENT,
                }
            )
            assert node.vm in expected


def test_observation_is_assembled_from_provider_and_swarm_reports() -> None:
    old = member("old", state=SwarmNodeState.DOWN)
    new = member("new", Availability.PAUSE)
    manager = member("mgr", role=NodeRole.MANAGER)
    observed = assemble_observation(
        {A: VmState.RUNNING, B: VmState.POWERED_OFF},
        [(A, old, 4), (A, new, 2), ("10.4.0.9", manager, 0)],
        paused_since={"new": NOW},
    )
    assert observed[A] == ObservedNode(A, VmState.RUNNING, (old, new), 2, NOW)
    assert observed[B] == ObservedNode(B, VmState.POWERED_OFF)
    assert observed["10.4.0.9"].vm is VmState.ABSENT
    result = plan({A: NodeState.ACTIVE, B: NodeState.POWER_DOWN}, observed)
    assert kinds(result.actions) == [("remove_from_swarm", A), ("set_availability", A)]
    assert [item.reason for item in result.untouched] == ["swarm manager"]
