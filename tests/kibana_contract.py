"""Loopback stand-ins for services that cannot run here, held to their published contracts.

Kibana cannot run on our machines, so :class:`FakeKibana` is a real HTTP server on 127.0.0.1
(a thread) that behaves like the few Kibana APIs setup uses and validates **every** request
against Kibana's own OpenAPI documents (``shared/contracts/kibana``): path, query, headers
including ``kbn-xsrf``, content type and body. Each response it sends is validated against the
documented response schema too, so the client is tested against what Kibana promises rather
than against what this file happens to answer. ``/api/status`` has no OpenAPI document; its
answer is checked by hand on the fields the client reads (as the contracts README advises).
Every contract violation is recorded; tests assert there were none.

:class:`ElasticsearchWithSecurity` answers every request the way an Elasticsearch node with
security enabled answers a request with wrong credentials (HTTP 401, ``security_exception``
body, ``WWW-Authenticate`` challenges), for the wrong-credentials case: the test node runs
with security disabled.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import threading
import uuid
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "kibana"
DATA_VIEWS_CONTRACT = "data_views.openapi.yaml"
SAVED_OBJECTS_CONTRACT = "saved_objects.openapi.yaml"
KIBANA_VERSION = "8.17.0"
_NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


@cache
def contract(name: str) -> OpenAPI:
    """A Kibana OpenAPI document whose servers also match ``/s/<space>`` on any host.

    The published documents list only unprefixed paths on one host; Kibana serves the same
    operations under ``/s/<space_id>`` on whatever host it runs, so only ``servers`` is
    widened (in memory, as the contracts README suggests). Paths and schemas are untouched.
    """
    spec = yaml.safe_load((CONTRACTS_DIR / name).read_text(encoding="utf-8"))
    host = {
        "scheme": {"enum": ["http", "https"], "default": "http"},
        "kibana_host": {"default": "localhost:5601"},
    }
    spec["servers"] = [
        {
            "url": "{scheme}://{kibana_host}/s/{space_id}",
            "variables": {**host, "space_id": {"default": "default"}},
        },
        {"url": "{scheme}://{kibana_host}", "variables": host},
    ]
    return OpenAPI.from_dict(spec)


def check_status_response(body: Any) -> list[str]:
    """The fields of ``GET /api/status`` the client relies on, checked by hand."""
    problems = []
    level = (
        body.get("status", {}).get("overall", {}).get("level") if isinstance(body, dict) else None
    )
    if level not in ("available", "degraded", "unavailable", "critical"):
        problems.append(f"status.overall.level is {level!r}")
    version = body.get("version")
    if version is not None and not isinstance(version.get("number"), str):
        problems.append("version.number is not a string")
    return problems


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    space: str
    api_path: str


@dataclass
class FakeKibanaState:
    credentials: str | None
    data_views_api: bool
    version: str | None
    spaces: set[str]
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    data_views: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    saved_objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _LoopbackServer:
    """An HTTP server on a free loopback port, serving from a thread while entered."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class FakeKibana(_LoopbackServer):
    """A Kibana stand-in on a loopback port; use as a context manager."""

    def __init__(
        self,
        *,
        credentials: str | None = None,
        data_views_api: bool = True,
        version: str | None = KIBANA_VERSION,
        spaces: tuple[str, ...] = ("default",),
    ) -> None:
        self.state = FakeKibanaState(
            credentials=credentials,
            data_views_api=data_views_api,
            version=version,
            spaces=set(spaces),
        )
        super().__init__(type("Handler", (_KibanaHandler,), {"state": self.state}))

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.state.requests)

    @property
    def violations(self) -> list[str]:
        return list(self.state.violations)

    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.state.requests if r.method not in ("GET", "HEAD")]

    def data_views(self, space: str = "default") -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.state.data_views.get(space, {}))

    def saved_objects(self, space: str = "default") -> dict[tuple[str, str], dict[str, Any]]:
        return copy.deepcopy(self.state.saved_objects.get(space, {}))

    def add_data_view(self, space: str, view: dict[str, Any]) -> None:
        """Seed a data view as if an operator had made it by hand."""
        self.state.data_views.setdefault(space, {})[view["id"]] = _full_view(view, space)


