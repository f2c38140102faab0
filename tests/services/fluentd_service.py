"""A real fluentd for tests: the vendored fluentd v1.15.3 on Debian's Ruby.

The tree in ``../shared/vendor`` (seen from the project root; ``CWH_FLUENTD_VENDOR_DIR``
overrides it) holds the upstream source of fluentd and fluent-plugin-elasticsearch; the Ruby
libraries they need are Debian packages that ``.ci/run`` installs. fluentd runs exactly as in
production: a supervisor that re-executes itself as the worker, so ``RUBYLIB`` is passed in the
environment, never as ``-I``.

:class:`FluentdService` runs one fluentd from a config text in a working directory of its own
(config, log, and whatever buffer paths the config points there). It picks a free loopback
port for ``in_forward`` (``service.port``) before the config is written, so a test renders its
config with that port. ``start()`` returns once the forward port accepts connections and the
log says the worker is running; ``stop()`` shuts down gracefully, ``kill_hard()`` is a
``kill -9`` of the supervisor, the worker and every child (exec/exec_filter commands), and a
later ``start()`` with the same directory resumes the file buffers. Every service still running
when the test process exits is killed, so no fluentd outlives a session.

Fixtures
--------
``fluentd_factory`` (function)
    ``fluentd_factory(env=None, name="fluentd")`` returns a new, not yet started
    :class:`FluentdService` whose working directory is ``tmp_path / name``; every service made
    is stopped (then killed, if needed) when the test ends.

This module imports pytest only for the fixture, so ``bench/`` scripts can use the class too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import psutil
import pytest

FLUENTD_VERSION = "1.15.3"
ES_PLUGIN_VERSION = "5.2.5"
VENDOR_ENV = "CWH_FLUENTD_VENDOR_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENDOR_DIR = REPO_ROOT.parent / "shared" / "vendor"
CONFIG_NAME = "fluent.conf"
LOG_NAME = "fluentd.log"
READY_LINE = "fluentd worker is now running"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
DRY_RUN_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 40
DEBIAN_PACKAGES = (
    "ruby ruby-msgpack ruby-cool.io ruby-serverengine ruby-sigdump ruby-yajl ruby-tzinfo "
    "ruby-strptime ruby-http-parser.rb ruby-webrick ruby-elasticsearch ruby-excon ruby-faraday"
)


class FluentdError(RuntimeError):
    """fluentd could not be found, started or stopped; the message carries the cause and the
    end of fluentd's log."""


def vendor_dir() -> Path:
    return Path(os.environ.get(VENDOR_ENV, str(DEFAULT_VENDOR_DIR)))


def fluentd_paths() -> tuple[Path, list[Path]]:
    """The ``bin/fluentd`` script and the ``RUBYLIB`` entries, checked to exist."""
    root = vendor_dir()
    script = root / f"fluentd-{FLUENTD_VERSION}" / "bin" / "fluentd"
    libs = [
        root / f"fluentd-{FLUENTD_VERSION}" / "lib",
        root / f"fluent-plugin-elasticsearch-{ES_PLUGIN_VERSION}" / "lib",
    ]
    for path in (script, *libs):
        if not path.exists():
            raise FluentdError(
                f"vendored fluentd incomplete: {path} is missing "
                f"(expected the tree described in {root / 'README.md'}; set {VENDOR_ENV} "
                "to another copy)"
            )
    return script, libs


def ruby_binary() -> str:
    ruby = shutil.which("ruby")
    if ruby is None:
        raise FluentdError(f"ruby not found: install the Debian packages {DEBIAN_PACKAGES}")
    return ruby


def free_port() -> int:
    """A loopback port free for both TCP and UDP (in_forward listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise FluentdError("no loopback port free for both TCP and UDP")


def fluentd_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment with ``RUBYLIB`` set to the vendored libraries, plus ``extra``."""
    _, libs = fluentd_paths()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RUBYLIB", "RUBYOPT", "GEM_HOME", "GEM_PATH", "BUNDLE_GEMFILE"}
    }
    env["RUBYLIB"] = os.pathsep.join(str(lib) for lib in libs)
    env.update(extra or {})
    return env


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


_RUNNING: set[FluentdService] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_all_running() -> None:
    with _RUNNING_LOCK:
        services = list(_RUNNING)
    for service in services:
        with contextlib.suppress(Exception):
            service.kill_hard()


atexit.register(_kill_all_running)


