"""Progress counts from Elasticsearch: nested terms, their partitions and their fallback.

Every way of counting must give the same matrix on a real node: nested terms in one request,
split into partitions of the questions, and the paged composites they fall back to when
terms would be cut short or the cluster's bucket limit refuses the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

import tasks.elasticsearch_progress as progress
from cwh.enrich import DOC_ID, TARGET_INDEX
from cwh.progress import ProgressCell, combine_status_counts
from tasks.elasticsearch_progress import Cardinalities, partitions_needed
from tasks.elasticsearch_store import ElasticsearchStore

COURSE = "python-basic"
STATUSES = ("ok", "error", "ok", "abort", None)


def _executions(prefix: str) -> list[dict[str, object]]:
    """Five students x seven questions over three daily indices, every kind of status."""
    documents: list[dict[str, object]] = []
    for number in range(120):
        student, question, day = number % 5, (number // 5) % 7, number % 3
        document: dict[str, object] = {
            DOC_ID: f"p-{number}",
            TARGET_INDEX: f"{prefix}-2026.11.{20 + day:02}",
            "user_name": f"student{student}x0{student}",
            "local_name": f"student{student}",
            "course_server": COURSE if number % 11 else "other-course",
            "start_time": 1795355773 + number * 60,
        }
        if number % 13:
            document["qno"] = f"01-{question:03}"
        status = STATUSES[(number // 2) % len(STATUSES)]
        if status is not None:
            document["execute_reply_status"] = status
        documents.append(document)
    return documents


@pytest.fixture
def store(es_url: str, es_index_prefix: str) -> Iterator[ElasticsearchStore]:
    writer = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    summary = writer.write(_executions(es_index_prefix))
    assert summary.dead_letters == 0
    writer.flush()
    yield writer
    writer.close()


def _paged(store: ElasticsearchStore, **filters: object) -> list[ProgressCell]:
    fields = store._progress_fields()
    query = store._progress_filters(COURSE, None, None, filters.get("students"))  # type: ignore[arg-type]
    return combine_status_counts(store._paged_status_counts(fields, query, None))


def test_nested_terms_count_what_the_composites_count(
    store: ElasticsearchStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.store")
    rows = store.progress_rows(COURSE)
    assert rows == _paged(store)
    assert "composite" not in caplog.text, "the nested terms answered"
    assert {cell.last_status for cell in rows} == {"ok", "error", "abort", ""}
    assert sum(cell.runs for cell in rows) == sum(
        1
        for n in range(120)
        if n % 11 and n % 13  # in the course and with a question
    )
    students = ["student1", "student3x03"]
    assert store.progress_rows(COURSE, students=students) == _paged(store, students=students)


@pytest.mark.parametrize("max_buckets", [60, 25])
def test_partitions_of_the_questions_add_up_to_the_whole(
    store: ElasticsearchStore, max_buckets: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.store")
    whole = store.progress_rows(COURSE)
    store.max_buckets = max_buckets
    fields = store._progress_fields()
    filters = store._progress_filters(COURSE, None, None, None)
    counted = store._nested_status_counts(fields, filters, None)
    assert counted is not None, "answered by nested terms, in parts"
    assert combine_status_counts(counted) == whole
    assert "composite" not in caplog.text


def test_too_many_parts_fall_back_to_composites(
    store: ElasticsearchStore, caplog: pytest.LogCaptureFixture
) -> None:
    whole = store.progress_rows(COURSE)
    store.max_buckets = 3
    fields = store._progress_fields()
    filters = store._progress_filters(COURSE, None, None, None)
    assert store._nested_status_counts(fields, filters, None) is None
    assert store.progress_rows(COURSE) == whole


def test_terms_cut_short_are_never_used(
    store: ElasticsearchStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.store")
    whole = store.progress_rows(COURSE)
    monkeypatch.setattr(progress, "_size", lambda cardinality, limit: 1)
    assert store.progress_rows(COURSE) == whole
    assert "terms were cut short" in caplog.text


def test_a_bucket_limit_lower_than_believed_falls_back_to_composites(
    store: ElasticsearchStore, es_client: Elasticsearch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.store")
    whole = store.progress_rows(COURSE)
    store.max_buckets = 65_536
    es_client.cluster.put_settings(transient={"search.max_buckets": 40})
    try:
        assert store.progress_rows(COURSE) == whole
    finally:
        es_client.cluster.put_settings(transient={"search.max_buckets": None})
    assert "composite aggregations: Trying to create too many buckets" in caplog.text
    assert store.max_buckets == 40, "the composite pages were cut to the new limit"


def test_the_bucket_limit_is_read_from_the_cluster(
    es_url: str, es_client: Elasticsearch, es_index_prefix: str
) -> None:
    reader = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    assert reader._max_buckets() == 65_536
    es_client.cluster.put_settings(transient={"search.max_buckets": 1234})
    try:
        reader = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
        assert reader._max_buckets() == 1234
    finally:
        es_client.cluster.put_settings(transient={"search.max_buckets": None})


def test_no_executions_count_nothing(es_url: str, es_index_prefix: str) -> None:
    empty = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    assert empty.progress_rows(COURSE) == []


def test_parts_keep_each_answer_within_the_limit_and_split_large_ones() -> None:
    small = Cardinalities(users=5, qnos=7, statuses=3)
    assert small.buckets() >= 4 * (1 + 7 * 6)
    assert partitions_needed(small, 65_536, parallel=2) == 1
    large = Cardinalities(users=280, qnos=60, statuses=2)
    assert partitions_needed(large, 65_536, parallel=2) == 2
    assert partitions_needed(large, 10_000, parallel=2) == 6
    huge = Cardinalities(users=2_000, qnos=400, statuses=3)
    assert partitions_needed(huge, 65_536, parallel=2) > progress.MAX_PARTITIONS
