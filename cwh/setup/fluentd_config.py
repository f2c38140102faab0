"""Render fluentd's ``lc_wrapper.conf`` and the files that keep its secret out of it.

The config uses fluentd's core plugins only (no plugin gems, no Ruby code built from strings):

* ``in_forward`` bound to the manager's private address (never all interfaces);
* ``out_exec`` behind a **file** buffer: for each buffer chunk fluentd runs
  ``cwh enrich ... --chunk <chunk file>`` (this environment's Python, absolute path), which
  enriches every record and stores it in Elasticsearch with bulk ``create`` and the
  document's deterministic id. fluentd commits a chunk only when that command exits 0, and
  retries it forever otherwise, so neither an Elasticsearch outage nor a ``kill -9`` of
  fluentd at any moment loses a record, and a replayed chunk adds nothing (409: already
  stored). Chunks are cut every fraction of a second, which keeps an execution searchable
  within about a second of the run while a class burst still travels in a few requests.

The Elasticsearch password (or API key) never appears in the config: the delivery reads it
from its environment (``CWH_ES_PASSWORD`` / ``CWH_ES_API_KEY``), which it inherits from
fluentd, filled by systemd from an environment file with mode 0600 through a unit drop-in.

Quoting follows fluentd's v1 config parser: values are written as single-quoted strings,
where only ``\\'`` and ``\\\\`` are escapes and no Ruby code is evaluated, so paths and
JSONPath expressions cannot inject anything. fluentd appends the chunk's path to the command
unquoted, so the buffer directory may hold only plain path characters.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit, urlunsplit

from cwh.defaults import API_KEY_ENV, DEFAULT_INDEX_PREFIX, PASSWORD_ENV
from cwh.setup.urls import redact_url

HEADER = (
    "# Managed by the setup-logging flow of cwh-flows; the next run replaces manual edits.\n"
    "# The Elasticsearch secret is read from the environment (see the systemd drop-in),\n"
    "# never written here.\n"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PLAIN_PATH_RE = re.compile(r"^[A-Za-z0-9._/-]+$")


class FluentdConfigError(ValueError):
    """The settings cannot produce a safe, working fluentd configuration."""


class EsAuth(Enum):
    NONE = "none"
    BASIC = "basic"
    API_KEY = "api_key"


@dataclass(frozen=True)
class EnrichCommand:
    """The enrichment part of the command fluentd runs: engine, tables and options."""

    python: str
    index: str
    passwd: str
    homes_dir: str
    home_prefix: str = "/home"
    index_prefix: str = DEFAULT_INDEX_PREFIX
    result_jsonpaths: Sequence[str] = ()
    zones: Sequence[str] = ()

    def argv(self) -> list[str]:
        for label, value in (
            ("python", self.python),
            ("index", self.index),
            ("passwd", self.passwd),
            ("homes dir", self.homes_dir),
        ):
            _require_absolute(label, value)
        args = [
            self.python,
            "-m",
            "deployments.cli.main",
            "enrich",
            "--index",
            self.index,
            "--passwd",
            self.passwd,
            "--homes-dir",
            self.homes_dir,
            "--home-prefix",
            self.home_prefix,
            "--index-prefix",
            self.index_prefix,
        ]
        for expression in self.result_jsonpaths:
            args += ["--result-jsonpath", expression]
        for zone in self.zones:
            args += ["--zone", zone]
        for arg in args:
            if "\n" in arg or "\r" in arg or "\0" in arg:
                raise FluentdConfigError(f"enrich argument {arg!r} contains a line break or NUL")
        return args


@dataclass(frozen=True)
class ElasticsearchOutput:
    """Where and how fluentd writes documents."""

    urls: Sequence[str]
    auth: EsAuth = EsAuth.NONE
    username: str | None = None
    verify_certs: bool = True
    ca_file: str | None = None
    request_timeout_s: int = 30

    def argv(self) -> list[str]:
        """The delivery's Elasticsearch options (the secret stays in the environment)."""
        args: list[str] = []
        for url in self.urls:
            args += ["--elasticsearch", normalise_es_url(url)]
        if self.auth is not EsAuth.NONE:
            args += ["--es-auth", self.auth.value]
        if self.auth is EsAuth.BASIC and self.username:
            args += ["--es-username", self.username]
        if self.ca_file is not None:
            args += ["--es-ca-file", self.ca_file]
        if not self.verify_certs:
            args.append("--es-no-verify")
        args += ["--es-timeout", str(self.request_timeout_s)]
        return args


