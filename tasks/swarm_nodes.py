"""Prefect tasks that observe and change the nodes of a Docker Swarm.

Observe every node (address, role, availability, state, live user servers), set a node's
availability, merge its labels, join a machine as a worker through its own Docker API, and
remove stale or leaving entries. Every task is idempotent, so a retry or the next reconcile
run continues where a failed one stopped. Reading the API's node descriptions is pure, in
:mod:`cwh.timetable.swarm_observation`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import docker.errors  # type: ignore[import-untyped]
from prefect import task

from cwh.timetable import NodeObservation, node_address, parse_node, user_tasks_by_node
from tasks.common import retrying, run_logger
from tasks.swarm import (
    UPDATE_ATTEMPTS,
    AmbiguousNodeError,
    DockerTarget,
    NodeNotFoundError,
    NodeNotRemovableError,
    SwarmError,
    describe_target,
    docker_client,
    is_out_of_sequence,
)

AVAILABILITIES = frozenset({"active", "pause", "drain"})
DEFAULT_USER_SERVICE_PREFIX = "jupyter-"


def select_node(nodes: Sequence[Mapping[str, Any]], ref: str) -> list[Mapping[str, Any]]:
    """Nodes matching ``ref``: an exact node ID, else a hostname, else an address.

    Several entries may share an address (a node removed while down and joined again leaves
    its old Down entry behind); callers decide what to do with more than one.
    """
    for key in (
        lambda n: n.get("ID"),
        lambda n: n.get("Description", {}).get("Hostname"),
        node_address,
    ):
        matches = [n for n in nodes if key(n) == ref]
        if matches:
            return matches
    return []


def single_node(nodes: Sequence[Mapping[str, Any]], ref: str) -> Mapping[str, Any]:
    """The one node ``ref`` designates; live entries win over stale Down ones."""
    matches = select_node(nodes, ref)
    if not matches:
        raise NodeNotFoundError(f"no swarm node matches {ref!r} (node ID, hostname or address)")
    if len(matches) > 1:
        live = [n for n in matches if n.get("Status", {}).get("State") != "down"]
        if len(live) == 1:
            return live[0]
        ids = ", ".join(str(n.get("ID")) for n in matches)
        raise AmbiguousNodeError(f"{ref!r} matches several swarm nodes ({ids}); use a node ID")
    return matches[0]


# --------------------------------------------------------------------- plumbing


def _update_node(
    docker_host: DockerTarget, ref: str, change: Callable[[dict[str, Any]], bool]
) -> bool:
    """Apply ``change`` to the node's current spec; False when it reports nothing to change."""
    with docker_client(docker_host) as client:
        for _ in range(UPDATE_ATTEMPTS):
            attrs = single_node(client.api.nodes(), ref)
            spec = copy.deepcopy(attrs["Spec"])
            if not change(spec):
                return False
            try:
                client.api.update_node(attrs["ID"], attrs["Version"]["Index"], spec)
                return True
            except docker.errors.APIError as exc:
                if not is_out_of_sequence(exc):
                    raise
    raise SwarmError(f"node {ref!r} kept changing under us; gave up after {UPDATE_ATTEMPTS} tries")


