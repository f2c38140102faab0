"""Notebook numbering: the stable ledger and the reference orderings."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.textbook import (
    IndexOptions,
    LedgerError,
    NotebookKey,
    NumberingLedger,
    build_index,
    parse_csv,
    reference_numbers,
)
from tests.test_textbook_builders import age, code, lesson, markdown, meme, write_notebook

NOW = "2026-11-23T00:00:00+00:00"


def _qnos(output: Path) -> dict[str, str]:
    """qno by cell MEME."""
    return {row.lc_cell_meme: row.qno for row in parse_csv(output.read_bytes())}


def _build(root: Path, output: Path, **options: object) -> dict[str, str]:
    outcome = build_index(root, output, IndexOptions(**options))  # type: ignore[arg-type]
    assert outcome.status in ("written", "unchanged"), outcome.refusal
    return _qnos(output)


def test_stable_numbers_survive_add_remove_modify_and_rename(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "course/02_b.ipynb", 2)
    lesson(root, "course/04_d.ipynb", 4)
    first = _build(root, output)
    assert first[meme(2001)] == "00-000"
    assert first[meme(4001)] == "01-000"

    lesson(root, "course/01_a.ipynb", 1)  # sorts first, but is new: next number
    second = _build(root, output)
    assert {k: second[k] for k in first} == first
    assert second[meme(1001)] == "02-000"

    (root / "course/02_b.ipynb").unlink()  # removed: its number stays reserved
    third = _build(root, output)
    assert meme(2001) not in third
    assert third[meme(4001)] == "01-000"
    lesson(root, "course/03_c.ipynb", 3)
    fourth = _build(root, output)
    assert fourth[meme(3001)] == "03-000"

    write_notebook(  # modified in place: a question inserted before the others
        root,
        "course/04_d.ipynb",
        [markdown("## new"), code("new = 0", meme(4999)), code("x", meme(4001))],
        meme(4000),
    )
    fifth = _build(root, output)
    assert fifth[meme(4999)] == "01-000"
    assert fifth[meme(4001)] == "01-001"

    (root / "other").mkdir()
    os.rename(root / "course/01_a.ipynb", root / "other/01_renamed.ipynb")
    sixth = _build(root, output)
    assert sixth[meme(1001)] == "02-000"
    rows = parse_csv(output.read_bytes())
    moved = {row.textbook_path for row in rows if row.lc_cell_meme == meme(1001)}
    assert moved == {"other/01_renamed.ipynb"}


def test_rerelease_with_new_memes_keeps_the_number(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    lesson(root, "c/b.ipynb", 2)
    _build(root, output)
    lesson(root, "c/a.ipynb", 7)  # new-root-meme: every MEME of c/a.ipynb is new
    lesson(root, "c/0_new.ipynb", 8)
    qnos = _build(root, output)
    assert qnos[meme(7001)] == "00-000"
    assert qnos[meme(2001)] == "01-000"
    assert qnos[meme(8001)] == "02-000"


def test_reference_orderings(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    paths = {1: "z/first_made.ipynb", 2: "a/second_made.ipynb", 3: "m/third_made.ipynb"}
    for offset, (serial, relative) in enumerate(paths.items()):
        path = lesson(root, relative, serial)
        stamp = 1_700_000_000 + offset * 100
        os.utime(path, (stamp, stamp))
    by_name = _build(root, output, numbering="name")
    assert [by_name[meme(s * 1000 + 1)][:2] for s in (2, 3, 1)] == ["00", "01", "02"]
    by_mtime = _build(root, output, numbering="mtime")
    assert [by_mtime[meme(s * 1000 + 1)][:2] for s in (1, 2, 3)] == ["00", "01", "02"]
    keys = [NotebookKey(p, None, ctime_ns=c) for p, c in [("b", 5), ("a", 9), ("c", 5)]]
    assert reference_numbers(keys, "ctime") == {"b": 0, "c": 1, "a": 2}
    assert not Path(str(output) + ".ledger.json").exists()


def test_reference_ordering_renumbers_where_stable_does_not(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    lesson(root, "c/b.ipynb", 2)
    name_out, stable_out = tmp_path / "name.csv", tmp_path / "stable.csv"
    assert _build(root, name_out, numbering="name")[meme(2001)] == "00-000"
    assert _build(root, stable_out)[meme(2001)] == "00-000"
    lesson(root, "c/a.ipynb", 1)
    assert _build(root, name_out, numbering="name")[meme(2001)] == "01-000"
    assert _build(root, stable_out)[meme(2001)] == "00-000"


def test_copied_notebook_gets_its_own_number(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    original = lesson(root, "c/b.ipynb", 2)
    _build(root, output)
    (root / "c/a_copy.ipynb").write_bytes(original.read_bytes())
    outcome = build_index(root, output, IndexOptions())
    numbers = {n.path: n.number for n in outcome.notebooks}
    assert numbers == {"c/b.ipynb": 0, "c/a_copy.ipynb": 1}
    assert {p.kind for p in outcome.problems} == {"duplicate_notebook_meme", "duplicate_cell_meme"}


def test_unreadable_notebook_keeps_its_number_until_fixed(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    good = lesson(root, "c/a.ipynb", 1)
    lesson(root, "c/b.ipynb", 2)
    _build(root, output)
    content = good.read_bytes()
    good.write_bytes(content[: len(content) // 2])  # half-copied
    assert meme(2001) in _build(root, output)
    good.write_bytes(content)
    assert _build(root, output)[meme(1001)] == "00-000"


def test_damaged_ledger_stops_the_build_and_keeps_the_index(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    _build(root, output)
    before = output.read_bytes()
    ledger = Path(str(output) + ".ledger.json")
    ledger.write_text('{"format": "cwh-textbook-numbering-ledger", "version": 1', "utf-8")
    lesson(root, "c/b.ipynb", 2)
    with pytest.raises(LedgerError, match="delete it to renumber"):
        build_index(root, output, IndexOptions())
    assert output.read_bytes() == before


def test_ledger_round_trip_and_invariants() -> None:
    keys = [NotebookKey("a.ipynb", "m1"), NotebookKey("b.ipynb", None)]
    numbers, ledger = NumberingLedger().assign(keys, NOW)
    assert numbers == {"a.ipynb": 0, "b.ipynb": 1}
    loaded = NumberingLedger.from_json(__import__("orjson").loads(ledger.to_json_bytes()))
    assert loaded == ledger
    again, unchanged = loaded.assign(keys, "later")
    assert again == numbers and unchanged == ledger


# Property: whatever happens to the textbook, a notebook that is still there (same MEME,
# or same path after a re-release or while unreadable) keeps its number, and a number is
# never given to another notebook. Copies (two notebooks with one MEME, a validation
# error) make "which one is the original" ambiguous: with them only uniqueness and
# no-reuse are required.
_OPERATIONS = ["add", "remove", "rename", "rerelease", "unreadable", "repair"]


def _run_history(
    initial: list[int], operations: list[tuple[str, int]], *, strict_identity: bool
) -> None:
    counter = 1000
    current: dict[str, str | None] = {f"p{n:03}.ipynb": f"m{n}" for n in initial}
    last_meme: dict[str, str | None] = dict(current)
    numbers, ledger = NumberingLedger().assign(_keys(current), NOW)
    ever_used = set(numbers.values())
    held_paths: dict[int, set[str]] = defaultdict(set)
    held_memes: dict[int, set[str | None]] = defaultdict(set)
    for path, number in numbers.items():
        held_paths[number].add(path)
        held_memes[number].add(current[path])
    for kind, pick in operations:
        paths = sorted(current)
        keeps: dict[str, int] = {p: numbers[p] for p in current}
        if kind == "add" or not paths:
            counter += 1
            current[f"p{pick:03}-{counter}.ipynb"] = f"m{counter}"
        else:
            path = paths[pick % len(paths)]
            counter += 1
            if kind == "remove":
                del current[path]
            elif kind == "rename":
                target = f"r{counter}.ipynb"
                current[target] = current.pop(path)
                del keeps[path]
                if current[target] is not None:
                    keeps[target] = numbers[path]
            elif kind == "rerelease":
                current[path] = f"m{counter}"
            elif kind == "unreadable":
                current[path] = None
            elif kind == "repair":
                current[path] = last_meme.get(path) or f"m{counter}"
            else:
                current[f"copy{counter}.ipynb"] = current[path]
        keeps = {p: n for p, n in keeps.items() if p in current}
        new_numbers, ledger = ledger.assign(_keys(current), NOW)
        if strict_identity:
            for path, number in keeps.items():
                assert new_numbers[path] == number, (kind, path)
        assert len(set(new_numbers.values())) == len(new_numbers)
        for path, number in new_numbers.items():
            if number in ever_used:  # an old number only goes back to its own notebook
                assert path in held_paths[number] or current[path] in held_memes[number]
            held_paths[number].add(path)
            held_memes[number].add(current[path])
        ever_used |= set(new_numbers.values())
        numbers = new_numbers
        last_meme.update({p: m for p, m in current.items() if m is not None})
        recorded = [entry.notebook_meme for entry in ledger.entries if entry.notebook_meme]
        assert len(recorded) == len(set(recorded))
        assert ledger.next_number == max(ever_used, default=-1) + 1


_histories = given(
    st.lists(st.integers(0, 30), max_size=6, unique=True),
    st.lists(st.tuples(st.sampled_from(_OPERATIONS), st.integers(0, 50)), max_size=25),
)


@settings(max_examples=200, deadline=None)
@_histories
def test_numbers_never_change_or_get_reused(
    initial: list[int], operations: list[tuple[str, int]]
) -> None:
    _run_history(initial, operations, strict_identity=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), max_size=6, unique=True),
    st.lists(st.tuples(st.sampled_from([*_OPERATIONS, "copy"]), st.integers(0, 50)), max_size=25),
)
def test_copies_never_break_uniqueness(
    initial: list[int], operations: list[tuple[str, int]]
) -> None:
    _run_history(initial, operations, strict_identity=False)


def _keys(current: dict[str, str | None]) -> list[NotebookKey]:
    return [NotebookKey(path, meme_value) for path, meme_value in current.items()]


def test_backdated_files_are_not_reread(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    age(lesson(root, "c/a.ipynb", 1), 30)
    assert build_index(root, output, IndexOptions()).files_read == 1
    assert build_index(root, output, IndexOptions()).files_read == 0
