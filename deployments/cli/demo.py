"""``cwh demo``: see the whole product work on a fresh machine, in the Prefect UI.

Needs nothing but this package: it starts (or reuses) a background process
(:mod:`deployments.demo_server`) holding a local Prefect server backed by SQLite under
``~/.cwh/prefect`` (its own ``PREFECT_HOME``, so an existing Prefect setup is left alone),
the project's block types with ``demo`` documents, every deployment of ``prefect.yaml``
pointed at the demo's data and served (so "Run" works in the UI), and the report files over
HTTP. Meanwhile it generates a demo course of about 30 students from real lc_wrapper logs,
runs index -> backfill -> progress report as Prefect flow runs against the embedded store,
and prints the Prefect UI address and where the reports are.

The background process is left running so the UI stays usable; ``cwh demo --stop-server``
stops it with all its children. A second ``cwh demo`` reuses it, the course and the stored
documents.

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
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwh.messages import Language, language_setting, text
from tasks.store import cwh_home

HEALTH_TIMEOUT_SECONDS = 90.0
DEPLOYMENTS_TIMEOUT_SECONDS = 60.0
PREFERRED_PORT = 4200
STATE_FILE = "cwh-demo-server.json"
ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """The local Prefect server could not be started; the message quotes its log."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="the whole product in the Prefect UI on a generated course (nothing else needed)",
        description=(
            "Starts or reuses a local Prefect server (SQLite, ~/.cwh/prefect) that serves every "
            "deployment of prefect.yaml on demo data, the block types and the report files; "
            "generates a demo course with ~30 students' lc_wrapper logs, runs index -> "
            "backfill -> progress report as flow runs and prints the UI address and where the "
            "reports are. The server keeps running; stop it with 'cwh demo --stop-server'."
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
        "--language", choices=("ja", "en"), help="messages and demo block (default CWH_LANGUAGE)"
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
    reports_port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def reports_url(self) -> str:
        return f"http://127.0.0.1:{self.reports_port}/"


def prefect_home() -> Path:
    return cwh_home() / "prefect"


def _healthy(url: str) -> bool:
    # Imported here: every ``cwh`` command (``cwh enrich`` too) registers this module at start.
    from deployments.demo_server import healthy

    return healthy(f"{url}/api")


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
        server = LocalServer(
            pid, int(state["port"]), int(state["reports_port"]), Path(state["workdir"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _verified(pid, state) is not None and _healthy(server.url):
        return server
    return None


def _choose_ports(port: int | None, language: Language) -> tuple[int, int]:
    """The API port (the one asked for, else 4200 if free, else any) and the reports port."""
    if port is None:
        port = PREFERRED_PORT if _port_free(PREFERRED_PORT) else _free_port()
    elif not _port_free(port):
        raise ServerError(text("cli.demo.port_in_use", language, port=port))
    reports = port + 1 if port < 65535 and _port_free(port + 1) else _free_port()
    return port, reports


def start_server(
    port: int | None,
    workdir: Path,
    language: Language,
    meanwhile: Callable[[LocalServer], None] | None = None,
) -> LocalServer:
    """Start the demo's background process (own session, output to a log file).

    ``meanwhile`` runs while the server starts (the flows' imports take as long).
    """
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    port, reports_port = _choose_ports(port, language)
    log = home / "server.log"
    command = [
        sys.executable, "-m", "deployments.demo_server",
        "--port", str(port), "--reports-port", str(reports_port),
        "--workdir", str(workdir), "--prefect-home", str(home), "--language", language,
    ]  # fmt: skip
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            start_new_session=True,
        )
    server = LocalServer(process.pid, port, reports_port, workdir)
    if meanwhile is not None:
        try:
            meanwhile(server)
        except BaseException:
            _terminate(process.pid, lambda: process.poll() is None)
            raise
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                text("cli.demo.server_exited", language, code=process.returncode, log=_tail(log))
            )
        if _healthy(server.url):
            # Read only now: right after the spawn the command line may not be set yet.
            identity = ProcessIdentity.of(process.pid)
            state: dict[str, Any] = {
                "pid": server.pid,
                "port": server.port,
                "reports_port": reports_port,
                "workdir": str(workdir),
            }
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
        text(
            "cli.demo.server_unhealthy",
            language,
            seconds=f"{HEALTH_TIMEOUT_SECONDS:.0f}",
            log=_tail(log),
        )
    )


class StopRefused(RuntimeError):
    """The state file does not show that its PID is still the demo's server."""


def stop_server(language: Language = "en") -> str:
    """Stop the recorded server; what happened, or :class:`StopRefused` saying why not."""
    state_file = prefect_home() / STATE_FILE
    if not state_file.exists():
        return text("cli.demo.not_running", language)
    try:
        pid, state = _read_state(state_file)
    except (OSError, ValueError) as exc:
        raise StopRefused(
            text("cli.demo.unreadable_state", language, state=state_file, error=exc)
        ) from None
    identity = ProcessIdentity.of(pid)
    if identity is None:
        state_file.unlink(missing_ok=True)
        return text("cli.demo.stale_state", language, pid=pid, state=state_file)
    if "start_ticks" not in state:
        raise StopRefused(text("cli.demo.unverifiable", language, pid=pid, state=state_file))
    if not identity.same_process(state) or identity.group != pid:
        state_file.unlink(missing_ok=True)
        raise StopRefused(text("cli.demo.not_ours", language, pid=pid, state=state_file))
    _terminate(pid, lambda: _verified(pid, state) is not None)
    state_file.unlink(missing_ok=True)
    return text("cli.demo.stopped", language)


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


def _wait_for_deployments(language: Language) -> list[str]:
    """The deployments of ``prefect.yaml`` the background process serves (waits for them)."""
    from prefect import get_client

    from deployments.serve import read_specs

    wanted = {spec.name for spec in read_specs()}
    found: set[str] = set()
    deadline = time.monotonic() + DEPLOYMENTS_TIMEOUT_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            found = {d.name for d in client.read_deployments()} & wanted
            if found == wanted or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    missing = sorted(wanted - found)
    if missing:
        log = prefect_home() / "server.log"
        print(text("cli.demo.deployments_missing", language, names=", ".join(missing), log=log))
    return sorted(found)


def _use_server(server: LocalServer) -> None:
    """Point this process's Prefect client and report links at ``server``, and import the
    flows (Prefect reads its settings when first imported, so the environment comes first)."""
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    os.environ.update(
        PREFECT_API_URL=server.api_url,
        PREFECT_HOME=str(prefect_home()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    from tasks.report_links import announce_report_server

    os.environ.update(announce_report_server(server.reports_url, server.workdir / "reports"))
    import flows.demo  # noqa: F401 - the import is the point: it overlaps the server's start


def run(args: argparse.Namespace) -> int:
    try:
        language = language_setting(args.language)
    except ValueError as exc:
        print(f"cwh demo: {exc}", file=sys.stderr)
        return 2
    if args.stop_server:
        try:
            print(stop_server(language))
        except StopRefused as exc:
            print(f"cwh demo: {exc}", file=sys.stderr)
            return 1
        return 0
    if not 1 <= args.students <= 1000:
        print(f"cwh demo: {text('cli.demo.students_range', language)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    workdir = (args.workdir or cwh_home() / "demo").expanduser().resolve()
    try:
        server = recorded_server()
        if server is None:
            print(text("cli.demo.starting", language), flush=True)
            server = start_server(args.port, workdir, language, meanwhile=_use_server)
        else:
            print(text("cli.demo.reusing", language, url=server.url), flush=True)
            _use_server(server)
    except ServerError as exc:
        print(f"cwh demo: {exc}", file=sys.stderr)
        return 1
    from flows.demo import demo
    from tasks.report_links import report_url

    try:
        state = demo(workdir=str(workdir), students=args.students, return_state=True)
        result = state.result()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"cwh demo: {exc}", file=sys.stderr)
        return 1
    run_id = state.state_details.flow_run_id
    backfill = result["backfill"]
    print(
        text(
            "cli.demo.backfill",
            language,
            indexed=backfill["indexed"],
            present=backfill["already_present"],
            dead=sum(backfill["dead_letters_by_reason"].values()),
        )
    )
    for report in result["reports"]:
        print(
            text(
                "cli.demo.course",
                language,
                course=report["course"],
                students=report["students"],
                questions=report["questions"],
                stuck=report["stuck"],
            )
        )
        print(text("cli.demo.heatmap", language, path=Path(str(report["png"]))))
        print(text("cli.demo.html", language, path=Path(str(report["html"]))))
        if report["latest_html"]:
            url = report_url(Path(report["latest_html"]))
            print(text("cli.demo.report_url", language, url=url))
    served = _wait_for_deployments(language)
    print(
        text(
            "cli.demo.deployments",
            language,
            count=len(served),
            names=", ".join(served),
            url=f"{server.url}/deployments",
        )
    )
    print(text("cli.demo.blocks", language, url=f"{server.url}/blocks/catalog"))
    print(text("cli.demo.ui", language, url=f"{server.url}/runs/flow-run/{run_id}"))
    print(text("cli.demo.done", language, seconds=f"{time.monotonic() - started:.0f}"))
    return 0
