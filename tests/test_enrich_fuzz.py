"""100,000 generated records through one ``cwh enrich``: no exit, exactly one output line each."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.enrich_support import (
    FAKE_BLOCKS,
    ROOT,
    MiB,
    build_index,
    enrich_args,
    enrich_command,
    forward_records,
    generated_lines,
    hostile_pickles,
    run_measured,
)

LINES = 100_000
DISTINCT = 2_500
PEAK_RSS_LIMIT = 200 * MiB
LOG_DIR = "student09x0c0ffee/python-basic/.log/20261122"
STAMPS = (
    "9999-12-31 23:59:59(UTC)",
    "0001-01-01 00:00:00(UTC)",
    "1969-12-31 23:59:59(JST)",
    "1999-12-31 23:59:59(UTC)",
    "2101-01-01 00:00:00(UTC)",
    "2100-12-31 23:59:59(-12)",
    "2026-02-30 10:00:00(JST)",
)
TIMES = ("1e12", "-1e20", "1e308", "-1e308", "NaN", "Infinity", "-Infinity", "1e400", "0",
         "18446744073709551615", "18446744073709551616", "-9223372036854775809", "true",
         '"2026-11-22"', "null", "1795355773", "1795355773.25")  # fmt: skip
NOT_RECORDS = ("null", "42", "-1e400", '"log"', "[]", '[{"log": "x"}]', "true",
               "[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000,
               "[" * 1100 + "]" * 1100)  # fmt: skip


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


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _with_line(text: str, start: str, line: str) -> str:
    """``text`` with its first line starting with ``start`` replaced by ``line``."""
    return re.sub(f"^{re.escape(start)}.*$", lambda _: line, text, count=1, flags=re.M)


def _with_result(text: str, path: str) -> str:
    """``text`` naming ``path`` as its result file (in place of its own, if it has one)."""
    if "\nresult: " in text:
        return _with_line(text, "result: ", f"result: {path}")
    return text.replace("\nexecute_reply_status:", f"\nresult: {path}\nexecute_reply_status:")


def _strategies(sample: Path, result_names: list[str]) -> st.SearchStrategy[bytes]:
    logs = [record["record"]["log"] for record in forward_records(sample)]

    @st.composite
    def mutated_log(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(logs))
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["insert", "cut", "truncate", "chars", "result", "time"]))
            at = draw(st.integers(0, len(text)))
            if kind == "insert":
                text = text[:at] + draw(st.sampled_from(FAKE_BLOCKS)) + text[at:]
            elif kind == "cut":
                text = text[:at] + text[at + draw(st.integers(1, 40)) :]
            elif kind == "truncate":
                text = text[:at]
            elif kind == "chars":
                text = text[:at] + draw(st.text(max_size=8)) + text[at:]
            elif kind == "result":
                name = draw(st.sampled_from(result_names))
                text = _with_result(text, f"/home/{LOG_DIR}/{name}.pkl")
            else:
                which = draw(st.sampled_from(["start time: ", "end time: "]))
                text = _with_line(text, which, which + draw(st.sampled_from(STAMPS)))
        return text

    time_text = st.one_of(
        st.sampled_from(TIMES),
        st.integers(-(2**70), 2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(_number_text),
    )
    log_json = st.one_of(
        mutated_log().map(json.dumps),
        mutated_log().map(json.dumps),
        mutated_log().map(json.dumps),
        st.text(max_size=200).map(json.dumps),
        st.sampled_from(NOT_RECORDS),
    )

    @st.composite
    def record(draw: st.DrawFn) -> bytes:
        fields = []
        if draw(st.booleans()):
            fields.append('"time": ' + draw(time_text))
        if draw(st.integers(0, 9)):
            fields.append('"log": ' + draw(log_json))
        if draw(st.integers(0, 3)) == 0:
            fields.append('"tag": ' + json.dumps(draw(st.text(max_size=20))))
        draw(st.randoms()).shuffle(fields)
        line = ("{" + ", ".join(fields) + "}").encode()
        if draw(st.integers(0, 9)) == 0:  # invalid UTF-8 inside the text
            at = draw(st.integers(0, len(line)))
            line = (
                line[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + line[at:]
            )
        return line

    return st.one_of(
        record(),
        record(),
        record(),
        record(),
        st.sampled_from(NOT_RECORDS).map(str.encode),
        st.binary(max_size=120),
    )


def test_hundred_thousand_hostile_lines_through_one_process(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    homes = tmp_path / "homes"
    shutil.copytree(lcwrapper_sample / "users", homes, symlinks=True)
    result_names = ["missing"]
    for name, data in hostile_pickles().items():
        (homes / LOG_DIR / f"{name}.pkl").write_bytes(data)
        result_names.append(name)
    distinct: list[bytes] = []

    @settings(
        max_examples=DISTINCT,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_strategies(lcwrapper_sample, result_names))
    def collect(line: bytes) -> None:
        distinct.append(line.replace(b"\n", b" "))

    collect()
    # Cycled to the full count, a third of the copies cut short or with one byte changed.
    rng = random.Random(20261206)
    lines = []
    for n in range(LINES):
        line = distinct[n % len(distinct)]
        roll = rng.random()
        if roll < 0.15 and line:
            line = line[: rng.randrange(len(line))]
        elif roll < 0.3 and line:
            at = rng.randrange(len(line))
            line = line[:at] + bytes([rng.choice(b'\x00"\\{}[]:,\xff a')]) + line[at + 1 :]
        lines.append(line)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    status, peak, errors = run_measured(
        enrich_args(index, lcwrapper_sample / "passwd", homes), source, out
    )
    answers = out.read_bytes().splitlines()
    kinds: Counter[str] = Counter()
    for answer in answers:
        document = json.loads(answer)
        assert re.fullmatch("[0-9a-f]{32}", document["doc_id"])
        assert document["target_index"].startswith("lcwrapper-")
        kinds[document.get("error_type", "document")] += 1
        if "refused" in document.get("result_error", ""):
            kinds["refused result"] += 1
    print(
        f"\n{len(lines)} lines ({len(distinct)} distinct from hypothesis), "
        f"cwh enrich peak RSS {peak / MiB:.1f} MiB; {dict(sorted(kinds.items()))}"
    )
    assert status == 0, errors[-3000:]
    assert len(answers) == LINES
    assert "InternalError" not in kinds
    for kind in ("document", "refused result", "TimeOutOfRange", "InvalidJSON",
                 "InvalidRecord", "LogParseError"):  # fmt: skip
        assert kinds[kind] > 0, kind
    assert peak < PEAK_RSS_LIMIT
