"""Builders for textbook notebooks used by the textbook tests (no tests here).

Notebooks are written as real nbformat 4 JSON with nblineage-style MEMEs, so every test
exercises the same reading path as a released textbook.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

_ids = itertools.count()


def meme(serial: int, branch: str = "") -> str:
    """A MEME shaped like nblineage's: a UUID (five parts) plus optional branch parts."""
    base = f"{serial:08x}-e67b-11f1-8ade-02fc00000001"
    return f"{base}-{branch}" if branch else base


def code(source: str, cell_meme: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if cell_meme is not None:
        metadata["lc_cell_meme"] = {"current": cell_meme}
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": metadata,
        "outputs": [],
        "source": source,
    }


def markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def raw(source: str) -> dict[str, Any]:
    return {"cell_type": "raw", "metadata": {}, "source": source}


def notebook(
    cells: list[dict[str, Any]], notebook_meme: str | None, *, minor: int = 5
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    }
    if notebook_meme is not None:
        metadata["lc_notebook_meme"] = {"current": notebook_meme}
    prepared = []
    for cell in cells:
        cell = dict(cell)
        if minor >= 5:
            cell["id"] = f"cell-{next(_ids)}"
        prepared.append(cell)
    return {"cells": prepared, "metadata": metadata, "nbformat": 4, "nbformat_minor": minor}


def write_notebook(
    root: Path,
    relative: str,
    cells: list[dict[str, Any]],
    notebook_meme: str | None,
    *,
    minor: int = 5,
) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    document = notebook(cells, notebook_meme, minor=minor)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def lesson(root: Path, relative: str, serial: int, questions: int = 2) -> Path:
    """A notebook whose MEMEs derive from ``serial``: labelled questions 問<serial>-<n>."""
    cells: list[dict[str, Any]] = [markdown(f"# Lesson {serial}")]
    for number in range(1, questions + 1):
        cells.append(markdown(f"## 問{serial}-{number}\n\nDo it."))
        cells.append(code(f"answer_{serial}_{number} = {number}", meme(serial * 1000 + number)))
    return write_notebook(root, relative, cells, meme(serial * 1000))


def age(path: Path, seconds_ago: float) -> None:
    """Backdate a file so the extraction cache may trust its modification time."""
    stamp = path.stat().st_mtime - seconds_ago
    os.utime(path, (stamp, stamp))
