"""Prefect tasks on JupyterHub's REST API: which servers the hub has seen idle, and stopping
one of them the way the hub itself would.

The token comes from the CoursewareHub block's ``hub_api_token`` (a ``SecretStr``) and goes
only into the ``Authorization`` header; messages name the hub by its redacted URL and never
carry the token. The token's JupyterHub service needs the scopes ``list:users``,
``read:users:name``, ``read:users:activity``, ``read:servers``, ``admin:server_state`` (to
tell which swarm service runs each server) and ``servers`` (to stop one).

Asking the hub never fails a run: a hub that is unreachable, refuses the token or answers
something that is not a believable list of users yields a
:class:`~cwh.timetable.HubServers` carrying the reason, and then nothing is stopped.
Servers are stopped only through ``DELETE /users/{name}/server`` (or ``/servers/{name}``),
so the hub's spawner stops the container and the hub's records stay true.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from prefect import task
from pydantic import SecretStr

from blocks.coursewarehub import CoursewareHub
from blocks.loading import load_block
from cwh.safe_input import printable
from cwh.setup import redact_url
from cwh.timetable import Action, ActionKind, AddressError, AddressReason, HubServers
from cwh.timetable import hub_servers_from_users as read_users
from tasks.common import NOT_CACHED, OutsideSystemError, run_logger

PAGE_SIZE = 200
MAX_PAGES = 500
"""At most 100,000 users are read; a hub claiming more is not believed."""
MAX_PAGE_BYTES = 64 << 20
REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 120.0
_PAGINATED = "application/jupyterhub-pagination+json"


class HubApiError(OutsideSystemError):
    system = "JupyterHub"


@dataclass(frozen=True)
class HubApi:
    """Where the hub's REST API is (``.../hub/api``) and the token it accepts."""

    url: str
    token: SecretStr

    def __repr__(self) -> str:
        return f"HubApi({redact_url(self.url)!r})"

    @property
    def name(self) -> str:
        return redact_url(self.url)


def hub_api_from_block(block: str) -> HubApi | None:
    """The API of the CoursewareHub block ``block``; None when the block names no API."""
    hub = load_block(CoursewareHub, block)
    if not hub.hub_api_url or hub.hub_api_token is None:
        return None
    return HubApi(hub.hub_api_url.rstrip("/"), hub.hub_api_token)


def _client(api: HubApi) -> httpx.Client:
    headers = {"Authorization": f"token {api.token.get_secret_value()}"}
    return httpx.Client(base_url=api.url, headers=headers, timeout=REQUEST_TIMEOUT_S)


def _hub_clock(response: httpx.Response) -> datetime:
    """The hub's clock from its answer's ``Date``; this machine's when it sends none."""
    try:
        moment = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _get_json(
    client: httpx.Client, api: HubApi, path: str, params: dict[str, Any]
) -> tuple[Any, datetime]:
    try:
        response = client.get(path, params=params, headers={"Accept": _PAGINATED})
    except httpx.HTTPError as exc:
        raise HubApiError(
            api.name, f"unreachable ({type(exc).__name__})", permanent=False
        ) from None
    if response.status_code != 200:
        raise HubApiError(api.name, f"GET {path} answered HTTP {response.status_code}")
    if len(response.content) > MAX_PAGE_BYTES:
        raise HubApiError(api.name, f"GET {path} answered more than {MAX_PAGE_BYTES} bytes")
    try:
        return response.json(), _hub_clock(response)
    except ValueError:
        raise HubApiError(api.name, f"GET {path} answered something that is not JSON") from None


