"""The live path end to end: from a kernel's send to a searchable document.

Usage: ``uv run python bench/live.py [--trickle 60] [--students 400] [--burst-seconds 10]
[--throughput 5000]``

Runs the vendored fluentd with exactly the configuration ``cwh setup`` renders
(:class:`tests.services.live_path.LivePath`) against a fresh Elasticsearch node, and sends real
lc_wrapper records (the fixture's, made distinct) with lc_wrapper's own sender:

1. **Trickle**: ``--trickle`` records, one at a time, each after the previous one is
   searchable: the latency of a record alone in a quiet lesson.
2. **Class burst**: ``--students`` senders (one connection each, as every kernel has its
   own) each send one record at a random moment within ``--burst-seconds``.
3. **Throughput**: ``--throughput`` records sent as fast as fluentd takes them, until all
   are searchable; the baseline is ``cwh enrich`` alone (the stdin filter) on the same
   records, in the same run.

A record's latency is from the moment its send returned (fluentd acknowledged it: it is in
the file buffer) until a search finds it; the node is polled every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services.elasticsearch_node import running_node  # noqa: E402
from tests.services.fluentd_sender import ForwardSender  # noqa: E402
from tests.services.live_path import TAG, LivePath, unique_records  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "fixtures" / "lcwrapper-sample"
POLL_S = 0.02


def _path_of(record: dict[str, Any]) -> str:
    for line in record["log"].splitlines():
        if line.startswith("path: "):
            return line.removeprefix("path: ")
    raise ValueError("record without a path line")


class Watcher:
    """Polls the node and notes when each awaited ``path`` first becomes searchable."""

    def __init__(self, live: LivePath) -> None:
        self.live = live
        self.seen: dict[str, float] = {}

    def _search(self, paths: list[str]) -> list[str]:
        body = json.dumps(
            {
                "size": len(paths),
                "_source": ["path"],
                "query": {"terms": {"path": paths}},
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.live.es_url}/{self.live.index_prefix}-2*/_search",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            hits = json.loads(response.read())["hits"]["hits"]
        return [hit["_source"]["path"] for hit in hits]

    def wait_for(self, paths: set[str], timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while paths - self.seen.keys():
            if time.monotonic() > deadline:
                missing = len(paths - self.seen.keys())
                raise SystemExit(f"{missing} record(s) not searchable after {timeout_s:.0f} s")
            now = time.monotonic()
            for batch in _slices(sorted(paths - self.seen.keys()), 1000):
                for path in self._search(batch):
                    self.seen.setdefault(path, now)
            time.sleep(POLL_S)


def _slices(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s "
        f"(n={len(ordered)})"
    )


def trickle(live: LivePath, records: list[dict[str, Any]]) -> list[float]:
    watcher = Watcher(live)
    latencies = []
    with live.sender() as sender:
        for record in records:
            if not sender.send(record):
                raise SystemExit(f"fluentd refused a record: {sender.last_error}")
            sent = time.monotonic()
            path = _path_of(record)
            watcher.wait_for({path})
            latencies.append(watcher.seen[path] - sent)
            time.sleep(random.uniform(0, 0.5))
    return latencies


def burst(live: LivePath, records: list[dict[str, Any]], seconds: float) -> list[float]:
    """One sender per record (a kernel each), each sending at a random moment."""
    watcher = Watcher(live)
    sent_at: dict[str, float] = {}
    start = time.monotonic() + 0.5
    senders = [ForwardSender(live.fluentd.port, TAG, require_ack_response=True) for _ in records]

    def kernel(sender: ForwardSender, record: dict[str, Any], at: float) -> None:
        time.sleep(max(0.0, start + at - time.monotonic()))
        if not sender.send(record):
            raise SystemExit(f"fluentd refused a record: {sender.last_error}")
        sent_at[_path_of(record)] = time.monotonic()
        sender.close()

    threads = [
        threading.Thread(target=kernel, args=(sender, record, random.uniform(0, seconds)))
        for sender, record in zip(senders, records, strict=True)
    ]
    for thread in threads:
        thread.start()
    watch = threading.Thread(target=watcher.wait_for, args=({_path_of(r) for r in records},))
    watch.start()
    for thread in threads:
        thread.join()
    watch.join()
    return [watcher.seen[path] - sent for path, sent in sent_at.items()]


def throughput(live: LivePath, records: list[dict[str, Any]]) -> float:
    start = time.monotonic()
    with live.sender() as sender:
        for first in range(0, len(records), 100):
            if not sender.send_burst(records[first : first + 100]):
                raise SystemExit(f"fluentd refused records: {sender.last_error}")
    Watcher(live).wait_for({_path_of(r) for r in records})
    return len(records) / (time.monotonic() - start)


def enrich_alone(live: LivePath, records: list[dict[str, Any]], work: Path) -> float:
    """Records/s of the ``cwh enrich`` filter on the same records (stdin to stdout)."""
    lines = work / "records.jsonl"
    lines.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    command = live.settings.enrich.argv()
    start = time.monotonic()
    with lines.open("rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
    return len(records) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trickle", type=int, default=60)
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--throughput", type=int, default=5000)
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="cwh-live-") as tmp, running_node() as node:
        work = Path(tmp)
        live = LivePath(SAMPLE, work / "live", node.url, "bench")
        live.start()
        try:
            live.send_each(unique_records(SAMPLE, 1, first=9999))
            live.wait_for_count(1)
            trickled = trickle(live, unique_records(SAMPLE, args.trickle))
            print(f"trickle, one record at a time: {_percentiles(trickled)}")
            burst_records = unique_records(SAMPLE, args.students, first=20_000)
            bursted = burst(live, burst_records, args.burst_seconds)
            print(
                f"class burst, {args.students} students within {args.burst_seconds:.0f} s: "
                f"{_percentiles(bursted)}"
            )
            bulk = unique_records(SAMPLE, args.throughput, first=40_000)
            rate = throughput(live, bulk)
            alone = enrich_alone(live, bulk, work)
            print(
                f"throughput, {args.throughput} records: whole path {rate:,.0f} records/s; "
                f"cwh enrich alone {alone:,.0f} records/s (ratio {rate / alone:.2f})"
            )
            stats = live.stats()
            print(
                f"delivery: {stats.chunks} chunks, {stats.stored} stored, "
                f"{stats.already_stored} already stored, {stats.failed_chunks} failed"
            )
        finally:
            live.fluentd.stop()


if __name__ == "__main__":
    main()
