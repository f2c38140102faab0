"""The ``cwh`` entry point: every command is reachable, and one command imports only itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deployments.cli.main import COMMAND_MODULES, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_the_full_parser_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listed = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in listed


def test_an_unknown_command_is_named_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["enrichh"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'enrichh'" in error
    assert "'enrich'" in error


def test_a_command_imports_only_its_own_module() -> None:
    probe = (
        "import sys\n"
        "from deployments.cli.main import build_parser\n"
        "build_parser('enrich').parse_args(['enrich', '--index', 'i', '--passwd', 'p', "
        "'--homes-dir', 'h'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('deployments.cli.')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "['deployments.cli.enrich', 'deployments.cli.main']"


def test_a_single_command_parser_reports_its_own_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser("enrich").parse_args(["enrich"])
    assert exit_info.value.code == 2
    assert "cwh enrich: error: the following arguments are required" in capsys.readouterr().err
