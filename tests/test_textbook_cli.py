"""``cwh textbook index|validate``: arguments, reports and exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.cli import textbook as textbook_cli
from tests.test_textbook_builders import code, lesson, meme, write_notebook


def _cwh(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cwh")
    subparsers = parser.add_subparsers(dest="command", required=True)
    textbook_cli.register(subparsers)
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def _index(root: Path, output: Path) -> list[str]:
    """``cwh textbook index`` of ``root`` into ``output``, before any further option."""
    return ["textbook", "index", "--textbook-dir", str(root), "--output", str(output)]


def test_index_writes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    argv = [
        *_index(root, output),
        "--qlabel-pattern",
        r"問\s*\d+-\d+",
    ]
    assert _cwh(argv) == 0
    assert f"wrote {output}: 2 question(s) from 1 notebook(s)" in capsys.readouterr().out
    assert _cwh(argv) == 0
    assert f"unchanged: {output}" in capsys.readouterr().out
    assert "問1-1" in output.read_text(encoding="utf-8")


def test_index_options_are_passed_through(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "keep/a.ipynb", 1)
    lesson(root, "drop/b.ipynb", 2)
    write_notebook(root, "keep/z.ipynb", [code("x", meme(7, "1-abcd"))], meme(70))
    argv = [
        *_index(root, output),
        "--exclude",
        "drop/**",
        "--numbering",
        "name",
        "--qno-format",
        "{}.{}",
        "--keep-branch-number",
    ]
    assert _cwh(argv) == 0
    text = output.read_bytes().decode("utf-8")
    assert "drop/b.ipynb" not in text
    assert "\r\n1.0,," + meme(7, "1-abcd") in text
    assert not Path(f"{output}.ledger.json").exists()


def test_index_with_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    write_notebook(root, "c/a.ipynb", [code("x", meme(1))], None)
    base = _index(root, output)
    assert _cwh([*base, "--strict"]) == 1
    captured = capsys.readouterr()
    assert "Missing lc_notebook_meme value" in captured.err
    assert "jupyter nblineage new-root-meme" in captured.err
    assert "strict mode" in captured.err
    assert not output.exists()
    assert _cwh(base) == 1  # like memeid-extractor: written, but the problems fail the command
    assert output.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--qlabel-pattern", "(問"], "invalid qlabel pattern"),
        (["--include", "/abs/*.ipynb"], "absolute"),
        (["--qno-format", "{}"], "must include both"),
    ],
)
def test_index_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = [
        "textbook",
        "index",
        "--textbook-dir",
        str(tmp_path),
        "--output",
        str(tmp_path / "i.csv"),
        *extra,
    ]
    assert _cwh(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "i.csv").exists()


def test_index_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "textbook",
        "index",
        "--textbook-dir",
        str(tmp_path / "gone"),
        "--output",
        str(tmp_path / "i.csv"),
    ]
    assert _cwh(argv) == 1
    assert "textbook directory does not exist" in capsys.readouterr().err


def test_index_and_validate_speak_japanese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    assert _cwh([*_index(root, output), "--language", "ja"]) == 0
    out = capsys.readouterr().out
    assert f"{output} を書き込みました：問題 2 件（ノートブック 1 件、うち 1 件を読み込み）" in out
    validate = ["textbook", "validate", "--textbook-dir", str(root), "--language", "ja"]
    assert _cwh(validate) == 0
    out = capsys.readouterr().out
    assert f"{root} に問題は見つかりませんでした。" in out
    assert "ノートブック 1 件、問題セル 2 件。" in out
    write_notebook(root, "c/b.ipynb", [code("x", meme(1001))], meme(2000))
    assert _cwh(validate) == 1
    out = capsys.readouterr().out
    assert "次のコマンドを実行すると修正できます：" in out
    assert "To fix these errors" not in out and "Duplicate" not in out
    assert f"lc_cell_meme の値が重複しています：{meme(1001)}" in out


def test_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "textbook"
    lesson(root, "c/a.ipynb", 1)
    assert _cwh(["textbook", "validate", "--textbook-dir", str(root)]) == 0
    assert "No problems found" in capsys.readouterr().out
    write_notebook(root, "c/b.ipynb", [code("x", meme(1001))], meme(2000))
    assert _cwh(["textbook", "validate", "--textbook-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"Duplicate lc_cell_meme value: {meme(1001)}" in out
    assert "To fix these errors, run:" in out
    assert "c/b.fixed.ipynb" in out


def test_subcommand_is_required() -> None:
    with pytest.raises(SystemExit) as exited:
        _cwh(["textbook"])
    assert exited.value.code == 2


def test_watch_rejects_inconsistent_timings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "textbook",
        "watch",
        "--textbook-dir",
        str(tmp_path),
        "--quiet-seconds",
        "10",
        "--max-wait-seconds",
        "5",
    ]
    assert _cwh(argv) == 2
    assert "--max-wait-seconds" in capsys.readouterr().err


def test_module_top_imports_only_the_standard_library() -> None:
    probe = (
        "import sys, deployments.cli.textbook;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'prefect', 'nbformat', 'watchfiles', 'cwh', 'orjson', 'pydantic'});"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
