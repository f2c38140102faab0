"""A real single-node Elasticsearch on 127.0.0.1, for tests and benchmarks.

The node is the official integration-test distribution from Maven Central, run on the
machine's JDK. It is fetched once into a cache outside the clone, so reruns start in
seconds. Elasticsearch refuses to run as root, so under root the node runs as a dedicated
unprivileged system user; its install lives in a world-traversable cache directory for the
same reason (``/root`` is not readable by that user).

This module has no pytest dependency so that ``bench/`` scripts can start a node too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ES_VERSION = os.environ.get("CWH_ES_VERSION", "8.19.21")
ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
SERVICE_USER = "cwhes"
DEFAULT_CACHE = Path("/var/tmp/cwh-flows-cache")
HEAP = "512m"
"""Test nodes stay small; a benchmark passes a production-like heap to :func:`running_node`."""
STARTUP_TIMEOUT_S = 180.0


class ElasticsearchUnavailable(RuntimeError):
    """The test node could not be fetched or started; the message carries the exact cause."""


def cache_dir() -> Path:
    return Path(os.environ.get("CWH_CACHE_DIR", str(DEFAULT_CACHE)))


def _java_home() -> str:
    for key in ("ES_JAVA_HOME", "JAVA_HOME"):
        value = os.environ.get(key)
        if value and Path(value, "bin", "java").exists():
            return value
    java = shutil.which("java")
    if java is None:
        raise ElasticsearchUnavailable("no JDK found: install openjdk-17-jdk-headless")
    return str(Path(java).resolve().parents[1])


def fetch_distribution(version: str = ES_VERSION) -> Path:
    """Download the zip with Maven (once) and return its path."""
    target = cache_dir() / "downloads"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / f"elasticsearch-{version}.zip"
    if archive.exists() and zipfile.is_zipfile(archive):
        return archive
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ElasticsearchUnavailable("Maven (mvn) is needed to fetch the Elasticsearch zip")
    command = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={ES_ARTIFACT.format(version=version)}",
        f"-DoutputDirectory={target}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not archive.exists():
        raise ElasticsearchUnavailable(
            f"fetching {ES_ARTIFACT.format(version=version)} failed "
            f"(exit {done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return archive


def install_distribution(version: str = ES_VERSION) -> Path:
    """Unpack the distribution once; the install is shared read-only by every node."""
    home = cache_dir() / f"elasticsearch-{version}"
    marker = home / ".unpacked"
    if marker.exists():
        return home
    archive = fetch_distribution(version)
    staging = Path(tempfile.mkdtemp(prefix="es-unpack-", dir=cache_dir()))
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(staging)
    unpacked = staging / f"elasticsearch-{version}"
    for path in (unpacked / "bin").iterdir():
        path.chmod(0o755)
    for path in unpacked.rglob("*"):
        mode = path.stat().st_mode
        path.chmod(mode | 0o044 | (0o011 if path.is_dir() else 0))
    if home.exists():
        shutil.rmtree(home)
    unpacked.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    cache_dir().chmod(0o755)
    home.chmod(0o755)
    marker.touch()
    return home


def _ensure_service_user() -> pwd.struct_passwd | None:
    """Under root, return the unprivileged user the node runs as (created on first use)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ElasticsearchNode:
    """One running node; ``url`` is what clients use."""

    home: Path
    workdir: Path
    http_port: int
    heap: str = HEAP
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        """Start the node; after :meth:`stop` it starts again on the same data and port."""
        user = _ensure_service_user()
        config = self.workdir / "config"
        if not config.exists():
            shutil.copytree(self.home / "config", config)
        for sub in ("data", "logs", "tmp"):
            (self.workdir / sub).mkdir(exist_ok=True)
        if user is not None:
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ES_JAVA_HOME": _java_home(),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            "ES_PATH_CONF": str(config),
            "ES_TMPDIR": str(self.workdir / "tmp"),
            "HOME": str(self.workdir),
        }
        command = [
            str(self.home / "bin" / "elasticsearch"),
            "-E",
            "network.host=127.0.0.1",
            "-E",
            f"http.port={self.http_port}",
            "-E",
            "transport.port=0",
            "-E",
            "discovery.type=single-node",
            "-E",
            "xpack.security.enabled=false",
            "-E",
            f"path.data={self.workdir / 'data'}",
            "-E",
            f"path.logs={self.workdir / 'logs'}",
            "-E",
            "cluster.routing.allocation.disk.threshold_enabled=false",
            "-E",
            "action.destructive_requires_name=false",
        ]
        if user is not None:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        health = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ElasticsearchUnavailable(
                    f"Elasticsearch exited with {self.process.returncode}:\n{self.tail()}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(health, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.25)
        self.stop()
        raise ElasticsearchUnavailable(
            f"Elasticsearch not healthy after {STARTUP_TIMEOUT_S:.0f}s:\n{self.tail()}"
        )

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@contextlib.contextmanager
def running_node(version: str = ES_VERSION, heap: str = HEAP) -> Iterator[ElasticsearchNode]:
    """Start a fresh node on a free port and remove every trace of it afterwards."""
    home = install_distribution(version)
    workdir = Path(tempfile.mkdtemp(prefix="cwh-es-"))
    workdir.chmod(0o755)
    node = ElasticsearchNode(home=home, workdir=workdir, http_port=free_port(), heap=heap)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(workdir, ignore_errors=True)