DEFAULT_ENRICH_LOG = "/var/log/cwh-flows/enrich.log"
DEFAULT_DELIVERY_STATE_DIR = "/var/lib/cwh-flows/enrich"
STATS_FILE_NAME = "delivery-stats.json"
UNDELIVERABLE_FILE_NAME = "undeliverable.jsonl"

# Chunks are cut and picked up every FLUSH_TICK seconds: the largest share of the time from a
# run to a searchable document (one tick on average, two at most), and the interval between
# two delivery processes, each of which costs about a tenth of a CPU second to start: at two
# a second, a class burst keeps a fraction of one core busy however many students run cells.
FLUSH_TICK = "0.5"
FLUSH_BURST_TICK = "0.05"


@dataclass(frozen=True)
class FluentdSettings:
    bind_address: str
    port: int
    tag: str
    enrich: EnrichCommand
    elasticsearch: ElasticsearchOutput
    buffer_dir: str
    buffer_total_limit: str = "8g"
    log_file: str = DEFAULT_ENRICH_LOG
    """The delivery's own log (fluentd's log shows only its warnings)."""
    state_dir: str = DEFAULT_DELIVERY_STATE_DIR
    """Running totals for health checks, the last accepted passwd and index, and documents
    even the dead-letter index refused."""

    def delivery_argv(self) -> list[str]:
        """The command fluentd's out_exec runs, before the chunk path it appends."""
        state = self.state_dir.rstrip("/")
        args = [
            *self.enrich.argv(),
            *self.elasticsearch.argv(),
            "--accepted-dir",
            f"{state}/accepted",
            "--log-file",
            self.log_file,
            "--stats-file",
            f"{state}/{STATS_FILE_NAME}",
            "--undeliverable",
            f"{state}/{UNDELIVERABLE_FILE_NAME}",
            "--chunk",
        ]
        for arg in args:
            if "\n" in arg or "\r" in arg or "\0" in arg:
                raise FluentdConfigError(f"delivery argument {arg!r} contains a line break or NUL")
        return args

    def command_timeout_s(self) -> int:
        """How long one delivery may take before fluentd kills it and retries the chunk:
        a few bulk requests to each node, each bounded by the request timeout."""
        return 60 + 4 * self.elasticsearch.request_timeout_s * max(1, len(self.elasticsearch.urls))


def normalise_es_url(url: str) -> str:
    """``scheme://host:port[/path]`` with the port made explicit (80/443 when left out, as
    the Python client assumes), so fluentd and the flow reach the same endpoint. Errors show
    the URL redacted: it may carry a password or key."""
    shown = repr(redact_url(url))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FluentdConfigError(f"Elasticsearch URL {shown}: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise FluentdConfigError(f"Elasticsearch URL {shown} must start with http:// or https://")
    if not parts.hostname:
        raise FluentdConfigError(f"Elasticsearch URL {shown} has no host")
    if parts.username or parts.password:
        raise FluentdConfigError(
            "Elasticsearch URL must not carry credentials; use the block's username/password"
        )
    if parts.query or parts.fragment:
        raise FluentdConfigError(f"Elasticsearch URL {shown} must not have a query or fragment")
    port = port or _DEFAULT_PORTS[parts.scheme]
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, f"{host}:{port}", path, "", ""))


def quote(value: str) -> str:
    """A fluentd single-quoted string: literal, no embedded Ruby, one line."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise FluentdConfigError(f"value {value!r} contains a line break or NUL")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _require_absolute(label: str, value: str) -> None:
    if not value.startswith("/"):
        raise FluentdConfigError(f"{label} must be an absolute path, got {value!r}")


def is_fluentd_tag(tag: str) -> bool:
    """Whether ``tag`` is a fluentd tag: dot-separated words of ``[A-Za-z0-9_-]``."""
    return _TAG_RE.match(tag) is not None


def fluentd_port_problem(port: int) -> str | None:
    """Why ``port`` cannot be fluentd's forward port, or None when it can."""
    return None if 1 <= port <= 65535 else f"fluentd port {port} is outside 1-65535"


