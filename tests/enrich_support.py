"""Helpers shared by the enrichment tests: fixture records, the fixture index, the CLI."""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

QLABEL_PATTERN = r"問\s*\d+-\d+"

# Fields the engine adds beyond the fixture's expected documents (see README.md).
ENGINE_FIELDS = frozenset(
    {
        "results",
        "@timestamp",
        "doc_id",
        "target_index",
        "suspect",
        "suspect_reason",
        "error_pattern",
    }
)


def forward_records(sample: Path) -> list[dict[str, Any]]:
    lines = (sample / "forward-records.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def expected_documents(sample: Path) -> list[dict[str, Any]]:
    lines = (sample / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def dated_log_files(homes: Path) -> Iterator[Path]:
    """The lc_wrapper log files proper (``.log/YYYYMMDD/*.log``), not the history symlinks."""
    for path in sorted(homes.glob("*/**/.log/*/*.log")):
        if path.parent.name.isdigit() and not path.is_symlink():
            yield path


def build_index(textbook: Path, output: Path) -> Path:
    """Build the MEME index of ``textbook`` with the project's own CLI."""
    done = run_cli(
        [
            "textbook",
            "index",
            "--textbook-dir",
            str(textbook),
            "--output",
            str(output),
            "--qlabel-pattern",
            QLABEL_PATTERN,
        ]
    )
    assert done.returncode == 0, done.stderr
    return output


def run_cli(
    args: Sequence[str], *, stdin: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployments.cli.main", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def enrich_command(index: Path, passwd: Path, homes: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "deployments.cli.main",
        *enrich_args(index, passwd, homes, *extra),
    ]


def enrich_args(index: Path, passwd: Path, homes: Path, *extra: str) -> list[str]:
    """The arguments of ``cwh`` for ``cwh enrich`` on these files."""
    return [
        "enrich",
        "--index",
        str(index),
        "--passwd",
        str(passwd),
        "--homes-dir",
        str(homes),
        *extra,
    ]


def record_with_result(sample: Path, result_path: str) -> bytes:
    """A fixture record (with a result) whose footer names ``result_path`` instead."""
    record = forward_records(sample)[2]["record"]
    log = record["log"]
    original = next(line for line in log.splitlines() if line.startswith("result: ")).removeprefix(
        "result: "
    )
    return json.dumps({"log": log.replace(original, result_path)}).encode() + b"\n"


def assert_matches_expected(document: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every expected field equal, and nothing else but the engine's documented fields."""
    for key, value in expected.items():
        assert document.get(key) == value, f"field {key!r}: {document.get(key)!r} != {value!r}"
    extra = set(document) - set(expected) - ENGINE_FIELDS
    assert not extra, f"unexpected fields {sorted(extra)}"


FAKE_BLOCKS = (
    "----\n",
    "----\npath: /home/x/.log/20260101/20260101-000000-0000.log\n",
    "uid: 1\ngid: 1\nstart time: 2026-01-01 00:00:00(JST)\n----\n",
    "----\nend time: 2026-01-01 00:00:00(UTC)\n0 chunks with matched keywords or errors\n----\n",
    "execute_reply_status: ok\n",
    "result: /home/x/a.pkl\n",
    '{"lc_cell_meme": {"current": "x"}}\n',
    "start time: 2026-13-45 99:99:99(XYZ)\n",
    "\x00\ud7ff\ufffd",
)


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        at = rng.randint(0, len(text))
        if choice < 0.35:
            text = text[:at] + rng.choice(FAKE_BLOCKS) + text[at:]
        elif choice < 0.6:
            end = min(len(text), at + rng.randint(1, 40))
            text = text[:at] + text[end:]
        elif choice < 0.75:
            text = text[:at]
        else:
            text = text[:at] + "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(8)) + text[at:]
    return text


def generated_lines(sample: Path, count: int) -> list[bytes]:
    """``count`` input lines, the same every time: random bytes, non-record JSON, and the
    fixture logs mutated with fake blocks, cuts and odd characters."""
    rng = random.Random(20261123)
    logs = [r["record"]["log"] for r in forward_records(sample)]
    lines: list[bytes] = []
    for n in range(count):
        kind = n % 10
        if kind == 0:
            lines.append(
                bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))).replace(b"\n", b" ")
            )
        elif kind == 1:
            lines.append(json.dumps(rng.choice([None, 1, "s", [], {"log": None}, {}])).encode())
        else:
            text = _mutate(rng, rng.choice(logs))
            lines.append(json.dumps({"log": text}).encode())
    return lines


