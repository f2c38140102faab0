"""Flow ``configure-culling``: idle-server culling settings on the JupyterHub swarm service.

The CoursewareHub hub image starts ``jupyterhub-idle-culler`` from four environment variables
of its service (``CULL_SERVER`` = ``yes``/``no`` and three durations in seconds). The reference
renders them into a compose file and redeploys the whole stack; here they are validated first
(nothing is touched when any value is wrong) and merged into the service's environment, leaving
every other variable as it is. When the service already has these values nothing is sent, so
the hub is not restarted needlessly; otherwise the hub's task is rolled and the flow returns
once it runs with the new settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from cwh.defaults import DEFAULT_DOCKER_HOST
from tasks.swarm import update_service_env

DEFAULT_SERVICE = "coursewarehub_jupyterhub"
_MAX_SECONDS = 2**31 - 1
_SWITCH_ON = frozenset({"yes", "1", "true"})
_SWITCH_OFF = frozenset({"no", "0", "false"})
_DIGITS = re.compile(r"^[0-9]+$")


class CullingConfigError(ValueError):
    """One or more culling settings are invalid; the message lists every problem."""


@dataclass(frozen=True)
class CullingSettings:
    enabled: bool
    idle_timeout: int
    max_age: int
    every: int

    def as_env(self) -> dict[str, str]:
        """The variables as the hub image reads them (it recognises ``yes``, not ``true``)."""
        return {
            "CULL_SERVER": "yes" if self.enabled else "no",
            "CULL_SERVER_IDLE_TIMEOUT": str(self.idle_timeout),
            "CULL_SERVER_MAX_AGE": str(self.max_age),
            "CULL_SERVER_EVERY": str(self.every),
        }


def _parse_switch(value: object, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _SWITCH_ON:
            return True
        if word in _SWITCH_OFF:
            return False
    problems.append(f"CULL_SERVER must be one of yes/no/1/0/true/false, got {value!r}")
    return False


def _parse_seconds(name: str, value: object, problems: list[str]) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.match(value.strip()):
        number = int(value.strip())
    if number is None or number < 0:
        problems.append(f"{name} must be a non-negative whole number of seconds, got {value!r}")
        return 0
    if number > _MAX_SECONDS:
        problems.append(f"{name} must be at most {_MAX_SECONDS} seconds, got {value!r}")
        return 0
    return number


def parse_culling_settings(
    cull_server: object, idle_timeout: object = 600, max_age: object = 0, every: object = 0
) -> CullingSettings:
    """Validate all four settings together and report every problem at once."""
    problems: list[str] = []
    settings = CullingSettings(
        enabled=_parse_switch(cull_server, problems),
        idle_timeout=_parse_seconds("CULL_SERVER_IDLE_TIMEOUT", idle_timeout, problems),
        max_age=_parse_seconds("CULL_SERVER_MAX_AGE", max_age, problems),
        every=_parse_seconds("CULL_SERVER_EVERY", every, problems),
    )
    if not problems and settings.enabled and settings.idle_timeout == 0:
        problems.append(
            "CULL_SERVER_IDLE_TIMEOUT must be greater than 0 when culling is on "
            "(0 would stop every server at once)"
        )
    if problems:
        raise CullingConfigError("invalid culling settings: " + "; ".join(problems))
    return settings


def culling_report(service: str, settings: CullingSettings, changed: bool) -> str:
    """The markdown published as the run's artifact."""
    outcome = (
        f"Service `{service}` updated; its tasks were restarted with the new settings."
        if changed
        else f"Service `{service}` already had these settings; it was not updated."
    )
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in settings.as_env().items())
    return f"# Idle-server culling\n\n{outcome}\n\n| variable | value |\n|---|---|\n{rows}\n"


@flow(name="configure-culling", log_prints=False)
def configure_culling(
    cull_server: str | bool | int = "no",
    idle_timeout: int | str = 600,
    max_age: int | str = 0,
    every: int | str = 0,
    service: str = DEFAULT_SERVICE,
    docker_host: str = DEFAULT_DOCKER_HOST,
    docker_host_block: str | None = None,
    wait_timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Apply culling settings to the JupyterHub service; returns what was set and whether
    the service changed.

    ``docker_host_block`` names a saved ``DockerHost`` block to use instead of the
    ``docker_host`` URL (for a manager reached over ssh or TLS).
    """
    settings = parse_culling_settings(cull_server, idle_timeout, max_age, every)
    target: Any = docker_host
    if docker_host_block is not None:
        from prefect_docker import DockerHost  # type: ignore[import-untyped]

        target = DockerHost.load(docker_host_block)
    env = settings.as_env()
    changed = update_service_env(target, service, env, wait=True, timeout=wait_timeout_s)
    create_markdown_artifact(
        key="configure-culling",
        markdown=culling_report(service, settings, changed),
        description=f"culling settings of {service}",
    )
    return {"service": service, "changed": changed, "env": env}
