"""Idle-server culling settings of the JupyterHub swarm service.

The CoursewareHub hub image starts ``jupyterhub-idle-culler`` from four environment variables
of its service (``CULL_SERVER`` = ``yes``/``no`` and three durations in seconds). They are
validated together, every problem reported at once, before anything is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

from cwh.messages import Language, text

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


def culling_report(
    service: str, settings: CullingSettings, changed: bool, language: Language = "en"
) -> str:
    """The markdown published as the run's artifact, in ``language`` (``culling.*``)."""
    outcome = text("culling.updated" if changed else "culling.unchanged", language, service=service)
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in settings.as_env().items())
    variable, value = (
        text("culling.column.variable", language),
        text("culling.column.value", language),
    )
    return (
        f"# {text('culling.title', language)}\n\n{outcome}\n\n"
        f"| {variable} | {value} |\n|---|---|\n{rows}\n"
    )


class CullingApplied(TypedDict):
    """What ``configure-culling`` set on the service, and whether the service changed."""

    service: str
    changed: bool
    env: dict[str, str]
