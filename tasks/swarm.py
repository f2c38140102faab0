"""Prefect tasks that observe and change a Docker Swarm through the docker SDK.

The reconcile and culling flows call these; ``cwh`` commands call the same functions outside a
flow run (logging then goes to the standard ``logging`` tree). Decisions that do not need a
daemon — reading a node's description, counting user-server tasks, merging an environment — are
small pure functions so they can be tested without Docker or Prefect.

Two docker SDK traps shape the code here (both reproduced in the swarm test lab):

* node and service updates must carry the *current* version index and a *complete* spec, so
  every update re-reads the object and retries when another writer got in between;
* the SDK's ``Service.update`` re-sends the spec with server defaults inserted, which restarts
  every task even for a change that should not; services are therefore updated with the raw
  spec as stored, changing only the field we mean to change.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
from prefect import task
from prefect.client.schemas.objects import State, TaskRun
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect_docker import DockerHost  # type: ignore[import-untyped]

AVAILABILITIES = frozenset({"active", "pause", "drain"})
# Task states in which a container exists or is about to: a node with such a task is busy.
ACTIVE_TASK_STATES = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
)
DEFAULT_USER_SERVICE_PREFIX = "jupyter-"
_FAILED_UPDATE_STATES = frozenset(
    {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
)
_UPDATE_ATTEMPTS = 5
_UNSPECIFIED_ADDRESSES = frozenset({"", "0.0.0.0", "127.0.0.1"})

DockerTarget: TypeAlias = DockerHost | str


class SwarmError(RuntimeError):
    """A problem retrying will not fix: wrong name, ambiguous node, refused operation."""


class NodeNotFoundError(SwarmError):
    pass


class AmbiguousNodeError(SwarmError):
    pass


class NodeNotRemovableError(SwarmError):
    pass


class ServiceNotFoundError(SwarmError):
    pass


class RolloutError(SwarmError):
    """A service update did not converge (rolled back, paused or timed out)."""


# --------------------------------------------------------------------- pure logic


@dataclass(frozen=True)
class NodeObservation:
    """What the reconcile planner needs to know about one swarm node."""

    node_id: str
    hostname: str
    address: str
    role: str
    availability: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    leader: bool = False
    user_tasks: tuple[str, ...] = ()

    @property
    def running_user_tasks(self) -> int:
        return len(self.user_tasks)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = dict(self.labels)
        data["user_tasks"] = list(self.user_tasks)
        return data


def node_address(attrs: Mapping[str, Any]) -> str:
    """The node's swarm address.

    ``Status.Addr`` is the address the manager sees; on a manager it can read ``0.0.0.0`` or
    ``127.0.0.1``, and its advertised ``ManagerStatus.Addr`` (``ip:2377``) is the real one.
    """
    address = str(attrs.get("Status", {}).get("Addr") or "")
    manager_addr = str(attrs.get("ManagerStatus", {}).get("Addr") or "")
    if address in _UNSPECIFIED_ADDRESSES and manager_addr:
        return manager_addr.rsplit(":", 1)[0]
    return address


def parse_node(attrs: Mapping[str, Any], user_tasks: Sequence[str] = ()) -> NodeObservation:
    """Turn a node's API description into a :class:`NodeObservation`."""
    spec = attrs.get("Spec", {})
    return NodeObservation(
        node_id=str(attrs["ID"]),
        hostname=str(attrs.get("Description", {}).get("Hostname", "")),
        address=node_address(attrs),
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str(attrs.get("Status", {}).get("State", "")),
        labels=dict(spec.get("Labels") or {}),
        leader=bool(attrs.get("ManagerStatus", {}).get("Leader", False)),
        user_tasks=tuple(sorted(user_tasks)),
    )


def user_tasks_by_node(
    tasks: Iterable[Mapping[str, Any]],
    service_names: Mapping[str, str],
    is_user_service: Callable[[str], bool],
) -> dict[str, list[str]]:
    """Node ID -> names of the user-server services with a live task on that node.

    A task counts while it is meant to run and its container exists or is being made; tasks
    being shut down do not keep a node busy once their container is gone.
    """
    found: dict[str, list[str]] = {}
    for item in tasks:
        node_id = item.get("NodeID")
        name = service_names.get(str(item.get("ServiceID", "")), "")
        if not node_id or not is_user_service(name):
            continue
        if item.get("DesiredState") != "running":
            continue
        if item.get("Status", {}).get("State") not in ACTIVE_TASK_STATES:
            continue
        found.setdefault(str(node_id), []).append(name)
    return found


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


