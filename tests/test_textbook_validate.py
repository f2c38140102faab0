"""Validation rules, their messages and fix commands, and strict mode."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cwh.textbook import IndexOptions, Problem, build_index, format_report, scan, validate
from tests.test_textbook_builders import code, lesson, markdown, meme, write_notebook


def _problems(root: Path) -> list[Problem]:
    options = IndexOptions()
    return validate(scan(root, options), options)


def _fix(root: Path, relative: str) -> str:
    source = root / relative
    fixed = source.with_name(f"{source.stem}.fixed{source.suffix}")
    return f"jupyter nblineage new-root-meme {shlex.quote(str(source))} {shlex.quote(str(fixed))}"


def test_clean_textbook_has_no_problems(tmp_path: Path) -> None:
    lesson(tmp_path, "c/a.ipynb", 1)
    assert _problems(tmp_path) == []
    assert format_report([], textbook_dir=tmp_path) == f"No problems found in {tmp_path}."


def test_missing_notebook_meme(tmp_path: Path) -> None:
    write_notebook(tmp_path, "c/a.ipynb", [code("x", meme(1))], None)
    [problem] = _problems(tmp_path)
    assert problem.kind == "missing_notebook_meme"
    assert problem.path == "c/a.ipynb"
    assert "Missing lc_notebook_meme value" in problem.message
    assert problem.fix_command is not None
    assert problem.fix_command.startswith(_fix(tmp_path, "c/a.ipynb"))
    assert _fix(tmp_path, "c/a.ipynb") in problem.describe()


def test_missing_cell_meme_names_the_cells(tmp_path: Path) -> None:
    write_notebook(
        tmp_path,
        "c/a.ipynb",
        [markdown("m"), code("x", meme(1)), code("no meme"), code(""), code("also none")],
        meme(9),
    )
    [problem] = _problems(tmp_path)
    assert problem.kind == "missing_cell_meme"
    assert "Missing lc_cell_meme value in 2 code cell(s) (cells 3, 5)" in problem.message
    assert _fix(tmp_path, "c/a.ipynb") in problem.describe()


def test_duplicate_cell_meme_across_notebooks(tmp_path: Path) -> None:
    write_notebook(tmp_path, "c/a.ipynb", [code("x", meme(1))], meme(10))
    write_notebook(
        tmp_path, "c/b.ipynb", [code("y", meme(5)), code("x", meme(1, "2-abcd"))], meme(20)
    )
    [problem] = _problems(tmp_path)
    assert problem.kind == "duplicate_cell_meme"
    assert problem.path == "c/b.ipynb"
    assert f"Duplicate lc_cell_meme value: {meme(1)}" in problem.message
    assert "(cell 2, first in c/a.ipynb cell 1)" in problem.message
    assert _fix(tmp_path, "c/b.ipynb") in problem.describe()
    branches_kept = IndexOptions(keep_branch_number=True)
    assert validate(scan(tmp_path, branches_kept), branches_kept) == []


def test_one_notebook_meme_one_path(tmp_path: Path) -> None:
    write_notebook(tmp_path, "c/a.ipynb", [code("x", meme(1))], meme(10))
    write_notebook(tmp_path, "d/a copy.ipynb", [code("y", meme(2))], meme(10))
    [problem] = _problems(tmp_path)
    assert problem.kind == "duplicate_notebook_meme"
    assert problem.path == "d/a copy.ipynb"
    assert "Different textbook_path has same lc_notebook_meme value" in problem.message
    assert "c/a.ipynb" in problem.message
    assert _fix(tmp_path, "d/a copy.ipynb") in problem.describe()
    assert "'" in _fix(tmp_path, "d/a copy.ipynb")  # the space is quoted for the shell


def test_unreadable_notebook_is_a_problem_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text("not json", encoding="utf-8")
    [problem] = _problems(tmp_path)
    assert problem.kind == "unreadable_notebook"
    assert "not valid JSON" in problem.message
    assert problem.fix_command is None
    assert "save it again" in problem.describe()


def test_report_groups_by_notebook_with_fix_commands(tmp_path: Path) -> None:
    write_notebook(tmp_path, "c/a.ipynb", [code("x"), code("y", meme(1))], None)
    write_notebook(tmp_path, "c/b.ipynb", [code("y", meme(1))], meme(20))
    report = format_report(_problems(tmp_path), textbook_dir=tmp_path)
    lines = report.splitlines()
    assert lines[0].startswith("Validation errors found: 3 problem(s) in 2 file(s)")
    assert lines.index("c/a.ipynb") < lines.index("c/b.ipynb")
    assert report.count("To fix these errors, run:") == 2
    assert report.count(_fix(tmp_path, "c/a.ipynb")) == 1


def test_strict_mode_keeps_the_previous_index(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    assert build_index(root, output, IndexOptions(strict=True)).status == "written"
    before = output.read_bytes()
    ledger = Path(f"{output}.ledger.json")
    ledger_before = ledger.read_bytes()
    lesson(root, "c/b.ipynb", 2)
    write_notebook(root, "c/c.ipynb", [code("x", meme(1001))], meme(3000))  # duplicate cell
    outcome = build_index(root, output, IndexOptions(strict=True))
    assert outcome.status == "refused"
    assert outcome.refusal is not None and "strict mode" in outcome.refusal
    assert output.read_bytes() == before
    assert ledger.read_bytes() == ledger_before
    lenient = build_index(root, output, IndexOptions())
    assert lenient.status == "written"
    assert len(lenient.problems) == 1


@pytest.mark.parametrize("strict", [True, False])
def test_problem_free_strict_and_lenient_builds_agree(tmp_path: Path, strict: bool) -> None:
    root = tmp_path / "textbook"
    lesson(root, "c/a.ipynb", 1)
    output = tmp_path / f"index-{strict}.csv"
    assert build_index(root, output, IndexOptions(strict=strict)).status == "written"
    assert output.read_bytes().count(b"\r\n") == 3


def test_names_with_control_characters_are_escaped_and_their_fix_still_works(
    tmp_path: Path,
) -> None:
    name = "c/\x1b[2Jclear.ipynb"
    write_notebook(tmp_path, name, [code("x", meme(1))], None)
    [problem] = _problems(tmp_path)
    report = format_report([problem], textbook_dir=tmp_path)
    assert "\x1b" not in report and "\x1b" not in problem.describe()
    assert "c/\\x1b[2Jclear.ipynb" in report
    quoted = f"$'{tmp_path}/c/\\x1b[2Jclear.ipynb'"
    assert problem.fix_command is not None and quoted in problem.fix_command


def test_links_leading_out_of_the_textbook_are_read_only_when_allowed(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "textbook", tmp_path / "shared"
    lesson(elsewhere, "c/shared.ipynb", 1)
    lesson(root, "c/own.ipynb", 2)
    (root / "c" / "shared.ipynb").symlink_to(elsewhere / "c" / "shared.ipynb")
    [problem] = _problems(root)
    assert (problem.kind, problem.path) == ("unreadable_notebook", "c/shared.ipynb")
    assert "symbolic link leading outside the textbook directory" in problem.message
    assert "leave it out with --exclude" in format_report([problem], textbook_dir=root)
    trusting = IndexOptions(allow_outside_links=True)
    assert validate(scan(root, trusting), trusting) == []
