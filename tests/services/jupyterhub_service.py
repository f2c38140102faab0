"""pytest plugin: a real JupyterHub (the ``jupyterhub`` package from PyPI) on the swarm lab.

Fixture
-------
``jupyterhub`` (session)
    Starts ``python -m jupyterhub`` in a subprocess on loopback ports picked free, with its
    own temporary directory (SQLite database, cookie secret, log), and yields a
    :class:`JupyterHubLab`. Servers run as swarm services on the lab's nodes through
    :class:`tests.services.jupyterhub_lab.LabSwarmSpawner`; the proxy is
    :class:`tests.services.jupyterhub_lab.LabProxy`, so no Node.js proxy is involved and
    clients talk to the hub's own API port (``http://127.0.0.1:<port>/hub/api``).

Two API tokens: ``token`` belongs to a service ``cwh-flows`` holding exactly the scopes the
reconcile flow documents (what an installation grants it), ``admin_token`` to a service with
the admin role that the tests use to create users, start servers and set their activity.
At teardown every server is stopped through the hub (which removes its swarm service), the
hub is terminated and its directory removed. Tests use user names of their own (a random
suffix), so they never see each other's servers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.services.local_swarm import IDLE_COMMAND, TEST_IMAGE, LocalSwarm

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
FLOW_SCOPES = (
    "list:users",
    "read:users:name",
    "read:users:activity",
    "read:servers",
    "admin:server_state",
    "servers",
)

CONFIG = """\
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{directory}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{directory}/cookie_secret"
c.JupyterHub.pid_file = "{directory}/jupyterhub.pid"
c.JupyterHub.proxy_class = "tests.services.jupyterhub_lab.LabProxy"
c.JupyterHub.spawner_class = "tests.services.jupyterhub_lab.LabSwarmSpawner"
c.JupyterHub.authenticator_class = "null"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = True
c.JupyterHub.last_activity_interval = 0
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 30
c.LabSwarmSpawner.docker_url = {docker_url!r}
c.LabSwarmSpawner.image = {image!r}
c.LabSwarmSpawner.command = {command!r}
c.LabSwarmSpawner.answer_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.services = [
    {{"name": "cwh-flows", "api_token": {token!r}}},
    {{"name": "lab-admin", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "cwh-flows-workers", "scopes": {scopes!r}, "services": ["cwh-flows"]}},
    {{"name": "admin", "services": ["lab-admin"]}},
]
"""


class JupyterHubLabError(RuntimeError):
    """The test hub could not be started."""


@dataclass
class JupyterHubLab:
    """The running hub: its API, tokens, and what the tests do as its admin."""

    api_url: str
    token: str
    admin_token: str
    directory: Path
    log_file: Path

    def _admin(self) -> httpx.Client:
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60.0)

    def start_server(
        self, user: str, node: str, server: str = "", last_activity: datetime | None = None
    ) -> None:
        """Create ``user`` if needed and start a server on lab node ``node`` (a hostname),
        idle since ``last_activity`` when given; returns once the hub reports it ready."""
        options: dict[str, Any] = {"node": node}
        if last_activity is not None:
            options["last_activity"] = last_activity.isoformat()
        with self._admin() as client:
            created = client.post(f"/users/{quote(user)}")
            if created.status_code not in (201, 409):
                raise AssertionError(f"user {user} not created: {created.text}")
            path = f"/users/{quote(user)}/" + (f"servers/{quote(server)}" if server else "server")
            started = client.post(path, json=options)
            if started.status_code not in (201, 202):
                raise AssertionError(f"server of {user} not started: {started.text}")
            deadline = time.monotonic() + 150
            while not self._ready(client, user, server):
                if time.monotonic() > deadline:
                    raise AssertionError(f"server of {user} not ready:\n{_tail(self.log_file)}")
                time.sleep(0.5)

    @staticmethod
    def _ready(client: httpx.Client, user: str, server: str) -> bool:
        model = client.get(f"/users/{quote(user)}").json()
        found = (model.get("servers") or {}).get(server)
        return bool(found and found.get("ready"))

    def touch(self, user: str, when: datetime, server: str = "") -> None:
        """Report activity on a server, as the single-user server does while it is used."""
        stamp = when.isoformat()
        body = {"last_activity": stamp, "servers": {server: {"last_activity": stamp}}}
        with self._admin() as client:
            response = client.post(f"/users/{quote(user)}/activity", json=body)
            if response.status_code not in (200, 204):
                raise AssertionError(f"activity of {user} refused: {response.text}")

    def servers(self, user: str) -> dict[str, Any]:
        with self._admin() as client:
            response = client.get(f"/users/{quote(user)}")
            if response.status_code == 404:
                return {}
            servers: dict[str, Any] = response.json().get("servers") or {}
            return servers

    def stop_everything(self) -> None:
        """Stop every server the hub runs (their swarm services go with them)."""
        with self._admin() as client:
            for user in client.get("/users").json():
                for name in user.get("servers") or {}:
                    path = f"/users/{quote(user['name'])}/" + (
                        f"servers/{quote(name)}" if name else "server"
                    )
                    client.delete(path)
            deadline = time.monotonic() + 90
            while any(u.get("servers") for u in client.get("/users").json()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-40:])
    except FileNotFoundError:
        return "(no log)"


def _wait_up(process: subprocess.Popen[bytes], lab: JupyterHubLab) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise JupyterHubLabError(
                f"jupyterhub exited with {process.returncode}; log:\n{_tail(lab.log_file)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{lab.api_url}/", timeout=2.0).status_code == 200:
                return
        time.sleep(0.3)
    raise JupyterHubLabError(f"jupyterhub not up in time; log:\n{_tail(lab.log_file)}")


@contextlib.contextmanager
def running_jupyterhub(directory: Path, swarm: LocalSwarm) -> Iterator[JupyterHubLab]:
    """A hub whose servers run on ``swarm``, with its files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    hub_port, proxy_port = _free_port(), _free_port()
    lab = JupyterHubLab(
        api_url=f"http://127.0.0.1:{hub_port}/hub/api",
        token=secrets.token_hex(24),
        admin_token=secrets.token_hex(24),
        directory=directory,
        log_file=directory / "jupyterhub.log",
    )
    config = directory / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            proxy_port=proxy_port,
            hub_port=hub_port,
            directory=directory,
            docker_url=swarm.manager.docker_url,
            image=TEST_IMAGE,
            command=list(IDLE_COMMAND),
            token=lab.token,
            admin_token=lab.admin_token,
            scopes=list(FLOW_SCOPES),
        )
    )
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("JUPYTERHUB_")
    }
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    with lab.log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_up(process, lab)
        yield lab
    finally:
        try:
            if process.poll() is None:
                lab.stop_everything()
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def jupyterhub(local_swarm: LocalSwarm) -> Iterator[JupyterHubLab]:
    """The session's JupyterHub, its servers on the session's swarm lab.

    Its directory is its own (not under pytest's numbered temporary directories, which
    another pytest session on the machine may prune while the hub's database is open).
    """
    directory = Path(tempfile.mkdtemp(prefix="cwh-jupyterhub-"))
    try:
        with running_jupyterhub(directory, local_swarm) as lab:
            yield lab
    except JupyterHubLabError as exc:
        pytest.fail(f"real JupyterHub unavailable: {exc}", pytrace=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