class FluentdService:
    """One fluentd (supervisor + worker) run from a config text in ``workdir``.

    ``port`` is a free loopback port chosen at construction for the config's ``in_forward``
    (``bind 127.0.0.1``, ``port <service.port>``); readiness is checked on it. ``env`` is added
    to the child's environment (e.g. ``CWH_ES_PASSWORD``). fluentd's stdout and stderr go to
    ``log_path`` (appended across restarts); :meth:`log_text` reads it.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})
        self.port = port if port is not None else free_port()
        self.verbose = verbose
        self.config_path = workdir / CONFIG_NAME
        self.log_path = workdir / LOG_NAME
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, config: str | None = None, *, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Start fluentd with ``config`` (written to ``config_path``), or with the config of the
        previous start when ``config`` is None; return once it accepts forward connections."""
        if self.running:
            raise FluentdError(f"fluentd in {self.workdir} is already running")
        if config is not None:
            self.config_path.write_text(config, encoding="utf-8")
        elif not self.config_path.exists():
            raise FluentdError("the first start() needs a config text")
        script, _ = fluentd_paths()
        command = [ruby_binary(), str(script), "-c", str(self.config_path)]
        if self.verbose:
            command.append("-v")
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            log.write(f"===== cwh test service: starting {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=fluentd_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        try:
            self._wait_ready(timeout_s)
        except FluentdError:
            self.kill_hard()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FluentdError(
                    f"fluentd exited with code {self.process.returncode} before it was ready;"
                    f" log tail:\n{self.log_tail()}"
                )
            if READY_LINE in self.log_text(since_start=True) and _port_accepts(self.port):
                return
            time.sleep(0.1)
        raise FluentdError(
            f"fluentd not ready after {timeout_s:.0f} s (waiting for {READY_LINE!r} and a"
            f" listener on 127.0.0.1:{self.port}); log tail:\n{self.log_tail()}"
        )

    def pids(self) -> list[int]:
        """The supervisor and every live process under it or in its session (worker, children)."""
        if self.process is None:
            return []
        leader = self.process.pid
        found: set[int] = set()
        if self.process.poll() is None:
            with contextlib.suppress(psutil.Error):
                found.add(leader)
                found.update(
                    child.pid
                    for child in psutil.Process(leader).children(recursive=True)
                    if _alive(child)
                )
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if proc.pid != os.getpid() and os.getsid(proc.pid) == leader and _alive(proc):
                    found.add(proc.pid)
        return sorted(found)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Graceful shutdown (SIGTERM to the whole process group); kill what is left after
        ``timeout_s``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        self.kill_hard()

    def kill_hard(self) -> None:
        """``kill -9`` of the supervisor, the worker and every child, then wait until all are
        gone: what a power cut or the OOM killer leaves behind is only the files."""
        if self.process is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while True:
            members = self.pids()
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.5)
            if not self.pids():
                break
            if time.monotonic() > deadline:
                raise FluentdError(f"fluentd processes survive kill -9: {self.pids()}")
            time.sleep(0.05)
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    # ------------------------------------------------------------------ checks and logs

    def dry_run(self, config: str, *, timeout_s: float = DRY_RUN_TIMEOUT_S) -> tuple[bool, str]:
        """``fluentd --dry-run -c`` of ``config`` (as this service would run it): whether the
        config is valid, and fluentd's output (the error message when it is not)."""
        script, _ = fluentd_paths()
        path = self.workdir / "dry-run.conf"
        path.write_text(config, encoding="utf-8")
        try:
            done = subprocess.run(
                [ruby_binary(), str(script), "--dry-run", "-c", str(path)],
                cwd=self.workdir,
                env=fluentd_environment(self.env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return False, f"fluentd --dry-run did not finish in {timeout_s:.0f} s: {exc.output!r}"
        return done.returncode == 0, done.stdout + done.stderr

    def log_text(self, *, since_start: bool = False) -> str:
        """fluentd's log: all of it, or only what the latest start wrote."""
        try:
            with self.log_path.open("rb") as log:
                if since_start:
                    log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_text(since_start=True)
        return "\n".join(text.splitlines()[-lines:]) if text else "(fluentd wrote no log)"

    def wait_for_log(self, text: str, *, timeout_s: float = 60.0, since_start: bool = True) -> None:
        """Wait until ``text`` appears in the log; fail with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log_text(since_start=since_start):
                return
            time.sleep(0.1)
        raise FluentdError(
            f"{text!r} not in fluentd's log after {timeout_s:.0f} s; log tail:\n{self.log_tail()}"
        )


def _alive(process: psutil.Process) -> bool:
    """Running, not a zombie waiting for its parent (init) to reap it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def fluentd_factory(tmp_path: Path) -> Iterator[Callable[..., FluentdService]]:
    """Make fluentd services for one test (not started); all are stopped when it ends."""
    made: list[FluentdService] = []

    def make(env: Mapping[str, str] | None = None, name: str = "fluentd") -> FluentdService:
        try:
            fluentd_paths()
            ruby_binary()
        except FluentdError as exc:
            pytest.fail(f"real fluentd unavailable: {exc}", pytrace=False)
        service = FluentdService(tmp_path / name, env=env)
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()
