"""The JupyterHub API tasks against the real hub of the lab, and against endpoints that are
not a hub at all (closed port, garbage, unbelievable times): nothing is trusted then, the
reason is clear, and the token never shows."""

from __future__ import annotations

import http.server
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tasks.jupyterhub_api import HubApi, HubApiError, observe_hub_servers, stop_hub_server
from tests.services.jupyterhub_service import JupyterHubLab
from tests.services.local_swarm import LocalSwarm

observe = observe_hub_servers.fn
stop = stop_hub_server.fn


@pytest.mark.swarm
def test_ready_servers_their_services_and_activity_come_from_the_real_hub(
    jupyterhub: JupyterHubLab, local_swarm: LocalSwarm
) -> None:
    api = HubApi(jupyterhub.api_url, SecretStr(jupyterhub.token))
    user = f"reader-{secrets.token_hex(3)}"
    since = datetime.now(UTC) - timedelta(hours=2)
    try:
        jupyterhub.start_server(user, "worker2", last_activity=since)
        jupyterhub.start_server(user, "worker3", server="lab")
        found = observe(api, "jupyter-")
        assert found.error is None and found.now is not None
        mine = {s.service: s for s in found.servers if s.user == user}
        assert set(mine) == {f"jupyter-{user}", f"jupyter-{user}--lab"}
        default = mine[f"jupyter-{user}"]
        assert default.last_activity is not None
        assert abs(default.last_activity - since) < timedelta(seconds=1)
        assert mine[f"jupyter-{user}--lab"].name == "lab"
        assert found.now - since >= timedelta(hours=2)

        refused = observe(HubApi(jupyterhub.api_url, SecretStr("wrong-" + "x" * 20)), "jupyter-")
        assert refused.servers == () and "GET /users answered HTTP 403" in str(refused.error)

        stop(api, user, "lab")
        assert set(jupyterhub.servers(user)) == {""}
        stop(api, user, "lab")  # already gone: nothing to do
        stop(api, f"nobody-{secrets.token_hex(3)}")
    finally:
        jupyterhub.stop_everything()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def answering() -> Iterator[tuple[str, list[bytes], list[str]]]:
    """A loopback HTTP endpoint answering whatever the test puts in its list; it records the
    Authorization headers it receives."""
    bodies: list[bytes] = []
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = bodies[0] if bodies else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub/api", bodies, seen
    finally:
        server.shutdown()
        server.server_close()


TOKEN = "hub-token-that-must-not-leak-9f2c"
LATE = (datetime.now(UTC) + timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>login</html>", "answered something that is not JSON"),
        (b'{"users": []}', "JSON that is not a list of users"),
        (b'{"items": [], "_pagination": {"next": {"offset": -1}}}', "broken pagination"),
        (b'["alice"]', "unbelievable list of users: users[0] is not an object"),
        (
            json.dumps(
                [{"name": "a", "servers": {"": {"ready": True, "last_activity": LATE}}}]
            ).encode(),
            "is not believable",
        ),
    ],
)
def test_an_endpoint_that_is_not_a_believable_hub_yields_nothing(
    answering: tuple[str, list[bytes], list[str]], body: bytes, reason: str
) -> None:
    url, bodies, seen = answering
    bodies.append(body)
    found = observe(HubApi(url, SecretStr(TOKEN)), "jupyter-")
    assert found.servers == () and found.error is not None
    assert reason in found.error and TOKEN not in found.error
    assert seen == [f"token {TOKEN}"]


def test_an_unreachable_hub_yields_nothing_and_stopping_there_fails_clearly() -> None:
    api = HubApi(f"http://user:{TOKEN}@127.0.0.1:{_closed_port()}/hub/api", SecretStr(TOKEN))
    found = observe(api, "jupyter-")
    assert found.error is not None and "unreachable (ConnectError)" in found.error
    assert TOKEN not in found.error and TOKEN not in repr(api)
    with pytest.raises(HubApiError, match="DELETE failed") as caught:
        stop(api, "alice")
    assert TOKEN not in str(caught.value)