def env_to_dict(env: Iterable[str]) -> dict[str, str | None]:
    """``KEY=VALUE`` entries to a dict (later entries win; a bare ``KEY`` maps to None)."""
    result: dict[str, str | None] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        result[key] = value if sep else None
    return result


def validate_env(env: Mapping[str, str]) -> None:
    """Refuse names and values the Docker API would mangle or reject."""
    problems = []
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            problems.append(f"invalid variable name {key!r}")
        if not isinstance(value, str):
            problems.append(f"value of {key!r} must be a string, got {type(value).__name__}")
        elif "\0" in value:
            problems.append(f"value of {key!r} contains a NUL byte")
    if problems:
        raise ValueError("environment update refused: " + "; ".join(problems))


def merge_env(current: Sequence[str], updates: Mapping[str, str]) -> list[str] | None:
    """The service environment with ``updates`` applied, or None when nothing would change.

    Entries for other variables keep their text and order. An updated variable keeps the
    position of its first entry; its later duplicates (ignored by Docker anyway, the last
    one wins) are dropped. New variables are appended in the order given.
    """
    validate_env(updates)
    effective = env_to_dict(current)
    if all(key in effective and effective[key] == value for key, value in updates.items()):
        return None
    merged: list[str] = []
    placed: set[str] = set()
    for entry in current:
        key = entry.partition("=")[0]
        if key not in updates:
            merged.append(entry)
        elif key not in placed:
            merged.append(f"{key}={updates[key]}")
            placed.add(key)
    merged.extend(f"{key}={value}" for key, value in updates.items() if key not in placed)
    return merged


def rollout_progress(
    service: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], old_task_ids: Iterable[str]
) -> tuple[bool, str]:
    """Whether a service update has converged, and what is still missing.

    Converged: the update is not in progress, every task meant to run is running and none of
    them is one of the tasks that ran before the update, and (for a replicated service) as
    many run as there are replicas. A rolled-back or paused update raises :class:`RolloutError`.
    """
    update = service.get("UpdateStatus") or {}
    update_state = update.get("State")
    if update_state in _FAILED_UPDATE_STATES:
        message = update.get("Message", "")
        raise RolloutError(f"update of service {service['Spec']['Name']} {update_state}: {message}")
    old = set(old_task_ids)
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    replicas = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas")
    running = [t for t in wanted if t.get("Status", {}).get("State") == "running"]
    stale = [t for t in running if t.get("ID") in old]
    if update_state not in (None, "completed"):
        return False, f"update {update_state}"
    if stale:
        return False, f"{len(stale)} task(s) from before the update still running"
    if len(running) < len(wanted):
        return False, f"{len(running)} of {len(wanted)} task(s) running"
    if replicas is not None and len(running) != replicas:
        return False, f"{len(running)} of {replicas} replica(s) running"
    return True, "converged"


@dataclass(frozen=True)
class ServiceRollout:
    """The outcome of a service restart or update: what ran before, what runs now, how long."""

    service: str
    version_before: int
    version_after: int
    tasks_before: tuple[str, ...]
    tasks_after: tuple[str, ...]
    seconds: float


