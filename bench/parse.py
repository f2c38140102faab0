"""Measure ``cwh.enrich.logrecord.parse_log``: per-record cost on the real sample and large records.

Run from the repository root: ``uv run python bench/parse.py [--fixtures DIR] [--repeat N]``.

Absolute timings depend on the machine and on whatever else it is running, so every number is
printed next to a baseline measured in the same run:

* per record: ``orjson.loads`` of the same forward line, the decoding step every record goes
  through anyway before it is parsed;
* large records: a direct ``re`` implementation of the reference parser's algorithm
  (fluent-plugin-lc-wrapper: lazy head up to the first ``gid:``/``start time:`` block, greedy
  output up to the last end block, greedy input up to the last ``path:`` block).

Nothing is asserted; the script prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import timeit
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from cwh.enrich import parse_log

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"

MEME = '{"lc_cell_meme": {"current": "cb98905e-35b8-11ef-bcb4-02420a64001e"}}\n----\n'
HEADER = (
    "path: /home/alexx1f2e3d/.log/20240629/20240629-100000-0123.log\n"
    "notebook_path: Untitled.ipynb\n"
    "lc_notebook_meme: b9f187ae-2c65-11ef-8eda-02420a64000d\n"
    "server_signature: 9d315e0a-11b7-11ef-a0d3-02420a64000e\n"
    "uid: 1001\ngid: 100\nstart time: 2024-06-29 10:00:00(UTC)\n"
)
END_BLOCK = (
    "----\nend time: 2024-06-29 10:00:20(UTC)\n0 chunks with matched keywords or errors\n"
    "----\nexecute_reply_status: ok\n"
)


def log_text(code: str, output: str) -> str:
    return f"{MEME}{code}\n----\n{HEADER}----\n{output}\n{END_BLOCK}"


def large_cases() -> dict[str, str]:
    """The reference's four performance cases plus fake complete headers, and all at once."""
    long_input = "\n".join(
        f'echo "Line {i}: a long line of a large script, the kind of text that makes regular '
        f'expressions backtrack if they are written carelessly; line {i} is here."'
        for i in range(10_000)
    )
    long_output = "\n".join(
        f"Output line {i}: a substantial line of output, as from data processing or a verbose "
        f"command, long enough to make the whole record about two megabytes. Line {i}."
        for i in range(10_000)
    )
    fake_paths = "\n".join(
        f'echo "fake{i}"\ncat <<EOF{i}\n----\npath: /tmp/fake{i}.log\nnotebook_path: f{i}.ipynb'
        f"\nEOF{i}"
        for i in range(1000)
    )
    fake_ends = "\n".join(
        f"----\nend time: 2024-06-29 {i % 24:02d}:{i % 60:02d}:{i * 17 % 60:02d}(UTC)\n"
        f"{i} chunks with matched keywords or errors\n----\nFake end pattern {i} content"
        for i in range(1000)
    )
    fake_headers = "\n".join(
        f"----\npath: /home/u/.log/20240101/20240101-0000{i % 60:02d}-0000.log\nuid: 0\ngid: 0\n"
        f"start time: 2024-01-01 00:00:{i % 60:02d}(UTC)\n----"
        for i in range(1000)
    )
    return {
        "1000 fake path blocks in input": log_text(fake_paths, "done"),
        "10,000 long lines of input": log_text(long_input, "done"),
        "1000 fake end blocks in output": log_text("echo x", fake_ends),
        "10,000 long lines of output": log_text("echo x", long_output),
        "1000 complete fake headers in input": log_text(fake_headers, "done"),
        "1000 complete fake headers in output": log_text("cat logs", fake_headers),
        "all of the above at once": log_text(
            "\n".join((long_input, fake_paths, fake_headers)),
            "\n".join((long_output, fake_ends, fake_headers)),
        ),
    }


# --- baseline: the reference algorithm with Python's re ----------------------------------------

