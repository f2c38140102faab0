"""The progress report with per-question analytics and drill-down over a million executions.

Usage: ``uv run python bench/report.py [--documents 1000000] [--students 300]
[--questions 100] [--attempts 3] [--heap 4g]``

Builds one course of ``--students`` x ``--questions`` with ``--documents`` executions in
both stores (Elasticsearch: the test node of ``tests.services.elasticsearch_node``, bulk
``index`` into the project's templates, then a force-merge; embedded store: its own
``write`` in large batches), shaped like a term: each question belongs to one lesson day
(daily indices), each student makes 1 to 65 attempts at it, fails a few times before the
first success (some never succeed), re-runs afterwards, and the failures carry realistic
exception names and messages. Then it times the whole report of the course (matrix,
analytics, drill-down with ``--attempts`` per cell, heatmap, markdown and HTML) and each
store query on its own: medians of 3 after a warm-up report. Target: under 3 s per store.

Elasticsearch is timed again as the report deployment runs it, with the cache of
unchanged indices (``~/.cwh/cache/progress``): cold (no cache), nothing changed, and
during class: ``--live`` new executions written through the store into today's index
before each report.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elasticsearch import helpers  # noqa: E402

from cwh.enrich import (  # noqa: E402
    DOC_ID,
    TARGET_INDEX,
    error_pattern,
)
from tasks.elasticsearch_store import ElasticsearchStore, connect  # noqa: E402
from tasks.embedded_store import EmbeddedStore  # noqa: E402
from tasks.progress_reports import ReportConfig, course_report, load_inputs  # noqa: E402
from tasks.store import ProgressQuery, Store  # noqa: E402
from tests.services.elasticsearch_node import running_node  # noqa: E402

COURSE = "python-basic"
PREFIX = "benchan"
BASE_TIME = int(datetime(2026, 4, 6, 0, 30, tzinfo=UTC).timestamp())
QUESTIONS_PER_LESSON = 7
BATCH = 5_000
ERRORS = [
    ("NameError", "name '{v}' is not defined"),
    ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"),
    ("TypeError", "'{v}' object is not callable"),
    ("KeyError", "'{v}'"),
    ("IndexError", "list index out of range"),
    ("ValueError", "invalid literal for int() with base 10: '{v}'"),
    ("ZeroDivisionError", "division by zero"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: '/home/{v}/data{n}.csv'"),
    ("AttributeError", "'DataFrame' object has no attribute '{v}'"),
]
NAMES = ["df", "df2", "x", "total", "count", "年齢", "score", "data", "average", "list"]


def documents(count: int, students: int, questions: int) -> Iterator[dict[str, Any]]:
    """``count`` executions of one course, cell by cell, with a term's spread."""
    rng = random.Random(23)
    cells = students * questions
    mean = count / cells
    made = 0
    for cell in range(cells):
        if made >= count:
            return
        student, question = cell % students, cell // students
        remaining = count - made
        left = cells - cell
        runs = remaining // left if left else remaining
        runs = max(1, min(remaining, int(rng.uniform(0.03, 1.97) * mean) if left > 1 else runs))
        fails = min(runs, int(rng.expovariate(0.5)))
        never = rng.random() < 0.08
        error = ERRORS[(student + question) % len(ERRORS)]
        day = question // QUESTIONS_PER_LESSON * 7
        start = BASE_TIME + day * 86_400 + rng.randrange(0, 4 * 3600)
        user = f"student{student:04d}x{student * 7919 % 16**6:06x}"
        for attempt in range(runs):
            start += rng.randrange(5, 240)
            failed = never or attempt < fails or rng.random() < 0.1
            variable = NAMES[rng.randrange(len(NAMES))]
            yield _document(made, user, question, start, failed, error, variable)
            made += 1


