"""Prefect tasks for JupyterHub: the lc_wrapper config file and the hub restart.

The hub reads ``jupyterhub_config.d`` only when it starts, so a changed file needs a restart
of the hub's swarm service; the restart itself is :func:`tasks.swarm.restart_service`, which
waits until a new task runs. A restart is also due when the file is older than nothing but
newer than the running hub task (a previous run wrote it and then failed before restarting),
and only then: an unchanged setup never bounces the hub students log in through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task

from blocks.coursewarehub import CoursewareHub
from cwh.atomic_write import write_text_atomic
from cwh.messages import Language
from cwh.messages import text as message
from cwh.setup import LcWrapperEnvironment, render_lc_wrapper_py, unified_diff
from tasks.common import retrying, run_logger
from tasks.swarm import ServiceNotFoundError, docker_client

CONFIG_FILE_NAME = "lc_wrapper.py"


@dataclass(frozen=True)
class JupyterHubPlan:
    path: str
    text: str
    exists: bool
    changed: bool
    restart: bool
    reason: str
    diff: str = ""

    def describe(self, language: Language = "en") -> list[str]:
        if self.changed:
            key = "setup.jupyterhub.replace" if self.exists else "setup.jupyterhub.create"
        else:
            key = "setup.jupyterhub.unchanged"
        restart = "setup.jupyterhub.restart" if self.restart else "setup.jupyterhub.no_restart"
        return [
            message(key, language, path=self.path),
            message(restart, language, reason=self.reason),
        ]


def config_path(hub: CoursewareHub) -> str:
    return str(Path(hub.jupyterhub_config_dir) / CONFIG_FILE_NAME)


def render_config(hub: CoursewareHub) -> str:
    return render_lc_wrapper_py(
        LcWrapperEnvironment(
            fluentd_host=hub.manager_address,
            fluentd_port=hub.fluentd_port,
            fluentd_tag=hub.fluentd_tag,
            spawner_section=hub.spawner_section,
        )
    )


def _parse_time(value: str) -> datetime:
    """Docker's RFC 3339 timestamps carry nanoseconds; Python parses microseconds."""
    text = value.rstrip("Z")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def running_task_started(hub: CoursewareHub) -> datetime | None:
    """When the hub's oldest running task started, or None when none runs."""
    with docker_client(hub.docker_target()) as client:
        try:
            service: dict[str, Any] = client.api.inspect_service(hub.jupyterhub_service)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                raise ServiceNotFoundError(
                    f"no swarm service named {hub.jupyterhub_service!r}"
                ) from None
            raise
        tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
    started = [
        _parse_time(str(t["Status"]["Timestamp"]))
        for t in tasks
        if t.get("Status", {}).get("State") == "running" and t["Status"].get("Timestamp")
    ]
    return min(started) if started else None


def plan_config(hub: CoursewareHub) -> JupyterHubPlan:
    path = config_path(hub)
    text = render_config(hub)
    try:
        current: str | None = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    changed = current != text
    diff = ""
    if changed:
        diff = unified_diff(path, current, text)
        restart, reason = True, "the config file changes"
    else:
        started = running_task_started(hub)
        written = datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
        if started is None:
            restart, reason = True, "no hub task is running"
        elif started < written:
            restart, reason = True, "the running hub started before the config file was written"
        else:
            restart, reason = False, "the running hub already loaded the file"
    return JupyterHubPlan(
        path=path,
        text=text,
        exists=current is not None,
        changed=changed,
        restart=restart,
        reason=reason,
        diff=diff,
    )


@task(name="plan-jupyterhub", **retrying(2, 3, condition=None))
def plan_jupyterhub(hub: CoursewareHub) -> JupyterHubPlan:
    plan = plan_config(hub)
    for line in plan.describe():
        run_logger(__name__).info("JupyterHub: %s", line)
    return plan


@task(name="write-jupyterhub-config", **retrying(2, 3, condition=None))
def write_jupyterhub_config(plan: JupyterHubPlan) -> bool:
    """Write the file atomically; True when its content changed."""
    changed = write_text_atomic(Path(plan.path), plan.text, mode=0o644)
    run_logger(__name__).info("JupyterHub: %s %s", "wrote" if changed else "kept", plan.path)
    return changed
