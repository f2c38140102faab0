"""Backfill and progress-report throughput, Elasticsearch and the embedded store.

Usage: ``uv run python bench/backfill.py [--executions 200000] [--report-docs 1000000]
[--files 20000]``

Measured in one run, each against a baseline measured in the same run (ratios are what
matter on a noisy 2-core machine):

1. **Store writes**: ``--executions`` synthesized enriched documents (real documents from the
   demo seed, re-keyed per student/question/time) written in 2,000-document batches with
   the backfill's writer threads. Baselines: plain ``helpers.parallel_bulk`` ``index``
   operations into indices with the same templates (Elasticsearch) and a bare
   ``executemany`` of the same rows (SQLite).
2. **Backfill from files**: ``--files`` real lc_wrapper logs (a generated demo course)
   read, enriched and stored by :func:`tasks.backfill.run_backfill`. Baseline: finding
   and reading the same files.
3. **Progress report over ``--report-docs`` documents**: the store query plus the whole
   report (matrix, completion, heatmap, HTML) for the largest course, and the reports of
   every course (all the documents); medians of 5, after warm-up reports (see
   ``warm_up``).
   Baseline: counting that course's documents with the same filter. The documents have every
   student run every question every day, the worst case (aggregations cost in proportion to
   daily indices times the (student, question) pairs in each); the same count is then
   loaded class-shaped, each day holding the executions of one lesson's 4 questions, and
   reported again.

The Elasticsearch node is the test distribution started by
``tests.services.elasticsearch_node.running_node`` with ``--heap`` (default 4g: a
production node is sized for its data, while test nodes keep 512 MB; with the small heap
the million-document aggregations spend a third of their time collecting garbage).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from elasticsearch import Elasticsearch, helpers  # noqa: E402

from cwh.enrich import DOC_ID, TARGET_INDEX, EnrichOptions, build_enricher  # noqa: E402  # noqa: E402
from cwh.progress import generate_demo_course, load_seed  # noqa: E402
from cwh.textbook import IndexOptions, build_index  # noqa: E402
from tasks.backfill import BackfillConfig, run_backfill  # noqa: E402
from tasks.elasticsearch_store import ElasticsearchStore, connect  # noqa: E402
from tasks.embedded_store import EmbeddedStore  # noqa: E402
from tasks.log_files import find_log_files, read_log  # noqa: E402
from tasks.progress_reports import ReportConfig, course_report, course_reports, load_inputs  # noqa: E402
from tasks.store import StoreConfig  # noqa: E402
from tests.services.elasticsearch_node import running_node  # noqa: E402

BATCH = 2000
STUDENTS = 400
QUESTIONS_PER_COURSE = 60
COURSES = ("python-basic", "data-science")
BASE_TIME = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
EVERY_DAY = "every question every day"
CLASS_SHAPED = "class-shaped"
DAY_EXECUTIONS = 86_400 // 3
LESSON_QUESTIONS = 4


def templates(work: Path) -> list[dict[str, Any]]:
    """Real enriched documents: the demo seed's executions through the real enricher."""
    seed = load_seed()
    textbook = work / "seed-textbook"
    for relative, content in seed.textbook.items():
        (textbook / relative).parent.mkdir(parents=True, exist_ok=True)
        (textbook / relative).write_bytes(content)
    index = work / "seed-meme.csv"
    build_index(textbook, index, IndexOptions(qlabel_pattern=r"問\s*\d+-\d+"))
    passwd = work / "seed-passwd"
    passwd.write_text(f"{seed.user_name}:x:{seed.uid}:100::/home/{seed.user_name}:/bin/sh\n")
    enricher = build_enricher(EnrichOptions(index=index, passwd=passwd, homes_dir=None))
    return [enricher.enrich_text(execution.text) for execution in seed.executions]


