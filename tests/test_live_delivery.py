"""``cwh enrich --chunk``: what a bulk answer means, the running totals, and one delivery
against the real Elasticsearch node (stored, replayed, refused, unavailable, hostile chunks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import (
    REJECTED,
    DeliveryStats,
    ItemOutcome,
    add_delivery_stats,
    classify,
    read_delivery_stats,
    rejection_dead_letter,
    split_document,
    tally,
)
from tests.enrich_support import ROOT, build_index, forward_records

EXIT_RETRY = 75
EXIT_CONFIG = 78


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, ItemOutcome.STORED),
        (409, ItemOutcome.ALREADY_STORED),
        (400, ItemOutcome.REJECTED),
        (404, ItemOutcome.REJECTED),
        (429, ItemOutcome.RETRY),
        (500, ItemOutcome.RETRY),
        (503, ItemOutcome.RETRY),
        (None, ItemOutcome.RETRY),
        ("201", ItemOutcome.RETRY),
    ],
)
def test_every_bulk_item_status_has_one_meaning(status: Any, outcome: ItemOutcome) -> None:
    assert classify({"status": status}) is outcome


def test_a_rejection_keeps_the_source_the_id_and_the_reason() -> None:
    result = {
        "_index": "course-2026.11.22",
        "_id": "abc",
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "failed to parse field [uid]",
            "caused_by": {"type": "illegal_argument_exception", "reason": "not a number"},
        },
    }
    dead = rejection_dead_letter(result, {"uid": "x", "@timestamp": "T"}, "abc", "course")
    assert dead["target_index"] == "course-deadletter-2026.11.22"
    assert dead["doc_id"] == "abc" and dead["error_type"] == REJECTED
    assert "failed to parse field [uid]" in dead["error_message"]
    assert "not a number" in dead["error_message"]
    assert json.loads(dead["raw"]) == {"uid": "x", "@timestamp": "T"}
    odd = rejection_dead_letter({"status": 400}, {}, "x", "course")
    assert odd["target_index"] == "course-deadletter-unrouted"


def test_tally_sorts_an_answer_and_documents_need_an_id_and_an_index() -> None:
    items = [
        {"create": {"_id": "a", "_index": "p-1", "status": 201}},
        {"create": {"_id": "b", "_index": "p-1", "status": 409}},
        {"create": {"_id": "c", "_index": "p-1", "status": 400, "error": "bad"}},
        {"create": {"_id": "d", "_index": "p-1", "status": 503, "error": "busy"}},
        {"unexpected": {}},
    ]
    counts = tally(items, {"c": {"v": 1}}, "p")
    assert (counts.stored, counts.already_stored) == (1, 1)
    assert [d["doc_id"] for d in counts.rejected] == ["c"]
    assert counts.retry == ["p-1: busy", "None: status None"]
    with pytest.raises(ValueError, match="idempotently"):
        split_document({"doc_id": "a"})
    assert split_document({"doc_id": "a", "target_index": "i", "k": 1}) == ("a", "i", {"k": 1})


def test_stats_add_up_across_concurrent_processes(tmp_path: Path) -> None:
    """Deliveries run in parallel; the totals must not lose an update."""
    stats = tmp_path / "state" / "delivery-stats.json"
    code = (
        "import sys; from pathlib import Path; from cwh.enrich import DeliveryStats, "
        "add_delivery_stats\n"
        "for _ in range(40):\n"
        "    add_delivery_stats(Path(sys.argv[1]), DeliveryStats(chunks=1, records=3, "
        "dead_letters={'LogParseError': 1}))\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(stats)], cwd=ROOT) for _ in range(6)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0] * 6
    totals = read_delivery_stats(stats)
    assert totals is not None
    assert (totals.chunks, totals.records, totals.dead_letters) == (
        240,
        720,
        {"LogParseError": 240},
    )


def test_a_damaged_stats_file_is_reported_when_read_and_restarted_when_added_to(
    tmp_path: Path,
) -> None:
    stats = tmp_path / "delivery-stats.json"
    assert read_delivery_stats(stats) is None
    stats.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a delivery stats file"):
        read_delivery_stats(stats)
    totals = add_delivery_stats(stats, DeliveryStats(stored=2, last_failure=5.0))
    assert (totals.stored, totals.last_failure) == (2, 5.0)
    stats.write_text('{"stored": "many", "chunks": -4, "dead_letters": {"x": -1, "y": 2}}')
    odd = read_delivery_stats(stats)
    assert odd is not None and (odd.stored, odd.chunks, odd.dead_letters) == (0, 0, {"y": 2})


# ---------------------------------------------------------------- one delivery, for real


def _deliver(
    sample: Path, work: Path, url: str, prefix: str, chunk: Path, *extra: str, env: Any = None
) -> subprocess.CompletedProcess[str]:
    index = work / "meme.csv"
    if not index.exists():
        build_index(sample / "textbook", index)
    command = [
        sys.executable,
        "-m",
        "deployments.cli.main",
        "enrich",
        "--index",
        str(index),
        "--passwd",
        str(sample / "passwd"),
        "--homes-dir",
        str(sample / "users"),
        "--index-prefix",
        prefix,
        "--elasticsearch",
        url,
        "--stats-file",
        str(work / "state" / "delivery-stats.json"),
        "--log-file",
        str(work / "enrich.log"),
        *extra,
        "--chunk",
        str(chunk),
    ]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def _chunk(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_hostile_lines_become_dead_letters_and_the_chunk_is_delivered(
    lcwrapper_sample: Path, tmp_path: Path, es_url: str, es_client: Any, es_index_prefix: str
) -> None:
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"], ensure_ascii=False)
    hostile = [
        "not json",
        "[1, 2, 3]",
        '{"time": 1e300}',
        '{"time": -1e20, "log": 7}',
        '{"log": "' + "x" * 100_000 + '"}',
        "{" * 5000,
        '"\\ud800"',
    ]
    chunk = _chunk(tmp_path / "buffer.qhostile.log", [*hostile, good])
    done = _deliver(lcwrapper_sample, tmp_path, es_url, es_index_prefix, chunk)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    es_client.indices.refresh(index=f"{es_index_prefix}-*")
    dead = es_client.count(index=f"{es_index_prefix}-deadletter-*")["count"]
    stored = es_client.count(index=f"{es_index_prefix}-2*")["count"]
    assert (stored, dead) == (1, len(hostile))
    totals = read_delivery_stats(tmp_path / "state" / "delivery-stats.json")
    assert totals is not None
    assert (totals.records, totals.documents, totals.dead_letter_total) == (8, 1, 7)


def test_unavailable_elasticsearch_keeps_the_chunk_for_a_retry(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"], ensure_ascii=False)
    chunk = _chunk(tmp_path / "buffer.qdown.log", [good])
    done = _deliver(lcwrapper_sample, tmp_path, "http://127.0.0.1:9", "down", chunk)
    assert done.returncode == EXIT_RETRY, done.stderr
    assert "Traceback" not in done.stderr
    assert "NOT delivered, fluentd will retry" in (tmp_path / "enrich.log").read_text()
    totals = read_delivery_stats(tmp_path / "state" / "delivery-stats.json")
    assert totals is not None and totals.failed_chunks == 1
    assert totals.last_failure_reason is not None
    assert "Connection refused" in totals.last_failure_reason


def test_missing_secret_fifo_and_link_chunks_are_refused_without_hanging(
    lcwrapper_sample: Path, tmp_path: Path, es_url: str
) -> None:
    chunk = _chunk(tmp_path / "buffer.qok.log", ['{"log": "x"}'])
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CWH_ES_")}
    done = _deliver(
        lcwrapper_sample,
        tmp_path,
        es_url,
        "cfg",
        chunk,
        "--es-auth",
        "basic",
        "--es-username",
        "fluentd",
        env=environment,
    )
    assert done.returncode == EXIT_CONFIG
    assert "CWH_ES_PASSWORD" in done.stderr and "Traceback" not in done.stderr
    fifo = tmp_path / "buffer.qfifo.log"
    os.mkfifo(fifo)
    link = tmp_path / "buffer.qlink.log"
    link.symlink_to(chunk)
    for path in (fifo, link):
        done = _deliver(lcwrapper_sample, tmp_path, es_url, "odd", path)
        assert done.returncode == EXIT_RETRY, done.stderr
        assert "Traceback" not in done.stderr


def test_a_bad_url_is_refused_without_showing_its_secret() -> None:
    from deployments.live.elasticsearch_http import BulkClient, ElasticsearchConfigError

    for url in ("htps://user:S3CRET@es:9200", "http://es:99999/?api_key=S3CRET"):
        with pytest.raises(ElasticsearchConfigError) as raised:
            BulkClient(urls=[url])
        assert "S3CRET" not in str(raised.value)