MiB = 1024 * 1024


def hostile_pickles(size: int = 10 * MiB - 64) -> dict[str, bytes]:
    """Pickles of about ``size`` bytes built to exhaust an unpickler's memory.

    Each opcode costs one or two bytes of file but builds an object of 56 to 216 bytes, or
    grows a table of the unpickler (its stack, marks or memo) by a pointer.
    """
    half = size // 2
    start = b"\x80\x04"
    under = 99_000  # values pushed: just below the unpickler's cap, so these get built
    shared: list[Any] = []
    for _ in range(12):
        shared = [shared] * 10
    return {
        "sets-then-global": (start + b"(" + b"\x8f" * under + b"l\x8c\x02os\x8c\x06system\x93."),
        "cycle-under-cap": start + b"]\x94(" + b"]" * under + b"lah\x00a.",
        "deep-under-cap": start + b"]" * (under // 2) + b"a" * (under // 2 - 1) + b".",
        "cycle-then-failure": start + b"]\x94(" + b"]" * under + b"lah\x00a}Na.",
        "shared-amplification": pickle.dumps(shared, protocol=4),
        "nested-lists": start + b"]" * half + b"a" * (half - 1) + b".",
        "long-list": start + b"(" + b"]" * size + b"l.",
        "empty-sets": start + b"(" + b"\x8f" * size + b"l.",
        "empty-dicts": start + b"(" + b"}" * size + b"l.",
        "open-marks": start + b"(" * size + b"N.",
        "memo-flood": start + b"]" + b"\x94" * size + b".",
        "self-references": start + b"]\x94(" + b"h\x00" * half + b"e.",
        "cyclic-garbage": start + b"]\x94(" + b"]" * (size - 8) + b"lah\x00a.",
        "refused-global-after-bulk": (
            start + b"(" + b"]" * (size - 32) + b"l\x8c\x02os\x8c\x06system\x93."
        ),
    }


# Runs the ``cwh`` CLI module in this process and, at exit, writes its peak resident set
# (VmHWM, counted from exec) to the file named by the first argument. ``ru_maxrss`` from
# ``wait4`` would not do: it also counts the parent's pages the child had before exec.
_MEASURED = """
import atexit, resource, runpy, sys
report, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(report, "w") as out:
        out.write(kib)

atexit.register(peak)
sys.argv = ["cwh", *sys.argv[3:]]
runpy.run_module("deployments.cli.main", run_name="__main__", alter_sys=True)
"""


def run_measured(
    cli_args: Sequence[str], stdin: Path, stdout: Path, *, address_space: int = 2 << 30
) -> tuple[int, int, bytes]:
    """Run ``cwh <cli_args>`` with files as stdin/stdout: (exit status, peak RSS, stderr).

    The peak (bytes) is what the command's own process reached. Its address space is
    capped, so that a runaway command fails instead of exhausting the machine.
    """
    report = stdout.with_name(stdout.name + ".peak")
    command = [sys.executable, "-c", _MEASURED, str(report), str(address_space), *cli_args]
    with stdin.open("rb") as source, stdout.open("wb") as sink:
        done = subprocess.run(
            command, stdin=source, stdout=sink, stderr=subprocess.PIPE, cwd=ROOT, check=False
        )
    peak = int(report.read_text()) * 1024 if report.exists() else -1
    return done.returncode, peak, done.stderr


def cycles_left_by(setup: str, action: str, *args: str) -> int:
    """What ``gc.collect()`` finds after ``action`` ran in an interpreter of its own.

    ``setup`` (imports, inputs) runs first; then the collector is emptied and disabled, and
    the count is measured after ``action``. A fresh interpreter holds no other test's
    background threads (Prefect's log and event workers), whose garbage would otherwise be
    counted with the action's.
    """
    program = f"import gc\n{setup}\ngc.collect()\ngc.disable()\n{action}\nprint(gc.collect())\n"
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.strip().splitlines()[-1])
