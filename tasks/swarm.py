"""Prefect tasks on a Docker Swarm's services, and what every swarm task shares.

The docker SDK client for a manager (:func:`docker_client`), the swarm's errors, and the
service tasks: restart a service and wait for its new tasks, and merge variables into its
environment. Node tasks are in :mod:`tasks.swarm_nodes`. Decisions that do not need a
daemon (merging an environment, judging a rollout) are small pure functions, tested without
Docker or Prefect.

Two docker SDK traps shape the code here and in :mod:`tasks.swarm_nodes` (both reproduced in
the swarm test lab):

* node and service updates must carry the *current* version index and a *complete* spec, so
  every update re-reads the object and retries when another writer got in between;
* the SDK's ``Service.update`` re-sends the spec with server defaults inserted, which restarts
  every task even for a change that should not; services are therefore updated with the raw
  spec as stored, changing only the field we mean to change.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
from prefect import task
from prefect_docker import DockerHost  # type: ignore[import-untyped]

from cwh.setup import redact_url
from tasks.common import retry_unless_permanent, retrying, run_logger

_FAILED_UPDATE_STATES = frozenset(
    {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
)
UPDATE_ATTEMPTS = 5

DockerTarget: TypeAlias = DockerHost | str

__all__ = [
    "AmbiguousNodeError",
    "DockerTarget",
    "NodeNotFoundError",
    "NodeNotRemovableError",
    "RolloutError",
    "ServiceNotFoundError",
    "ServiceRollout",
    "SwarmError",
    "describe_target",
    "docker_client",
    "docker_target",
    "env_to_dict",
    "is_out_of_sequence",
    "merge_env",
    "restart_service",
    "retry_unless_permanent",
    "rollout_progress",
    "update_service_env",
    "validate_env",
]


class SwarmError(RuntimeError):
    """A problem retrying will not fix: wrong name, ambiguous node, refused operation."""

    permanent = True


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


def docker_target(docker_host: str, docker_host_block: str | None) -> DockerTarget:
    """The manager a flow talks to: a saved ``DockerHost`` block when named, else the URL."""
    if docker_host_block is None:
        return docker_host
    from blocks.loading import load_block

    block: DockerTarget = load_block(DockerHost, docker_host_block)
    return block


def describe_target(target: DockerTarget) -> str:
    """The manager as logs and errors name it."""
    if isinstance(target, DockerHost):
        return redact_url(target.base_url or "the environment's Docker host")
    return redact_url(target)


def is_out_of_sequence(exc: docker.errors.APIError) -> bool:
    return "out of sequence" in str(exc.explanation or exc)


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
    for _ in range(UPDATE_ATTEMPTS):
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
            if not is_out_of_sequence(exc):
                raise
    raise SwarmError(f"service {name!r} kept changing under us; gave up after {UPDATE_ATTEMPTS}")


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


# --------------------------------------------------------------------- tasks


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
    run_logger(__name__).info("service %s restarted in %.1f s", name, rollout.seconds)
    return rollout


@task(
    name="update-service-env",
    task_run_name="update-service-env-{name}",
    timeout_seconds=600,
    **retrying(2, 5),
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
    log = run_logger(__name__)
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
