"""What the test JupyterHub loads: a spawner that runs each server as a swarm service of the
lab, and a proxy that keeps its routes in memory.

Imported only inside the hub's own process (``jupyterhub -f`` of
:mod:`tests.services.jupyterhub_service`). The hub is the real ``jupyterhub`` package; these
two classes are its documented extension points, fitted to the lab:

* :class:`LabSwarmSpawner` starts a user's server as a service ``jupyter-<user>`` (named
  servers ``jupyter-<user>--<name>``) pinned by a constraint to the node named in the
  ``node`` user option, as CoursewareHub's swarm spawner runs it on a worker; it keeps the
  service's name and ID in the spawner state under the swarm spawners' keys
  (``object_name``, ``object_id``), stops a server by removing its service, and answers the
  hub's readiness check with the hub's own port (the busybox container serves no HTTP). The
  ``last_activity`` user option back-dates the server's activity, for a server that has sat
  idle since then (the hub only ever moves activity forward on its API);
* :class:`LabProxy` is the proxy API without a proxy process (no Node.js needed): the tests
  talk to the hub's own API port.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import docker  # type: ignore[import-untyped]
from jupyterhub.proxy import Proxy
from jupyterhub.spawner import Spawner
from sqlalchemy.orm import object_session
from traitlets import List, Unicode

STOP_TIMEOUT_S = 60.0


class LabProxy(Proxy):
    """Routes kept in a dict: JupyterHub's proxy API, with nothing in front of the hub."""

    should_start = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.routes: dict[str, dict[str, Any]] = {}

    async def add_route(self, routespec: str, target: str, data: dict[str, Any]) -> None:
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec: str) -> None:
        self.routes.pop(routespec, None)

    async def get_all_routes(self) -> dict[str, dict[str, Any]]:
        return dict(self.routes)


class LabSwarmSpawner(Spawner):  # type: ignore[misc]
    """A user's server as a swarm service on the lab node its ``node`` option names."""

    docker_url = Unicode(config=True, help="Docker API of the lab's swarm manager")
    image = Unicode(config=True, help="image of the server containers")
    command = List(Unicode(), config=True, help="what the container runs")
    service_prefix = Unicode("jupyter-", config=True)
    answer_url = Unicode(config=True, help="an HTTP address that answers the readiness check")

    object_name = ""
    object_id = ""

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.object_name = state.get("object_name", "")
        self.object_id = state.get("object_id", "")

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.object_name:
            state["object_name"] = self.object_name
            state["object_id"] = self.object_id
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.object_name = self.object_id = ""

    def _service_name(self) -> str:
        suffix = f"--{self.name}" if self.name else ""
        return f"{self.service_prefix}{self.user.name}{suffix}"

    def _client(self) -> Any:
        return docker.DockerClient(base_url=self.docker_url, timeout=30)

    async def start(self) -> str:
        node = str(self.user_options.get("node", ""))
        if not node:
            raise ValueError("the lab spawner needs the user option 'node' (a lab hostname)")
        name = self._service_name()
        self.object_id = await asyncio.to_thread(self._create, name, node)
        self.object_name = name
        since = self.user_options.get("last_activity")
        if since:
            moment = datetime.fromisoformat(str(since)).astimezone(UTC).replace(tzinfo=None)
            self.orm_spawner.last_activity = moment
            self.user.orm_user.last_activity = moment
            session = object_session(self.orm_spawner)
            if session is not None:
                session.commit()
        return self.answer_url

    def _create(self, name: str, node: str) -> str:
        client = self._client()
        try:
            service = client.services.create(
                self.image,
                list(self.command),
                name=name,
                constraints=[f"node.hostname=={node}"],
                stop_grace_period=2 * 10**9,
            )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                tasks = client.api.tasks(filters={"service": service.id})
                if any(t["Status"]["State"] == "running" for t in tasks):
                    return str(service.id)
                time.sleep(0.3)
            raise TimeoutError(f"service {name} did not start on {node}")
        finally:
            client.close()

    async def poll(self) -> int | None:
        if not self.object_name:
            return 0
        return await asyncio.to_thread(self._poll)

    def _poll(self) -> int | None:
        client = self._client()
        try:
            client.api.inspect_service(self.object_name)
        except docker.errors.NotFound:
            return 0
        finally:
            client.close()
        return None

    async def stop(self, now: bool = False) -> None:
        if self.object_name:
            await asyncio.to_thread(self._remove, self.object_name, self.object_id)

    def _remove(self, name: str, service_id: str) -> None:
        """Remove the service and wait until its container has stopped."""
        client = self._client()
        try:
            try:
                client.api.remove_service(name)
            except docker.errors.NotFound:
                return
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    tasks = client.api.tasks(filters={"service": service_id})
                except docker.errors.APIError:
                    return
                if not any(t["Status"]["State"] in ("running", "starting") for t in tasks):
                    return
                time.sleep(0.3)
        finally:
            client.close()
