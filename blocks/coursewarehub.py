"""Block ``CoursewareHub``: the inventory of one CoursewareHub installation.

Everything the setup flow needs to know about the hub lives here, editable in the Prefect UI:
how to reach its Docker Swarm manager (a composed ``prefect_docker.DockerHost``, ``unix://`` or
``ssh://user@host``), where its files are, and how fluentd on the manager is wired. Paths are
paths on the manager, where the flows' worker runs. Defaults fit a standard installation.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from prefect.blocks.core import Block
from prefect_docker import DockerHost  # type: ignore[import-untyped]
from pydantic import ConfigDict, Field, SecretStr, field_validator

from cwh.defaults import MIN_PSEUDONYM_KEY_BYTES
from cwh.enrich import DEFAULT_JSONPATHS
from cwh.setup import DEFAULT_DELIVERY_STATE_DIR, DEFAULT_ENRICH_LOG, redact_url

_TAG_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PATH_FIELDS = (
    "jupyterhub_config_dir",
    "textbook_dir",
    "homes_dir",
    "passwd_path",
    "meme_index_path",
    "fluentd_config_path",
    "fluentd_env_file",
    "fluentd_systemd_dropin",
    "fluentd_buffer_dir",
)


class CoursewareHub(Block):
    """A CoursewareHub installation: Docker host, JupyterHub service, files and fluentd."""

    # Validation errors must not echo field values: some of them are secrets.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "CoursewareHub"
    _block_type_slug = "coursewarehub"
    _description = (
        "One CoursewareHub installation: its swarm manager, JupyterHub service, textbook and "
        "home directories, and the fluentd that collects lc_wrapper logs."
    )

    manager_address: str = Field(
        description="Private IP address of the manager: fluentd listens on it and student "
        "kernels send their logs to it.",
    )
    docker: DockerHost = Field(
        default_factory=DockerHost,
        description="Docker host of the swarm manager (unix:// or ssh://user@host).",
    )
    stack_name: str = Field(default="coursewarehub", description="Docker stack of the hub.")
    jupyterhub_service: str = Field(default="coursewarehub_jupyterhub", title="JupyterHub service")
    jupyterhub_config_dir: str = Field(
        default="/etc/jupyterhub/jupyterhub_config.d",
        title="JupyterHub config.d directory",
        description="Directory of the extra config files the hub loads at start.",
    )
    spawner_section: str = Field(
        default="Spawner",
        description="Config section whose environment reaches the kernels (Spawner, or the "
        "spawner class if its environment is configured by class name).",
    )
    textbook_dir: str = Field(default="/jupyter/admin/textbook")
    homes_dir: str = Field(default="/jupyter/users", description="Users' homes on the manager.")
    home_prefix: str = Field(default="/home", description="Home root inside user containers.")
    passwd_path: str = Field(default="/etc/passwd", description="passwd file mapping uid to user.")
    meme_index_path: str = Field(default="/var/lib/lc-wrapper/meme.csv", title="MEME index path")
    qlabel_pattern: str | None = Field(
        default=None,
        title="qlabel pattern",
        description=r"Regular expression of question labels, e.g. 問\s*\d+-\d+.",
    )
    fluentd_config_path: str = Field(default="/etc/fluentd/config.d/lc_wrapper.conf")
    fluentd_env_file: str = Field(
        default="/etc/fluentd/cwh-lc-wrapper.env",
        description="Environment file (mode 0600) holding the Elasticsearch secret.",
    )
    fluentd_systemd_dropin: str | None = Field(
        default="/etc/systemd/system/fluentd.service.d/cwh-lc-wrapper.conf",
        title="fluentd systemd drop-in",
        description="Unit drop-in loading the environment file; empty if fluentd gets it "
        "another way.",
    )
    fluentd_buffer_dir: str = Field(
        default="/var/lib/fluentd/buffer/cwh-lc-wrapper",
        description="File buffers (records survive restarts and Elasticsearch outages).",
    )
    enrich_log_file: str = Field(
        default=DEFAULT_ENRICH_LOG,
        title="Delivery log file",
        description="Log of the `cwh enrich` delivery fluentd runs (fluentd keeps only its "
        "warnings).",
    )
    enrich_state_dir: str = Field(
        default=DEFAULT_DELIVERY_STATE_DIR,
        title="Delivery state directory",
        description="Running totals for health checks, and any document even the "
        "dead-letter index refused.",
    )
    fluentd_port: int = Field(default=24224, ge=1, le=65535)
    fluentd_tag: str = Field(default="cwh.lc_wrapper")
    fluentd_binary: str = Field(
        default="fluentd", description="fluentd executable used for `--dry-run` checks."
    )
    fluentd_reload_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "reload", "fluentd"],
        description="Makes fluentd re-read its configuration.",
    )
    fluentd_restart_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "restart", "fluentd"],
        description="Restarts fluentd (needed when its environment file changes).",
    )
    systemd_reload_command: list[str] = Field(
        default_factory=lambda: ["systemctl", "daemon-reload"],
        description="Run after the systemd drop-in changed.",
    )
    result_jsonpaths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_JSONPATHS),
        title="Result JSONPaths",
        description="JSONPaths giving result_text from a result (first match wins).",
    )
    log_zones: list[str] = Field(
        default_factory=list,
        description="Extra time-zone abbreviations of kernel logs, as ABBR=+HH:MM.",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description=f"Secret key (at least {MIN_PSEUDONYM_KEY_BYTES} bytes) of the keyed "
        "pseudonyms that replace student names in research exports (cwh report --pseudonymize). "
        "Keep it: a new key gives every student a new pseudonym.",
    )
    hub_api_url: str | None = Field(
        default=None,
        title="JupyterHub API URL",
        description="The hub's REST API as the flows' worker reaches it, e.g. "
        "http://127.0.0.1:8081/hub/api. Needed only when a timetable sets force_idle_after.",
    )
    hub_api_token: SecretStr | None = Field(
        default=None,
        title="JupyterHub API token",
        description="Token of a JupyterHub service allowed list:users, read:users:name, "
        "read:users:activity, read:servers, admin:server_state and servers.",
    )
    language: Literal["ja", "en"] = Field(
        default="en",
        description="Language of reports, artifacts and operator messages: ja (日本語) or "
        "en (English).",
    )

    @field_validator("manager_address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            raise ValueError(f"manager address {value!r} must be an IP address") from None
        if address.is_unspecified or address.is_loopback:
            raise ValueError(
                f"manager address {value} is not reachable from student containers; "
                "use the manager's private address"
            )
        return str(address)

    @field_validator("pseudonym_key")
    @classmethod
    def _check_pseudonym_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value().encode("utf-8")) < MIN_PSEUDONYM_KEY_BYTES:
            minimum = MIN_PSEUDONYM_KEY_BYTES
            raise ValueError(f"the pseudonym key must be at least {minimum} bytes long")
        return value

    @field_validator("hub_api_url")
    @classmethod
    def _check_api_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"JupyterHub API URL {redact_url(value)!r} must start with http(s)://")
        return value

    @field_validator("fluentd_tag")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        if not _TAG_RE.match(value):
            raise ValueError(f"fluentd tag {value!r} must be dot-separated words of [A-Za-z0-9_-]")
        return value

    @field_validator("stack_name", "jupyterhub_service")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a Docker stack or service name")
        return value

    @field_validator(*_PATH_FIELDS)
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith("/"):
            raise ValueError(f"{value!r} must be an absolute path")
        return value

    @field_validator("fluentd_reload_command", "fluentd_restart_command", "systemd_reload_command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if not value or not value[0]:
            raise ValueError("a command needs at least the program name")
        return value

    @property
    def docker_url(self) -> str:
        """How reports name the Docker host."""
        return redact_url(self.docker.base_url or "the environment's DOCKER_HOST")

    def docker_target(self) -> DockerHost:
        """The Docker host, using the ssh client for ``ssh://`` URLs (no paramiko needed)."""
        base_url = self.docker.base_url or ""
        if base_url.startswith("ssh://") and "use_ssh_client" not in self.docker.client_kwargs:
            return self.docker.model_copy(
                update={"client_kwargs": {**self.docker.client_kwargs, "use_ssh_client": True}}
            )
        return self.docker