def _validate(settings: FluentdSettings) -> None:
    try:
        address = ipaddress.ip_address(settings.bind_address)
    except ValueError:
        raise FluentdConfigError(
            f"bind address {settings.bind_address!r} must be the manager's private IP address"
        ) from None
    if address.is_unspecified:
        raise FluentdConfigError(
            f"bind address {settings.bind_address} would listen on every interface; "
            "use the manager's private address"
        )
    port_problem = fluentd_port_problem(settings.port)
    if port_problem is not None:
        raise FluentdConfigError(port_problem)
    if not is_fluentd_tag(settings.tag):
        raise FluentdConfigError(
            f"fluentd tag {settings.tag!r} must be dot-separated words of [A-Za-z0-9_-]"
        )
    _require_absolute("buffer dir", settings.buffer_dir)
    if not _PLAIN_PATH_RE.match(settings.buffer_dir):
        raise FluentdConfigError(
            f"buffer dir {settings.buffer_dir!r} may hold only letters, digits and ._-/ "
            "(fluentd appends chunk paths to the delivery command unquoted)"
        )
    _require_absolute("log file", settings.log_file)
    _require_absolute("state dir", settings.state_dir)
    output = settings.elasticsearch
    if not output.urls:
        raise FluentdConfigError("at least one Elasticsearch URL is needed")
    if output.auth is EsAuth.BASIC and not output.username:
        raise FluentdConfigError("basic authentication needs a username")
    if output.ca_file is not None:
        _require_absolute("CA file", output.ca_file)


def render_lc_wrapper_conf(settings: FluentdSettings) -> str:
    """The complete ``lc_wrapper.conf``; deterministic, so an unchanged setup rewrites nothing."""
    _validate(settings)
    buffer_dir = settings.buffer_dir.rstrip("/")
    command = shlex.join(settings.delivery_argv())
    timeout = settings.command_timeout_s()
    lines = [
        HEADER.rstrip("\n"),
        "",
        "# Student kernels (lc_wrapper) forward one record per executed cell.",
        "<source>",
        "  @type forward",
        "  @id cwh_lc_wrapper_in",
        f"  bind {settings.bind_address}",
        f"  port {settings.port}",
        "</source>",
        "",
        "# Delivery: fluentd runs the command once per buffer chunk, with the chunk's path",
        "# appended; it enriches every record and stores it in Elasticsearch (bulk create,",
        "# deterministic ids). The chunk leaves this file buffer only when the command exits 0.",
        f"<match {settings.tag}>",
        "  @type exec",
        "  @id cwh_lc_wrapper_delivery",
        f"  command {quote(command)}",
        f"  command_timeout {timeout}s",
        "  <format>",
        "    @type json",
        "  </format>",
        "  <buffer>",
        "    @type file",
        f"    path {quote(buffer_dir + '/delivery')}",
        "    flush_mode interval",
        "    flush_interval 0s",
        f"    flush_thread_interval {FLUSH_TICK}",
        f"    flush_thread_burst_interval {FLUSH_BURST_TICK}",
        "    chunk_limit_size 8m",
        f"    total_limit_size {settings.buffer_total_limit}",
        "    retry_type exponential_backoff",
        "    retry_wait 1s",
        "    retry_max_interval 30s",
        "    retry_forever true",
        "    overflow_action block",
        f"    delayed_commit_timeout {timeout + 30}s",
        "  </buffer>",
        "</match>",
        "",
    ]
    return "\n".join(lines)


def _env_value(value: str) -> str:
    """A double-quoted value both systemd's EnvironmentFile and POSIX sh read literally."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise FluentdConfigError("the Elasticsearch secret contains a line break or NUL")
    escaped = value
    for char in ("\\", '"', "$", "`"):
        escaped = escaped.replace(char, "\\" + char)
    return f'"{escaped}"'


def render_env_file(*, password: str | None = None, api_key: str | None = None) -> str:
    """The environment file (written 0600) that carries the Elasticsearch secret."""
    lines = ["# Elasticsearch secret for fluentd's lc_wrapper output. Keep mode 0600."]
    if password is not None:
        lines.append(f"{PASSWORD_ENV}={_env_value(password)}")
    if api_key is not None:
        lines.append(f"{API_KEY_ENV}={_env_value(api_key)}")
    return "\n".join(lines) + "\n"


def render_systemd_dropin(env_file: str) -> str:
    """A unit drop-in that loads the environment file into fluentd's service."""
    _require_absolute("environment file", env_file)
    if any(c.isspace() for c in env_file):
        raise FluentdConfigError(f"environment file path {env_file!r} must not contain spaces")
    return (
        "# Managed by the setup-logging flow of cwh-flows.\n"
        "[Service]\n"
        f"EnvironmentFile={env_file}\n"
    )
