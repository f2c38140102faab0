"""The report directory over HTTP, next to the Prefect API, so a report opens on any machine.

The progress-report flow writes its HTML pages and heatmaps to a directory on the machine
that runs it; its link artifact must open for a teacher whose browser is elsewhere. This
small read-only server, run by ``cwh serve`` and the ``cwh demo`` background process, serves
that directory and nothing else:

* it binds the same host as the Prefect API and, when the API has an auth string
  (``PREFECT_SERVER_API_AUTH_STRING``), asks for the same HTTP basic credentials;
* only ``GET``/``HEAD`` of regular files under the directory: a path with ``..``, a hidden
  name (the atomic writes' temporary files), a NUL byte or a backslash is refused, and so is
  every file whose real path (symlinks resolved) lies outside the directory;
* a directory shows a plain list of its entries, so ``/`` leads to every course's report.
"""

from __future__ import annotations

import base64
import hmac
import html
import logging
import mimetypes
import shutil
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

_log = logging.getLogger("cwh.reports.http")
MAX_PATH_CHARS = 4096


def resolve_report_path(root: Path, request_path: str) -> Path | None:
    """The real file or directory under ``root`` that ``request_path`` names, or None.

    ``root`` must be resolved already. None for anything that could leave it.
    """
    if len(request_path) > MAX_PATH_CHARS:
        return None
    decoded = unquote(urlsplit(request_path).path, errors="strict")
    if "\0" in decoded or "\\" in decoded:
        return None
    parts = [part for part in decoded.split("/") if part]
    if any(part in (".", "..") or part.startswith(".") for part in parts):
        return None
    try:
        real = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not real.is_relative_to(root):
        return None
    if real.is_dir() or real.is_file():
        return real
    return None


@dataclass(frozen=True)
class ReportSite:
    """What the handler serves and who may read it."""

    root: Path
    auth_string: str | None = None

    def authorised(self, header: str | None) -> bool:
        if not self.auth_string:
            return True
        expected = "Basic " + base64.b64encode(self.auth_string.encode("utf-8")).decode("ascii")
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())


class ReportHandler(BaseHTTPRequestHandler):
    """Read-only access to one :class:`ReportSite`."""

    server_version = "cwh-reports"
    site: ReportSite

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def _answer(self, *, body: bool) -> None:
        if not self.site.authorised(self.headers.get("Authorization")):
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="cwh reports"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            target = resolve_report_path(self.site.root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self._plain(HTTPStatus.NOT_FOUND, "not found\n", body)
        elif target.is_dir():
            if not urlsplit(self.path).path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                relative = target.relative_to(self.site.root).as_posix()
                location = "/" if relative == "." else "/" + quote(relative) + "/"
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(self._listing(target).encode("utf-8"), "text/html; charset=utf-8", body)
        else:
            self._file(target, body)

    def _listing(self, directory: Path) -> str:
        names = sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in directory.iterdir()
            if not entry.name.startswith(".")
        )
        items = "".join(
            f'<li><a href="{quote(name)}">{html.escape(name)}</a></li>' for name in names
        )
        title = html.escape("/" + directory.relative_to(self.site.root).as_posix().strip("."))
        return (
            f"<!doctype html><meta charset=utf-8><title>{title}</title>"
            f"<h1>{title}</h1><ul>{items}</ul>"
        )

    def _file(self, path: Path, body: bool) -> None:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        try:
            handle = path.open("rb")
        except OSError:
            self._plain(HTTPStatus.NOT_FOUND, "not found\n", body)
            return
        with handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            self.send_response(HTTPStatus.OK)
            self._common_headers(kind, size)
            self.end_headers()
            if body:
                shutil.copyfileobj(handle, self.wfile)

    def _plain(self, status: HTTPStatus, message: str, body: bool) -> None:
        self.send_response(status)
        data = message.encode("utf-8")
        self._common_headers("text/plain; charset=utf-8", len(data))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _send(self, data: bytes, kind: str, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self._common_headers(kind, len(data))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _common_headers(self, kind: str, size: int) -> None:
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")


class ReportServer:
    """A :class:`ThreadingHTTPServer` for one report directory, run in a daemon thread."""

    def __init__(
        self, directory: Path, host: str, port: int, *, auth_string: str | None = None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        site = ReportSite(directory.resolve(), auth_string or None)
        handler = type("BoundReportHandler", (ReportHandler,), {"site": site})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.directory = site.root

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ReportServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="report-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


LOCAL_NAMES = ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost")


def public_url(host: str, port: int, ui_api_url: str | None = None) -> str:
    """The base URL a browser uses for the reports.

    The host browsers already use for the API (``PREFECT_UI_API_URL``) when it names one;
    else the bind address, a wildcard bind being reached by the machine's name.
    """
    import socket

    browser_host = urlsplit(ui_api_url).hostname if ui_api_url else None
    if browser_host and browser_host not in LOCAL_NAMES:
        shown = browser_host
    else:
        shown = socket.getfqdn() if host in ("", "0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"
