"""A real multi-node Docker Swarm on one machine, for tests, the benchmark and the local VM
provider (:mod:`tests.services.local_dockerd_provider`).

Every node is a separate ``dockerd`` in its own network, UTS and mount namespace, with its own
data root, exec root and unix socket. Nodes hang off a bridge inside a private "hub" network
namespace, so the lab's addresses exist only inside namespaces it created: nothing is added to
the machine's own interfaces, routes or firewall, and nothing leaves the machine. One shared
network namespace would not do: the workers' gossip agents could not bind their port and overlay
service discovery would be dead.

Each instance owns a unique prefix (namespace and cgroup names) and a directory under a short
root (unix socket paths are limited to about 108 bytes and containerd nests its sockets under the
exec root). ``close()`` tears everything down even after a partial failure, and
:func:`reap_stale_labs` removes labs whose owning process died without closing them, so a crashed
run never blocks the next one.

Needs root, ``dockerd`` (Debian ``docker.io``), ``ip`` (``iproute2``), ``nsenter``/``unshare``
(``util-linux``) and, for :meth:`LocalSwarm.load_test_image`, ``busybox-static``.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]

LOG = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/tmp/cwhsw")
DEFAULT_SUBNET = "10.99.0.0/24"
TEST_IMAGE = "cwh-lab/busybox:1"
BUSYBOX_PATH = Path("/bin/busybox")
# A PID 1 that honours SIGTERM: plain `sleep` ignores it, so every stop would wait the grace period.
IDLE_COMMAND: tuple[str, ...] = ("sh", "-c", 'trap "exit 0" TERM; while :; do sleep 1; done')

_PREFIX_RE = re.compile(r"^cw[0-9a-f]{6}$")
_NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_REQUIRED_TOOLS = {
    "dockerd": "docker.io",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
}
_API_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
_OWNER_FILE = "owner"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin
_IMAGE_TAR = "test-image.tar"


class LabError(RuntimeError):
    """The lab could not be built, changed or torn down; the message says which step and why."""


@dataclass(frozen=True)
class NodeSpec:
    """What to create: a node name (1-12 of [a-z0-9]), its address and its host name."""

    name: str
    ip: str
    hostname: str | None = None


@dataclass
class LabNode:
    """One simulated machine: a dockerd with its own namespaces, address and directories."""

    name: str
    ip: str
    hostname: str
    directory: Path
    netns: str
    cgroup: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.directory / "docker.sock"

    @property
    def docker_url(self) -> str:
        """URL for the docker SDK/CLI; a unix socket works from any network namespace."""
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def check_prerequisites() -> None:
    """Fail with the exact missing piece instead of an obscure error half-way through bring-up."""
    if os.geteuid() != 0:
        raise LabError("the local swarm lab needs root (network namespaces, mounts, cgroups)")
    missing = [
        f"{tool} (Debian package {package})"
        for tool, package in _REQUIRED_TOOLS.items()
        if shutil.which(tool) is None
    ]
    if missing:
        raise LabError("the local swarm lab needs these programs on PATH: " + ", ".join(missing))
    if not Path("/sys/fs/cgroup").is_dir():
        raise LabError("the local swarm lab needs cgroups mounted at /sys/fs/cgroup")


class LocalSwarm:
    """A disposable swarm lab; use as a context manager or call :meth:`close`.

    ``dispatcher_heartbeat_s`` (default 1 s, swarm's own default is 5 s) makes the manager
    notice a stopped node in about 2.5 s instead of 8-14 s. ``root`` must stay short: the
    daemons' unix sockets live under it.

    Typical use::

        with LocalSwarm() as lab:
            manager = lab.start_manager()
            worker = lab.add_node("w1", "10.99.0.11", hostname="worker1")
            lab.join(worker)
            lab.load_test_image()
            client = lab.docker_client(manager)
    """

    def __init__(
        self,
        *,
        root: Path = DEFAULT_ROOT,
        subnet: str = DEFAULT_SUBNET,
        dispatcher_heartbeat_s: int = 1,
        busybox: Path = BUSYBOX_PATH,
        reap_stale: bool = True,
    ) -> None:
        check_prerequisites()
        self.subnet = ipaddress.IPv4Network(subnet)
        if self.subnet.prefixlen > 29:
            raise LabError(f"subnet {subnet} is too small for a lab (need /29 or larger)")
        self.hub_ip = str(next(self.subnet.hosts()))
        self.dispatcher_heartbeat_s = dispatcher_heartbeat_s
        self.busybox = busybox
        self.root = root
        self.prefix = "cw" + secrets.token_hex(3)
        self.directory = root / self.prefix
        deepest = self.directory / ("n" * 12) / "x" / "containerd" / "containerd.sock.ttrpc"
        if len(str(deepest)) > _MAX_SOCKET_PATH:
            raise LabError(
                f"lab root {root} is too long: containerd's sockets under it would exceed "
                f"the {_MAX_SOCKET_PATH}-byte unix socket path limit"
            )
        self._nodes: dict[str, LabNode] = {}
        self._manager: str | None = None
        self._clients: dict[tuple[str, int], Any] = {}
        self._hub_ready = False
        self._closed = False
        if reap_stale:
            reap_stale_labs(root)
        self._make_directory()
        # Written before any namespace exists, so a crash at any later point is recognisable.
        (self.directory / _OWNER_FILE).write_text(_owner_stamp(os.getpid()))

    def _make_directory(self) -> None:
        # Another lab's close() may remove the shared root between our two mkdir calls.
        for _ in range(5):
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                self.directory.mkdir(mode=0o700)
                return
            except FileNotFoundError:
                continue
        raise LabError(f"could not create the lab directory {self.directory}")

    # ----------------------------------------------------------------- properties

    @property
    def hub_netns(self) -> str:
        return f"{self.prefix}-hub"

    @property
    def nodes(self) -> dict[str, LabNode]:
        """Nodes by name (a copy; the lab owns the objects)."""
        return dict(self._nodes)

    @property
    def has_manager(self) -> bool:
        return self._manager is not None

    @property
    def manager(self) -> LabNode:
        if self._manager is None:
            raise LabError("the lab has no manager yet: call start_manager() first")
        return self._nodes[self._manager]

    @property
    def image_archive(self) -> Path:
        return self.directory / _IMAGE_TAR

    def node(self, name: str) -> LabNode:
        try:
            return self._nodes[name]
        except KeyError:
            raise LabError(f"no node named {name!r} in lab {self.prefix}") from None

    def node_by_ip(self, ip: str) -> LabNode | None:
        return next((n for n in self._nodes.values() if n.ip == ip), None)

    # ----------------------------------------------------------------- bring-up

    def start_manager(
        self, name: str = "mgr", ip: str | None = None, hostname: str = "manager1"
    ) -> LabNode:
        """Start the manager node and initialise the swarm on it."""
        if self._manager is not None:
            raise LabError(f"lab {self.prefix} already has a manager ({self._manager})")
        address = ip if ip is not None else str(self.subnet.network_address + 10)
        node = self.add_node(name, address, hostname=hostname)
        client = self.docker_client(node)
        try:
            client.swarm.init(
                advertise_addr=node.ip,
                listen_addr=f"{node.ip}:2377",
                dispatcher_heartbeat_period=self.dispatcher_heartbeat_s * 1_000_000_000,
            )
        except docker.errors.APIError as exc:
            raise LabError(f"swarm init on {name} failed: {exc.explanation}") from exc
        self._manager = name
        return node

    def add_node(self, name: str, ip: str, hostname: str | None = None) -> LabNode:
        """Create a machine: its namespaces, directories and a running dockerd (not yet joined).

        When the test image has been prepared, it is loaded here too so tasks can run at once.
        """
        return self.add_nodes([NodeSpec(name, ip, hostname)])[0]

    def add_nodes(self, specs: Sequence[NodeSpec]) -> list[LabNode]:
        """Create several machines at once: the daemons start in parallel (bring-up is
        dominated by each dockerd's start-up time). All or nothing: on failure every node of
        the batch is removed again."""
        self._check_open()
        batch = [self._new_node(spec, pending=specs[:i]) for i, spec in enumerate(specs)]
        # Registered first: a failure below leaves something close() knows how to remove.
        for node in batch:
            self._nodes[node.name] = node
        try:
            self._ensure_hub()
            for node in batch:
                self._create_node_network(node)
                self._spawn(node)
            for node in batch:
                self._wait_api(node)
            if self.image_archive.exists():
                for node in batch:
                    self._load_image_archive(node)
        except BaseException:
            for node in batch:
                with contextlib.suppress(Exception):
                    self.remove_node(node.name)
            raise
        return batch

    def join(self, node: LabNode | str) -> str:
        """Join a node to the swarm as a worker; returns its swarm node ID once it is Ready."""
        target = self._resolve(node)
        manager_client = self.docker_client(self.manager)
        token = manager_client.swarm.attrs["JoinTokens"]["Worker"]
        client = self.docker_client(target)
        try:
            client.swarm.join(
                remote_addrs=[f"{self.manager.ip}:2377"],
                join_token=token,
                listen_addr=f"{target.ip}:2377",
                advertise_addr=target.ip,
            )
        except docker.errors.APIError as exc:
            raise LabError(f"{target.name} could not join the swarm: {exc.explanation}") from None
        node_id: str = client.info()["Swarm"]["NodeID"]
        self.wait_node_state(node_id, "ready")
        return node_id

    def wait_node_state(self, node_id: str, state: str, timeout: float = 60.0) -> None:
        """Wait until the manager reports the node in ``state`` (ready, down, ...)."""
        manager_client = self.docker_client(self.manager)
        deadline = time.monotonic() + timeout
        seen = "unknown"
        while time.monotonic() < deadline:
            try:
                seen = manager_client.nodes.get(node_id).attrs["Status"]["State"]
            except docker.errors.NotFound:
                seen = "absent"
            if seen == state:
                return
            time.sleep(0.1)
        raise LabError(f"node {node_id} still {seen!r} after {timeout:.0f} s (wanted {state!r})")

    def load_test_image(self) -> str:
        """Make the tiny busybox test image and load the same archive on every running node.

        It is imported once and saved; every node (and any node added later) loads that archive,
        so the image ID is identical everywhere, as with a registry. Returns the image ID.
        """
        self._check_open()
        first = self.manager if self._manager is not None else self._any_running_node()
        targets = [n for n in self._nodes.values() if n.running]
        if not self.image_archive.exists():
            client = self._client_for(first)
            self._build_image_archive(client)
            targets.remove(first)
            built: set[str] = {client.images.get(TEST_IMAGE).id}
        else:
            built = set()
        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            image_ids = built | set(pool.map(self._load_image_archive, targets))
        if len(image_ids) != 1:
            raise LabError(f"test image IDs differ between nodes: {sorted(image_ids)}")
        return image_ids.pop()

    def docker_client(self, node: LabNode | str, timeout: int = 30) -> Any:
        """A docker SDK client for the node's own daemon, shared per node and timeout.

        The lab owns it: it is closed when the node is removed or the lab closed. It survives
        a stop/start of the node (every request opens its connection to the socket anew).
        """
        target = self._resolve(node)
        key = (target.name, timeout)
        client = self._clients.get(key)
        if client is None:
            client = docker.DockerClient(base_url=target.docker_url, timeout=timeout)
            self._clients[key] = client
        return client

    # ----------------------------------------------------------------- node life cycle

    def stop_node(self, name: str, *, graceful: bool = True) -> None:
        """Stop a node's daemon and its containers, keeping its namespace and data root.

        Like switching a machine off: a later :meth:`start_node` brings it back as the same
        swarm member. ``graceful=False`` kills it (a crash / power cut).
        """
        node = self.node(name)
        _stop_process(node.process, graceful=graceful)
        node.process = None
        _kill_matching_processes(f"{node.directory}/")
        _kill_cgroup_processes(node.cgroup)

    def start_node(self, name: str) -> LabNode:
        """Start a stopped node's daemon again on its existing data root."""
        self._check_open()
        node = self.node(name)
        if node.running:
            return node
        self._spawn(node)
        self._wait_api(node)
        return node

    def remove_node(self, name: str) -> None:
        """Destroy a machine: daemon, containers, cgroups, namespace and directories.

        Swarm membership is not touched: like a deleted VM, the manager will see it go Down.
        """
        node = self.node(name)
        errors: list[str] = []
        for key in [k for k in self._clients if k[0] == name]:
            with contextlib.suppress(Exception):
                self._clients.pop(key).close()
        _collect(errors, f"stop {name}", lambda: self.stop_node(name, graceful=False))
        _collect(errors, f"cgroups of {name}", lambda: _remove_cgroups(node.cgroup))
        _collect(errors, f"netns {node.netns}", lambda: _delete_netns(node.netns))
        _collect(errors, f"directory of {name}", lambda: _remove_tree(node.directory))
        del self._nodes[name]
        if self._manager == name:
            self._manager = None
        if errors:
            raise LabError(f"removing node {name} was incomplete: " + "; ".join(errors))

    # ----------------------------------------------------------------- teardown

    def close(self) -> None:
        """Tear everything down; safe to call twice and after any partial failure."""
        if self._closed:
            return
        self._closed = True
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        processes = [n.process for n in self._nodes.values() if n.process is not None]
        self._nodes.clear()
        self._manager = None
        destroy_lab(self.directory, processes=processes)
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only succeeds when no other lab lives there

    def __enter__(self) -> LocalSwarm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._closed:
            raise LabError(f"lab {self.prefix} is closed")

    def _resolve(self, node: LabNode | str) -> LabNode:
        return self.node(node) if isinstance(node, str) else self.node(node.name)

    def _any_running_node(self) -> LabNode:
        for node in self._nodes.values():
            if node.running:
                return node
        raise LabError(f"lab {self.prefix} has no running node")

    def _client_for(self, node: LabNode) -> Any:
        return self.docker_client(node, timeout=120)

    def _new_node(self, spec: NodeSpec, pending: Sequence[NodeSpec]) -> LabNode:
        if not _NODE_NAME_RE.match(spec.name):
            raise LabError(
                f"node name {spec.name!r} must be 1-12 lowercase letters/digits starting "
                "with a letter"
            )
        if spec.name in self._nodes or any(p.name == spec.name for p in pending):
            raise LabError(f"node {spec.name!r} already exists in lab {self.prefix}")
        address = self._check_address(spec.ip)
        if any(p.ip == address for p in pending):
            raise LabError(f"{address} is given to two new nodes")
        hostname = spec.hostname if spec.hostname is not None else spec.name
        if not _HOSTNAME_RE.match(hostname):
            raise LabError(f"hostname {hostname!r} is not a valid host name")
        return LabNode(
            name=spec.name,
            ip=address,
            hostname=hostname,
            directory=self.directory / spec.name,
            netns=f"{self.prefix}-{spec.name}",
            cgroup=f"{self.prefix}-{spec.name}",
        )

    def _check_address(self, ip: str) -> str:
        try:
            address = ipaddress.IPv4Address(ip)
        except ValueError:
            raise LabError(f"{ip!r} is not an IPv4 address") from None
        if address not in self.subnet or address in (
            self.subnet.network_address,
            self.subnet.broadcast_address,
        ):
            raise LabError(f"{ip} is not a host address of the lab subnet {self.subnet}")
        if str(address) == self.hub_ip:
            raise LabError(f"{ip} is the lab hub's own address")
        owner = self.node_by_ip(str(address))
        if owner is not None:
            raise LabError(f"{ip} is already used by node {owner.name}")
        return str(address)

    def _ensure_hub(self) -> None:
        if self._hub_ready:
            return
        ns = self.hub_netns
        _run(["ip", "netns", "add", ns])
        _run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
        _run(
            ["ip", "-n", ns, "addr", "add", f"{self.hub_ip}/{self.subnet.prefixlen}", "dev", "br0"]
        )
        _run(["ip", "-n", ns, "link", "set", "br0", "up"])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self._hub_ready = True

    def _create_node_network(self, node: LabNode) -> None:
        veth = f"v-{node.name}"
        _run(["ip", "netns", "add", node.netns])
        hub_end = ["ip", "link", "add", veth, "netns", self.hub_netns, "type", "veth"]
        _run([*hub_end, "peer", "name", "eth0", "netns", node.netns])
        _run(["ip", "-n", self.hub_netns, "link", "set", veth, "master", "br0", "up"])
        cidr = f"{node.ip}/{self.subnet.prefixlen}"
        _run(["ip", "-n", node.netns, "addr", "add", cidr, "dev", "eth0"])
        _run(["ip", "-n", node.netns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", node.netns, "link", "set", "lo", "up"])

    def _spawn(self, node: LabNode) -> None:
        """Start dockerd inside the node's namespaces; the launcher PID is the dockerd PID.

        ``nsenter --net`` rather than ``ip netns exec``: the latter remounts /sys and hides the
        cgroup mounts dockerd needs. The private mount namespace makes every mount dockerd does
        vanish with it, and the two bind mounts keep dockerd 20.10's writes outside --data-root
        (load-balancer files, key.json) inside the node's directory instead of the host's.
        """
        directory = node.directory
        directory.mkdir(mode=0o700, exist_ok=True)
        (directory / "daemon.json").write_text("{}\n")
        q = shlex.quote
        dockerd_args = [
            "dockerd",
            "--storage-driver=vfs",
            "--shutdown-timeout=2",
            f"--config-file={directory / 'daemon.json'}",
            f"--data-root={directory / 'data'}",
            f"--exec-root={directory / 'x'}",
            f"--pidfile={directory / 'docker.pid'}",
            f"--host=unix://{node.socket_path}",
            f"--cgroup-parent=/{node.cgroup}",
        ]
        script = "\n".join(
            [
                "set -e",
                f"hostname {q(node.hostname)}",
                f"mkdir -p {q(str(directory / 'varlib'))} {q(str(directory / 'etc'))}",
                "mkdir -p /var/lib/docker /etc/docker",
                f"mount --bind {q(str(directory / 'varlib'))} /var/lib/docker",
                f"mount --bind {q(str(directory / 'etc'))} /etc/docker",
                "exec " + " ".join(q(a) for a in dockerd_args),
            ]
        )
        command = [
            "nsenter",
            f"--net=/run/netns/{node.netns}",
            "unshare",
            "--uts",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ]
        with open(directory / "log", "ab") as log:
            node.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_api(self, node: LabNode) -> None:
        deadline = time.monotonic() + _API_READY_TIMEOUT
        while time.monotonic() < deadline:
            if node.process is None or node.process.poll() is not None:
                raise LabError(
                    f"dockerd of node {node.name} exited during start-up; "
                    f"its log ends with:\n{_tail(node.directory / 'log')}"
                )
            if node.socket_path.exists() and _answers(node.docker_url):
                return
            time.sleep(0.1)
        raise LabError(
            f"dockerd of node {node.name} did not answer within {_API_READY_TIMEOUT:.0f} s; "
            f"its log ends with:\n{_tail(node.directory / 'log')}"
        )

    def _build_image_archive(self, client: Any) -> None:
        if not self.busybox.is_file():
            raise LabError(
                f"{self.busybox} not found: install the Debian package busybox-static "
                "to build the lab's test image"
            )
        repository, tag = TEST_IMAGE.rsplit(":", 1)
        try:
            client.api.import_image_from_data(
                _busybox_rootfs(self.busybox),
                repository=repository,
                tag=tag,
                changes=['CMD ["sh"]'],
            )
            partial = self.image_archive.with_suffix(".partial")
            with open(partial, "wb") as out:
                for chunk in client.api.get_image(TEST_IMAGE):
                    out.write(chunk)
            partial.rename(self.image_archive)
        except docker.errors.APIError as exc:
            raise LabError(f"building the test image failed: {exc.explanation}") from exc

    def _load_image_archive(self, node: LabNode) -> str:
        client = self._client_for(node)
        try:
            loaded = client.images.load(self.image_archive.read_bytes())
        except docker.errors.APIError as exc:
            raise LabError(f"loading the test image on {node.name} failed: {exc}") from exc
        if not loaded:
            raise LabError(f"loading the test image on {node.name} produced no image")
        image_id: str = loaded[0].id
        return image_id


# --------------------------------------------------------------------- stale labs and teardown


def wait_running_tasks(
    client: Any, service: str, count: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The running tasks of ``service`` (name or ID) once exactly ``count`` of them run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
        running: list[dict[str, Any]] = [t for t in tasks if t["Status"]["State"] == "running"]
        if len(running) == count:
            return running
        time.sleep(0.2)
    raise AssertionError(f"service {service} never had {count} running task(s)")


def reap_stale_labs(root: Path = DEFAULT_ROOT) -> list[Path]:
    """Tear down labs under ``root`` whose owning process is gone (a crashed or killed run).

    A lab is recognised by its directory name (the prefix) and its owner stamp (PID and that
    process's start time, so a recycled PID is not mistaken for the owner). Returns the
    directories removed.
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for directory in sorted(root.iterdir()):
        if not (directory.is_dir() and _PREFIX_RE.match(directory.name)):
            continue
        owner = directory / _OWNER_FILE
        try:
            stamp = owner.read_text()
        except OSError:
            stamp = ""
        if stamp and _stamp_alive(stamp):
            continue
        LOG.warning("removing stale swarm lab %s (owner process gone)", directory)
        destroy_lab(directory)
        removed.append(directory)
    return removed


def destroy_lab(directory: Path, processes: Sequence[subprocess.Popen[bytes]] = ()) -> None:
    """Remove every trace of the lab living in ``directory`` (its name is the lab's prefix).

    Order matters: daemons first (dockerd takes its containerd with it), then what survives a
    killed daemon (containerd shims, found by their command line, and container processes, found
    by the lab's cgroups), then cgroups, namespaces and finally the directory, so an interrupted
    teardown still leaves the directory that lets :func:`reap_stale_labs` finish the job.
    """
    prefix = directory.name
    errors: list[str] = []
    for process in processes:
        _collect(errors, f"kill pid {process.pid}", lambda p=process: _signal(p, signal.SIGKILL))
    for process in processes:
        _collect(errors, f"wait pid {process.pid}", lambda p=process: p.wait(timeout=_STOP_TIMEOUT))
    marker = f"{directory}/"
    for _ in range(3):
        killed = _kill_matching_processes(marker) + _kill_cgroup_processes(f"{prefix}-")
        if not killed:
            break
        _wait_gone(killed, timeout=5.0)
    _collect(errors, "cgroups", lambda: _remove_cgroups(f"{prefix}-"))
    for ns in _lab_netns(prefix):
        _collect(errors, f"netns {ns}", lambda n=ns: _delete_netns(n))
    _collect(errors, f"directory {directory}", lambda: _remove_tree(directory))
    if errors:
        raise LabError(f"teardown of lab {prefix} was incomplete: " + "; ".join(errors))


def leftovers(directory: Path) -> list[str]:
    """Everything of the lab that still exists (empty after a clean teardown)."""
    prefix = directory.name
    found = [f"netns {ns}" for ns in _lab_netns(prefix)]
    found += [f"cgroup {c}" for c in _cgroup_dirs(f"{prefix}-")]
    found += [f"process {pid}" for pid in _pids_with_cmdline(f"{directory}/")]
    with open("/proc/mounts") as mounts:
        found += [f"mount {line.split()[1]}" for line in mounts if f" {directory}" in line]
    if directory.exists():
        found.append(f"directory {directory}")
    return found


# --------------------------------------------------------------------- helpers


def _answers(docker_url: str) -> bool:
    """True when a daemon answers a ping (the client negotiates the API version on creation)."""
    try:
        client = docker.DockerClient(base_url=docker_url, timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except docker.errors.DockerException:
        return False
    finally:
        client.close()


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"`{shlex.join(command)}` failed: {result.stderr.strip()}")


def _collect(errors: list[str], what: str, action: Any) -> None:
    """Run one teardown step; record its failure and go on with the next step."""
    try:
        action()
    except Exception as exc:
        errors.append(f"{what}: {exc}")


def _owner_stamp(pid: int) -> str:
    return f"{pid} {_start_time(pid)}\n"


def _start_time(pid: int) -> str:
    """The process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def _stamp_alive(stamp: str) -> bool:
    parts = stamp.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return False
    return _start_time(int(parts[0])) == parts[1]


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)


def _stop_process(process: subprocess.Popen[bytes] | None, *, graceful: bool) -> None:
    if process is None:
        return
    if graceful:
        _signal(process, signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            LOG.warning("dockerd pid %s ignored SIGTERM for %.0f s", process.pid, _STOP_TIMEOUT)
    _signal(process, signal.SIGKILL)
    process.wait(timeout=_STOP_TIMEOUT)


def _iter_pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def _pids_with_cmdline(marker: str) -> list[int]:
    """Live processes whose command line mentions the lab directory (daemons, shims)."""
    found = []
    own = os.getpid()
    for pid in _iter_pids():
        if pid == own:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if marker in cmdline and not _is_zombie(pid):
            found.append(pid)
    return found


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _kill_pids(pids: Sequence[int]) -> list[int]:
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            continue
    return killed


def _kill_matching_processes(marker: str) -> list[int]:
    return _kill_pids(_pids_with_cmdline(marker))


def _cgroup_dirs(name: str) -> list[Path]:
    """Top-level lab cgroups in every v1 controller hierarchy, or the v2 unified tree.

    ``name`` ending in ``-`` matches every node of a lab; otherwise it is one node's exact name
    (so node ``w1`` never matches ``w10``).
    """
    base = Path("/sys/fs/cgroup")
    pattern = f"{name}*" if name.endswith("-") else name
    found = list(base.glob(f"*/{pattern}")) + list(base.glob(pattern))
    return sorted(p for p in found if p.is_dir())


def _kill_cgroup_processes(name: str) -> list[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs(name):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    return _kill_pids(sorted(pids - {os.getpid()}))


def _wait_gone(pids: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
        if pending:
            time.sleep(0.05)


def _remove_cgroups(name: str) -> None:
    """rmdir the lab's cgroups bottom-up; retries while the kernel finishes reaping tasks."""
    for top in _cgroup_dirs(name):
        directories = sorted(
            (p for p in [top, *top.rglob("*")] if p.is_dir()),
            key=lambda p: len(p.parts),
            reverse=True,
        )
        for directory in directories:
            for attempt in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 49:
                        raise
                    time.sleep(0.05)


def _lab_netns(prefix: str) -> list[str]:
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir():
        return []
    return sorted(p.name for p in netns_dir.iterdir() if p.name.startswith(f"{prefix}-"))


def _delete_netns(name: str) -> None:
    if (Path("/run/netns") / name).exists():
        _run(["ip", "netns", "delete", name])


def _remove_tree(directory: Path) -> None:
    if not directory.exists():
        return
    for attempt in range(20):
        try:
            shutil.rmtree(directory)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 19:
                raise
            time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _busybox_rootfs(busybox: Path) -> bytes:
    """A root file system tar: the static busybox plus one symlink per applet under /bin."""
    listing = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    applets = sorted(set(listing.stdout.split()) - {"busybox"})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in applets:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
        ):
            payload = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()
