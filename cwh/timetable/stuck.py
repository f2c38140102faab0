"""Busy nodes that have waited too long: what the ``cwh.workers.stuck`` event reports.

A node leaving the pool while its users' servers run stays paused and waits for them,
without limit. Once it has waited longer than the timetable's ``drain_time`` (the grace of
the phase entered), the run reports it as stuck, every run until it is freed, so that an
operator (or a Prefect automation on the event) can talk to the teacher instead of the
schedule killing a student's work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cwh.timetable.observed import ObservedNode
from cwh.timetable.worker_plan import RemovalPolicy

STUCK_EVENT = "cwh.workers.stuck"
STUCK_RESOURCE_PREFIX = "cwh.workers.node."


@dataclass(frozen=True)
class StuckNode:
    """A paused node that user servers have kept for longer than the grace period."""

    address: str
    node: str
    servers: tuple[str, ...]
    since: datetime

    def resource(self) -> dict[str, str]:
        """The event's resource: ``cwh.workers.node.<hostname>``."""
        return {"prefect.resource.id": f"{STUCK_RESOURCE_PREFIX}{self.node}", "cwh.node": self.node}

    def payload(self) -> dict[str, object]:
        return {"node": self.node, "servers": list(self.servers), "since": self.since.isoformat()}


def stuck_nodes(
    busy: Iterable[str],
    observed: Mapping[str, ObservedNode],
    hostnames: Mapping[str, str],
    policy: RemovalPolicy,
    at: datetime,
) -> list[StuckNode]:
    """The ``busy`` addresses paused for longer than ``policy.grace`` at ``at``.

    A node whose pause time is unknown (paused by this very run, or by hand without the
    label) is not stuck yet: its wait starts now.
    """
    found: list[StuckNode] = []
    for address in dict.fromkeys(busy):
        node = observed.get(address)
        if node is None:
            continue
        since = node.paused_since
        limit = policy.stuck_after(since)
        if since is None or limit is None or at <= limit:
            continue
        name = hostnames.get(address) or address
        found.append(StuckNode(address, name, node.user_servers, since))
    return found