# --------------------------------------------------------------------- plumbing


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run logger inside a flow or task run, the module logger elsewhere (CLI use)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def retry_unless_permanent(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry daemon hiccups (connection errors, API 5xx); never a :class:`SwarmError`."""
    try:
        state.result()
    except SwarmError:
        return False
    except Exception:
        return True
    return True


@contextmanager
def docker_client(target: DockerTarget, timeout: int = 60) -> Iterator[Any]:
    """A docker SDK client for a :class:`prefect_docker.DockerHost` block or a URL."""
    if isinstance(target, DockerHost):
        client = target.get_client()
    else:
        # ssh:// hosts go through the ssh command-line client (as the CoursewareHub block
        # does) so that no paramiko dependency and no separate key handling is needed.
        client = docker.DockerClient(
            base_url=target, timeout=timeout, use_ssh_client=target.startswith("ssh://")
        )
    try:
        yield client
    finally:
        client.close()


def _describe(target: DockerTarget) -> str:
    if isinstance(target, DockerHost):
        return target.base_url or "the environment's Docker host"
    return target


def _is_out_of_sequence(exc: docker.errors.APIError) -> bool:
    return "out of sequence" in str(exc.explanation or exc)


def _update_node(client: Any, ref: str, change: Callable[[dict[str, Any]], bool]) -> bool:
    """Apply ``change`` to the node's current spec; False when it reports nothing to change."""
    for _ in range(_UPDATE_ATTEMPTS):
        attrs = single_node(client.api.nodes(), ref)
        spec = copy.deepcopy(attrs["Spec"])
        if not change(spec):
            return False
        try:
            client.api.update_node(attrs["ID"], attrs["Version"]["Index"], spec)
            return True
        except docker.errors.APIError as exc:
            if not _is_out_of_sequence(exc):
                raise
    raise SwarmError(f"node {ref!r} kept changing under us; gave up after {_UPDATE_ATTEMPTS} tries")


def _inspect_service(client: Any, name: str) -> dict[str, Any]:
    try:
        service: dict[str, Any] = client.api.inspect_service(name)
    except docker.errors.NotFound:
        raise ServiceNotFoundError(f"no swarm service named {name!r}") from None
    return service


def _service_task_ids(client: Any, service_id: str) -> tuple[str, ...]:
    tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
    return tuple(sorted(str(t["ID"]) for t in tasks))


def _update_service(client: Any, name: str, change: Callable[[dict[str, Any]], bool]) -> bool:
    """Send the stored spec back with ``change`` applied and nothing else (no inserted defaults)."""
    for _ in range(_UPDATE_ATTEMPTS):
        current = _inspect_service(client, name)
        spec = copy.deepcopy(current["Spec"])
        if not change(spec):
            return False
        try:
            client.api.update_service(
                current["ID"],
                current["Version"]["Index"],
                name=spec["Name"],
                task_template=spec["TaskTemplate"],
                labels=spec.get("Labels"),
                mode=spec.get("Mode"),
                update_config=spec.get("UpdateConfig"),
                rollback_config=spec.get("RollbackConfig"),
                networks=spec.get("Networks"),
                endpoint_spec=spec.get("EndpointSpec"),
            )
            return True
        except docker.errors.APIError as exc:
            if not _is_out_of_sequence(exc):
                raise
    raise SwarmError(f"service {name!r} kept changing under us; gave up after {_UPDATE_ATTEMPTS}")


def _wait_rollout(
    client: Any, name: str, old_task_ids: Sequence[str], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = "not checked"
    while True:
        service = _inspect_service(client, name)
        tasks = client.api.tasks(filters={"service": service["ID"]})
        done, status = rollout_progress(service, tasks, old_task_ids)
        if done:
            return service
        if time.monotonic() >= deadline:
            raise RolloutError(
                f"service {name!r} did not converge within {timeout:.0f} s: {status}"
            )
        time.sleep(0.25)


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
    retries=3,
    retry_delay_seconds=2,
    timeout_seconds=120,
    retry_condition_fn=retry_unless_permanent,
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
    _logger().info(
        "observed %d node(s) on %s: %s",
        len(observed),
        _describe(docker_host),
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
    retries=3,
    retry_delay_seconds=2,
    timeout_seconds=60,
    retry_condition_fn=retry_unless_permanent,
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

    with docker_client(docker_host) as client:
        changed = _update_node(client, node_ref, change)
    _logger().info(
        "node %s availability %s", node_ref, f"set to {availability}" if changed else "unchanged"
    )
    return changed


@task(
    name="label-swarm-node",
    task_run_name="label-node-{node_ref}",
    retries=3,
    retry_delay_seconds=2,
    timeout_seconds=60,
    retry_condition_fn=retry_unless_permanent,
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

    with docker_client(docker_host) as client:
        changed = _update_node(client, node_ref, change)
    _logger().info("node %s labels %s", node_ref, "updated" if changed else "unchanged")
    return changed


@task(
    name="join-swarm-worker",
    task_run_name="join-worker-{advertise_addr}",
    retries=2,
    retry_delay_seconds=5,
    timeout_seconds=300,
    retry_condition_fn=retry_unless_permanent,
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
    log = _logger()
    with (
        docker_client(manager) as mgr,
        docker_client(node_docker_url) as node,
    ):
        mgr_swarm = mgr.info()["Swarm"]
        if not mgr_swarm.get("ControlAvailable"):
            raise SwarmError(f"{_describe(manager)} is not a swarm manager")
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
    retries=3,
    retry_delay_seconds=2,
    timeout_seconds=60,
    retry_condition_fn=retry_unless_permanent,
)
def remove_node(docker_host: DockerTarget, node_ref: str, force: bool = False) -> list[str]:
    """Remove every swarm entry matching ``node_ref``; returns the removed node IDs.

    Only Down entries are removed unless ``force``: removing a live node stops its containers
    at once (a student's running server). Managers are always refused. Nothing to remove is
    not an error, so a retried or repeated removal converges.
    """
    log = _logger()
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


@task(
    name="restart-swarm-service",
    task_run_name="restart-service-{name}",
    timeout_seconds=600,
)
def restart_service(docker_host: DockerTarget, name: str, timeout: float = 180.0) -> ServiceRollout:
    """Restart every task of a service (``docker service update --force``) and wait for it.

    Returns once the service runs only new tasks (new IDs, new service version) and swarm
    reports the update completed. Completion comes after the service's update monitor period
    (5 s by default) in which swarm watches the new task and would roll back a failing one, so
    "running again" is only trusted once a rollback can no longer happen. Not retried
    automatically: a retry would restart the service a second time.
    """
    started = time.monotonic()
    with docker_client(docker_host) as client:
        before = _inspect_service(client, name)
        old_tasks = _service_task_ids(client, before["ID"])

        def force(spec: dict[str, Any]) -> bool:
            template = spec["TaskTemplate"]
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
            return True

        _update_service(client, name, force)
        after = _wait_rollout(client, name, old_tasks, timeout)
        new_tasks = _service_task_ids(client, after["ID"])
    rollout = ServiceRollout(
        service=name,
        version_before=int(before["Version"]["Index"]),
        version_after=int(after["Version"]["Index"]),
        tasks_before=old_tasks,
        tasks_after=new_tasks,
        seconds=round(time.monotonic() - started, 3),
    )
    _logger().info("service %s restarted in %.1f s", name, rollout.seconds)
    return rollout


@task(
    name="update-service-env",
    task_run_name="update-service-env-{name}",
    retries=2,
    retry_delay_seconds=5,
    timeout_seconds=600,
    retry_condition_fn=retry_unless_permanent,
)
def update_service_env(
    docker_host: DockerTarget,
    name: str,
    env: Mapping[str, str],
    wait: bool = True,
    timeout: float = 180.0,
) -> bool:
    """Set variables in a service's container environment; other entries are untouched.

    No update is sent (and nothing restarts) when every variable already has its value:
    returns False then. Otherwise the service rolls its tasks and, with ``wait``, this returns
    True once they run with the new environment. Values are not logged (they may be secret).
    """
    validate_env(env)
    log = _logger()
    with docker_client(docker_host) as client:
        current = _inspect_service(client, name)
        old_tasks = _service_task_ids(client, current["ID"])
        changed_keys: list[str] = []

        def change(spec: dict[str, Any]) -> bool:
            container = spec["TaskTemplate"].setdefault("ContainerSpec", {})
            existing = list(container.get("Env") or [])
            merged = merge_env(existing, env)
            if merged is None:
                return False
            before = env_to_dict(existing)
            changed_keys[:] = [k for k, v in env.items() if k not in before or before[k] != v]
            container["Env"] = merged
            return True

        if not _update_service(client, name, change):
            log.info("service %s already has %s; not updated", name, ", ".join(sorted(env)))
            return False
        log.info("service %s: set %s", name, ", ".join(changed_keys))
        if wait:
            _wait_rollout(client, name, old_tasks, timeout)
            log.info("service %s runs with the new environment", name)
    return True
