"""What the reconcile flow observes about the worker pool, in the planner's terms.

The VM provider's state of each address, the swarm entries with that address and the user
servers running there are joined into one :class:`ObservedNode` per address. Observations have a
JSON form, so a plan can be made on paper from a saved observation
(``cwh schedule plan --observed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from cwh.safe_input import InputRefused, InputRules, parse_json
from cwh.timetable.model import NodeState

_E = TypeVar("_E", bound=StrEnum)


class VmState(StrEnum):
    """What the VM provider reports for an address; ``absent`` when it has no machine there."""

    RUNNING = "running"
    POWERED_OFF = "powered_off"
    ABSENT = "absent"
    BOOTING = "booting"
    ERROR = "error"
    UNKNOWN = "unknown"


class Availability(StrEnum):
    """Docker swarm node availability."""

    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class SwarmNodeState(StrEnum):
    """Docker swarm node state (``Status.State``) as seen by the manager."""

    READY = "ready"
    DOWN = "down"
    UNKNOWN = "unknown"
    DISCONNECTED = "disconnected"


class NodeRole(StrEnum):
    WORKER = "worker"
    MANAGER = "manager"


@dataclass(frozen=True)
class SwarmNode:
    """One entry of ``docker node ls`` whose address is a worker address."""

    node_id: str
    hostname: str
    role: NodeRole
    availability: Availability
    state: SwarmNodeState
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedNode:
    """Everything observed about one address.

    ``swarm`` lists every swarm entry with this address: a VM that was deleted and recreated
    leaves its old entry behind (state down) next to the new one. ``paused_since`` is when the
    node's availability last became pause or drain, if known. ``user_servers`` names the
    user-server services of the ``running_user_tasks`` (empty when not known).
    """

    address: str
    vm: VmState
    swarm: tuple[SwarmNode, ...] = ()
    running_user_tasks: int = 0
    paused_since: datetime | None = None
    user_servers: tuple[str, ...] = ()

    @classmethod
    def absent(cls, address: str) -> ObservedNode:
        return cls(address=address, vm=VmState.ABSENT)


@dataclass(frozen=True)
class ProviderCapabilities:
    """What the VM provider can do; a static (on-premises) pool can only change availability."""

    name: str
    manages_vms: bool = True
    power_control: bool = True


STATIC_PROVIDER = ProviderCapabilities("static", manages_vms=False, power_control=False)


def assemble_observation(
    vms: Mapping[str, VmState],
    swarm_nodes: Iterable[tuple[str, SwarmNode, int]],
    paused_since: Mapping[str, datetime] | None = None,
    user_servers: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, ObservedNode]:
    """Join what the provider and the swarm report into one :class:`ObservedNode` per address.

    ``vms`` maps the provider's addresses to their state (an address it does not list has no
    VM); ``swarm_nodes`` gives ``(address, node, running user server tasks)`` for every swarm
    node; ``paused_since`` maps node ids to when their availability last left ``active``;
    ``user_servers`` maps node ids to the names of their user-server services.
    """
    entries: dict[str, list[SwarmNode]] = {}
    tasks: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    for address, node, running in swarm_nodes:
        entries.setdefault(address, []).append(node)
        if node.state is SwarmNodeState.READY:
            tasks[address] = tasks.get(address, 0) + running
            names.setdefault(address, []).extend((user_servers or {}).get(node.node_id, ()))
    since = paused_since or {}
    result: dict[str, ObservedNode] = {}
    for address in dict.fromkeys([*vms, *entries]):
        swarm = tuple(entries.get(address, ()))
        ready = [node for node in swarm if node.state is SwarmNodeState.READY]
        result[address] = ObservedNode(
            address=address,
            vm=vms.get(address, VmState.ABSENT),
            swarm=swarm,
            running_user_tasks=tasks.get(address, 0),
            paused_since=since.get(ready[0].node_id) if ready else None,
            user_servers=tuple(sorted(names.get(address, ()))),
        )
    return result


def converged_observation(
    desired: Mapping[str, NodeState],
    provider: ProviderCapabilities,
    labels: Mapping[str, str] | None = None,
) -> dict[str, ObservedNode]:
    """What a reconcile that fully succeeded would observe; used for previews and plans on paper."""
    result: dict[str, ObservedNode] = {}
    for index, (address, state) in enumerate(desired.items()):
        member = SwarmNode(
            node_id=f"planned-{index}",
            hostname=f"worker-{index}",
            role=NodeRole.WORKER,
            availability=Availability.ACTIVE,
            state=SwarmNodeState.READY,
            labels=dict(labels or {}),
        )
        if state.is_up:
            swarm_node = _with_availability(member, Availability(state.value))
            result[address] = ObservedNode(address, VmState.RUNNING, (swarm_node,))
        elif not provider.manages_vms:
            drained = _with_availability(member, Availability.DRAIN)
            result[address] = ObservedNode(address, VmState.RUNNING, (drained,))
        elif state is NodeState.POWER_DOWN:
            result[address] = ObservedNode(address, VmState.POWERED_OFF)
        else:
            result[address] = ObservedNode.absent(address)
    return result


MAX_OBSERVED_BYTES = 16 << 20
"""Largest observation file read (``cwh schedule plan --observed``)."""


def load_observed(path: Path) -> dict[str, ObservedNode]:
    """Observed nodes from a JSON file as :func:`observed_to_json` writes them, read through
    :mod:`cwh.safe_input`; raises :class:`~cwh.safe_input.InputRefused` naming the file."""
    name = str(path)
    document = parse_json(InputRules(MAX_OBSERVED_BYTES).read_text(path, name), name)
    try:
        return observed_from_json(document)
    except (ValueError, TypeError) as exc:
        raise InputRefused(name, f"does not list observed nodes: {exc}") from None


def observed_from_json(data: object) -> dict[str, ObservedNode]:
    """Observed nodes from their JSON form (a list of objects, as :func:`observed_to_json`)."""
    if not isinstance(data, list):
        raise ValueError("observed nodes must be a JSON list of objects")
    result: dict[str, ObservedNode] = {}
    for index, item in enumerate(data):
        where = f"[{index}]"
        if not isinstance(item, dict) or "address" not in item or "vm" not in item:
            raise ValueError(f"{where}: needs at least 'address' and 'vm'")
        swarm_items = item.get("swarm", [])
        if not isinstance(swarm_items, list):
            raise ValueError(f"{where}.swarm: must be a list")
        swarm = tuple(_swarm_node_from_json(entry, f"{where}.swarm") for entry in swarm_items)
        paused = item.get("paused_since")
        tasks = item.get("running_user_tasks", 0)
        if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 0:
            raise ValueError(f"{where}.running_user_tasks: must be a whole number >= 0")
        servers = item.get("user_servers", [])
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise ValueError(f"{where}.user_servers: must be a list of service names")
        node = ObservedNode(
            address=str(item["address"]),
            vm=_enum(VmState, item["vm"], f"{where}.vm"),
            swarm=swarm,
            running_user_tasks=tasks,
            paused_since=_aware_time(paused, f"{where}.paused_since") if paused else None,
            user_servers=tuple(servers),
        )
        if node.address in result:
            raise ValueError(f"{where}: address {node.address} is listed twice")
        result[node.address] = node
    return result


def observed_to_json(observed: Iterable[ObservedNode]) -> list[dict[str, object]]:
    return [
        {
            "address": node.address,
            "vm": node.vm.value,
            "swarm": [
                {
                    "node_id": entry.node_id,
                    "hostname": entry.hostname,
                    "role": entry.role.value,
                    "availability": entry.availability.value,
                    "state": entry.state.value,
                    "labels": dict(entry.labels),
                }
                for entry in node.swarm
            ],
            "running_user_tasks": node.running_user_tasks,
            "paused_since": node.paused_since.isoformat() if node.paused_since else None,
            "user_servers": list(node.user_servers),
        }
        for node in observed
    ]


def _with_availability(node: SwarmNode, availability: Availability) -> SwarmNode:
    return SwarmNode(
        node.node_id, node.hostname, node.role, availability, node.state, dict(node.labels)
    )


def _swarm_node_from_json(data: object, where: str) -> SwarmNode:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: each swarm entry must be an object")
    labels = data.get("labels", {})
    if not isinstance(labels, dict):
        raise ValueError(f"{where}.labels: must be an object")
    return SwarmNode(
        node_id=str(data.get("node_id", "")),
        hostname=str(data.get("hostname", "")),
        role=_enum(NodeRole, data.get("role", "worker"), f"{where}.role"),
        availability=_enum(Availability, data.get("availability"), f"{where}.availability"),
        state=_enum(SwarmNodeState, data.get("state", "ready"), f"{where}.state"),
        labels={str(key): str(value) for key, value in labels.items()},
    )


def _enum(kind: type[_E], value: object, where: str) -> _E:
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{where}: {value!r} is not one of {choices}") from None


def _aware_time(value: object, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{where}: {value!r} has no time zone offset")
    return moment
