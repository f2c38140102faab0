"""Helpers shared by the enrichment tests: fixture records, the fixture index, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

QLABEL_PATTERN = r"問\s*\d+-\d+"

# Fields the engine adds beyond the fixture's expected documents (see README.md).
ENGINE_FIELDS = frozenset(
    {"results", "@timestamp", "doc_id", "target_index", "suspect", "suspect_reason"}
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
        "enrich",
        "--index",
        str(index),
        "--passwd",
        str(passwd),
        "--homes-dir",
        str(homes),
        *extra,
    ]


def assert_matches_expected(document: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every expected field equal, and nothing else but the engine's documented fields."""
    for key, value in expected.items():
        assert document.get(key) == value, f"field {key!r}: {document.get(key)!r} != {value!r}"
    extra = set(document) - set(expected) - ENGINE_FIELDS
    assert not extra, f"unexpected fields {sorted(extra)}"