_REFERENCE_OUTPUT = re.compile(
    r"(?P<head>.*?gid:\s*\d+\s*\nstart\s+time:[^\n]*\n----\n)(?P<output>.*)"
    r"----\nend\s+time:\s*(?P<end>[^\n]*)\n\d+\s+chunks with matched keywords or errors\n"
    r"----\n(?P<footer>.+)",
    re.DOTALL,
)
_REFERENCE_INPUT = re.compile(
    r"(?P<input>.*)----\npath:\s*(?P<path>[^\n]*)\n(?P<header>.*)", re.DOTALL
)


def reference_parse(text: str) -> dict[str, Any]:
    """The reference parser's steps, for timing comparison only."""
    record: dict[str, Any] = {}
    head, _, rest = text.partition("----\n")
    try:
        meme = json.loads(head)["lc_cell_meme"]["current"]
        record["lc_cell_meme"] = meme
    except (ValueError, TypeError, KeyError):
        rest = text
    output_match = _REFERENCE_OUTPUT.match(rest)
    if output_match is None:
        raise ValueError("Failed to parse output pattern")
    record["output"] = output_match["output"]
    record["end_time"] = datetime.strptime(output_match["end"], "%Y-%m-%d %H:%M:%S(%Z)")
    for line in output_match["footer"].splitlines():
        key, _, value = line.partition(": ")
        if key and value:
            record[key] = value
    input_match = _REFERENCE_INPUT.match(output_match["head"])
    if input_match is None:
        raise ValueError("Failed to parse input pattern")
    record["input"] = input_match["input"]
    record["path"] = input_match["path"]
    for line in input_match["header"].splitlines():
        key, _, value = line.partition(": ")
        if key and value and key != "----":
            record[key.replace(" ", "_")] = value
    return record


# --- measuring ------------------------------------------------------------------------------------


def best_seconds(function: Callable[[], object], repeat: int, minimum_batch: float) -> float:
    """Best time of one call: the minimum over ``repeat`` batches, robust to a busy machine."""
    number = 1
    while timeit.timeit(function, number=number) < minimum_batch:
        number *= 2
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def sample_records(fixtures: Path) -> list[tuple[bytes, str]]:
    lines = (fixtures / "forward-records.jsonl").read_bytes().splitlines()
    return [(line, orjson.loads(line)["record"]["log"]) for line in lines]


def bench_sample(fixtures: Path, repeat: int) -> None:
    records = sample_records(fixtures)
    print(f"Real sample ({fixtures}), best of {repeat} batches")
    print(f"{'row':>4} {'bytes':>7} {'parse_log us':>13} {'orjson.loads us':>16} {'ratio':>6}")
    ratios = []
    for row, (line, text) in enumerate(records, 1):
        parse = best_seconds(partial(parse_log, text), repeat, 0.02)
        decode = best_seconds(partial(orjson.loads, line), repeat, 0.02)
        ratios.append(parse / decode)
        print(
            f"{row:>4} {len(text.encode()):>7} {parse * 1e6:>13.2f} {decode * 1e6:>16.2f} "
            f"{parse / decode:>6.1f}"
        )
    print(f"median ratio parse_log / orjson.loads: {statistics.median(ratios):.1f}")

    texts = [text for _, text in records]
    count = 0
    started = time.process_time()
    while time.process_time() - started < 1.0:
        for text in texts:
            parse_log(text)
        count += len(texts)
    elapsed = time.process_time() - started
    print(f"throughput over the sample, one core: {count / elapsed:,.0f} records/s\n")


def bench_large(repeat: int) -> None:
    print(f"Large records, best of {repeat} runs")
    print(f"{'case':<40} {'MB':>5} {'parse_log ms':>13} {'reference re ms':>16} {'ratio':>6}")
    for name, text in large_cases().items():
        size = len(text.encode()) / 1e6
        ours = best_seconds(partial(parse_log, text), repeat, 0.05)
        theirs = best_seconds(partial(reference_parse, text), repeat, 0.05)
        print(
            f"{name:<40} {size:>5.2f} {ours * 1e3:>13.3f} {theirs * 1e3:>16.3f} "
            f"{ours / theirs:>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--repeat", type=int, default=15, help="batches per measurement")
    args = parser.parse_args()
    bench_sample(args.fixtures, args.repeat)
    bench_large(args.repeat)


if __name__ == "__main__":
    main()
