"""Throughput and memory of ``cwh enrich`` end to end, against a bare JSON pass-through.

Usage: ``uv run python bench/enrich.py [--records 100000] [--repeat 3] [--profile]
[--no-compile]``

``cwh enrich`` runs from its compiled hot path (:mod:`cwh.enrich.compiled`: the mypyc modules and
the parser's C shortcut; built first when missing or stale) and, for comparison, from its
source (``CWH_INTERPRETED=1``); both must write the same bytes. All commands read the same
file of fluentd records on stdin and write to a file, pinned to one core (``taskset -c 0``
when available), through the same line loop; the baseline only decodes and re-encodes each
line. ``cwh enrich`` gets a homes dir holding the records' real files (``owned_homes``), so
every record is compared with the ``.log`` file it names and its result is read, as on a
manager node. The ratio is what matters on a noisy machine: all are measured in the same run. Peak
RSS is read from the child's rusage with a 10,000-cell index. The CPU time (user + system,
from the same rusage) of the best runs is printed as well: it counts only the command's own
work, so it moves less than wall time when other processes compete for the core.
``--profile`` then runs ``cwh enrich`` once more under cProfile and prints where its time
went (cProfile sees only the interpreted parts).
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cwh.enrich import INTERPRETED_ENV, build_state, compile_hot_path  # noqa: E402
from cwh.textbook import IndexOptions  # noqa: E402
from cwh.textbook import build_index as build_textbook_index  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "fixtures" / "lcwrapper-sample"
PASSTHROUGH = (
    "import orjson\n"
    "from cwh.enrich.stream import run_stream\n"
    "run_stream(lambda line: orjson.dumps(orjson.loads(line), option=orjson.OPT_APPEND_NEWLINE))\n"
)


def build_index(work: Path, cells: int) -> Path:
    """The fixture textbook's index, padded with synthetic cells up to ``cells`` rows."""
    index = work / "meme.csv"
    build_textbook_index(SAMPLE / "textbook", index, IndexOptions(qlabel_pattern=r"問\s*\d+-\d+"))
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


def measure(
    command: list[str], source: Path, sink: Path, env: dict[str, str] | None = None
) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one run."""
    with source.open("rb") as stdin, sink.open("wb") as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(
            pinned(command),
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} exited with {process.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


@dataclass
class Best:
    """The best of repeated runs of one command: least wall time, CPU time, peak RSS."""

    command: list[str]
    sink: Path
    env: dict[str, str] | None = None
    wall: float = float("inf")
    cpu: float = float("inf")
    rss: int = 0

    def measure(self, source: Path) -> None:
        wall, rss, cpu = measure(self.command, source, self.sink, self.env)
        self.wall, self.cpu, self.rss = min(self.wall, wall), min(self.cpu, cpu), max(self.rss, rss)

    def rate(self, records: int) -> float:
        return records / self.wall


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
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="do not build the compiled hot path when it is missing or stale",
    )
    args = parser.parse_args()
    state = build_state()
    if not state.compiled and not args.no_compile and INTERPRETED_ENV not in os.environ:
        print(f"hot path is {state.describe()}: compiling it first")
        compile_hot_path()
        state = build_state()
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
        interpreted = {**os.environ, INTERPRETED_ENV: "1"}
        runs = {
            "pass-through": Best(baseline, sink=work / "base.jsonl"),
            "cwh enrich": Best(enrich, sink=work / "out.jsonl"),
            "interpreted": Best(enrich, sink=work / "interpreted.jsonl", env=interpreted),
        }
        for _ in range(args.repeat):
            for run in runs.values():
                run.measure(source)
        for name in ("cwh enrich", "interpreted"):
            if count_lines(runs[name].sink) != args.records:
                raise SystemExit(f"{name} did not answer every line")
        same = runs["cwh enrich"].sink.read_bytes() == runs["interpreted"].sink.read_bytes()
        base, enriched, slow = runs.values()
        size_mb = source.stat().st_size / 1e6
        print(f"input: {args.records} records, {size_mb:.1f} MB; index: {args.cells} cells")
        print(f"hot path      : {state.describe()}")
        for name, run in runs.items():
            print(f"{name:<14}: {run.rate(args.records):10.0f} records/s ({run.wall:.2f} s)")
        print(f"ratio         : {base.wall / enriched.wall:10.2f} x pass-through")
        print(f"interpreted   : {base.wall / slow.wall:10.2f} x pass-through")
        print(f"same output   : {'yes' if same else 'NO'} (compiled and interpreted)")
        print(f"peak RSS      : {enriched.rss / 1024:10.1f} MB")
        print(
            f"CPU time      : {base.cpu:10.2f} s pass-through, {enriched.cpu:.2f} s cwh enrich "
            f"(ratio {base.cpu / enriched.cpu:.2f}), {slow.cpu:.2f} s interpreted"
        )
        if not same:
            raise SystemExit("the compiled hot path wrote other documents than the source")
        if args.profile:
            print_profile(enrich, source, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
