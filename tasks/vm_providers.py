"""Where worker machines come from: one interface, two kinds of machine.

The reconcile flow only ever talks to :class:`VmProvider`; which implementation stands behind
it is configuration:

* :class:`StaticProvider` — on-premises machines that always exist; only swarm availability
  changes, so creating, deleting and power control are refused with a clear reason;
* :class:`VcpProvider` — NII's VCP (cloud VMs in a unit of a unit group), through its SDK;
  :func:`vcp_provider` builds one from a saved :class:`blocks.vcp.VcpWorkerUnit`.

Other providers (the tests' local dockerd lab) are attached to a run in-process.

Every operation takes IP addresses (the key the timetable assigns states to) and is idempotent:
creating an existing machine, deleting a missing one, powering on a running one are no-ops,
so a reconcile interrupted half-way can simply run again.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from blocks.vcp import VcpWorkerUnit
from cwh.defaults import DEFAULT_VCP_DOCKER_URL_TEMPLATE

LOG = logging.getLogger(__name__)


class VmState(StrEnum):
    RUNNING = "running"
    POWERED_OFF = "powered_off"
    BOOTING = "booting"
    ERROR = "error"
    UNKNOWN = "unknown"


class VmProviderError(RuntimeError):
    """A provider operation was refused or failed; the message names the machines and why."""


@runtime_checkable
class VmProvider(Protocol):
    """The machines behind the swarm's worker addresses."""

    @property
    def supports_power(self) -> bool:
        """Whether machines can be switched off and on (else scale-in deletes them)."""
        ...

    def list_vms(self) -> dict[str, VmState]:
        """Every machine this provider manages, by IP address."""
        ...

    def create(self, ips: Sequence[str]) -> None: ...

    def delete(self, ips: Sequence[str]) -> None: ...

    def power_on(self, ips: Sequence[str]) -> None: ...

    def power_off(self, ips: Sequence[str]) -> None: ...

    def docker_url(self, ip: str) -> str:
        """How to reach the Docker API of the machine at ``ip`` (to join it to the swarm)."""
        ...


def unique_addresses(ips: Iterable[str]) -> list[str]:
    """The addresses in order, without repeats (a repeated IP must not create two VMs)."""
    return list(dict.fromkeys(ips))


# --------------------------------------------------------------------- static


class StaticProvider:
    """Permanent machines (on premises): they always run; nothing can be created or removed."""

    def __init__(
        self, ips: Iterable[str], docker_url_template: str = DEFAULT_VCP_DOCKER_URL_TEMPLATE
    ) -> None:
        self._ips = unique_addresses(ips)
        self._template = docker_url_template

    @property
    def supports_power(self) -> bool:
        return False

    def list_vms(self) -> dict[str, VmState]:
        return dict.fromkeys(self._ips, VmState.RUNNING)

    def create(self, ips: Sequence[str]) -> None:
        unknown = [ip for ip in unique_addresses(ips) if ip not in self._ips]
        if unknown:
            raise VmProviderError(
                f"static machines cannot be created: {', '.join(unknown)} "
                "not among the configured addresses"
            )

    def delete(self, ips: Sequence[str]) -> None:
        if ips:
            raise VmProviderError(
                "static machines are permanent; refusing to delete "
                f"{', '.join(unique_addresses(ips))} (drain them in the swarm instead)"
            )

    def power_on(self, ips: Sequence[str]) -> None:
        self._refuse_power("power on", ips)

    def power_off(self, ips: Sequence[str]) -> None:
        self._refuse_power("power off", ips)

    def docker_url(self, ip: str) -> str:
        return self._template.format(ip=ip)

    @staticmethod
    def _refuse_power(action: str, ips: Sequence[str]) -> None:
        if ips:
            raise VmProviderError(
                "static machines have no power control; "
                f"cannot {action} {', '.join(unique_addresses(ips))}"
            )


# --------------------------------------------------------------------- VCP


_VCP_STATES = {
    "RUNNING": VmState.RUNNING,
    "POWER_OFF": VmState.POWERED_OFF,
    "BOOTING": VmState.BOOTING,
    "ERROR": VmState.ERROR,
}


