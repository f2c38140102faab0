"""The background process of ``cwh demo``: Prefect server, blocks, deployments, report files.

``cwh demo`` starts this module in a session of its own; everything the demo keeps running
is this process and its children, one process group, so ``cwh demo --stop-server`` stops all
of it with one signal after checking (start time, boot, command line) that the group is still
the one it started. In order, it:

1. starts ``prefect server start`` as a child, with the UI told the API address of the port
   really used (``PREFECT_UI_API_URL``; otherwise the UI of a server on any port but 4200
   would call ``127.0.0.1:4200/api``);
2. registers every block type of the project and saves the ``demo`` block documents;
3. serves the demo's report directory over HTTP next to the API (:mod:`deployments.report_http`)
   and tells the flow runs it starts to link there;
4. registers every deployment of ``prefect.yaml`` pointed at the demo's data
   (:mod:`deployments.demo_deployments`) and executes their runs, so "Run" in the UI works,
   and watches the demo's textbook so that its event triggers fire too.

Its output (and the server's) goes to ``~/.cwh/prefect/server.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

_log = logging.getLogger("cwh.demo.server")
HEALTH_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0


def api_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/api"


def server_environment(home: Path, host: str, port: int) -> dict[str, str]:
    """The Prefect server's environment: its own home, and the UI calling this very port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="true",
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=api_url(host, port),
    )
    return env


def healthy(url: str) -> bool:
    """Whether the API at ``url`` (ending in ``/api``) answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200 and response.read().strip() == b"true")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def prefect_executable() -> str:
    beside = Path(sys.executable).with_name("prefect")
    if beside.exists():
        return str(beside)
    found = shutil.which("prefect")
    if found is None:
        raise RuntimeError("the 'prefect' command is not installed next to this Python")
    return found


@contextlib.contextmanager
def prefect_server(home: Path, host: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A Prefect server child (this process group) until the block ends."""
    process = subprocess.Popen(
        [prefect_executable(), "server", "start", "--host", host, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        env=server_environment(home, host, port),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while not healthy(url):
        if process.poll() is not None:
            raise RuntimeError(f"Prefect server exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Prefect server not healthy after {HEALTH_TIMEOUT_SECONDS} s")
        time.sleep(0.25)


def _stop_on_sigterm() -> None:
    """SIGTERM ends the process through ``finally`` blocks, so the server child is stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _watch_once_there(textbook: Path, stop: threading.Event) -> None:
    """Watch the demo's textbook (as ``cwh serve`` watches the real one) once it exists.

    An edited notebook then runs ``index-textbook`` through its event trigger, and the new
    index ``reenrich``. The course is written by ``cwh demo`` while this process starts, so
    the watcher waits for it rather than announcing its appearance as a change.
    """
    from deployments.serve import start_watcher

    def wait_then_watch() -> None:
        while not stop.is_set() and not textbook.is_dir():
            stop.wait(1.0)
        if not stop.is_set():
            start_watcher(textbook, stop, announce_start=False)

    threading.Thread(target=wait_then_watch, name="textbook-watch-start", daemon=True).start()


def run(args: argparse.Namespace) -> int:
    home = Path(args.prefect_home)
    url = api_url(args.host, args.port)
    _stop_on_sigterm()
    # Prefect reads its settings when first imported: the environment comes first.
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    os.environ.update(
        PREFECT_API_URL=url, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    with prefect_server(home, args.host, args.port) as process:
        # Importing Prefect and every flow takes as long as the server's start: overlap them.
        from blocks.registry import register_block_types, save_demo_blocks
        from deployments.demo_deployments import DemoPlaces, demo_specs
        from deployments.report_http import ReportServer, public_url
        from deployments.serve import read_specs, serve_specs
        from tasks.report_links import announce_report_server

        places = DemoPlaces(Path(args.workdir))
        specs = demo_specs(read_specs(), places.workdir, "demo")
        reports = ReportServer(places.reports, args.host, args.reports_port).start()
        stop = threading.Event()
        try:
            os.environ.update(
                announce_report_server(public_url(args.host, reports.port), reports.directory)
            )
            wait_healthy(process, url)
            _log.info("block types: %s", ", ".join(register_block_types()))
            _log.info("demo blocks: %s", ", ".join(save_demo_blocks(args.language)))
            _watch_once_there(places.textbook_dir, stop)
            serve_specs(specs, textbook=None, pause_on_shutdown=False)
        finally:
            stop.set()
            reports.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployments.demo_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reports-port", type=int, required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--prefect-home", required=True)
    parser.add_argument("--language", default="en", choices=("ja", "en"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return run(args)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