def _document(
    number: int,
    user: str,
    question: int,
    start: int,
    failed: bool,
    error: tuple[str, str],
    variable: str,
) -> dict[str, Any]:
    qno = f"{question // 10:02}-{question % 10:03}"
    code = f"result = compute({variable})\nprint(result['{variable}'])\n"
    document: dict[str, Any] = {
        DOC_ID: hashlib.blake2b(f"an{number}".encode(), digest_size=16).hexdigest(),
        TARGET_INDEX: f"{PREFIX}-{datetime.fromtimestamp(start, UTC):%Y.%m.%d}",
        "user_name": user,
        "local_name": user.split("x", 1)[0],
        "course_server": COURSE,
        "qno": qno,
        "qlabel": f"問{question}",
        "textbook_path": f"{COURSE}/nb{question // QUESTIONS_PER_LESSON:02}.ipynb",
        "execute_reply_status": "error" if failed else "ok",
        "start_time": start,
        "end_time": start + 1,
        "input": code,
        "output": "" if failed else f"{number % 997}\n",
        "@timestamp": datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if failed:
        ename = error[0]
        evalue = error[1].format(v=variable, n=number % 13)
        document["result_json"] = {
            "msg_type": "error",
            "content": {"ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]},
        }
        document["result_text"] = ename
        document["error_pattern"] = error_pattern(document["result_json"])
    return document


def batches(docs: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load_elasticsearch(store: ElasticsearchStore, docs: Iterator[dict[str, Any]]) -> None:
    store.ensure_template()

    def actions() -> Iterator[dict[str, Any]]:
        for doc in docs:
            source = dict(doc)
            yield {"_index": source.pop(TARGET_INDEX), "_id": source.pop(DOC_ID), "_source": source}

    for ok, item in helpers.parallel_bulk(
        store.client, actions(), chunk_size=BATCH, thread_count=2, queue_size=2
    ):
        if not ok:
            raise SystemExit(f"bulk failed: {item}")
    store.flush()
    store.client.indices.forcemerge(index=f"{PREFIX}-*", max_num_segments=1)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


REPEAT = [3]
"""Timings per figure (their median is shown); ``--repeat`` sets it."""


def median(action: Callable[[], object]) -> float:
    return statistics.median(timed(action) for _ in range(REPEAT[0]))


def measure(label: str, store: Store, config: ReportConfig, attempts: int) -> None:
    questions, roster, _ = load_inputs(config)
    query = ProgressQuery(COURSE)

    def report() -> None:
        made = course_report(store, config, questions, roster, COURSE, datetime.now(UTC))
        sizes.append(len(made.html))

    sizes: list[int] = []
    warm = timed(report)
    whole = median(report)
    parts = {
        "matrix counts": median(lambda: store.progress_rows(COURSE)),
        "first successes": median(lambda: store.first_successes(query)),
        "errors": median(lambda: store.error_counts(query)),
        "latest attempts": median(lambda: store.latest_attempts(query, attempts)),
    }
    shown = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in parts.items())
    print(
        f"  {label:<15} whole report {whole:.3f} s (first {warm:.3f} s; HTML "
        f"{sizes[-1] / 1e6:.1f} MB); {shown}"
    )


def live_class(store: ElasticsearchStore, students: int, questions: int) -> Callable[[], None]:
    """Writes one new execution per student, at the last lesson's question, one second
    later each call: what a minute of class adds between two reports."""
    counter = iter(range(10**9))
    question = questions - 1
    day = question // QUESTIONS_PER_LESSON * 7
    start = BASE_TIME + day * 86_400 + 5 * 3600

    def write() -> None:
        tick = next(counter)
        batch = []
        for student in range(students):
            user = f"student{student:04d}x{student * 7919 % 16**6:06x}"
            batch.append(
                _document(
                    10**8 + tick * students + student, user, question, start + tick,
                    student % 3 == 0, ERRORS[student % len(ERRORS)], NAMES[tick % len(NAMES)],
                )
            )  # fmt: skip
        store.write(batch)
        store.flush()

    return write


def measure_cached(
    store: ElasticsearchStore, config: ReportConfig, cache: Path, add: Callable[[], None]
) -> None:
    questions, roster, _ = load_inputs(config)

    def report() -> None:
        course_report(store, config, questions, roster, COURSE, datetime.now(UTC))

    def cold() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        return timed(report)

    first = statistics.median(cold() for _ in range(REPEAT[0]))
    report()
    unchanged = median(report)
    times = []
    for _ in range(REPEAT[0]):
        add()
        times.append(timed(report))
    live = statistics.median(times)
    use = store.last_analytics_use
    again = ", ".join(use.counted) if use else "?"
    print(
        f"  Elasticsearch with the cache of unchanged indices: cold {first:.3f} s, nothing "
        f"changed {unchanged:.3f} s, new executions before each report {live:.3f} s "
        f"({live / first:.2f}x cold; read again: {again})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--attempts", type=int, default=3, help="drill-down attempts per cell")
    parser.add_argument("--heap", default="4g", help="Elasticsearch JVM heap (default: 4g)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure (median)")
    parser.add_argument(
        "--live", type=int, default=300, help="new executions before each live-class report"
    )
    args = parser.parse_args()
    REPEAT[0] = max(1, args.repeat)
    with (
        tempfile.TemporaryDirectory(prefix="cwh-bench-report-") as temp,
        running_node(heap=args.heap) as node,
    ):
        work = Path(temp)
        index = work / "meme.csv"
        rows = ["qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code"]
        for question in range(args.questions):
            rows.append(
                f"{question // 10:02}-{question % 10:03},問{question},m{question},"
                f"n{question // QUESTIONS_PER_LESSON},{COURSE}/nb.ipynb,{COURSE},x"
            )
        index.write_text("\n".join(rows) + "\n", encoding="utf-8")
        count, students, questions = args.documents, args.students, args.questions
        print(
            f"{count:,} executions, {students} students x {questions} questions "
            f"(Elasticsearch test node at {node.url})"
        )
        client, _ = connect(url=node.url)
        elastic = ElasticsearchStore(client, index_prefix=PREFIX)
        embedded = EmbeddedStore(work / "report.sqlite3")
        seconds = timed(lambda: load_elasticsearch(elastic, documents(count, students, questions)))
        print(f"  loaded Elasticsearch in {seconds:.1f} s")
        seconds = timed(
            lambda: [embedded.write(b) for b in batches(documents(count, students, questions))]
        )
        print(f"  loaded the embedded store in {seconds:.1f} s ({embedded.count():,} documents)")
        config = ReportConfig(
            index=str(index), output_dir=str(work / "reports"), attempts_per_cell=args.attempts
        )
        measure("Elasticsearch", elastic, config, args.attempts)
        measure("embedded store", embedded, config, args.attempts)
        cache = work / "cache"
        cached = ElasticsearchStore(client, index_prefix=PREFIX, progress_cache_dir=cache)
        measure_cached(
            cached, config, cache, live_class(cached, min(args.live, students), questions)
        )
        client.indices.delete(index=f"{PREFIX}-*")
        elastic.close()
        embedded.close()


if __name__ == "__main__":
    main()