def _users(client: httpx.Client, api: HubApi) -> tuple[list[Any], datetime]:
    """Every user with a ready server, page by page (the hub's pagination)."""
    users: list[Any] = []
    offset = 0
    now = datetime.now(UTC)
    for _ in range(MAX_PAGES):
        params = {"state": "ready", "offset": offset, "limit": PAGE_SIZE}
        document, now = _get_json(client, api, "/users", params)
        if isinstance(document, list):
            return users + document, now
        if not isinstance(document, dict) or not isinstance(document.get("items"), list):
            raise HubApiError(api.name, "GET /users answered JSON that is not a list of users")
        users.extend(document["items"])
        following = (document.get("_pagination") or {}).get("next")
        if not following:
            return users, now
        offset = following.get("offset") if isinstance(following, dict) else None
        if not isinstance(offset, int) or isinstance(offset, bool) or offset <= 0:
            raise HubApiError(api.name, "GET /users answered a broken pagination")
    raise HubApiError(api.name, f"more than {MAX_PAGES * PAGE_SIZE} users with servers")


@task(name="observe-hub-servers", **NOT_CACHED)
def observe_hub_servers(api: HubApi, user_service_prefix: str) -> HubServers:
    """The hub's ready servers, when each was last used, and the hub's clock.

    Never raises: whatever goes wrong is the returned observation's ``error``.
    """
    log = run_logger(__name__)
    try:
        with _client(api) as client:
            users, now = _users(client, api)
        servers = read_users(users, now, user_service_prefix)
    except HubApiError as exc:
        log.warning("%s; no server is stopped by this run", exc)
        return HubServers.unavailable(str(exc))
    except ValueError as exc:
        reason = f"JupyterHub {api.name} answered an unbelievable list of users: {exc}"
        log.warning("%s; no server is stopped by this run", reason)
        return HubServers.unavailable(printable(reason))
    log.info("JupyterHub %s reports %d ready server(s)", api.name, len(servers.servers))
    return servers


def _server_path(user: str, server: str) -> str:
    base = f"/users/{quote(user, safe='')}"
    return f"{base}/servers/{quote(server, safe='')}" if server else f"{base}/server"


def _still_running(client: httpx.Client, user: str, server: str) -> bool:
    try:
        response = client.get(f"/users/{quote(user, safe='')}")
    except httpx.HTTPError:
        return True
    if response.status_code == 404:
        return False
    if response.status_code != 200:
        return True
    try:
        servers = response.json().get("servers") or {}
    except (ValueError, AttributeError):
        return True
    return isinstance(servers, dict) and server in servers


@task(name="stop-hub-server", task_run_name="stop-{user}", **NOT_CACHED)
def stop_hub_server(api: HubApi, user: str, server: str = "") -> None:
    """Stop one server through the hub and wait until the hub says it is gone.

    A server that is already gone (404) counts as stopped. Raises :class:`HubApiError`.
    """
    path = _server_path(user, server)
    with _client(api) as client:
        try:
            response = client.delete(path)
        except httpx.HTTPError as exc:
            raise HubApiError(api.name, f"DELETE failed ({type(exc).__name__})") from None
        if response.status_code == 404:
            return
        if response.status_code not in (202, 204):
            raise HubApiError(api.name, f"DELETE of a server answered HTTP {response.status_code}")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _still_running(client, user, server):
            if time.monotonic() >= deadline:
                raise HubApiError(api.name, f"the server did not stop within {STOP_TIMEOUT_S} s")
            time.sleep(1.0)


def stop_idle_servers(
    api: HubApi | None, actions: list[Action]
) -> tuple[list[AddressReason], list[AddressError]]:
    """Run the plan's ``stop_server`` steps; what was stopped and what failed, per node."""
    stopped: list[AddressReason] = []
    failed: list[AddressError] = []
    steps = [action for action in actions if action.kind is ActionKind.STOP_SERVER]
    if not steps:
        return stopped, failed
    for action in steps:
        assert action.hub_user is not None
        label = printable(action.hub_user) + (f"/{action.hub_server}" if action.hub_server else "")
        if api is None:
            failed.append({"address": action.address, "error": f"{label}: no JupyterHub API"})
            continue
        state = stop_hub_server(api, action.hub_user, action.hub_server, return_state=True)
        if state.is_failed():
            error = state.result(raise_on_failure=False)
            failed.append({"address": action.address, "error": f"{label} not stopped: {error}"})
        else:
            stopped.append({"address": action.address, "reason": f"{label}: {action.reason}"})
    return stopped, failed
