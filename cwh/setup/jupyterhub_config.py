"""Render ``jupyterhub_config.d/lc_wrapper.py``: tell student kernels where fluentd listens.

lc_wrapper reads ``lc_wrapper_fluentd_host``/``_port``/``_tag`` from the single-user server's
environment, which JupyterHub fills from ``Spawner.environment``. This file *updates* that
trait rather than assigning a new dict, which would wipe every variable other config files
set: ``c.Spawner.environment.update({...})`` works whether or not an earlier file set the
trait (traitlets then records a lazy update it merges into the final value), and keys set
elsewhere survive.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from cwh.setup.fluentd_config import fluentd_port_problem, is_fluentd_tag

HOST_KEY = "lc_wrapper_fluentd_host"
PORT_KEY = "lc_wrapper_fluentd_port"
TAG_KEY = "lc_wrapper_fluentd_tag"
_SECTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class JupyterHubConfigError(ValueError):
    """The settings would give student kernels an unusable fluentd destination."""


@dataclass(frozen=True)
class LcWrapperEnvironment:
    fluentd_host: str
    fluentd_port: int
    fluentd_tag: str
    spawner_section: str = "Spawner"

    def validate(self) -> None:
        try:
            address = ipaddress.ip_address(self.fluentd_host)
        except ValueError:
            if not _HOSTNAME_RE.match(self.fluentd_host):
                raise JupyterHubConfigError(
                    f"fluentd host {self.fluentd_host!r} is neither an IP address nor a host name"
                ) from None
        else:
            if address.is_unspecified or address.is_loopback:
                raise JupyterHubConfigError(
                    f"fluentd host {self.fluentd_host} is not reachable from student "
                    "containers; use the manager's private address"
                )
        port_problem = fluentd_port_problem(self.fluentd_port)
        if port_problem is not None:
            raise JupyterHubConfigError(port_problem)
        if not is_fluentd_tag(self.fluentd_tag):
            raise JupyterHubConfigError(f"fluentd tag {self.fluentd_tag!r} is not a valid tag")
        if not _SECTION_RE.match(self.spawner_section):
            raise JupyterHubConfigError(
                f"spawner section {self.spawner_section!r} is not a Python class name"
            )

    def as_environment(self) -> dict[str, str]:
        """The variables exactly as the spawner passes them (environment values are strings)."""
        return {
            HOST_KEY: self.fluentd_host,
            PORT_KEY: str(self.fluentd_port),
            TAG_KEY: self.fluentd_tag,
        }


def render_lc_wrapper_py(settings: LcWrapperEnvironment) -> str:
    """The config file text. Values are JSON string literals, which are valid Python and
    cannot break out of the dict."""
    settings.validate()
    entries = "".join(
        f"        {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n"
        for key, value in settings.as_environment().items()
    )
    return (
        "# Managed by the setup-logging flow of cwh-flows; the next run replaces manual edits.\n"
        "# Tells the lc_wrapper kernel where to forward execution logs. Updates the spawner\n"
        "# environment in place so variables set by other files are kept.\n"
        f"c.{settings.spawner_section}.environment.update(\n"
        "    {\n"
        f"{entries}"
        "    }\n"
        ")\n"
    )
