"""Elasticsearch store details: rejected documents, dead letters, dynamically mapped indices."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers

from cwh.enrich import DOC_ID, REJECTED, TARGET_INDEX
from cwh.progress import ProgressCell
from tasks.elasticsearch_store import ElasticsearchStore
from tasks.store import ProgressQuery


def _execution(prefix: str, number: int, **changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        DOC_ID: f"id-{number}",
        TARGET_INDEX: f"{prefix}-2026.11.22",
        "user_name": "annx01",
        "local_name": "ann",
        "course_server": "python-basic",
        "qno": "01-000",
        "execute_reply_status": "ok",
        "start_time": 1795355773 + number,
    }
    document.update(changes)
    return document


def test_rejected_documents_and_dead_letters_are_kept_apart(
    es_client: Elasticsearch, es_url: str, es_index_prefix: str
) -> None:
    store = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    dead = {
        "raw": "garbage",
        "error_type": "LogParseError",
        "error_message": "no separator",
        "@timestamp": "2026-11-22T00:00:00Z",
        DOC_ID: "dead-1",
        TARGET_INDEX: f"{es_index_prefix}-deadletter-2026.11.22",
    }
    documents = [
        _execution(es_index_prefix, 1),
        _execution(es_index_prefix, 2, start_time="not a time"),
        dead,
    ]
    summary = store.write(documents)
    assert (summary.indexed, summary.already_present) == (1, 0)
    assert summary.dead_letters_by_reason == {"LogParseError": 1, REJECTED: 1}
    store.flush()
    assert store.count() == 1
    assert store.dead_letter_count() == 2
    rejected = es_client.get(index=f"{es_index_prefix}-deadletter-2026.11.22", id="id-2")
    assert "not a time" in rejected["_source"]["raw"]
    assert "start_time" in rejected["_source"]["error_message"]
    again = store.write(documents)
    assert (again.indexed, again.already_present) == (0, 1)
    store.close()


def test_indices_mapped_dynamically_by_the_live_path_are_read_the_same(
    es_client: Elasticsearch, es_url: str, es_index_prefix: str
) -> None:
    documents = [
        _execution(es_index_prefix, 1, execute_reply_status="error"),
        _execution(es_index_prefix, 2),
        _execution(es_index_prefix, 3, user_name="bobx02", local_name="bob", qno="01-001"),
    ]
    actions = [
        {
            "_index": d[TARGET_INDEX],
            "_id": d[DOC_ID],
            "_source": {k: v for k, v in d.items() if k not in (DOC_ID, TARGET_INDEX)},
        }
        for d in documents
    ]
    assert helpers.bulk(es_client, actions, refresh=True) == (3, [])
    mapping = es_client.indices.get_mapping(index=f"{es_index_prefix}-2026.11.22")
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties["user_name"]["type"] == "text"
    store = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    assert store.progress_rows("python-basic") == [
        ProgressCell("annx01", "01-000", 2, 1, "ok", 1795355775),
        ProgressCell("bobx02", "01-001", 1, 1, "ok", 1795355776),
    ]
    assert store.progress_rows("python-basic", students=["bob"]) == [
        ProgressCell("bobx02", "01-001", 1, 1, "ok", 1795355776)
    ]
    store.close()


def test_progress_counts_of_unchanged_indices_are_reused_and_always_equal_a_full_count(
    es_client: Elasticsearch, es_url: str, es_index_prefix: str, tmp_path: Path
) -> None:
    plain = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    cached = ElasticsearchStore(
        Elasticsearch(es_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
    )
    days = [f"{es_index_prefix}-2026.11.{day:02}" for day in (20, 21, 22, 23)]

    def write(number: int, day: str, **changes: object) -> None:
        plain.write([_execution(es_index_prefix, number, **{TARGET_INDEX: day, **changes})])
        plain.flush()

    def check() -> tuple[str, ...]:
        rows = cached.progress_rows("python-basic")
        assert rows == plain.progress_rows("python-basic")
        assert cached.last_cache_use is not None
        return cached.last_cache_use.counted

    for number, day in enumerate(days):
        write(number, day, qno=f"01-00{number}", user_name=f"u{number % 2}")
    assert check() == tuple(days)
    assert check() == ()
    write(10, days[-1], execute_reply_status="error", start_time=1795999999)
    assert check() == (days[-1],)
    write(11, days[0], qno="01-001", user_name="u1")
    assert check() == tuple(days), "a change to a settled day: everything counted again"
    es_client.indices.delete(index=days[1])
    assert check() == (days[0], days[2], days[3])
    (cache_file,) = tmp_path.glob("*.json")
    assert cache_file.stat().st_mode & 0o777 == 0o600
    cache_file.write_bytes(b"{broken")
    assert check() == (days[0], days[2], days[3])
    assert check() == ()
    plain.close()
    cached.close()


@contextmanager
def _read_only_role(es_url: str) -> Iterator[str]:
    """A proxy to the real node that answers index stats and refreshes as a secured node
    answers a role with only the ``read`` index privilege (403, ``security_exception``)."""

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if "/_stats" in self.path or "/_refresh" in self.path:
                body = (
                    b'{"error":{"type":"security_exception","reason":"action '
                    b'[indices:monitor/stats] is unauthorized for user [teacher]"},"status":403}'
                )
                headers = {"content-type": "application/json", "x-elastic-product": "Elasticsearch"}
                self._answer(403, headers, body)
                return
            length = int(self.headers.get("content-length") or 0)
            request = urllib.request.Request(
                es_url + self.path,
                data=self.rfile.read(length) if length else None,
                method=self.command,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    self._answer(response.status, dict(response.headers), response.read())
            except urllib.error.HTTPError as error:
                self._answer(error.code, dict(error.headers), error.read())

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_role_without_stats_privileges_counts_everything_without_the_cache(
    es_url: str, es_index_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    plain.write([_execution(es_index_prefix, n, qno=f"01-00{n}") for n in range(3)])
    plain.flush()
    with _read_only_role(es_url) as proxy_url:
        reader = ElasticsearchStore(
            Elasticsearch(proxy_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
        )
        rows = reader.progress_rows("python-basic")
        assert rows == plain.progress_rows("python-basic")
        assert len(rows) == 3
        assert "progress cache not used" in caplog.text and "403" in caplog.text
        assert list(tmp_path.iterdir()) == []
        assert reader.progress_rows("python-basic") == rows
        reader.close()
        analyst = ElasticsearchStore(
            Elasticsearch(proxy_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
        )
        query = ProgressQuery("python-basic")
        found = analyst.course_analytics(query, 2)
        assert sorted(found.firsts) == sorted(plain.first_successes(query))
        assert sorted(found.attempts) == sorted(plain.latest_attempts(query, 2))
        assert "analytics cache not used" in caplog.text
        assert list(tmp_path.iterdir()) == []
        analyst.close()
    plain.close()
