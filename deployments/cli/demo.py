"""``cwh demo``: see the whole progress pipeline work on a fresh machine.

Needs nothing but this package: it starts (or reuses) a local Prefect server backed by
SQLite under ``~/.cwh/prefect`` (its own ``PREFECT_HOME``, so an existing Prefect setup is
left alone), generates a demo course of about 30 students from real lc_wrapper logs, runs
index -> backfill -> progress report as Prefect flow runs against the embedded store, and
prints the Prefect UI address and the heatmap's path.

The server is left running so the UI stays browsable; ``cwh demo --stop-server`` stops
it. A second ``cwh demo`` reuses the server, the course and the stored documents.

The state file records the server's PID together with what identifies that process: its
start time (``/proc/PID/stat`` field 22, clock ticks since boot), the boot it started in
and its command line. A PID is reused once its process is gone, so the server is reused or
signalled only while all of them still match; otherwise the command refuses and says why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
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
class ProcessIdentity:
    """What tells one process apart from a later one that got the same PID."""

    start_ticks: int
    boot_id: str
    cmdline: tuple[str, ...]
    group: int

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """The identity of the live process ``pid``, or None (gone, a zombie, no /proc)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii")
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()
        if len(fields) < 20 or fields[0] in ("Z", "X") or not fields[19].isdigit():
            return None
        cmdline = tuple(raw.decode("utf-8", "replace").rstrip("\0").split("\0"))
        return cls(int(fields[19]), boot_id.strip(), cmdline, int(fields[2]))

    def same_process(self, recorded: dict[str, Any]) -> bool:
        return (
            recorded.get("start_ticks") == self.start_ticks
            and recorded.get("boot_id") == self.boot_id
            and recorded.get("cmdline") == list(self.cmdline)
        )


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


def _read_state(state_file: Path) -> tuple[int, dict[str, Any]]:
    """The recorded PID and the whole state; ValueError when the file cannot be one."""
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if not isinstance(state, dict):
        raise ValueError("it is not a JSON object")
    pid = state.get("pid")
    if type(pid) is not int or pid <= 1:
        raise ValueError(f"its pid {pid!r} is not a process id")
    return pid, state


def _verified(pid: int, state: dict[str, Any]) -> ProcessIdentity | None:
    """The process ``pid`` if it is the one the state file recorded, else None."""
    identity = ProcessIdentity.of(pid)
    if identity is None or not identity.same_process(state):
        return None
    return identity


def recorded_server() -> LocalServer | None:
    """The server a previous ``cwh demo`` started, if it is still running and healthy."""
    try:
        pid, state = _read_state(prefect_home() / STATE_FILE)
        server = LocalServer(pid, int(state["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _verified(pid, state) is not None and _healthy(server.url):
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
            # Read only now: right after the spawn the command line may not be set yet.
            identity = ProcessIdentity.of(process.pid)
            state: dict[str, Any] = {"pid": server.pid, "port": server.port}
            if identity is not None:
                state.update(
                    start_ticks=identity.start_ticks,
                    boot_id=identity.boot_id,
                    cmdline=list(identity.cmdline),
                )
            (home / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
            return server
        time.sleep(0.25)
    _terminate(process.pid, lambda: process.poll() is None)
    process.wait()
    raise ServerError(
        f"Prefect server not healthy after {HEALTH_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}"
    )


class StopRefused(RuntimeError):
    """The state file does not show that its PID is still the demo's server."""


def stop_server() -> str:
    """Stop the recorded server; what happened, or :class:`StopRefused` saying why not."""
    state_file = prefect_home() / STATE_FILE
    if not state_file.exists():
        return "no demo Prefect server was running"
    try:
        pid, state = _read_state(state_file)
    except (OSError, ValueError) as exc:
        raise StopRefused(
            f"the state file {state_file} cannot be read ({exc}); not stopping anything. "
            "Remove the file once no demo server runs."
        ) from None
    identity = ProcessIdentity.of(pid)
    if identity is None:
        state_file.unlink(missing_ok=True)
        return (
            f"no demo Prefect server was running (PID {pid} has exited; "
            f"removed the stale state file {state_file})"
        )
    if "start_ticks" not in state:
        raise StopRefused(
            f"the state file {state_file} does not record when PID {pid} started, so it "
            "cannot be checked to be the demo's Prefect server; not stopping it. If it is, "
            f"stop it with: kill -TERM -- -{pid}"
        )
    if not identity.same_process(state) or identity.group != pid:
        state_file.unlink(missing_ok=True)
        raise StopRefused(
            f"PID {pid} is no longer the demo's Prefect server (another process started "
            f"since); not stopping it. Removed the stale state file {state_file}."
        )
    _terminate(pid, lambda: _verified(pid, state) is not None)
    state_file.unlink(missing_ok=True)
    return "demo Prefect server stopped"


def _terminate(group: int, still_ours: Callable[[], bool]) -> None:
    """SIGTERM to the process group ``group`` (the server's own session), SIGKILL after 15 s.

    ``still_ours`` says whether the group's leader is still the server; nothing is sent once
    it is not.
    """
    if not still_ours():
        return
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and still_ours():
        time.sleep(0.2)
    if still_ours():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def run(args: argparse.Namespace) -> int:
    if args.stop_server:
        try:
            print(stop_server())
        except StopRefused as exc:
            print(f"cwh demo: {exc}", file=sys.stderr)
            return 1
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
