"""Render fluentd's ``lc_wrapper.conf`` and the files that keep its secret out of it.

The config uses stock plugins only (no custom gems, no Ruby code built from strings):

* ``in_forward`` bound to the manager's private address (never all interfaces);
* ``exec_filter`` piping JSON lines through ``cwh enrich`` (this environment's Python, absolute
  path), which adds ``doc_id`` and ``target_index`` to every document;
* fluent-plugin-elasticsearch with ``id_key``/``target_index_key`` (a retried chunk overwrites
  the same documents) behind a **file** buffer that retries forever, so neither an
  Elasticsearch outage nor a fluentd restart loses records.

The Elasticsearch password (or API key) never appears in the config: fluentd reads it from its
environment (``"#{ENV['CWH_ES_PASSWORD']}"``), filled by systemd from an environment file
with mode 0600 through a unit drop-in.

Quoting follows fluentd's v1 config parser: values are written as single-quoted strings,
where only ``\\'`` and ``\\\\`` are escapes and no Ruby code is evaluated, so paths and
JSONPath expressions cannot inject anything.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit, urlunsplit

from cwh.defaults import DEFAULT_INDEX_PREFIX
from cwh.setup.urls import redact_url

PASSWORD_ENV = "CWH_ES_PASSWORD"
API_KEY_ENV = "CWH_ES_API_KEY"
HEADER = (
    "# Managed by the setup-logging flow of cwh-flows; the next run replaces manual edits.\n"
    "# The Elasticsearch secret is read from the environment (see the systemd drop-in),\n"
    "# never written here.\n"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FluentdConfigError(ValueError):
    """The settings cannot produce a safe, working fluentd configuration."""


class EsAuth(Enum):
    NONE = "none"
    BASIC = "basic"
    API_KEY = "api_key"


@dataclass(frozen=True)
class EnrichCommand:
    """The ``cwh enrich`` invocation fluentd's exec_filter keeps running."""

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

    def shell_command(self) -> str:
        """The command line as fluentd runs it (a shell parses the string)."""
        return shlex.join(self.argv())


@dataclass(frozen=True)
class ElasticsearchOutput:
    """Where and how fluentd writes documents."""

    urls: Sequence[str]
    auth: EsAuth = EsAuth.NONE
    username: str | None = None
    verify_certs: bool = True
    ca_file: str | None = None
    request_timeout_s: int = 30
    fallback_index: str = "lcwrapper-deadletter-unrouted"


@dataclass(frozen=True)
class FluentdSettings:
    bind_address: str
    port: int
    tag: str
    enrich: EnrichCommand
    elasticsearch: ElasticsearchOutput
    buffer_dir: str
    buffer_total_limit: str = "8g"


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
    output = settings.elasticsearch
    if not output.urls:
        raise FluentdConfigError("at least one Elasticsearch URL is needed")
    if output.auth is EsAuth.BASIC and not output.username:
        raise FluentdConfigError("basic authentication needs a username")
    if output.ca_file is not None:
        _require_absolute("CA file", output.ca_file)


def enriched_tag(tag: str) -> str:
    return f"{tag}.enriched"


def render_lc_wrapper_conf(settings: FluentdSettings) -> str:
    """The complete ``lc_wrapper.conf``; deterministic, so an unchanged setup rewrites nothing."""
    _validate(settings)
    output = settings.elasticsearch
    hosts = ",".join(normalise_es_url(url) for url in output.urls)
    buffer_dir = settings.buffer_dir.rstrip("/")
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
        "# Enrichment: one JSON line in, exactly one JSON line out (document or dead letter).",
        f"<match {settings.tag}>",
        "  @type exec_filter",
        "  @id cwh_lc_wrapper_enrich",
        f"  command {quote(settings.enrich.shell_command())}",
        f"  tag {enriched_tag(settings.tag)}",
        "  num_children 1",
        "  child_respawn inf",
        "  <format>",
        "    @type json",
        "  </format>",
        "  <parse>",
        "    @type json",
        "  </parse>",
        "  <buffer>",
        "    @type file",
        f"    path {quote(buffer_dir + '/enrich')}",
        "    flush_mode interval",
        "    flush_interval 1s",
        "    retry_forever true",
        "    retry_max_interval 30s",
        "    overflow_action block",
        "  </buffer>",
        "</match>",
        "",
        "# Elasticsearch: deterministic ids, per-document index, file buffer retried forever.",
        f"<match {enriched_tag(settings.tag)}>",
        "  @type elasticsearch",
        "  @id cwh_lc_wrapper_elasticsearch",
        f"  hosts {quote(hosts)}",
    ]
    if output.auth is EsAuth.BASIC:
        assert output.username is not None
        lines += [
            f"  user {quote(output.username)}",
            f"  password \"#{{ENV['{PASSWORD_ENV}']}}\"",
        ]
    elif output.auth is EsAuth.API_KEY:
        lines.append(f"  api_key \"#{{ENV['{API_KEY_ENV}']}}\"")
    lines.append(f"  ssl_verify {'true' if output.verify_certs else 'false'}")
    if output.ca_file is not None:
        lines.append(f"  ca_file {quote(output.ca_file)}")
    lines += [
        "  id_key doc_id",
        "  target_index_key target_index",
        "  remove_keys doc_id,target_index",
        f"  index_name {quote(output.fallback_index)}",
        "  write_operation index",
        "  suppress_type_name true",
        "  include_timestamp false",
        "  verify_es_version_at_startup false",
        "  default_elasticsearch_version 8",
        "  reconnect_on_error true",
        "  reload_connections false",
        "  reload_on_failure false",
        f"  request_timeout {output.request_timeout_s}s",
        "  <buffer>",
        "    @type file",
        f"    path {quote(buffer_dir + '/elasticsearch')}",
        "    flush_mode interval",
        "    flush_interval 5s",
        "    flush_thread_count 2",
        "    chunk_limit_size 8m",
        f"    total_limit_size {settings.buffer_total_limit}",
        "    retry_type exponential_backoff",
        "    retry_forever true",
        "    retry_max_interval 60s",
        "    overflow_action block",
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
