"""pytest plugin: one real local Prefect server for the whole test session.

Fixtures
--------
``prefect_api`` (session)
    Starts ``prefect server start`` in a subprocess on a free port of 127.0.0.1 with a
    temporary ``PREFECT_HOME`` (fresh SQLite database) and analytics off, waits for
    ``/api/health``, and yields the API URL (``http://127.0.0.1:<port>/api``). For the
    session, in-process Prefect settings point at it (``PREFECT_API_URL``) with flow
    heartbeats off (each sync flow run otherwise pays up to 1 s joining the heartbeat
    thread), and ``os.environ["PREFECT_API_URL"]`` is set so subprocesses inherit it.
    At teardown the server's process group is terminated and the settings restored.
``prefect_subprocess_env`` (session)
    An environment for child processes (``serve``, workers, ``prefect`` CLI): the
    current environment without the caller's ``PREFECT_*`` settings, plus the API URL,
    a temporary client ``PREFECT_HOME`` and analytics off.

The server takes roughly 10 s to start on a fresh database (migrations), so request it
only from tests that need a server and mark them ``@pytest.mark.prefect``. Everything a
test creates lives in the temporary database and disappears with the session. The
server log is kept in the temporary home; a server that fails to start is reported with
the end of that log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 15.0
START_ATTEMPTS = 3
LOG_TAIL_LINES = 40


class PrefectServerError(RuntimeError):
    """The local Prefect server could not be started."""


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    log_file: Path
    pid: int


def clean_environment() -> dict[str, str]:
    """The current environment without any ``PREFECT_*`` variable of the caller's."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return "(no server log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's own process group (it was started in a new session)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _wait_healthy(process: subprocess.Popen[bytes], api_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrefectServerError(
                f"prefect server exited with code {process.returncode} before becoming healthy;"
                f" log tail:\n{_log_tail(log_file)}"
            )
        try:
            response = httpx.get(f"{api_url}/health", timeout=2.0)
            if response.status_code == 200 and response.json() is True:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    raise PrefectServerError(
        f"prefect server not healthy after {STARTUP_TIMEOUT_SECONDS:.0f} s;"
        f" log tail:\n{_log_tail(log_file)}"
    )


@contextlib.contextmanager
def running_prefect_server(home: Path) -> Iterator[PrefectServer]:
    """Start a server with its data in ``home``; stop it when the block ends.

    A port picked as free can be taken by another process before the server binds it,
    so a server that fails to bind is retried on a new port; any other start-up failure
    is reported at once with the end of the server log.
    """
    home.mkdir(parents=True, exist_ok=True)
    environment = clean_environment()
    environment.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
    )
    last_error: PrefectServerError | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        log_file = home / f"server-{attempt}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_healthy(process, api_url, log_file)
        except PrefectServerError as exc:
            _stop(process)
            last_error = exc
            if "address already in use" in _log_tail(log_file).lower():
                continue
            raise

        try:
            yield PrefectServer(api_url=api_url, home=home, log_file=log_file, pid=process.pid)
        finally:
            _stop(process)
        return
    assert last_error is not None
    raise last_error


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """API URL of a real local Prefect server shared by the whole session."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    home = tmp_path_factory.mktemp("prefect-server-home")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_prefect_server(home))
        except PrefectServerError as exc:
            pytest.fail(f"real Prefect server unavailable: {exc}", pytrace=False)
        stack.enter_context(_exported("PREFECT_API_URL", server.api_url))
        stack.enter_context(_websocket_pings_off_the_global_random())
        stack.enter_context(
            temporary_settings(
                {PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
            )
        )
        yield server.api_url


@contextlib.contextmanager
def _websocket_pings_off_the_global_random() -> Iterator[None]:
    """Give websockets' ping payloads a random generator of their own.

    Once a flow has run, Prefect's event client keeps a websocket to the server open from a
    background thread, and websockets draws every ping payload (keepalive and Prefect's
    checkpoints) from the global ``random``. A ping that lands while Hypothesis generates an
    example changes the global state under it, and Hypothesis then warns that the strategy
    being drawn "uses the random module", naming whichever property test was running.
    """
    import random

    from websockets.asyncio import connection

    names = vars(connection)
    previous = names["random"]
    names["random"] = random.Random()
    try:
        yield
    finally:
        names["random"] = previous


@contextlib.contextmanager
def _exported(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the block, restoring the previous value."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@pytest.fixture(scope="session")
def prefect_subprocess_env(
    prefect_api: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment for child processes that talk to the session's Prefect server."""
    environment = clean_environment()
    environment.update(
        PREFECT_API_URL=prefect_api,
        PREFECT_HOME=str(tmp_path_factory.mktemp("prefect-client-home")),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return environment
