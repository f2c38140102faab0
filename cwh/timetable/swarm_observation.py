"""Reading Docker Swarm's API descriptions into what the worker planner needs.

A node's description becomes a :class:`NodeObservation` (address, role, availability, state,
labels, live user servers); :func:`to_swarm_node` and :func:`paused_since` turn that into the
planner's :class:`~cwh.timetable.worker_plan.SwarmNode` and the moment it was paused. Unknown
API values read as unknown, never as errors, so a newer daemon cannot stop a reconcile run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from cwh.timetable.observed import Availability, NodeRole, SwarmNode, SwarmNodeState

PAUSED_SINCE_LABEL = "cwh.paused-since"
"""Node label holding when a node stopped taking new servers (it survives between runs)."""

# Task states in which a container exists or is about to: a node with such a task is busy.
ACTIVE_TASK_STATES = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
)
_UNSPECIFIED_ADDRESSES = frozenset({"", "0.0.0.0", "127.0.0.1"})


@dataclass(frozen=True)
class NodeObservation:
    """What the reconcile planner needs to know about one swarm node."""

    node_id: str
    hostname: str
    address: str
    role: str
    availability: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    leader: bool = False
    user_tasks: tuple[str, ...] = ()

    @property
    def running_user_tasks(self) -> int:
        return len(self.user_tasks)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = dict(self.labels)
        data["user_tasks"] = list(self.user_tasks)
        return data


def node_address(attrs: Mapping[str, Any]) -> str:
    """The node's swarm address.

    ``Status.Addr`` is the address the manager sees; on a manager it can read ``0.0.0.0`` or
    ``127.0.0.1``, and its advertised ``ManagerStatus.Addr`` (``ip:2377``) is the real one.
    """
    address = str(attrs.get("Status", {}).get("Addr") or "")
    manager_addr = str(attrs.get("ManagerStatus", {}).get("Addr") or "")
    if address in _UNSPECIFIED_ADDRESSES and manager_addr:
        return manager_addr.rsplit(":", 1)[0]
    return address


def parse_node(attrs: Mapping[str, Any], user_tasks: Sequence[str] = ()) -> NodeObservation:
    """Turn a node's API description into a :class:`NodeObservation`."""
    spec = attrs.get("Spec", {})
    return NodeObservation(
        node_id=str(attrs["ID"]),
        hostname=str(attrs.get("Description", {}).get("Hostname", "")),
        address=node_address(attrs),
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str(attrs.get("Status", {}).get("State", "")),
        labels=dict(spec.get("Labels") or {}),
        leader=bool(attrs.get("ManagerStatus", {}).get("Leader", False)),
        user_tasks=tuple(sorted(user_tasks)),
    )


def user_tasks_by_node(
    tasks: Iterable[Mapping[str, Any]],
    service_names: Mapping[str, str],
    is_user_service: Callable[[str], bool],
) -> dict[str, list[str]]:
    """Node ID -> names of the user-server services with a live task on that node.

    A task counts while it is meant to run and its container exists or is being made; tasks
    being shut down do not keep a node busy once their container is gone.
    """
    found: dict[str, list[str]] = {}
    for item in tasks:
        node_id = item.get("NodeID")
        name = service_names.get(str(item.get("ServiceID", "")), "")
        if not node_id or not is_user_service(name):
            continue
        if item.get("DesiredState") != "running":
            continue
        if item.get("Status", {}).get("State") not in ACTIVE_TASK_STATES:
            continue
        found.setdefault(str(node_id), []).append(name)
    return found


def to_swarm_node(node: NodeObservation) -> SwarmNode:
    """A swarm node as the planner sees it; unknown API values read as unknown, not errors."""
    try:
        state = SwarmNodeState(node.state)
    except ValueError:
        state = SwarmNodeState.UNKNOWN
    try:
        availability = Availability(node.availability)
    except ValueError:
        availability = Availability.DRAIN
    role = NodeRole.MANAGER if node.role == "manager" else NodeRole.WORKER
    return SwarmNode(node.node_id, node.hostname, role, availability, state, dict(node.labels))


def paused_since(node: NodeObservation) -> datetime | None:
    """When the node was paused, from its label; None when active, unlabelled or unreadable."""
    if node.availability == Availability.ACTIVE.value:
        return None
    text = node.labels.get(PAUSED_SINCE_LABEL)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
