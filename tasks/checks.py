"""Prefect tasks that check the CoursewareHub side before setup changes anything.

Every check either passes with a summary for the report or fails with one error that names
the endpoint and the cause; the flow runs all of them and changes nothing unless all pass.
The Elasticsearch and Kibana checks live with their systems (:mod:`tasks.elasticsearch_setup`,
:mod:`tasks.kibana`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import docker.errors  # type: ignore[import-untyped]
from prefect import task
from prefect.futures import PrefectFuture, wait

from blocks.coursewarehub import CoursewareHub
from cwh.messages import Language, text
from tasks.common import OutsideSystemError, retrying, run_logger
from tasks.swarm import docker_client

STACK_LABEL = "com.docker.stack.namespace"


class SetupCheckError(OutsideSystemError):
    """A precondition does not hold; ``permanent`` ones are not retried."""


class CheckSummary(Protocol):
    """What a passed check reports: one line for the setup report."""

    def report_line(self, language: Language = "en") -> str: ...


@dataclass(frozen=True)
class CheckResults:
    """The report line of every check (``ok ...`` or ``FAILED ...``) and the failures."""

    lines: list[str]
    failures: list[str]


def check_results(
    checks: Mapping[str, PrefectFuture[Any]], language: Language = "en"
) -> CheckResults:
    """Wait for every submitted check, then say how each went (the futures never raise)."""
    wait(list(checks.values()))
    lines: list[str] = []
    failures: list[str] = []
    for name, future in checks.items():
        value = future.result(raise_on_failure=False)
        if isinstance(value, BaseException):
            failures.append(f"{name}: {value}")
            lines.append(text("setup.check.failed", language, name=name, detail=value))
        else:
            summary: CheckSummary = value
            detail = summary.report_line(language)
            lines.append(text("setup.check.ok", language, name=name, detail=detail))
    return CheckResults(lines=lines, failures=failures)


@dataclass(frozen=True)
class ServiceState:
    name: str
    running: int
    wanted: int | None  # None for global services

    @property
    def converged(self) -> bool:
        return self.running >= 1 if self.wanted is None else self.running == self.wanted

    def describe(self, language: Language = "en") -> str:
        wanted = text("setup.check.global", language) if self.wanted is None else str(self.wanted)
        return f"{self.name} {self.running}/{wanted}"


@dataclass(frozen=True)
class DockerSummary:
    endpoint: str
    node: str
    services: tuple[ServiceState, ...]

    def report_line(self, language: Language = "en") -> str:
        services = ", ".join(s.describe(language) for s in self.services)
        return text(
            "setup.check.swarm", language, endpoint=self.endpoint, node=self.node, services=services
        )


@dataclass(frozen=True)
class FilesSummary:
    meme_index_present: bool
    checked: tuple[str, ...]

    def report_line(self, language: Language = "en") -> str:
        present = (
            "setup.check.index_present" if self.meme_index_present else "setup.check.index_missing"
        )
        return text("setup.check.files_found", language, index=text(present, language))


def _service_states(client: Any, hub: CoursewareHub) -> list[ServiceState]:
    services = [
        s
        for s in client.api.services()
        if s["Spec"].get("Labels", {}).get(STACK_LABEL) == hub.stack_name
        or s["Spec"]["Name"].startswith(f"{hub.stack_name}_")
        or s["Spec"]["Name"] == hub.jupyterhub_service
    ]
    states = []
    for service in sorted(services, key=lambda s: s["Spec"]["Name"]):
        tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
        running = sum(1 for t in tasks if t.get("Status", {}).get("State") == "running")
        replicated = service["Spec"].get("Mode", {}).get("Replicated")
        wanted = int(replicated.get("Replicas", 1)) if replicated is not None else None
        states.append(ServiceState(service["Spec"]["Name"], running, wanted))
    return states


def docker_summary(hub: CoursewareHub) -> DockerSummary:
    """The Docker host answers, is a swarm manager, and the hub's stack is running."""
    endpoint = f"Docker {hub.docker_url}"
    try:
        with docker_client(hub.docker_target()) as client:
            info = client.info()
            swarm = info.get("Swarm") or {}
            state = swarm.get("LocalNodeState", "inactive")
            if state != "active" or not swarm.get("ControlAvailable"):
                role = "a swarm worker" if state == "active" else f"not in a swarm ({state})"
                raise SetupCheckError(
                    endpoint, f"is not a swarm manager: this daemon is {role}", permanent=True
                )
            states = _service_states(client, hub)
    except docker.errors.DockerException as exc:
        raise SetupCheckError(endpoint, f"unreachable ({exc})", permanent=False) from None
    names = {s.name for s in states}
    if hub.jupyterhub_service not in names:
        raise SetupCheckError(
            endpoint,
            f"no service {hub.jupyterhub_service!r}: is the {hub.stack_name} stack deployed?",
        )
    lagging = [s.describe() for s in states if not s.converged]
    if lagging:
        raise SetupCheckError(
            endpoint,
            f"stack {hub.stack_name} is not fully running: {', '.join(lagging)}",
            permanent=False,
        )
    return DockerSummary(
        endpoint=hub.docker_url, node=str(info.get("Name", "")), services=tuple(states)
    )


def _need_dir(path: str, what: str, problems: list[str]) -> None:
    if not Path(path).is_dir():
        problems.append(f"{what} {path} is not a directory")


def files_summary(hub: CoursewareHub) -> FilesSummary:
    """The manager's directories exist; reports whether the MEME index is already there."""
    problems: list[str] = []
    _need_dir(hub.jupyterhub_config_dir, "JupyterHub config.d", problems)
    _need_dir(str(Path(hub.fluentd_config_path).parent), "fluentd config directory", problems)
    _need_dir(hub.homes_dir, "homes directory", problems)
    if not os.access(hub.passwd_path, os.R_OK):
        problems.append(f"passwd file {hub.passwd_path} is not readable")
    index = Path(hub.meme_index_path)
    present = index.is_file() and index.stat().st_size > 0
    if not present:
        _need_dir(hub.textbook_dir, "textbook directory (to build the missing index)", problems)
        _need_dir(str(index.parent), "MEME index directory", problems)
    if problems:
        raise SetupCheckError("manager files", "; ".join(problems))
    checked = (
        hub.jupyterhub_config_dir,
        str(Path(hub.fluentd_config_path).parent),
        hub.homes_dir,
        hub.passwd_path,
        hub.meme_index_path,
    )
    return FilesSummary(meme_index_present=present, checked=checked)


@task(name="check-docker-swarm", **retrying(2, 3))
def check_docker(hub: CoursewareHub) -> DockerSummary:
    summary = docker_summary(hub)
    run_logger(__name__).info(
        "Docker %s: swarm manager %s; %s",
        summary.endpoint,
        summary.node,
        ", ".join(s.describe() for s in summary.services),
    )
    return summary


@task(name="check-manager-files", **retrying(1, 3))
def check_files(hub: CoursewareHub) -> FilesSummary:
    summary = files_summary(hub)
    run_logger(__name__).info(
        "manager files present; MEME index %s",
        "present" if summary.meme_index_present else "missing (index-textbook will build it)",
    )
    return summary
