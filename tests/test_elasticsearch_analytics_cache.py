"""The Elasticsearch store's analytics reuse unchanged indices and always equal a full query.

Random executions of two students and three questions are spread over four daily indices,
some cells over several of them and out of time order (an index that straddles another
index's first success). After each change, the cached ``course_analytics`` must equal the
store's own uncached queries and the embedded store's answer for the same documents, and
it must have read again only the indices that changed.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from cwh.enrich import DOC_ID, TARGET_INDEX, error_pattern
from tasks.elasticsearch_store import ElasticsearchStore
from tasks.embedded_store import EmbeddedStore
from tasks.store import ProgressQuery

COURSE = "python-basic"
BASE = 1_795_300_000
PER_CELL = 2


def _execution(prefix: str, rng: random.Random, number: int, day: int) -> dict[str, Any]:
    failed = rng.random() < 0.6
    user = rng.choice(["ann", "bob"])
    document: dict[str, Any] = {
        DOC_ID: f"id-{number:04d}",
        TARGET_INDEX: f"{prefix}-2026.11.{20 + day:02}",
        "user_name": f"{user}x01",
        "local_name": user,
        "course_server": COURSE,
        "qno": rng.choice(["01-000", "01-001", "01-002"]),
        "execute_reply_status": "error" if failed else "ok",
        "start_time": BASE + rng.randrange(0, 4) * 86_400 + rng.randrange(0, 600),
        "end_time": BASE + 5,
        "input": f"print({number})\n<script>alert(1)</script>",
        "output": "" if failed else f"{number}\n",
    }
    if failed:
        ename = rng.choice(["KeyError", "NameError"])
        evalue = rng.choice([f"'{number}'", f"name 'x{number}' is not defined", "division"])
        document["result_text"] = ename
        document["result_json"] = {
            "msg_type": "error",
            "content": {"ename": ename, "evalue": evalue, "traceback": []},
        }
        if rng.random() < 0.8:
            document["error_pattern"] = error_pattern(document["result_json"])
    return document


def test_cached_analytics_equal_a_full_query_and_the_embedded_store(
    es_url: str, es_index_prefix: str, es_client: Elasticsearch, tmp_path: Path
) -> None:
    rng = random.Random(7)
    plain = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    cached = ElasticsearchStore(
        Elasticsearch(es_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
    )
    embedded = EmbeddedStore(tmp_path / "store.sqlite3", index_prefix=es_index_prefix)
    query = ProgressQuery(COURSE)
    numbers = iter(range(10_000))
    days = [f"{es_index_prefix}-2026.11.{20 + day:02}" for day in range(4)]

    def write(count: int, day: int | None = None) -> None:
        documents = [
            _execution(
                es_index_prefix, rng, next(numbers), rng.randrange(4) if day is None else day
            )
            for _ in range(count)
        ]
        for store in (plain, embedded):
            store.write(documents)
            store.flush()

    def check() -> tuple[str, ...]:
        found = cached.course_analytics(query, PER_CELL)
        direct = (
            sorted(plain.first_successes(query)),
            sorted(plain.error_counts(query)),
            sorted(plain.latest_attempts(query, PER_CELL)),
        )
        expected = (
            sorted(embedded.first_successes(query)),
            sorted(embedded.error_counts(query)),
            sorted(embedded.latest_attempts(query, PER_CELL)),
        )
        assert direct == expected
        assert (sorted(found.firsts), sorted(found.errors), sorted(found.attempts)) == expected
        assert cached.last_analytics_use is not None
        return cached.last_analytics_use.counted

    straddles: list[int] = []
    counts = cached._runs_before_counts

    def counting(filters: Any, needed: Any) -> Any:
        straddles.append(len(needed))
        return counts(filters, needed)

    cached._runs_before_counts = counting  # type: ignore[method-assign]
    try:
        write(120)
        assert any(first.runs_before_ok for first in embedded.first_successes(query))
        assert check() == tuple(days)
        assert check() == ()
        write(5, day=3)
        assert check() == (days[3],)
        write(5, day=0)
        assert check() == (days[0],)
        assert max(straddles) > 0, "some index straddled another's first success"
        es_client.indices.delete(index=days[1])
        found = cached.course_analytics(query, PER_CELL)
        assert sorted(found.attempts) == sorted(plain.latest_attempts(query, PER_CELL))
        assert sorted(found.errors) == sorted(plain.error_counts(query))
        assert cached.last_analytics_use is not None
        assert cached.last_analytics_use.counted == ()
        assert days[1] not in cached.last_analytics_use.reused
        (cache_file,) = tmp_path.glob("*.json")
        assert cache_file.stat().st_mode & 0o777 == 0o600
    finally:
        plain.close()
        cached.close()
        embedded.close()


def test_a_broken_analytics_cache_is_reported_and_computed_anew(
    es_url: str, es_index_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(11)
    store = ElasticsearchStore(
        Elasticsearch(es_url), index_prefix=es_index_prefix, progress_cache_dir=tmp_path
    )
    try:
        store.write([_execution(es_index_prefix, rng, n, n % 2) for n in range(30)])
        store.flush()
        query = ProgressQuery(COURSE)
        first = store.course_analytics(query, PER_CELL)
        (cache_file,) = tmp_path.glob("*.json")
        cache_file.write_bytes(b'{"version": 1, "parts": {"x": {"marker": "m"}}}')
        with caplog.at_level(logging.WARNING, logger="cwh.store"):
            again = store.course_analytics(query, PER_CELL)
        assert "analytics cache" in caplog.text and "ignored" in caplog.text
        assert again == first
        assert store.last_analytics_use is not None and store.last_analytics_use.full
    finally:
        store.close()
