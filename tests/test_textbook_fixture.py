"""Acceptance: the index of the real sample textbook agrees with its expected documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cwh.textbook import IndexOptions, IndexRow, build_index, parse_csv

QLABEL_PATTERN = r"問\s*\d+-\d+"


def _expected_records(sample: Path) -> list[dict[str, Any]]:
    lines = (sample / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _index_rows(sample: Path, output: Path, numbering: str) -> list[IndexRow]:
    options = IndexOptions(qlabel_pattern=QLABEL_PATTERN, numbering=numbering)  # type: ignore[arg-type]
    outcome = build_index(sample / "textbook", output, options)
    assert outcome.status == "written"
    assert outcome.problems == ()
    return parse_csv(output.read_bytes())


@pytest.mark.parametrize("numbering", ["stable", "name"])
def test_index_matches_expected_documents(
    lcwrapper_sample: Path, tmp_path: Path, numbering: str
) -> None:
    rows = _index_rows(lcwrapper_sample, tmp_path / "meme.csv", numbering)
    by_cell = {row.lc_cell_meme: row for row in rows}
    by_notebook = {row.lc_notebook_meme: row for row in rows}
    records = _expected_records(lcwrapper_sample)
    assert len(records) == 14
    checked_qnos = 0
    for record in records:
        uuid = record.get("lc_cell_meme_uuid")
        row = by_cell.get(uuid) if uuid else None
        if "qno" in record:
            assert row is not None, record["qno"]
            assert row.qno == record["qno"]
            assert row.qlabel == record.get("qlabel", "")
            checked_qnos += 1
        else:
            assert row is None
        notebook_row = by_notebook.get(record.get("lc_notebook_meme", ""))
        if "textbook_path" in record:
            assert notebook_row is not None
            assert notebook_row.textbook_path == record["textbook_path"]
            assert notebook_row.course_server == record["course_server"]
        else:
            assert notebook_row is None
    assert checked_qnos == 13


def test_stable_first_build_equals_name_ordering(lcwrapper_sample: Path, tmp_path: Path) -> None:
    stable = tmp_path / "stable.csv"
    name = tmp_path / "name.csv"
    _index_rows(lcwrapper_sample, stable, "stable")
    _index_rows(lcwrapper_sample, name, "name")
    assert stable.read_bytes() == name.read_bytes()
    assert (tmp_path / "stable.csv.ledger.json").exists()
    assert not (tmp_path / "name.csv.ledger.json").exists()


def test_sample_index_columns_and_branch_numbers(lcwrapper_sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "meme.csv"
    rows = _index_rows(lcwrapper_sample, output, "stable")
    header = output.read_bytes().split(b"\r\n", 1)[0]
    assert header == b"qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code"
    assert len(rows) == 17
    assert all(len(row.lc_cell_meme.split("-")) == 5 for row in rows)
    intro = [row for row in rows if row.textbook_path == "python-basic/01_python_intro.ipynb"]
    assert [row.qno for row in intro] == [f"01-{n:03}" for n in range(7)]
    assert intro[5].code.startswith('poem = """春はあけぼの。')
