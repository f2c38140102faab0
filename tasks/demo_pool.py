"""The ``demo`` worker pool: a swarm and machines that exist only on paper, for plans.

``cwh demo`` registers the ``reconcile-workers`` deployment with ``provider: demo`` and
``dry_run: true`` so that a person can press "Run" in the Prefect UI on a machine without
Docker or a cloud account and see a real plan: the timetable's addresses are all running
machines and ready, active swarm workers (next to one manager), which is what a pool looks
like at the end of a class. Nothing is ever changed: every machine operation is refused,
and the flow refuses a run of this provider that is not a dry run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cwh.timetable import NodeObservation
from tasks.vm_providers import VmProviderError, VmState, unique_addresses

DEMO_PROVIDER = "demo"
DEMO_MANAGER_ADDRESS = "192.0.2.1"
"""The demo manager's address (TEST-NET-1: never a real machine)."""


class DemoProvider:
    """Machines on paper: every timetable address is a running machine, none can change."""

    def __init__(self, ips: Iterable[str]) -> None:
        self._ips = unique_addresses(ips)

    @property
    def supports_power(self) -> bool:
        return True

    def list_vms(self) -> dict[str, VmState]:
        return dict.fromkeys(self._ips, VmState.RUNNING)

    def create(self, ips: Sequence[str]) -> None:
        self._refuse("create", ips)

    def delete(self, ips: Sequence[str]) -> None:
        self._refuse("delete", ips)

    def power_on(self, ips: Sequence[str]) -> None:
        self._refuse("power on", ips)

    def power_off(self, ips: Sequence[str]) -> None:
        self._refuse("power off", ips)

    def docker_url(self, ip: str) -> str:
        return f"demo://{ip}"

    def observe_swarm(self) -> list[NodeObservation]:
        """The demo swarm: one manager and every address as a ready, active worker."""
        manager = NodeObservation(
            node_id="demo-manager",
            hostname="demo-manager",
            address=DEMO_MANAGER_ADDRESS,
            role="manager",
            availability="active",
            state="ready",
            leader=True,
        )
        workers = [
            NodeObservation(
                node_id=f"demo-worker-{number}",
                hostname=f"demo-worker-{number}",
                address=address,
                role="worker",
                availability="active",
                state="ready",
                labels={"cwh.role": "worker"},
            )
            for number, address in enumerate(self._ips, start=1)
        ]
        return [manager, *workers]

    @staticmethod
    def _refuse(action: str, ips: Sequence[str]) -> None:
        if ips:
            raise VmProviderError(
                f"the demo provider only plans; cannot {action} {', '.join(unique_addresses(ips))}"
            )