def _full_view(view: dict[str, Any], space: str) -> dict[str, Any]:
    full = {
        "id": view["id"],
        "title": view["title"],
        "name": view.get("name", view["title"]),
        "version": "WzEsMV0=",
        "allowNoIndex": bool(view.get("allowNoIndex", False)),
        "fieldAttrs": {},
        "fieldFormats": {},
        "fields": {},
        "runtimeFieldMap": {},
        "sourceFilters": [],
        "namespaces": [space],
    }
    if view.get("timeFieldName") is not None:
        full["timeFieldName"] = view["timeFieldName"]
    return full


class _KibanaHandler(BaseHTTPRequestHandler):
    state: FakeKibanaState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        state = self.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = parts.path
        space = "default"
        api_path = path
        if path.startswith("/s/"):
            _, _, space, rest = path.split("/", 3)
            api_path = "/" + rest
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(parts.query, keep_blank_values=True)
        with state.lock:
            state.requests.append(
                RecordedRequest(self.command, path, query, headers, body, space, api_path)
            )
        if state.credentials is not None and headers.get("authorization") != state.credentials:
            self._reply(
                401,
                {
                    "statusCode": 401,
                    "error": "Unauthorized",
                    "message": "[security_exception]: unable to authenticate user",
                },
            )
            return
        if api_path == "/api/status" and space == "default" and self.command == "GET":
            answer = self._status()
            problems = check_status_response(answer)
            if problems:
                with state.lock:
                    state.violations.extend(f"status response: {p}" for p in problems)
            self._reply(200, answer)
            return
        if space not in state.spaces:
            self._reply(404, _NOT_FOUND)
            return
        if api_path.startswith("/api/data_views"):
            if not state.data_views_api:
                self._reply(404, _NOT_FOUND)
                return
            name = DATA_VIEWS_CONTRACT
        elif api_path.startswith("/api/saved_objects"):
            name = SAVED_OBJECTS_CONTRACT
        else:
            self._reply(404, _NOT_FOUND)
            return
        api = contract(name)
        request = MockRequest(
            f"http://{headers.get('host', 'localhost')}",
            self.command.lower(),
            path,
            args={k: v[-1] for k, v in query.items()},
            headers=headers,
            data=body,
            content_type=headers.get("content-type", "application/json"),
        )
        try:
            api.validate_request(request)
        except Exception as exc:
            cause = exc.__cause__ or exc
            message = f"{self.command} {path}: {type(exc).__name__}: {exc} ({cause})"
            with state.lock:
                state.violations.append(f"request {message}")
            self._reply(400, {"statusCode": 400, "error": "Bad Request", "message": message})
            return
        status, answer = self._operate(space, api_path, query, headers, body)
        try:
            api.validate_response(
                request,
                MockResponse(
                    json.dumps(answer).encode(),
                    status_code=status,
                    content_type="application/json",
                ),
            )
        except Exception as exc:
            with state.lock:
                state.violations.append(f"response to {self.command} {path} ({status}): {exc}")
        self._reply(status, answer)

    def _status(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "name": "kibana-standin",
            "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
            "status": {
                "overall": {"level": "available", "summary": "All services are available"},
                "core": {
                    "elasticsearch": {"level": "available", "summary": "available"},
                    "savedObjects": {"level": "available", "summary": "available"},
                },
                "plugins": {},
            },
        }
        if self.state.version is not None:
            answer["version"] = {
                "number": self.state.version,
                "build_hash": "0" * 40,
                "build_number": 1,
                "build_snapshot": False,
                "build_flavor": "traditional",
                "build_date": "2026-01-01T00:00:00.000Z",
            }
        return answer

    # ------------------------------------------------------------------ operations

    def _operate(
        self,
        space: str,
        api_path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any]:
        state = self.state
        with state.lock:
            views = state.data_views.setdefault(space, {})
            objects = state.saved_objects.setdefault(space, {})
            if api_path == "/api/data_views" and self.command == "GET":
                listed = [
                    {"id": v["id"], "name": v["name"], "title": v["title"], "namespaces": [space]}
                    for v in views.values()
                ]
                return 200, {"data_view": listed}
            if api_path == "/api/data_views/data_view" and self.command == "POST":
                return self._create_view(views, space, json.loads(body))
            if api_path.startswith("/api/data_views/data_view/"):
                view_id = api_path.rsplit("/", 1)[1]
                if view_id not in views:
                    return 404, {
                        "error": "Not Found",
                        "message": f"Saved object [index-pattern/{view_id}] not found",
                        "statusCode": 404,
                    }
                if self.command == "GET":
                    return 200, {"data_view": views[view_id]}
                if self.command == "POST":
                    changes = json.loads(body)["data_view"]
                    views[view_id].update(changes)
                    return 200, {"data_view": views[view_id]}
            if api_path == "/api/saved_objects/_import" and self.command == "POST":
                overwrite = query.get("overwrite", ["false"])[-1] == "true"
                return self._import(views, objects, headers, body, overwrite)
        return 404, _NOT_FOUND

    def _create_view(
        self, views: dict[str, dict[str, Any]], space: str, request: dict[str, Any]
    ) -> tuple[int, Any]:
        spec = dict(request["data_view"])
        override = bool(request.get("override", False))
        duplicate = [v for v in views.values() if v["title"] == spec["title"]]
        if duplicate and not override:
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": f"Duplicate data view: {spec['title']}",
            }
        spec.setdefault("id", str(uuid.uuid4()))
        views[spec["id"]] = _full_view(spec, space)
        return 200, {"data_view": views[spec["id"]]}

    def _import(
        self,
        views: dict[str, dict[str, Any]],
        objects: dict[tuple[str, str], dict[str, Any]],
        headers: dict[str, str],
        body: bytes,
        overwrite: bool,
    ) -> tuple[int, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + headers["content-type"].encode() + b"\r\n\r\n" + body
        )
        files = [
            part
            for part in message.iter_parts()
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if len(files) != 1:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "file is required"}
        file_name = files[0].get_filename() or ""
        if not file_name.endswith(".ndjson"):
            extension = Path(file_name).suffix or file_name
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": f"Invalid file extension {extension}",
            }
        payload = files[0].get_payload(decode=True)
        incoming = [json.loads(line) for line in payload.decode().splitlines() if line.strip()]
        in_file = {(o["type"], o["id"]) for o in incoming}
        # Kibana creates nothing while any resolvable error (conflict, missing reference) is
        # pending, so errors are collected for every object before anything is stored.
        results, errors = [], []
        for obj in incoming:
            key = (obj["type"], obj["id"])
            meta = {"title": obj.get("attributes", {}).get("title", obj["id"]), "icon": obj["type"]}
            missing = [
                {"type": ref["type"], "id": ref["id"]}
                for ref in obj.get("references", [])
                if (ref["type"], ref["id"]) not in in_file
                and not (ref["type"] == "index-pattern" and ref["id"] in views)
                and (ref["type"], ref["id"]) not in objects
            ]
            if missing:
                error = {"type": "missing_references", "references": missing}
            elif key in objects and not overwrite:
                error = {"type": "conflict"}
            else:
                result = {"type": obj["type"], "id": obj["id"], "meta": meta}
                if key in objects:
                    result["overwrite"] = True
                results.append(result)
                continue
            errors.append({"id": obj["id"], "type": obj["type"], "meta": meta, "error": error})
        if errors:
            results = []
        else:
            for obj in incoming:
                objects[(obj["type"], obj["id"])] = obj
        answer: dict[str, Any] = {
            "success": not errors,
            "successCount": len(results),
            "successResults": results,
            "warnings": [],
        }
        if errors:
            answer["errors"] = errors
        return 200, answer


# ---------------------------------------------------------------------- Elasticsearch 401


_ES_CHALLENGES = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


class ElasticsearchWithSecurity(_LoopbackServer):
    """Answers like a secured Elasticsearch node does when the credentials are wrong."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _deny(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                paths.append(f"{self.command} {self.path}")
                user = "unknown"
                reason = f"unable to authenticate user [{user}] for REST request [{self.path}]"
                cause = {
                    "type": "security_exception",
                    "reason": reason,
                    "header": {"WWW-Authenticate": _ES_CHALLENGES},
                }
                data = json.dumps(
                    {"error": {"root_cause": [cause], **cause}, "status": 401}
                ).encode()
                self.send_response(401)
                for challenge in _ES_CHALLENGES:
                    self.send_header("WWW-Authenticate", challenge)
                self.send_header("X-elastic-product", "Elasticsearch")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _deny

        super().__init__(Handler)
