"""``cwh demo``: see the whole progress pipeline work on a fresh machine.

Needs nothing but this package: it starts (or reuses) a local Prefect server backed by
SQLite under ``~/.cwh/prefect`` (its own ``PREFECT_HOME``, so an existing Prefect setup is
left alone), generates a demo course of about 30 students from real lc_wrapper logs, runs
index -> backfill -> progress report as Prefect flow runs against the embedded store, and
prints the Prefect UI address and the heatmap's path.

The server is left running so the UI stays browsable; ``cwh demo --stop-server`` stops
it. A second ``cwh demo`` reuses the server, the course and the stored documents.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.store import cwh_home

HEALTH_TIMEOUT_SECONDS = 90.0
PREFERRED_PORT = 4200
STATE_FILE = "cwh-demo-server.json"


class ServerError(RuntimeError):
    """The local Prefect server could not be started; the message quotes its log."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the progress pipeline on a generated course (nothing else needed)",
        description=(
            "Starts or reuses a local Prefect server (SQLite, ~/.cwh/prefect), generates a "
            "demo course with ~30 students' lc_wrapper logs, runs index -> backfill -> "
            "progress report as flow runs and prints the UI address and the heatmap path. "
            "The server keeps running; stop it with 'cwh demo --stop-server'."
        ),
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the course, store and reports go (~/.cwh/demo)"
    )
    parser.add_argument("--students", type=int, default=30, help="students in the course")
    parser.add_argument(
        "--port", type=int, help=f"server port (default {PREFERRED_PORT} if free, else any)"
    )
    parser.add_argument(
        "--stop-server", action="store_true", help="stop the demo's Prefect server and exit"
    )
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def prefect_home() -> Path:
    return cwh_home() / "prefect"


def _healthy(url: str) -> bool:
    # Imported here: every ``cwh`` command (``cwh enrich`` too) registers this module at start.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
            return bool(response.status == 200 and response.read().strip() == b"true")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def recorded_server() -> LocalServer | None:
    """The server a previous ``cwh demo`` started, if it is still running and healthy."""
    try:
        state = json.loads((prefect_home() / STATE_FILE).read_text(encoding="utf-8"))
        server = LocalServer(int(state["pid"]), int(state["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _alive(server.pid) and _healthy(server.url):
        return server
    return None


def _prefect_executable() -> str:
    beside = Path(sys.executable).with_name("prefect")
    if beside.exists():
        return str(beside)
    found = shutil.which("prefect")
    if found is None:
        raise ServerError("the 'prefect' command is not installed next to this Python")
    return found


def server_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="true",
    )
    return env


def start_server(port: int | None) -> LocalServer:
    """Start ``prefect server start`` detached (own session, output to a log file)."""
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = PREFERRED_PORT if _port_free(PREFERRED_PORT) else _free_port()
    elif not _port_free(port):
        raise ServerError(f"port {port} is in use; choose another with --port")
    log = home / "server.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [_prefect_executable(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=server_environment(),
            start_new_session=True,
        )
    server = LocalServer(process.pid, port)
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"Prefect server exited with {process.returncode}:\n{_tail(log)}")
        if _healthy(server.url):
            state = {"pid": server.pid, "port": server.port}
            (home / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
            return server
        time.sleep(0.25)
    _terminate(server.pid)
    raise ServerError(
        f"Prefect server not healthy after {HEALTH_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}"
    )


def stop_server() -> bool:
    state_file = prefect_home() / STATE_FILE
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    stopped = _terminate(pid) if _alive(pid) else False
    state_file.unlink(missing_ok=True)
    return stopped


def _terminate(pid: int) -> bool:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(pid):
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            waited = 0
        if waited == pid:
            break
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def run(args: argparse.Namespace) -> int:
    if args.stop_server:
        stopped = stop_server()
        print("demo Prefect server stopped" if stopped else "no demo Prefect server was running")
        return 0
    if not 1 <= args.students <= 1000:
        print("cwh demo: --students must be between 1 and 1000", file=sys.stderr)
        return 2
    started = time.monotonic()
    workdir = (args.workdir or cwh_home() / "demo").expanduser().resolve()
    try:
        server = recorded_server()
        if server is None:
            print("starting a local Prefect server (first start takes ~10-20 s)...", flush=True)
            server = start_server(args.port)
        else:
            print(f"reusing the local Prefect server at {server.url}", flush=True)
    except ServerError as exc:
        print(f"cwh demo: {exc}", file=sys.stderr)
        return 1
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    os.environ.update(
        PREFECT_API_URL=server.api_url,
        PREFECT_HOME=str(prefect_home()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    from flows.demo import demo

    try:
        state = demo(workdir=str(workdir), students=args.students, return_state=True)
        result = state.result()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"cwh demo: {exc}", file=sys.stderr)
        return 1
    run_id = state.state_details.flow_run_id
    backfill = result["backfill"]
    print(
        f"backfill: {backfill['indexed']} indexed, {backfill['already_present']} already "
        f"present, {sum(backfill['dead_letters_by_reason'].values())} dead letters"
    )
    for report in result["reports"]:
        print(
            f"{report['course']}: {report['students']} students x {report['questions']} "
            f"questions, {report['stuck']} stuck"
        )
        print(f"  heatmap: {Path(report['png'])}")
        print(f"  html:    {Path(report['html'])}")
    print(f"Prefect UI: {server.url}/runs/flow-run/{run_id}")
    print(
        f"done in {time.monotonic() - started:.0f} s; stop the server with: cwh demo --stop-server"
    )
    return 0
