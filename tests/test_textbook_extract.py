"""Extraction rules: which cells are questions, their labels, MEMEs and unreadable files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cwh.textbook import (
    IndexOptions,
    IndexRow,
    UnreadableNotebook,
    build_index,
    parse_csv,
    read_notebook,
    strip_branch_number,
)
from tests.test_textbook_builders import code, markdown, meme, notebook, raw, write_notebook

LABEL = r"問\s*\d+-\d+"


def _build(root: Path, tmp_path: Path, **options: object) -> list[IndexRow]:
    output = tmp_path / "index.csv"
    outcome = build_index(root, output, IndexOptions(**options))  # type: ignore[arg-type]
    assert outcome.status in ("written", "unchanged")
    return parse_csv(output.read_bytes())


def test_question_cells_labels_and_resets(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(
        root,
        "course/lesson.ipynb",
        [
            markdown("# 第1回\n\n問1-0 is in the title cell"),
            markdown("## 問1-1\nfirst"),
            code("a = 1", meme(1)),  # label from the markdown right before
            code("b = 2", meme(2)),  # reset after the previous code cell: no label
            markdown("## 問1-2"),
            code("", meme(3)),  # empty: skipped entirely, keeps the label pending
            raw("raw cells change nothing"),
            code("c = 3", meme(4)),  # still labelled 問1-2
            markdown("## 問1-3"),
            code("no meme here"),  # not a question, but resets the label
            code("d = 4", meme(5)),
            markdown("## 問 1-4 and 問1-5"),
            code(["e = ", "5"], meme(6, "1-81ab")),  # source as a list, branch number
        ],
        meme(100),
    )
    rows = _build(root, tmp_path, qlabel_pattern=LABEL)
    assert [(r.qno, r.qlabel, r.code) for r in rows] == [
        ("00-000", "問1-1", "a = 1"),
        ("00-001", "", "b = 2"),
        ("00-002", "問1-2", "c = 3"),
        ("00-003", "", "d = 4"),
        ("00-004", "問 1-4", "e = 5"),
    ]
    assert rows[4].lc_cell_meme == meme(6)
    assert {r.course_server for r in rows} == {"course"}
    assert {r.lc_notebook_meme for r in rows} == {meme(100)}


def test_without_pattern_labels_are_empty(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(root, "a.ipynb", [markdown("## 問1-1"), code("x", meme(1))], meme(9))
    rows = _build(root, tmp_path)
    assert rows[0].qlabel == ""
    assert rows[0].course_server == ""
    assert rows[0].textbook_path == "a.ipynb"


def test_multiline_pattern_anchors_apply_per_line(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(
        root, "a.ipynb", [markdown("intro\nQ7: second line"), code("x", meme(1))], meme(9)
    )
    rows = _build(root, tmp_path, qlabel_pattern=r"^Q\d+")
    assert rows[0].qlabel == "Q7"


def test_branch_numbers_kept_on_request(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(root, "a.ipynb", [code("x", meme(1, "2-aaaa-bbbb"))], meme(9))
    assert _build(root, tmp_path)[0].lc_cell_meme == meme(1)
    kept = _build(root, tmp_path, keep_branch_number=True)
    assert kept[0].lc_cell_meme == meme(1, "2-aaaa-bbbb")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("63658f20-e67b-11f1-8ade-02fc00000001-1-7636", "63658f20-e67b-11f1-8ade-02fc00000001"),
        ("63658f20-e67b-11f1-8ade-02fc00000001", "63658f20-e67b-11f1-8ade-02fc00000001"),
        ("no-dashes-but-short", "no-dashes-but-short"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_strip_branch_number(value: str, expected: str) -> None:
    assert strip_branch_number(value) == expected


@pytest.mark.parametrize("minor", [0, 1, 2, 3, 4, 5])
def test_every_nbformat_4_minor_is_read(minor: int) -> None:
    document = notebook([markdown("## 問1-1"), code("x", meme(1))], meme(2), minor=minor)
    content = read_notebook(json.dumps(document).encode())
    assert content.notebook_meme == meme(2)
    assert [cell.cell_meme for cell in content.questions] == [meme(1)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b'{"cells": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).encode(), "nbformat 3"),
        (b"[1, 2]", "not a notebook"),
        (
            json.dumps(
                {
                    "cells": [{"cell_type": "bogus"}],
                    "metadata": {},
                    "nbformat": 4,
                    "nbformat_minor": 5,
                }
            ).encode(),
            "invalid",
        ),
    ],
)
def test_unreadable_notebooks_have_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableNotebook) as caught:
        read_notebook(data)
    assert reason in caught.value.reason
    assert len(caught.value.reason) < 400


def test_invalid_notebook_is_reported_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(root, "a/good.ipynb", [code("x", meme(1))], meme(10))
    (root / "a" / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    output = tmp_path / "index.csv"
    outcome = build_index(root, output, IndexOptions())
    assert outcome.status == "written"
    rows = parse_csv(output.read_bytes())
    # broken.ipynb sorts first, is skipped, yet keeps its place: good.ipynb is notebook 01
    assert [(r.qno, r.textbook_path) for r in rows] == [("01-000", "a/good.ipynb")]
    [problem] = outcome.problems
    assert problem.kind == "unreadable_notebook"
    assert problem.path == "a/broken.ipynb"
    assert "not valid JSON" in problem.message
    assert [(n.path, n.status) for n in outcome.notebooks] == [
        ("a/broken.ipynb", "unreadable"),
        ("a/good.ipynb", "ok"),
    ]


def test_japanese_paths_and_labels_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "教材"
    write_notebook(
        root,
        "プログラミング基礎/第1回 はじめに.ipynb",
        [markdown("### 問1-1 「こんにちは」と表示"), code('print("こんにちは, 世界")', meme(1))],
        meme(50),
    )
    rows = _build(root, tmp_path, qlabel_pattern=LABEL)
    assert rows == [
        IndexRow(
            qno="00-000",
            qlabel="問1-1",
            lc_cell_meme=meme(1),
            lc_notebook_meme=meme(50),
            textbook_path="プログラミング基礎/第1回 はじめに.ipynb",
            course_server="プログラミング基礎",
            code='print("こんにちは, 世界")',
        )
    ]
    raw_bytes = (tmp_path / "index.csv").read_bytes()
    assert "プログラミング基礎".encode() in raw_bytes
    assert not raw_bytes.startswith(b"\xef\xbb\xbf")


def test_custom_qno_format(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    write_notebook(root, "a.ipynb", [code("x", meme(1)), code("y", meme(2))], meme(9))
    rows = _build(root, tmp_path, qno_format="N{}-C{}")
    assert [r.qno for r in rows] == ["N0-C0", "N0-C1"]
