"""Property tests: a node a student's server runs on is never taken down by the planner, and
servers are stopped only where the timetable asks for it (``force_idle_after``) and the hub
reports every server of the node idle for that long.

Random worker pools (states, availabilities, pause times, user servers), random hub answers
(idle, recently used, unknown or failing) and random clocks; the planner must hold the rules
for every one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.timetable import (
    ActionKind,
    Availability,
    Guard,
    HubServer,
    HubServers,
    NodeRole,
    NodeState,
    ObservedNode,
    ProviderCapabilities,
    RemovalPolicy,
    SwarmNode,
    SwarmNodeState,
    VmState,
    plan_reconcile,
)

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
TAKE_DOWN = {ActionKind.DRAIN, ActionKind.REMOVE_FROM_SWARM, ActionKind.DELETE_VM}
TAKE_DOWN |= {ActionKind.POWER_OFF}


@st.composite
def pools(draw: st.DrawFn) -> tuple[dict[str, NodeState], dict[str, ObservedNode], HubServers]:
    count = draw(st.integers(1, 5))
    desired: dict[str, NodeState] = {}
    observed: dict[str, ObservedNode] = {}
    servers: list[HubServer] = []
    for index in range(count):
        address = f"10.6.0.{index + 1}"
        desired[address] = draw(st.sampled_from(list(NodeState)))
        users = draw(st.integers(0, 3))
        names = tuple(f"jupyter-u{index}x{n}" for n in range(users))
        availability = draw(st.sampled_from([*Availability, Availability.PAUSE]))
        paused = draw(st.one_of(st.none(), st.integers(0, 60 * 24 * 90)))
        member = SwarmNode(
            f"node-{index}",
            f"host-{index}",
            NodeRole.WORKER,
            availability,
            SwarmNodeState.READY,
            {"cwh.role": "worker"},
        )
        named = draw(st.integers(0, 9)) > 0
        observed[address] = ObservedNode(
            address,
            VmState.RUNNING,
            (member,),
            running_user_tasks=users,
            paused_since=None if paused is None else NOW - timedelta(minutes=paused),
            user_servers=names if named else (),
        )
        for n, service in enumerate(names):
            if draw(st.integers(0, 9)) == 0:
                continue  # a service the hub does not know
            idle = draw(st.integers(-1, 60 * 24 * 10))
            last = None if idle < 0 else NOW - timedelta(minutes=idle)
            servers.append(
                HubServer(f"u{index}x{n}", draw(st.sampled_from(["", "lab"])), service, last)
            )
    hub = draw(
        st.sampled_from([HubServers(tuple(servers), NOW), HubServers.unavailable("unreachable")])
    )
    return desired, observed, hub


MINUTES = st.integers(1, 600).map(lambda m: timedelta(minutes=m))
NEVER_FORCE = st.builds(RemovalPolicy, grace=MINUTES, force_idle_after=st.none())
FORCE_IDLE = st.builds(RemovalPolicy, grace=MINUTES, force_idle_after=MINUTES)
CULLING_PROVIDERS = st.sampled_from(
    [ProviderCapabilities("vcp"), ProviderCapabilities("static", False, False)]
)


@settings(max_examples=400, deadline=None)
@given(
    pool=pools(),
    policy=st.one_of(NEVER_FORCE, FORCE_IDLE),
    later=st.integers(0, 60 * 24 * 365).map(lambda m: timedelta(minutes=m)),
    provider=CULLING_PROVIDERS,
)
def test_busy_nodes_are_taken_down_only_after_their_idle_servers_are_stopped_by_the_hub(
    pool: tuple[dict[str, NodeState], dict[str, ObservedNode], HubServers],
    policy: RemovalPolicy,
    later: timedelta,
    provider: ProviderCapabilities,
) -> None:
    desired, observed, hub = pool
    result = plan_reconcile(
        desired,
        observed,
        at=NOW + later,
        provider=provider,
        policy=policy,
        allow_zero_active=True,
        hub=hub,
    )
    known = hub.by_service()
    for address, node in observed.items():
        actions = result.actions_for(address)
        stops = [a for a in actions if a.kind is ActionKind.STOP_SERVER]
        drains = [a for a in actions if a.kind is ActionKind.DRAIN]
        assert all(a.guard is Guard.IDLE for a in drains), "every drain re-checks for servers"
        if policy.force_idle_after is None or hub.error is not None:
            # Nothing is ever forced: no server stopped, a busy node is never taken down.
            assert stops == []
            if node.running_user_tasks:
                assert not [a for a in actions if a.kind in TAKE_DOWN]
            continue
        if not stops:
            if node.running_user_tasks:
                assert not [a for a in actions if a.kind in TAKE_DOWN]
            continue
        # Stops free the whole node, only idle servers the hub knows on it, and only when
        # the node was paused before this run; the drain comes after them.
        assert node.swarm[0].availability is Availability.PAUSE
        assert not desired[address].is_up
        stopped = {(a.hub_user, a.hub_server) for a in stops}
        on_node = [known[name] for name in node.user_servers]
        assert stopped == {(s.user, s.name) for s in on_node}
        assert len(set(node.user_servers)) == len(node.user_servers) == node.running_user_tasks
        for server in on_node:
            idle = server.idle_for(NOW)
            assert idle is not None and idle >= policy.force_idle_after
        kinds = [a.kind for a in actions]
        assert kinds.index(ActionKind.DRAIN) > max(
            i for i, k in enumerate(kinds) if k is ActionKind.STOP_SERVER
        )