def _wait_node_ready(client: Any, node_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        try:
            state = client.api.inspect_node(node_id)["Status"]["State"]
        except docker.errors.NotFound:
            state = "not yet listed"
        if state == "ready":
            return
        time.sleep(0.2)
    raise SwarmError(f"node {node_id} joined but is {state!r} after {timeout:.0f} s")


# --------------------------------------------------------------------- tasks


@task(
    name="observe-swarm-nodes",
    timeout_seconds=120,
    **retrying(3, 2),
)
def observe_nodes(
    docker_host: DockerTarget, user_service_prefix: str = DEFAULT_USER_SERVICE_PREFIX
) -> list[NodeObservation]:
    """Every swarm node with its address, role, availability, state and live user servers.

    User servers are the tasks of services whose name starts with ``user_service_prefix``
    (JupyterHub's swarm spawners name them ``jupyter-<user>``).
    """
    with docker_client(docker_host) as client:
        nodes = client.api.nodes()
        services = {s["ID"]: s["Spec"]["Name"] for s in client.api.services()}
        tasks = client.api.tasks(filters={"desired-state": "running"})
    busy = user_tasks_by_node(tasks, services, lambda n: n.startswith(user_service_prefix))
    observed = [parse_node(n, busy.get(n["ID"], ())) for n in nodes]
    observed.sort(key=lambda o: (o.role != "manager", o.address, o.hostname))
    run_logger(__name__).info(
        "observed %d node(s) on %s: %s",
        len(observed),
        describe_target(docker_host),
        ", ".join(
            f"{o.hostname}/{o.address} {o.role} {o.availability} {o.state}"
            f" ({o.running_user_tasks} user)"
            for o in observed
        ),
    )
    return observed


@task(
    name="set-node-availability",
    task_run_name="set-availability-{node_ref}-{availability}",
    timeout_seconds=60,
    **retrying(3, 2),
)
def set_availability(docker_host: DockerTarget, node_ref: str, availability: str) -> bool:
    """Set a node's availability (active, pause or drain); False when it already had it."""
    if availability not in AVAILABILITIES:
        raise SwarmError(
            f"availability {availability!r} is not one of {', '.join(sorted(AVAILABILITIES))}"
        )

    def change(spec: dict[str, Any]) -> bool:
        if spec.get("Availability") == availability:
            return False
        spec["Availability"] = availability
        return True

    changed = _update_node(docker_host, node_ref, change)
    run_logger(__name__).info(
        "node %s availability %s", node_ref, f"set to {availability}" if changed else "unchanged"
    )
    return changed


@task(
    name="label-swarm-node",
    task_run_name="label-node-{node_ref}",
    timeout_seconds=60,
    **retrying(3, 2),
)
def label_node(docker_host: DockerTarget, node_ref: str, labels: Mapping[str, str | None]) -> bool:
    """Add, change (a string value) or remove (None) node labels; others stay as they are.

    Docker replaces the label map wholesale, so the current labels are merged in here.
    Returns False when every label already had the wanted value.
    """
    bad = [k for k in labels if not k or "=" in k]
    if bad:
        raise SwarmError(f"invalid label name(s): {bad}")

    def change(spec: dict[str, Any]) -> bool:
        current = dict(spec.get("Labels") or {})
        wanted = dict(current)
        for key, value in labels.items():
            if value is None:
                wanted.pop(key, None)
            else:
                wanted[key] = value
        if wanted == current:
            return False
        spec["Labels"] = wanted
        return True

    changed = _update_node(docker_host, node_ref, change)
    run_logger(__name__).info("node %s labels %s", node_ref, "updated" if changed else "unchanged")
    return changed


@task(
    name="join-swarm-worker",
    task_run_name="join-worker-{advertise_addr}",
    timeout_seconds=300,
    **retrying(2, 5),
)
def join_worker(
    manager: DockerTarget, node_docker_url: str, advertise_addr: str, timeout: float = 120.0
) -> str:
    """Join the node behind ``node_docker_url`` to the manager's swarm as a worker.

    The worker join token is read from the manager and handed to the node's own Docker API,
    so no shell access to the node is needed and the token is never logged. Idempotent: a node
    that already is a member is left alone. A node still holding the state of this swarm after
    being removed from it (it keeps retrying with a revoked identity) leaves and joins again
    under a new ID; a node belonging to another swarm is refused. Returns the node's ID once
    the manager reports it ready.
    """
    log = run_logger(__name__)
    with (
        docker_client(manager) as mgr,
        docker_client(node_docker_url) as node,
    ):
        mgr_swarm = mgr.info()["Swarm"]
        if not mgr_swarm.get("ControlAvailable"):
            raise SwarmError(f"{describe_target(manager)} is not a swarm manager")
        manager_addrs = [str(m["Addr"]) for m in mgr_swarm.get("RemoteManagers") or []]
        node_swarm = node.info()["Swarm"]
        state = node_swarm.get("LocalNodeState", "inactive")
        node_id = str(node_swarm.get("NodeID") or "")
        members = {str(n["ID"]) for n in mgr.api.nodes()}
        if state == "active" and node_id in members:
            log.info("node %s is already swarm member %s", advertise_addr, node_id)
            _wait_node_ready(mgr, node_id, timeout)
            return node_id
        if state in ("active", "pending", "error", "locked"):
            if node_swarm.get("ControlAvailable"):
                raise SwarmError(
                    f"{advertise_addr} is a manager of another swarm; refusing to take it over"
                )
            known = {str(m["Addr"]) for m in node_swarm.get("RemoteManagers") or []}
            if known and not known & set(manager_addrs):
                raise SwarmError(
                    f"{advertise_addr} belongs to another swarm (managers {sorted(known)}); "
                    "make it leave that swarm first"
                )
            log.warning(
                "node %s has stale swarm state (%s); leaving before joining", advertise_addr, state
            )
            node.api.leave_swarm(force=True)
        token = mgr.api.inspect_swarm()["JoinTokens"]["Worker"]
        try:
            node.api.join_swarm(
                remote_addrs=manager_addrs,
                join_token=token,
                listen_addr=f"{advertise_addr}:2377",
                advertise_addr=advertise_addr,
            )
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc).replace(token, "<join token>")
            raise SwarmError(f"{advertise_addr} could not join the swarm: {reason}") from None
        node_id = str(node.info()["Swarm"]["NodeID"])
        _wait_node_ready(mgr, node_id, timeout)
    log.info("node %s joined the swarm as %s", advertise_addr, node_id)
    return node_id


@task(
    name="remove-swarm-node",
    task_run_name="remove-node-{node_ref}",
    timeout_seconds=60,
    **retrying(3, 2),
)
def remove_node(docker_host: DockerTarget, node_ref: str, force: bool = False) -> list[str]:
    """Remove every swarm entry matching ``node_ref``; returns the removed node IDs.

    Only Down entries are removed unless ``force``: removing a live node stops its containers
    at once (a student's running server). Managers are always refused. Nothing to remove is
    not an error, so a retried or repeated removal converges.
    """
    log = run_logger(__name__)
    with docker_client(docker_host) as client:
        matches = select_node(client.api.nodes(), node_ref)
        for attrs in matches:
            hostname = attrs.get("Description", {}).get("Hostname", "?")
            if attrs["Spec"].get("Role") == "manager":
                raise NodeNotRemovableError(f"node {hostname} ({node_ref}) is a manager")
            state = attrs.get("Status", {}).get("State")
            if state != "down" and not force:
                raise NodeNotRemovableError(
                    f"node {hostname} ({node_ref}) is {state}, not down: stop its daemon first "
                    "or remove it with force"
                )
        removed = []
        for attrs in matches:
            try:
                client.api.remove_node(attrs["ID"], force=force)
            except docker.errors.NotFound:
                continue
            removed.append(str(attrs["ID"]))
    log.info("removed swarm node(s) %s for %s", removed or "none", node_ref)
    return removed
