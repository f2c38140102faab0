"""Throughput and memory of ``cwh enrich`` end to end, against a bare JSON pass-through.

Usage: ``uv run python bench/enrich.py [--records 100000] [--repeat 3] [--profile]``

Both commands read the same file of fluentd records on stdin and write to a file, pinned to
one core (``taskset -c 0`` when available), through the same line loop; the baseline only
decodes and re-encodes each line. The ratio is what matters on a noisy machine: both are
measured in the same run. Peak RSS is read from the child's rusage with a 10,000-cell index.
The CPU time (user + system, from the same rusage) of the best runs is printed as well: it
counts only the command's own work, so it moves less than wall time when other processes
compete for the core. ``--profile`` then runs ``cwh enrich`` once more under cProfile and
prints where its time went.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.enrich_support import build_index as build_fixture_index  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "fixtures" / "lcwrapper-sample"
PASSTHROUGH = (
    "import orjson\n"
    "from cwh.enrich_stream import run_stream\n"
    "run_stream(lambda line: orjson.dumps(orjson.loads(line), option=orjson.OPT_APPEND_NEWLINE))\n"
)


def build_index(work: Path, cells: int) -> Path:
    """The fixture textbook's index, padded with synthetic cells up to ``cells`` rows."""
    index = build_fixture_index(SAMPLE / "textbook", work / "meme.csv")
    lines = index.read_text(encoding="utf-8").splitlines()
    padding = []
    for n in range(cells - (len(lines) - 1)):
        cell = str(uuid.UUID(int=n + 1))
        notebook = str(uuid.UUID(int=(n // 60) + 10**9))
        padding.append(
            f"{n // 60:02}-{n % 60:03},問{n},{cell},{notebook},"
            f'course{n // 600}/nb{n // 60}.ipynb,course{n // 600},"x = {n}"'
        )
    index.write_text("\n".join([*lines, *padding]) + "\n", encoding="utf-8")
    return index


def build_input(work: Path, count: int) -> Path:
    records = [
        json.loads(line)["record"]
        for line in (SAMPLE / "forward-records.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    encoded = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records]
    path = work / "records.jsonl"
    with path.open("wb") as out:
        for n in range(count):
            out.write(encoded[n % len(encoded)])
    return path


def owned_homes(work: Path) -> Path:
    """A copy of the sample homes owned by their users, as on a real manager node.

    Checked-out files belong to whoever cloned them; left so, every record would be flagged
    as a uid/owner mismatch and the benchmark would measure the rare path, not the usual one.
    """
    homes = work / "users"
    shutil.copytree(SAMPLE / "users", homes, symlinks=True)
    if os.geteuid() == 0:
        for line in (SAMPLE / "passwd").read_text(encoding="utf-8").splitlines():
            name, _, uid, gid, *_ = line.split(":")
            home = homes / name
            if home.is_dir():
                for path in [home, *home.rglob("*")]:
                    os.lchown(path, int(uid), int(gid))
    return homes


def pinned(command: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0", *command] if taskset else command


def measure(command: list[str], source: Path, sink: Path) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one run."""
    with source.open("rb") as stdin, sink.open("wb") as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(
            pinned(command), stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} exited with {process.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def print_profile(enrich: list[str], source: Path, work: Path, lines: int = 25) -> None:
    """Run ``cwh enrich`` under cProfile and print its most expensive functions."""
    profile = work / "enrich.prof"
    command = [enrich[0], "-m", "cProfile", "-o", str(profile), *enrich[1:]]
    measure(command, source, work / "profiled.jsonl")
    print(f"\ncProfile of cwh enrich (internal time, top {lines}):")
    pstats.Stats(str(profile)).sort_stats("tottime").print_stats(lines)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="also profile one cwh enrich run with cProfile"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cwh-bench-enrich-"))
    try:
        index = build_index(work, args.cells)
        source = build_input(work, args.records)
        homes = owned_homes(work)
        enrich = [
            sys.executable,
            "-m",
            "deployments.cli.main",
            "enrich",
            "--index",
            str(index),
            "--passwd",
            str(SAMPLE / "passwd"),
            "--homes-dir",
            str(homes),
        ]
        baseline = [sys.executable, "-c", PASSTHROUGH]
        sink = work / "out.jsonl"
        best_base = best_enrich = float("inf")
        cpu_base = cpu_enrich = float("inf")
        peak_rss = 0
        for _ in range(args.repeat):
            seconds, _rss, cpu = measure(baseline, source, sink)
            best_base = min(best_base, seconds)
            cpu_base = min(cpu_base, cpu)
            seconds, rss, cpu = measure(enrich, source, sink)
            best_enrich = min(best_enrich, seconds)
            cpu_enrich = min(cpu_enrich, cpu)
            peak_rss = max(peak_rss, rss)
            if count_lines(sink) != args.records:
                raise SystemExit("cwh enrich did not answer every line")
        size_mb = source.stat().st_size / 1e6
        print(f"input: {args.records} records, {size_mb:.1f} MB; index: {args.cells} cells")
        print(f"pass-through  : {args.records / best_base:10.0f} records/s ({best_base:.2f} s)")
        print(f"cwh enrich    : {args.records / best_enrich:10.0f} records/s ({best_enrich:.2f} s)")
        print(f"ratio         : {best_base / best_enrich:10.2f} x pass-through")
        print(f"peak RSS      : {peak_rss / 1024:10.1f} MB")
        print(
            f"CPU time      : {cpu_base:10.2f} s pass-through, {cpu_enrich:.2f} s cwh enrich "
            f"(ratio {cpu_base / cpu_enrich:.2f})"
        )
        if args.profile:
            print_profile(enrich, source, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
