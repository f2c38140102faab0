"""The report server: files under the report directory, nothing else, for whoever the API
admits; and the link a progress report gets when a report server is announced."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deployments.report_http import ReportServer, public_url, resolve_report_path
from tasks.report_links import announce_report_server, report_url


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    (root / "python-basic").mkdir(parents=True)
    (root / "python-basic" / "latest.html").write_text("<h1>進捗</h1>", encoding="utf-8")
    (root / "python-basic" / "latest.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "python-basic" / ".latest.html.tmp").write_text("half", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not a report", encoding="utf-8")
    (root / "python-basic" / "escape.html").symlink_to(tmp_path / "secret.txt")
    (root / "outside").symlink_to(tmp_path)
    (root / "inside.html").symlink_to(root / "python-basic" / "latest.html")
    return root


def _serve(root: Path, auth: str | None = None) -> Iterator[str]:
    server = ReportServer(root, "127.0.0.1", 0, auth_string=auth).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def site(reports: Path) -> Iterator[str]:
    yield from _serve(reports)


def _raw_get(base: str, path: str) -> int:
    """The status of a request whose path goes on the wire exactly as given."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = connection.recv(256).decode("latin-1")
    return int(head.split()[1])


def test_report_files_are_served_with_their_types(site: str) -> None:
    page = httpx.get(f"{site}/python-basic/latest.html", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == "<h1>進捗</h1>"
    image = httpx.get(f"{site}/python-basic/latest.png", timeout=10)
    assert image.headers["content-type"] == "image/png"
    assert httpx.head(f"{site}/python-basic/latest.html", timeout=10).status_code == 200
    listing = httpx.get(f"{site}/", timeout=10).text
    assert 'href="python-basic/"' in listing and ".latest" not in listing
    assert httpx.get(f"{site}/python-basic", timeout=10).status_code == 301
    assert httpx.get(f"{site}/inside.html", timeout=10).text == "<h1>進捗</h1>"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/python-basic/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/python-basic/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/python-basic/escape.html",
        "/outside/secret.txt",
        "/outside/",
        "/python-basic/.latest.html.tmp",
        "/python-basic%00/latest.html",
        "/python-basic\\..\\..\\secret.txt",
        "/%ff%fe",
        "/missing.html",
        "/" + "a/" * 3000,
    ],
)
def test_traversal_symlink_escapes_hidden_and_odd_paths_are_refused(site: str, path: str) -> None:
    assert _raw_get(site, path) == 404


def test_resolve_refuses_what_leaves_the_directory(reports: Path) -> None:
    root = reports.resolve()
    assert resolve_report_path(root, "/python-basic/latest.html") == root / "python-basic" / (
        "latest.html"
    )
    assert resolve_report_path(root, "/python-basic/escape.html") is None
    assert resolve_report_path(root, "/outside/secret.txt") is None


def test_the_api_auth_string_guards_the_reports_too(reports: Path) -> None:
    for base in _serve(reports, auth="admin:pass"):
        assert httpx.get(f"{base}/python-basic/latest.html", timeout=10).status_code == 401
        wrong = httpx.get(f"{base}/", auth=("admin", "nope"), timeout=10)
        assert wrong.status_code == 401
        good = httpx.get(f"{base}/python-basic/latest.html", auth=("admin", "pass"), timeout=10)
        assert good.status_code == 200
        token = base64.b64encode(b"admin:pass").decode()
        assert httpx.get(
            f"{base}/", headers={"Authorization": f"Basic {token}"}, timeout=10
        ).is_success


def test_a_report_links_to_the_report_server_when_one_is_announced(reports: Path) -> None:
    latest = reports / "python-basic" / "latest.html"
    environ = announce_report_server("http://manager.example:4201/", reports)
    assert report_url(latest, environ) == "http://manager.example:4201/python-basic/latest.html"
    odd = reports / "情報 基礎" / "latest.html"
    assert report_url(odd, environ) == (
        "http://manager.example:4201/%E6%83%85%E5%A0%B1%20%E5%9F%BA%E7%A4%8E/latest.html"
    )
    elsewhere = reports.parent / "secret.txt"
    assert report_url(elsewhere, environ) == elsewhere.resolve().as_uri()
    assert report_url(latest, {}) == latest.resolve().as_uri()
    assert os.path.isabs(report_url(latest, {}).removeprefix("file://"))


def test_the_report_address_is_the_one_browsers_use_for_the_api() -> None:
    ui = "http://manager.example.ac.jp:4200/api"
    assert public_url("0.0.0.0", 4201, ui) == "http://manager.example.ac.jp:4201/"
    assert public_url("10.0.0.5", 4201, "http://127.0.0.1:4200/api") == "http://10.0.0.5:4201/"
    assert public_url("127.0.0.1", 4201, None) == "http://127.0.0.1:4201/"
    assert public_url("0.0.0.0", 4201, None) != "http://0.0.0.0:4201/"
