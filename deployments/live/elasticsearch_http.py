"""A minimal Elasticsearch ``_bulk`` client on the standard library, for short-lived processes.

fluentd starts one delivery process per buffer chunk, so start-up time is paid per chunk:
the official client takes over a second to import, ``http.client`` a few milliseconds. The
delivery needs one request type only (``POST /_bulk``), basic or API-key authentication,
TLS with an optional CA file, and fail-over across the configured nodes.

Each request asks for a refresh (``refresh=true``): a teacher's view should show an
execution within a second or two of the run, and one small refresh per delivery (a few per
second at most, as fluentd cuts chunks every fraction of a second) costs the cluster little.

The secret comes from the environment (``CWH_ES_PASSWORD`` / ``CWH_ES_API_KEY``, set for
fluentd by the systemd drop-in the setup flow writes), never from the command line, and
never appears in an error: errors name the node by its URL, which carries no credentials.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from cwh.defaults import API_KEY_ENV, PASSWORD_ENV

_MAX_ANSWER_BYTES = 256 * 1024 * 1024


class ElasticsearchUnavailable(Exception):
    """No node took the request now; sending it again later may succeed."""


class ElasticsearchConfigError(ValueError):
    """The connection settings cannot work (bad URL, missing secret)."""


@dataclass(frozen=True)
class _Node:
    url: str
    https: bool
    host: str
    port: int
    path: str


def _node(url: str) -> _Node:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ElasticsearchConfigError(f"Elasticsearch URL {_shown(url)}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ElasticsearchConfigError(
            f"Elasticsearch URL {_shown(url)} must be http(s)://host[:port]"
        )
    if parts.username or parts.password or parts.query:
        raise ElasticsearchConfigError("Elasticsearch URL must not carry credentials or a query")
    return _Node(
        url=f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}",
        https=parts.scheme == "https",
        host=parts.hostname,
        port=port,
        path=parts.path.rstrip("/"),
    )


def _shown(url: str) -> str:
    """The URL as an error may show it: userinfo and query redacted (imported only here, as
    the setup package costs a tenth of a second of start-up)."""
    from cwh.setup import redact_url

    return repr(redact_url(url))


@dataclass
class BulkClient:
    """Sends ``_bulk`` bodies to the first node that answers; keeps its connection open."""

    urls: Sequence[str]
    auth: str = "none"
    """"none", "basic" (``username`` + ``$CWH_ES_PASSWORD``) or "api_key" (``$CWH_ES_API_KEY``)."""
    username: str | None = None
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ElasticsearchConfigError("at least one Elasticsearch URL is needed")
        self._nodes = [_node(url) for url in self.urls]
        self._headers = {
            "Content-Type": "application/x-ndjson",
            "Accept": "application/json",
            **self._auth_header(),
        }
        self._context: ssl.SSLContext | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._current = 0

    def _auth_header(self) -> dict[str, str]:
        if self.auth == "none":
            return {}
        if self.auth == "basic":
            password = self.environ.get(PASSWORD_ENV)
            if not self.username or password is None:
                raise ElasticsearchConfigError(
                    f"basic authentication needs --es-username and ${PASSWORD_ENV}"
                )
            token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if self.auth == "api_key":
            key = self.environ.get(API_KEY_ENV)
            if not key:
                raise ElasticsearchConfigError(f"API-key authentication needs ${API_KEY_ENV}")
            return {"Authorization": f"ApiKey {key}"}
        raise ElasticsearchConfigError(f"unknown authentication {self.auth!r}")

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context(cafile=self.ca_file)
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _connect(self, node: _Node) -> http.client.HTTPConnection:
        if node.https:
            return http.client.HTTPSConnection(
                node.host, node.port, timeout=self.timeout, context=self._tls()
            )
        return http.client.HTTPConnection(node.host, node.port, timeout=self.timeout)

    def bulk(self, body: bytes) -> list[dict[str, Any]]:
        """The ``items`` of the answer to ``body``; :class:`ElasticsearchUnavailable` if no
        node accepted the request as a whole (connection failure, 429, 5xx, 401/403)."""
        problems: list[str] = []
        for attempt in range(len(self._nodes)):
            node = self._nodes[(self._current + attempt) % len(self._nodes)]
            try:
                items = self._post(node, body)
            except ElasticsearchUnavailable as exc:
                problems.append(str(exc))
                self.close()
                continue
            self._current = (self._current + attempt) % len(self._nodes)
            return items
        raise ElasticsearchUnavailable("; ".join(problems))

    def _post(self, node: _Node, body: bytes) -> list[dict[str, Any]]:
        try:
            if self._connection is None:
                self._connection = self._connect(node)
            self._connection.request(
                "POST", f"{node.path}/_bulk?refresh=true", body=body, headers=self._headers
            )
            response = self._connection.getresponse()
            answer = response.read(_MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise ElasticsearchUnavailable(f"{node.url}: {type(exc).__name__}: {exc}") from None
        if response.status != 200:
            raise ElasticsearchUnavailable(
                f"{node.url}: bulk request answered {response.status} {response.reason}: "
                f"{answer[:300].decode('utf-8', 'replace')}"
            )
        try:
            parsed = orjson.loads(answer)
        except orjson.JSONDecodeError as exc:
            raise ElasticsearchUnavailable(f"{node.url}: bulk answer is not JSON: {exc}") from None
        items = parsed.get("items") if isinstance(parsed, dict) else None
        if not isinstance(items, list):
            raise ElasticsearchUnavailable(f"{node.url}: bulk answer has no items")
        return items

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
