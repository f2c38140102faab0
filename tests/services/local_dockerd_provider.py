"""The local-dockerd VM provider: a "VM" is a dockerd node of a :class:`LocalSwarm` lab, so
the whole scale-out/scale-in path of the reconcile flow runs for real on one machine.

Tests and the benchmark attach it to a run with
``attached_provider("local-dockerd", LocalDockerdProvider(lab))``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from tasks.vm_providers import VmProviderError, VmState, unique_addresses
from tests.services.local_swarm import LabError, LocalSwarm, NodeSpec

LOG = logging.getLogger(__name__)


class LocalDockerdProvider:
    """Machines are dockerd nodes of a :class:`LocalSwarm` (every node but the manager).

    create = a new node (namespace, address, running daemon, test image loaded), not joined:
    joining is the reconcile flow's job, as with a real VM. delete = the node and all its
    files are destroyed. power off = the daemon stops but keeps its data root, so power on
    brings back the same swarm member.
    """

    def __init__(self, lab: LocalSwarm) -> None:
        self._lab = lab

    @property
    def supports_power(self) -> bool:
        return True

    @staticmethod
    def node_name(ip: str) -> str:
        """A node name derived from the address (unique per address, fits the 12-char limit)."""
        parts = ip.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            raise VmProviderError(f"{ip!r} is not an IPv4 address")
        return "vm" + "".join(f"{int(p):02x}" for p in parts)

    @staticmethod
    def hostname(ip: str) -> str:
        return "worker-" + ip.replace(".", "-")

    def list_vms(self) -> dict[str, VmState]:
        manager = self._lab.manager.name if self._lab.has_manager else None
        return {
            node.ip: VmState.RUNNING if node.running else VmState.POWERED_OFF
            for node in self._lab.nodes.values()
            if node.name != manager
        }

    def create(self, ips: Sequence[str]) -> None:
        wanted = [ip for ip in unique_addresses(ips) if self._lab.node_by_ip(ip) is None]
        if not wanted:
            return
        specs = [NodeSpec(self.node_name(ip), ip, self.hostname(ip)) for ip in wanted]
        try:
            self._lab.add_nodes(specs)
        except LabError as exc:
            raise VmProviderError(f"creating {', '.join(wanted)} failed: {exc}") from exc
        LOG.info("created local machine(s) %s", ", ".join(wanted))

    def delete(self, ips: Sequence[str]) -> None:
        for ip in unique_addresses(ips):
            if self._lab.node_by_ip(ip) is None:
                continue
            try:
                self._lab.remove_node(self._worker(ip))
            except LabError as exc:
                raise VmProviderError(f"deleting {ip} failed: {exc}") from exc
            LOG.info("deleted local machine %s", ip)

    def power_on(self, ips: Sequence[str]) -> None:
        self._each_worker(ips, "powering on", self._lab.start_node)

    def power_off(self, ips: Sequence[str]) -> None:
        self._each_worker(ips, "powering off", self._lab.stop_node)

    def _each_worker(self, ips: Sequence[str], doing: str, step: Callable[[str], object]) -> None:
        for ip in unique_addresses(ips):
            node = self._worker(ip)
            try:
                step(node)
            except LabError as exc:
                raise VmProviderError(f"{doing} {ip} failed: {exc}") from exc

    def docker_url(self, ip: str) -> str:
        node = self._lab.node_by_ip(ip)
        if node is None:
            raise VmProviderError(f"no local machine at {ip}")
        return node.docker_url

    def _worker(self, ip: str) -> str:
        """The name of the (non-manager) lab node at ``ip``."""
        node = self._lab.node_by_ip(ip)
        if node is None:
            raise VmProviderError(f"no local machine at {ip}")
        if self._lab.has_manager and node.name == self._lab.manager.name:
            raise VmProviderError(f"{ip} is the swarm manager; it is not a worker machine")
        return node.name
