"""Block ``VCP worker unit``: where the reconcile flow creates, deletes and powers worker VMs.

The VCC access token is a :class:`pydantic.SecretStr` field of a block saved once (UI or
``.save()``): masked in the UI, in ``repr`` and in validation errors, and revealed only inside
:class:`tasks.vm_providers.VcpProvider` (built by :func:`tasks.vm_providers.vcp_provider`) at
the moment it is handed to the SDK.
"""

from __future__ import annotations

import re

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator

from cwh.defaults import DEFAULT_VCP_DOCKER_URL_TEMPLATE

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VcpWorkerUnit(Block):
    """A VCP unit group and the unit in it that holds the swarm's worker VMs."""

    # Validation errors must not echo field values: the token is one of them.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "VCP Worker Unit"
    _block_type_slug = "vcp-worker-unit"
    _description = (
        "The VCP unit whose VMs are the CoursewareHub swarm workers, and the VCC access "
        "token the reconcile-workers flow uses to create, delete and power them."
    )

    ugroup: str = Field(title="Unit group", description="VCP unit group of the CoursewareHub.")
    unit: str = Field(default="worker", description="Unit holding the worker VMs.")
    vcc_access_token: SecretStr = Field(
        title="VCC access token", description="Token of the VC controller (kept secret)."
    )
    config_dir: str | None = Field(
        default=None,
        title="SDK config directory",
        description="Directory with vcp_config.yml and vcp_flavor.yml; the SDK default if empty.",
    )
    supports_power: bool = Field(
        default=True,
        description="Whether this cloud can power VMs off and on (VCP: AWS and Azure only). "
        "Without it, use down_type: deleted in the timetable.",
    )
    docker_url_template: str = Field(
        default=DEFAULT_VCP_DOCKER_URL_TEMPLATE,
        title="Docker URL template",
        description="How the worker's Docker API is reached to join it to the swarm; {ip} is "
        "replaced by its address.",
    )

    @field_validator("ugroup", "unit")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a VCP unit group or unit name")
        return value

    @field_validator("vcc_access_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the VCC access token is empty")
        return value

    @field_validator("config_dir")
    @classmethod
    def _check_config_dir(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith("/"):
            raise ValueError(f"config directory {value!r} must be an absolute path")
        return value

    @field_validator("docker_url_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        try:
            rendered = value.format(ip="192.0.2.1")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"{value!r} may contain only the {{ip}} placeholder, e.g. ssh://vcp@{{ip}}"
            ) from None
        if "192.0.2.1" not in rendered:
            raise ValueError(f"{value!r} must contain {{ip}}, e.g. ssh://vcp@{{ip}}")
        return value
