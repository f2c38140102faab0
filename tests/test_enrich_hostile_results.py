"""Pickle bombs named by records: refused before they are built, memory stays bounded."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

from tests.enrich_support import (
    MiB,
    build_index,
    enrich_args,
    forward_records,
    hostile_pickles,
    record_with_result,
    run_measured,
)

PEAK_RSS_LIMIT = 200 * MiB
LOG_DIR = "student09x0c0ffee/python-basic/.log/20261122"


def test_hostile_result_files_keep_cwh_enrich_under_200_mb(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    homes = tmp_path / "homes"
    shutil.copytree(lcwrapper_sample / "users", homes, symlinks=True)
    names = []
    for name, data in hostile_pickles().items():
        (homes / LOG_DIR / f"{name}.pkl").write_bytes(data)
        names.append(name)
    # Legitimate but heavy results, each a different file: the cache must stay bounded too.
    for n in range(6):
        heavy = {"content": {"data": {"text/plain": f"{n}" * (9 * MiB)}}}
        (homes / LOG_DIR / f"big-text-{n}.pkl").write_bytes(pickle.dumps(heavy, protocol=4))
        many = [{} for _ in range(90_000 + n)]
        (homes / LOG_DIR / f"many-dicts-{n}.pkl").write_bytes(pickle.dumps(many, protocol=4))
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"]).encode() + b"\n"
    lines = []
    hostile_at = []
    for _ in range(2):  # the second round is answered from the cache
        for name in names:
            hostile_at.append(len(lines))
            lines += [record_with_result(lcwrapper_sample, f"/home/{LOG_DIR}/{name}.pkl"), good]
        for n in range(6):
            for kind in ("big-text", "many-dicts"):
                path = f"/home/{LOG_DIR}/{kind}-{n}.pkl"
                lines += [record_with_result(lcwrapper_sample, path), good]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(lines))
    out = tmp_path / "out.jsonl"
    status, peak, errors = run_measured(
        enrich_args(index, lcwrapper_sample / "passwd", homes), source, out
    )
    print(f"\ncwh enrich peak RSS through {len(lines)} records: {peak / MiB:.1f} MiB")
    assert status == 0, errors[-3000:]
    documents = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert len(documents) == len(lines)
    for at in hostile_at:
        assert "result_json" not in documents[at]
        assert re.search("refused|not a valid pickle", documents[at]["result_error"])
        assert documents[at]["qno"] == "01-002"
    assert all("error_type" not in document for document in documents)
    assert peak < PEAK_RSS_LIMIT