def synthesize(
    count: int,
    prefix: str,
    base: list[dict[str, Any]],
    first: int = 0,
    layout: str = EVERY_DAY,
) -> Iterator[dict[str, Any]]:
    """``count`` distinct executions spread over students, questions, courses and days.

    One execution every 3 s. ``EVERY_DAY``: every student runs every question every day,
    the worst case for the report (each daily index holds every (student, question) pair).
    ``CLASS_SHAPED``: each day's executions are of that day's lesson, 4 questions.
    """
    for number in range(first, first + count):
        document = dict(base[number % len(base)])
        student = number % STUDENTS
        course = COURSES[0] if number % 10 < 7 else COURSES[1]
        question = (number // STUDENTS) % QUESTIONS_PER_COURSE
        if layout == CLASS_SHAPED:
            lesson = number // DAY_EXECUTIONS
            question = (lesson * LESSON_QUESTIONS + question % LESSON_QUESTIONS) % (
                QUESTIONS_PER_COURSE
            )
        start = BASE_TIME + number * 3
        document.update(
            user_name=f"student{student:04d}x{student:06x}",
            local_name=f"student{student:04d}",
            course_server=course,
            qno=f"{question // 10:02}-{question % 10:03}",
            execute_reply_status="error" if number % 7 == 0 else "ok",
            start_time=start,
            end_time=start + 1,
        )
        document["@timestamp"] = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        document[TARGET_INDEX] = f"{prefix}-{datetime.fromtimestamp(start, UTC):%Y.%m.%d}"
        document[DOC_ID] = hashlib.blake2b(f"bench{number}".encode(), digest_size=16).hexdigest()
        yield document


def batches(documents: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for document in documents:
        batch.append(document)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def write_all(
    write: Callable[[list[dict[str, Any]]], object], docs: Iterator[Any], workers: int
) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(write, batch) for batch in batches(docs)]:
            future.result()


def es_baseline(client: Elasticsearch, docs: Iterator[dict[str, Any]]) -> None:
    def actions() -> Iterator[dict[str, Any]]:
        for doc in docs:
            source = dict(doc)
            yield {"_index": source.pop(TARGET_INDEX), "_id": source.pop(DOC_ID), "_source": source}

    for ok, item in helpers.parallel_bulk(client, actions(), chunk_size=BATCH, thread_count=2):
        if not ok:
            raise SystemExit(f"baseline bulk failed: {item}")


def sqlite_baseline(path: Path, docs: Iterator[dict[str, Any]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS plain (doc_id TEXT PRIMARY KEY, document BLOB)")
    for batch in batches(docs):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR IGNORE INTO plain VALUES (?, ?)",
            [(d[DOC_ID], orjson.dumps(d)) for d in batch],
        )
        conn.execute("COMMIT")
    conn.close()


def line(label: str, count: int, seconds: float, baseline: float | None = None) -> None:
    ratio = f"  ({seconds / baseline:.2f}x baseline time)" if baseline else ""
    print(f"  {label:<44} {count / seconds:>10,.0f} docs/s  {seconds:7.2f} s{ratio}")


def bench_writes(es_url: str, work: Path, base: list[dict[str, Any]], count: int) -> None:
    print(f"1. writing {count:,} synthesized executions")
    client = Elasticsearch(es_url, request_timeout=120)
    es_store = ElasticsearchStore(client, index_prefix="benchw")
    es_store.ensure_template()
    ElasticsearchStore(client, index_prefix="benchbase").ensure_template()
    baseline = timed(lambda: es_baseline(client, synthesize(count, "benchbase", base)))
    line("Elasticsearch baseline (bulk index)", count, baseline)
    ours = timed(lambda: write_all(es_store.write, synthesize(count, "benchw", base), 2))
    line("Elasticsearch store (bulk create, 2 writers)", count, ours, baseline)
    again = timed(lambda: write_all(es_store.write, synthesize(count, "benchw", base), 2))
    line("Elasticsearch store, all already present", count, again, baseline)
    client.indices.delete(index="benchbase-*")
    sql_base = timed(lambda: sqlite_baseline(work / "base.sqlite3", synthesize(count, "x", base)))
    line("SQLite baseline (executemany)", count, sql_base)
    store = EmbeddedStore(work / "writes.sqlite3")
    ours = timed(lambda: write_all(store.write, synthesize(count, "x", base), 1))
    line("embedded store (WAL, indexed columns)", count, ours, sql_base)
    store.close()
    es_store.close()


def bench_files(es_url: str, work: Path, files: int) -> None:
    students = max(1, files // 10)
    course = generate_demo_course(work / "course", students=students)
    found = find_log_files(course.homes_dir)
    build_index(course.textbook_dir, course.index, IndexOptions(qlabel_pattern=r"問\s*\d+-\d+"))
    print(f"2. backfill of {len(found):,} log files ({students:,} students)")
    baseline = timed(
        lambda: [read_log(course.homes_dir, f) for f in find_log_files(course.homes_dir)]
    )
    line("baseline (find and read the files)", len(found), baseline)
    for label, store in (
        ("Elasticsearch", StoreConfig(elasticsearch_url=es_url, index_prefix="benchf")),
        ("embedded store", StoreConfig(database=str(work / "files.sqlite3"))),
    ):
        config = BackfillConfig(
            homes_dir=str(course.homes_dir),
            index=str(course.index),
            passwd=str(course.passwd),
            store=store,
            checkpoint=str(work / "checkpoint.json"),
        )
        seconds = run_backfill(config).seconds
        line(f"backfill into {label}", len(found), seconds, baseline)


WARM_UP_REPORTS = 8


def bench_report(es_url: str, work: Path, base: list[dict[str, Any]], count: int) -> None:
    print(f"3. progress report over {count:,} documents ({STUDENTS} students)")
    index = work / "bench-meme.csv"
    rows = ["qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code"]
    for course in COURSES:
        for question in range(QUESTIONS_PER_COURSE):
            qno = f"{question // 10:02}-{question % 10:03}"
            rows.append(
                f"{qno},問{question},m{course}{question},n{course},{course}/nb.ipynb,{course},x"
            )
    index.write_text("\n".join(rows) + "\n", encoding="utf-8")
    client, _ = connect(url=es_url)
    es_store = ElasticsearchStore(client, index_prefix="benchr")
    embedded = EmbeddedStore(work / "report.sqlite3")
    load_es = timed(lambda: write_all(es_store.write, synthesize(count, "benchr", base), 2))
    es_store.flush()
    client.indices.forcemerge(index="benchr-*", max_num_segments=1)
    load_sql = timed(lambda: write_all(embedded.write, synthesize(count, "benchr", base), 1))
    line("loading Elasticsearch", count, load_es)
    line("loading the embedded store", count, load_sql)
    config = ReportConfig(index=str(index), output_dir=str(work / "reports"))
    questions, roster, _ = load_inputs(config)
    course = COURSES[0]
    docs = sum(1 for n in range(count) if n % 10 < 7)

    def largest(store: ElasticsearchStore | EmbeddedStore) -> None:
        course_report(store, config, questions, roster, course, datetime.now(UTC))

    def every(store: ElasticsearchStore | EmbeddedStore) -> None:
        course_reports(store, config, questions, roster, COURSES, datetime.now(UTC))

    def median(action: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
        times = []
        for _ in range(5):
            before()
            times.append(timed(action))
        return statistics.median(times)

    def warm_up(store: ElasticsearchStore | EmbeddedStore) -> None:
        """Reports until two in a row take about as long: a node serving a report every 5
        minutes has compiled and cached what they run, a node that has just loaded a million
        documents has not (its first reports took 2-4 times as long)."""
        previous = timed(lambda: every(store))
        for _ in range(WARM_UP_REPORTS):
            current = timed(lambda: every(store))
            if current > previous * 0.9:
                break
            previous = current
        print(f"  {type(store).__name__}: last warm-up report of both courses {current:.3f} s")

    print(f"  course {course}: {docs:,} docs; both courses: {count:,} docs")
    for label, store, baseline in (
        ("Elasticsearch", es_store, lambda: es_store.client.count(
            index=es_store.executions, query={"term": {"course_server": course}})),
        ("embedded store", embedded, lambda: embedded._connection().execute(
            "SELECT COUNT(*) FROM executions WHERE course_server = ?", (course,)).fetchone()),
    ):  # fmt: skip
        base_time = median(baseline)
        warm_up(store)
        query = median(lambda s=store: s.progress_rows(course))
        whole = median(lambda s=store: largest(s))
        both = median(lambda s=store: every(s))
        print(
            f"  {label:<16} count {base_time:.3f} s, query {query:.3f} s "
            f"({query / base_time:.1f}x count), whole report {whole:.3f} s; "
            f"both courses {both:.3f} s"
        )
    cache_dir = work / "progress-cache"
    cached = ElasticsearchStore(client, index_prefix="benchr", progress_cache_dir=cache_dir)
    cold = median(lambda: every(cached), lambda: shutil.rmtree(cache_dir, ignore_errors=True))
    every(cached)
    warm = median(lambda: every(cached))
    added = iter(range(count, count + 10**9, 2000))
    fresh = median(
        lambda: every(cached),
        lambda: (
            es_store.write(list(synthesize(2000, "benchr", base, next(added)))),
            es_store.flush(),
        ),
    )
    print(
        f"  Elasticsearch with the progress cache, both courses: cold {cold:.3f} s, nothing "
        f"changed {warm:.3f} s, 2,000 new executions each time {fresh:.3f} s "
        f"({fresh / cold:.2f}x cold)"
    )
    client.indices.delete(index="benchr-*")
    shaped = ElasticsearchStore(client, index_prefix="benchk")
    docs_shaped = synthesize(count, "benchk", base, layout=CLASS_SHAPED)
    load = timed(lambda: write_all(shaped.write, docs_shaped, 2))
    shaped.flush()
    client.indices.forcemerge(index="benchk-*", max_num_segments=1)
    line(f"loading Elasticsearch, {CLASS_SHAPED}", count, load)
    warm_up(shaped)
    query = median(lambda: shaped.progress_rows(course))
    whole = median(lambda: largest(shaped))
    both = median(lambda: every(shaped))
    print(
        f"  Elasticsearch, {CLASS_SHAPED} ({LESSON_QUESTIONS} questions a day): query "
        f"{query:.3f} s, whole report {whole:.3f} s; both courses {both:.3f} s"
    )
    client.indices.delete(index="benchk-*")
    shaped.close()
    es_store.close()
    embedded.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--report-docs", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--heap", default="4g", help="Elasticsearch JVM heap (default: 4g)")
    parser.add_argument(
        "--part", action="append", choices=("writes", "files", "report"),
        help="run only this part (repeatable; default: all)",
    )  # fmt: skip
    args = parser.parse_args()
    parts = set(args.part or ("writes", "files", "report"))
    with (
        tempfile.TemporaryDirectory(prefix="cwh-bench-") as temp,
        running_node(heap=args.heap) as node,
    ):
        work = Path(temp)
        base = templates(work)
        print(f"Elasticsearch test node at {node.url}; {len(base)} template documents")
        if "writes" in parts:
            bench_writes(node.url, work, base, args.executions)
        if "files" in parts:
            bench_files(node.url, work, args.files)
        if "report" in parts:
            bench_report(node.url, work, base, args.report_docs)


if __name__ == "__main__":
    main()