class VcpProvider:
    """Worker VMs of one unit (default ``worker``) of a VCP unit group, through the VCP SDK.

    The SDK (module ``vcpsdk``) ships with the VCP environment, not PyPI, so it is imported
    only when first needed. The VCC access token stays a :class:`SecretStr`: it is revealed
    only in the call that hands it to the SDK and is scrubbed from every error we raise.
    ``VCPStateConflictException`` ("unit is now processing") is retried, as operators had
    to by hand; other SDK errors fail with the SDK's reason.
    """

    def __init__(
        self,
        token: SecretStr,
        ugroup: str,
        unit: str = "worker",
        *,
        config_dir: Path | None = None,
        supports_power: bool = True,
        docker_url_template: str = DEFAULT_VCP_DOCKER_URL_TEMPLATE,
        conflict_retries: int = 12,
        conflict_delay_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        sdk_module: str = "vcpsdk",
    ) -> None:
        if not isinstance(token, SecretStr):
            raise TypeError("the VCC access token must be a pydantic SecretStr")
        self._token = token
        self.ugroup = ugroup
        self.unit = unit
        self.config_dir = config_dir
        self._supports_power = supports_power
        self._template = docker_url_template
        self._conflict_retries = conflict_retries
        self._conflict_delay_s = conflict_delay_s
        self._sleep = sleep
        self._sdk_module = sdk_module
        self._vcp: Any = None

    def __repr__(self) -> str:
        return f"VcpProvider(ugroup={self.ugroup!r}, unit={self.unit!r})"

    @property
    def supports_power(self) -> bool:
        """VCP power control works only on some clouds (AWS, Azure): configured per site."""
        return self._supports_power

    def list_vms(self) -> dict[str, VmState]:
        nodes = self._call("find_nodes", self._unit().find_nodes)
        return {
            str(node.cloud_instance_address): _VCP_STATES.get(str(node.state), VmState.UNKNOWN)
            for node in nodes or []
        }

    def create(self, ips: Sequence[str]) -> None:
        existing = self.list_vms()
        wanted = [ip for ip in unique_addresses(ips) if ip not in existing]
        if wanted:
            self._call("add_nodes", self._unit().add_nodes, ip_addresses=wanted)

    def delete(self, ips: Sequence[str]) -> None:
        existing = self.list_vms()
        doomed = [ip for ip in unique_addresses(ips) if ip in existing]
        if doomed:
            self._call("delete_nodes", self._unit().delete_nodes, ip_addresses=doomed)

    def power_on(self, ips: Sequence[str]) -> None:
        self._power(ips, "power_on_nodes", skip=VmState.RUNNING)

    def power_off(self, ips: Sequence[str]) -> None:
        self._power(ips, "power_off_nodes", skip=VmState.POWERED_OFF)

    def docker_url(self, ip: str) -> str:
        return self._template.format(ip=ip)

    # ----------------------------------------------------------------- internals

    def _power(self, ips: Sequence[str], method: str, skip: VmState) -> None:
        wanted = unique_addresses(ips)
        if not wanted:
            return
        if not self._supports_power:
            raise VmProviderError(
                f"power control is not available for unit {self.unit} on this cloud; "
                f"cannot {method.removesuffix('_nodes').replace('_', ' ')} {', '.join(wanted)}"
            )
        existing = self.list_vms()
        missing = [ip for ip in wanted if ip not in existing]
        if missing:
            raise VmProviderError(f"no VM at {', '.join(missing)} in unit {self.unit}")
        unit = self._unit()
        # One node per call: the SDK's power calls take a single ip_address.
        for ip in wanted:
            if existing[ip] != skip:
                self._call(method, getattr(unit, method), ip_address=ip)

    def _load_sdk(self) -> ModuleType:
        for name in (f"{self._sdk_module}.vcpsdk", self._sdk_module):
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name not in (self._sdk_module, f"{self._sdk_module}.vcpsdk"):
                    raise VmProviderError(
                        f"the VCP SDK is installed but cannot be imported: {exc}"
                    ) from None
                continue
            if hasattr(module, "VcpSDK"):
                return module
        raise VmProviderError(
            f"the VCP SDK (python module {self._sdk_module!r}) is not installed: it ships with "
            "the VCP environment (the OCS notebook server image), not with PyPI; install it "
            "into this environment to use the vcp provider"
        )

    def _client(self) -> Any:
        if self._vcp is None:
            sdk = self._load_sdk()
            secret = self._token.get_secret_value()
            try:
                if self.config_dir is not None:
                    self._vcp = sdk.VcpSDK(secret, config_dir=str(self.config_dir))
                else:
                    self._vcp = sdk.VcpSDK(secret)
            except Exception as exc:
                raise VmProviderError(f"VCP SDK login failed: {self._scrub(exc)}") from None
        return self._vcp

    def _unit(self) -> Any:
        vcp = self._client()
        ugroup = self._call("get_ugroup", vcp.get_ugroup, self.ugroup)
        if ugroup is None:
            raise VmProviderError(f"VCP unit group {self.ugroup!r} does not exist")
        unit = self._call("get_unit", ugroup.get_unit, self.unit)
        if unit is None:
            raise VmProviderError(
                f"unit {self.unit!r} does not exist in VCP unit group {self.ugroup!r}: "
                "create it (with its VM spec) before scheduling workers"
            )
        return unit

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if not _is_state_conflict(exc):
                    raise VmProviderError(f"VCP {what} failed: {self._scrub(exc)}") from None
                attempt += 1
                if attempt > self._conflict_retries:
                    raise VmProviderError(
                        f"VCP {what}: unit {self.unit} still busy after {attempt} tries: "
                        f"{self._scrub(exc)}"
                    ) from None
                LOG.info(
                    "VCP %s: unit busy, retry %d in %.0f s", what, attempt, self._conflict_delay_s
                )
                self._sleep(self._conflict_delay_s)

    def _scrub(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        secret = self._token.get_secret_value()
        return text.replace(secret, "**********") if secret else text


def _is_state_conflict(exc: BaseException) -> bool:
    """True for the SDK's VCPStateConflictException, wherever the SDK defines it."""
    return any(cls.__name__ == "VCPStateConflictException" for cls in type(exc).__mro__)


def vcp_provider(unit: VcpWorkerUnit) -> VcpProvider:
    """The VM provider for a saved VCP worker unit (the SDK is imported on its first call)."""
    return VcpProvider(
        unit.vcc_access_token,
        unit.ugroup,
        unit.unit,
        config_dir=Path(unit.config_dir) if unit.config_dir else None,
        supports_power=unit.supports_power,
        docker_url_template=unit.docker_url_template,
    )
