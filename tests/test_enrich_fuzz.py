"""100,000 generated records through the CLI: no crash, exactly one output line each."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.enrich_support import ROOT, build_index, enrich_command, generated_lines


def test_hundred_thousand_generated_records(lcwrapper_sample: Path, tmp_path: Path) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    lines = generated_lines(lcwrapper_sample, 100_000)
    done = subprocess.run(
        enrich_command(index, lcwrapper_sample / "passwd", lcwrapper_sample / "users"),
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert len(out) == 100_000
    dead = 0
    for line in out:
        document = json.loads(line)
        assert document["doc_id"] and document["target_index"].startswith("lcwrapper-")
        dead += "error_type" in document
    assert 10_000 <= dead < 100_000
