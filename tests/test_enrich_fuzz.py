"""100,000 generated records through the CLI: no crash, exactly one output line each."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from tests.enrich_support import ROOT, build_index, enrich_command, forward_records

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


def _lines(sample: Path, count: int) -> list[bytes]:
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


def test_hundred_thousand_generated_records(lcwrapper_sample: Path, tmp_path: Path) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    lines = _lines(lcwrapper_sample, 100_000)
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
