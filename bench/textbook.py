"""Benchmark: textbook MEME index, full build vs. rebuild after one modified notebook.

Generates a textbook (default 200 notebooks x 60 code cells, with nblineage MEMEs and
labelled markdown), then measures in the same run:

* full build: no extraction cache, no index, no ledger (every notebook read and parsed);
* rebuild after one notebook was modified (the incremental path: one file read);
* rebuild with nothing changed.

Ratios are against the full build of the same run; the target for the rebuild after one
change is <= 0.2. The notebooks are backdated by an hour, as released textbooks are old:
a file modified within the last two seconds is re-hashed even when its size and mtime
match the cache (see cwh.textbook.cache).

    uv run python bench/textbook.py [--notebooks 200] [--cells 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cwh.textbook import IndexFiles, IndexOptions, build_index, parse_csv

LABEL_PATTERN = r"問\s*\d+-\d+"


def _meme(notebook: int, cell: int) -> str:
    return f"{notebook:04x}{cell:04x}-e67b-11f1-8ade-02fc00000001"


def generate_textbook(root: Path, notebooks: int, cells: int) -> None:
    for number in range(notebooks):
        course = f"course-{number % 5}"
        path = root / course / f"week{number // 5:02}" / f"lesson{number:03}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_notebook(number, cells), ensure_ascii=False), "utf-8")
    backdate = time.time() - 3600
    for path in root.rglob("*.ipynb"):
        os.utime(path, (backdate, backdate))


def _notebook(number: int, cells: int, revision: int = 0) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for cell in range(cells):
        if cell % 3 == 0:
            content.append(
                {
                    "cell_type": "markdown",
                    "id": f"m{cell}",
                    "metadata": {},
                    "source": f"## 問{number}-{cell // 3 + 1}\n\n次のコードを実行してください。\n",
                }
            )
        lines = [f"value_{cell} = {cell + revision}\n" for _ in range(4)]
        content.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{cell}",
                "metadata": {"lc_cell_meme": {"current": f"{_meme(number, cell)}-1-abcd"}},
                "outputs": [],
                "source": [*lines, f"print('lesson {number} cell {cell}', value_{cell})"],
            }
        )
    return {
        "cells": content,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "lc_notebook_meme": {"current": _meme(number, 0xFFFF)},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _timed(root: Path, output: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    outcome = build_index(root, output, IndexOptions(qlabel_pattern=LABEL_PATTERN))
    elapsed = time.perf_counter() - started
    assert outcome.problems == (), outcome.problems[:3]
    return elapsed, outcome.files_read, outcome.status


def run(notebooks: int, cells: int, repeat: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cwh-bench-textbook-"))
    try:
        root = work / "textbook"
        generate_textbook(root, notebooks, cells)
        full, incremental, unchanged = [], [], []
        rows = 0
        for attempt in range(repeat):
            output = work / f"meme-{attempt}.csv"
            seconds, read, _ = _timed(root, output)
            full.append(seconds)
            assert read == notebooks, read
            target = root / "course-3" / "week01" / "lesson008.ipynb"
            target.write_text(
                json.dumps(_notebook(8, cells, revision=attempt + 1), ensure_ascii=False), "utf-8"
            )
            stamp = time.time() - 60
            os.utime(target, (stamp, stamp))
            seconds, read, status = _timed(root, output)
            incremental.append(seconds)
            assert (read, status) == (1, "written"), (read, status)
            seconds, read, status = _timed(root, output)
            unchanged.append(seconds)
            assert (read, status) == (0, "unchanged"), (read, status)
            rows = len(parse_csv(output.read_bytes()))
            files = IndexFiles(output)
            for path in (output, files.cache, files.ledger, files.lock):
                path.unlink()
        full_s = statistics.median(full)
        return {
            "notebooks": notebooks,
            "code_cells_per_notebook": cells,
            "index_rows": rows,
            "textbook_bytes": sum(p.stat().st_size for p in root.rglob("*.ipynb")),
            "repeat": repeat,
            "full_build_s": round(full_s, 3),
            "rebuild_one_modified_s": round(statistics.median(incremental), 3),
            "rebuild_unchanged_s": round(statistics.median(unchanged), 3),
            "ratio_one_modified": round(statistics.median(incremental) / full_s, 3),
            "ratio_unchanged": round(statistics.median(unchanged) / full_s, 3),
            "target_ratio_one_modified": 0.2,
        }
    finally:
        shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notebooks", type=int, default=200)
    parser.add_argument("--cells", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = run(args.notebooks, args.cells, args.repeat)
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))
    return 0 if result["ratio_one_modified"] <= result["target_ratio_one_modified"] else 1


if __name__ == "__main__":
    sys.exit(main())
