"""The textbook MEME index: strict parsing and lookups."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwh.enrich import CellEntry, MemeIndex, MemeIndexError, NotebookEntry, cell_meme_uuid

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"
COLUMNS = (
    "qno",
    "qlabel",
    "lc_cell_meme",
    "lc_notebook_meme",
    "textbook_path",
    "course_server",
    "code",
)
NB1 = "63658d72-e67b-11f1-8ade-02fc00000001"
NB2 = "7a1b2c3d-e67b-11f1-8ade-02fc00000001"
CELL1 = "63658f20-e67b-11f1-8ade-02fc00000001"
CELL2 = "63658ffc-e67b-11f1-8ade-02fc00000001"


def csv_text(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def expected_records() -> list[dict[str, object]]:
    lines = (FIXTURE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("meme", "uuid"),
    [
        (CELL1, CELL1),
        (f"{CELL1}-1-7636", CELL1),
        (f"{CELL1}-2-7636-a1b2", CELL1),
        ("a-b-c-d", None),
        ("", None),
        ("a-b--d-e", None),
        ("no dashes at all", None),
    ],
)
def test_cell_meme_uuid(meme: str, uuid: str | None) -> None:
    assert cell_meme_uuid(meme) == uuid


def test_cell_meme_uuid_matches_every_fixture_record() -> None:
    for record in expected_records():
        assert cell_meme_uuid(str(record["lc_cell_meme"])) == record["lc_cell_meme_uuid"]


def test_lookups_reproduce_the_fixture_enrichment() -> None:
    records = expected_records()
    rows: dict[str, list[str]] = {}
    for record in records:
        if "qno" in record:
            rows[str(record["lc_cell_meme_uuid"])] = [
                str(record["qno"]),
                str(record.get("qlabel", "")),
                str(record["lc_cell_meme_uuid"]),
                str(record["lc_notebook_meme"]),
                str(record["textbook_path"]),
                str(record["course_server"]),
                str(record["input"]),
            ]
    index = MemeIndex.from_csv_text(csv_text(list(rows.values())))
    assert index.problems == ()
    assert len(index) == len(rows)
    for record in records:
        cell = index.cell(str(record["lc_cell_meme_uuid"]))
        if "qno" in record:
            assert cell is not None
            assert cell.qno == record["qno"]
            assert cell.qlabel == record.get("qlabel")
        else:
            assert cell is None
        notebook = index.notebook(str(record["lc_notebook_meme"]))
        assert notebook == NotebookEntry(str(record["textbook_path"]), str(record["course_server"]))


def test_values_stay_strings_and_empty_qlabel_is_none() -> None:
    code = 'print("a, b")\nx = """quoted\n, text"""\n'
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["01-000", "", CELL1, NB1, "2025/intro.ipynb", "2025", code],
                ["01-001", "問 2-1", CELL2, NB1, "2025/intro.ipynb", "2025", ""],
            ]
        )
    )
    assert index.cell(CELL1) == CellEntry("01-000", None, NB1)
    assert index.cell(CELL2) == CellEntry("01-001", "問 2-1", NB1)
    assert index.notebook(NB1) == NotebookEntry("2025/intro.ipynb", "2025")
    assert index.notebook_count == 1
    assert index.problems == ()


def test_branch_numbers_are_tolerated_on_both_sides() -> None:
    index = MemeIndex.from_csv_text(
        csv_text([["00-000", "", f"{CELL1}-1-7636", f"{NB1}-1-abcd", "c/a.ipynb", "c", ""]])
    )
    assert index.cell(CELL1) == CellEntry("00-000", None, f"{NB1}-1-abcd")
    assert index.cell(f"{CELL1}-2-0000-1111") == index.cell(CELL1)
    assert index.notebook(NB1) == NotebookEntry("c/a.ipynb", "c")
    assert index.notebook(f"{NB1}-1-abcd") == NotebookEntry("c/a.ipynb", "c")
    assert index.cell("unknown") is None
    assert index.notebook("unknown") is None


def test_uuid_fallback_never_guesses_between_different_notebooks() -> None:
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["00-000", "", CELL1, f"{NB1}-1-aaaa", "c/a.ipynb", "c", ""],
                ["01-000", "", CELL2, f"{NB1}-1-bbbb", "c/b.ipynb", "c", ""],
            ]
        )
    )
    assert index.notebook(f"{NB1}-1-aaaa") == NotebookEntry("c/a.ipynb", "c")
    assert index.notebook(NB1) is None


def test_optional_columns_may_be_absent() -> None:
    header = ("qno", "lc_cell_meme", "lc_notebook_meme", "textbook_path", "code")
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["00-000", CELL1, NB1, "data-science/week1/nb.ipynb", ""],
                ["01-000", CELL2, NB2, "top.ipynb", ""],
            ],
            header,
        )
    )
    assert index.cell(CELL1) == CellEntry("00-000", None, NB1)
    assert index.notebook(NB1) == NotebookEntry("data-science/week1/nb.ipynb", "data-science")
    assert index.notebook(NB2) == NotebookEntry("top.ipynb", "")


def test_header_only_index_is_valid_and_empty() -> None:
    index = MemeIndex.from_csv_text(csv_text([]))
    assert len(index) == 0
    assert index.notebook_count == 0


def test_bom_and_padded_header_names_are_accepted() -> None:
    text = (
        f"\ufeffqno, lc_cell_meme ,lc_notebook_meme,textbook_path\n00-000,{CELL1},{NB1},c/a.ipynb\n"
    )
    assert MemeIndex.from_csv_text(text).cell(CELL1) == CellEntry("00-000", None, NB1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n", "lacks required column"),
        ("qno,qlabel,lc_cell_meme,textbook_path\n", "lacks required column.*lc_notebook_meme"),
        ("qno,qno,lc_cell_meme,lc_notebook_meme,textbook_path\n", "appears twice"),
        ("qno,lc_cell_meme,lc_notebook_meme,textbook_path", "not terminated"),
    ],
)
def test_bad_headers_are_rejected(text: str, message: str) -> None:
    with pytest.raises(MemeIndexError, match=message):
        MemeIndex.from_csv_text(text)


def test_ragged_row_is_rejected_with_its_line() -> None:
    good = csv_text([["00-000", "", CELL1, NB1, "c/a.ipynb", "c", "x = 1\n"]])
    with pytest.raises(MemeIndexError, match=r"line 4: 3 fields where the header has 7"):
        MemeIndex.from_csv_text(good + f"00-001,,{CELL2}\r\n")


@pytest.mark.parametrize("cut", [0.35, 0.6, 0.8, 0.97])
def test_half_written_file_is_rejected(cut: float) -> None:
    full = csv_text(
        [
            ["00-000", "問1-1", CELL1, NB1, "c/a.ipynb", "c", 'print("x")\nprint(1, 2)\n'],
            ["00-001", "", CELL2, NB1, "c/a.ipynb", "c", "for i in range(3):\n    print(i)\n"],
        ]
    )
    MemeIndex.from_csv_text(full)
    with pytest.raises(MemeIndexError):
        MemeIndex.from_csv_text(full[: int(len(full) * cut)])


def test_unbalanced_quotes_are_rejected() -> None:
    text = f'qno,lc_cell_meme,lc_notebook_meme,textbook_path\n00-000,{CELL1},{NB1},"c/a"x\n'
    with pytest.raises(MemeIndexError, match="line 2: malformed CSV"):
        MemeIndex.from_csv_text(text)


def test_duplicate_cell_meme_first_wins_once_reported() -> None:
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["00-000", "", CELL1, NB1, "c/a.ipynb", "c", ""],
                ["00-001", "", f"{CELL1}-1-aaaa", NB1, "c/a.ipynb", "c", ""],
                ["00-002", "", f"{CELL1}-2-aaaa-bbbb", NB1, "c/a.ipynb", "c", ""],
            ]
        )
    )
    assert index.cell(CELL1) == CellEntry("00-000", None, NB1)
    assert index.problems == (
        f"cell MEME {CELL1} is listed on lines 2, 3, 4; line 2 (qno 00-000) kept",
    )


def test_conflicting_notebook_meme_first_wins_and_is_reported() -> None:
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["00-000", "", CELL1, NB1, "c/a.ipynb", "c", ""],
                ["01-000", "", CELL2, NB1, "c/copy.ipynb", "c", ""],
            ]
        )
    )
    assert index.notebook(NB1) == NotebookEntry("c/a.ipynb", "c")
    assert index.cell(CELL2) == CellEntry("01-000", None, NB1)
    assert len(index.problems) == 1
    assert "line 3" in index.problems[0]
    assert "c/a.ipynb" in index.problems[0]


def test_rows_without_usable_values_are_skipped_and_reported() -> None:
    index = MemeIndex.from_csv_text(
        csv_text(
            [
                ["00-000", "", "not-a-meme", NB1, "c/a.ipynb", "c", ""],
                ["", "", CELL1, NB1, "c/a.ipynb", "c", ""],
                ["00-002", "", CELL2, "", "c/a.ipynb", "c", ""],
            ]
        )
    )
    assert index.cell(CELL1) is None
    assert index.cell(CELL2) == CellEntry("00-002", None, "")
    assert index.notebook(NB1) == NotebookEntry("c/a.ipynb", "c")
    assert [problem.split(":")[0] for problem in index.problems] == ["line 2", "line 3", "line 4"]


def test_many_duplicates_are_summarized() -> None:
    rows = [[f"00-{n:03d}", "", f"{CELL1}-1-{n:04x}", NB1, "c/a.ipynb", "c", ""] for n in range(25)]
    index = MemeIndex.from_csv_text(csv_text(rows))
    assert len(index.problems) == 1
    assert "and 15 more" in index.problems[0]


def test_empty_singleton_and_type_errors() -> None:
    assert len(MemeIndex.EMPTY) == 0
    assert MemeIndex.EMPTY.cell(CELL1) is None
    assert MemeIndex.EMPTY.notebook(NB1) is None
    with pytest.raises(MemeIndexError, match="must be str"):
        MemeIndex.from_csv_text(b"qno\n")  # type: ignore[arg-type]


cell_values = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)


@given(st.lists(st.tuples(cell_values, cell_values, cell_values), min_size=1, max_size=8))
def test_any_written_index_round_trips(rows: list[tuple[str, str, str]]) -> None:
    memes = [f"{n:08x}-0000-0000-0000-{n:012x}" for n in range(len(rows))]
    table = [
        [f"00-{n:03d}", qlabel, meme, NB1, "c/a.ipynb", "c", code]
        for n, ((qlabel, code, _), meme) in enumerate(zip(rows, memes, strict=True))
    ]
    index = MemeIndex.from_csv_text(csv_text(table))
    for n, meme in enumerate(memes):
        assert index.cell(meme) == CellEntry(f"00-{n:03d}", rows[n][0] or None, NB1)
