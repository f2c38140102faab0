"""The user servers JupyterHub reports, and which of them may be stopped to free a node.

Only JupyterHub knows whether a student is using a server: its ``last_activity`` moves with
every request the student's browser or kernel makes. A timetable that sets
``force_idle_after`` lets the reconcile flow stop servers the hub has seen idle for that long
(through the hub's API, so the hub, its spawner and the student's page all agree), but only
when that frees the whole node: one server used recently keeps the node and every server on
it. Anything doubtful keeps the node too: a hub that could not be asked or answered nonsense,
a swarm service the hub does not know, a server whose activity is unknown.

Pure: :mod:`tasks.jupyterhub_api` asks the hub and hands its JSON to
:func:`hub_servers_from_users`; the planner calls :func:`servers_to_stop` per busy node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cwh.safe_input import printable
from cwh.timetable.reason_text import plan_reason, span_text

EARLIEST_ACTIVITY = datetime(2000, 1, 1, tzinfo=UTC)
"""A ``last_activity`` before this is not a real time: the hub's answer is not trusted."""
CLOCK_SLACK = timedelta(minutes=5)
"""How far a ``last_activity`` may lie ahead of the hub's clock before it counts as absurd."""
MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class HubServer:
    """One ready server as JupyterHub reports it; ``name`` is empty for the default server.

    ``service`` is the swarm service that runs it (the spawner's ``object_name``).
    """

    user: str
    name: str
    service: str
    last_activity: datetime | None

    @property
    def label(self) -> str:
        return f"{self.user}/{self.name}" if self.name else self.user

    def idle_for(self, now: datetime) -> timedelta | None:
        """How long the hub has seen no activity; None when it does not know."""
        if self.last_activity is None:
            return None
        return max(now - self.last_activity, timedelta(0))


@dataclass(frozen=True)
class HubServers:
    """What JupyterHub reported: its ready servers and its clock, or why it could not tell.

    ``now`` is the hub's own clock (its answer's ``Date``), so a skewed worker clock or the
    flow's fake clock never makes a server look idle. With ``error`` set nothing is stopped.
    """

    servers: tuple[HubServer, ...] = ()
    now: datetime | None = None
    error: str | None = None

    @classmethod
    def unavailable(cls, error: str) -> HubServers:
        return cls(error=error)

    def by_service(self) -> dict[str, HubServer]:
        return {server.service: server for server in self.servers}


@dataclass(frozen=True)
class StopDecision:
    """The servers to stop to free one node (empty: the node waits), and why."""

    stop: tuple[HubServer, ...]
    reason: str


def servers_to_stop(
    services: Sequence[str],
    running: int,
    hub: HubServers | None,
    idle_after: timedelta | None,
) -> StopDecision:
    """Whether a busy paused node is freed by stopping its servers through the hub.

    ``services`` names the user-server services running on the node, ``running`` counts
    them. All of them must be ready hub servers idle for at least ``idle_after`` by the hub's
    clock; otherwise nothing is stopped and the reason says what keeps the node.
    """
    if idle_after is None:
        return _keep(plan_reason("force_unset"))
    if hub is None:
        return _keep(plan_reason("hub_not_asked"))
    if hub.error is not None or hub.now is None:
        return _keep(plan_reason("hub_error", error=hub.error))
    names = sorted(set(services))
    if not names or len(services) != running:
        return _keep(plan_reason("unnamed"))
    known = hub.by_service()
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(printable(name) for name in unknown)
        return _keep(plan_reason("unknown_servers", servers=listed))
    servers = [known[name] for name in names]
    for server in servers:
        idle = server.idle_for(hub.now)
        if idle is None:
            return _keep(plan_reason("no_activity", server=server.label))
        if idle < idle_after:
            return _keep(
                plan_reason(
                    "recently_used",
                    server=server.label,
                    idle=_minutes(idle),
                    limit=_minutes(idle_after),
                )
            )
    return StopDecision(
        tuple(servers),
        plan_reason("all_idle", limit=_minutes(idle_after)),
    )


def hub_servers_from_users(users: object, now: datetime, service_prefix: str) -> HubServers:
    """The ready servers of JupyterHub's user models (``GET /hub/api/users`` items).

    ``now`` is the hub's clock. A server's swarm service is the spawner's ``object_name``
    from its state when the hub shows it, else ``<prefix><user>`` (``--<name>`` for a named
    server) as the swarm spawners name it. Raises :class:`ValueError` naming the first thing
    that is not a user model or not a believable time: then nothing at all is trusted.
    """
    if now.tzinfo is None:
        raise ValueError("the hub's clock must be timezone-aware")
    if not isinstance(users, list):
        raise ValueError(f"expected a list of users, got {type(users).__name__}")
    servers: list[HubServer] = []
    for index, user in enumerate(users):
        if not isinstance(user, Mapping):
            raise ValueError(f"users[{index}] is not an object")
        name = _name(user.get("name"), f"users[{index}].name")
        models = user.get("servers", {})
        if models is None:
            continue
        if not isinstance(models, Mapping):
            raise ValueError(f"the servers of user {printable(name)} are not an object")
        for key, model in models.items():
            server = _server(name, key, model, now, service_prefix)
            if server is not None:
                servers.append(server)
    return HubServers(tuple(servers), now)


def _server(user: str, key: object, model: object, now: datetime, prefix: str) -> HubServer | None:
    where = f"server {printable(str(key))!r} of user {printable(user)}"
    if not isinstance(model, Mapping):
        raise ValueError(f"{where} is not an object")
    server_name = _name(model.get("name", key), f"{where}: name", allow_empty=True)
    if model.get("ready") is not True:
        return None
    state = model.get("state")
    service = state.get("object_name") if isinstance(state, Mapping) else None
    if not isinstance(service, str) or not service:
        service = f"{prefix}{user}" + (f"--{server_name}" if server_name else "")
    return HubServer(
        user=user,
        name=server_name,
        service=service,
        last_activity=_activity(model.get("last_activity"), now, where),
    )


def _activity(value: object, now: datetime, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{where}: last_activity is not a time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: last_activity {printable(value)!r} is not a time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < EARLIEST_ACTIVITY or moment > now + CLOCK_SLACK:
        raise ValueError(
            f"{where}: last_activity {moment.isoformat()} is not believable "
            f"(the hub's clock reads {now.isoformat()})"
        )
    return moment


def _name(value: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or (not value and not allow_empty):
        raise ValueError(f"{where} is not a name")
    return value


def _keep(reason: str) -> StopDecision:
    return StopDecision((), reason)


def _minutes(span: timedelta) -> str:
    return span_text(int(span.total_seconds()))
