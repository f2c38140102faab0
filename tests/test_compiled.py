"""The compiled hot path: used only while current, and indistinguishable from the source."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import (
    BUILD_DIR,
    HOT_MODULES,
    INTERPRETED_ENV,
    MANIFEST,
    NATIVE_MODULES,
    build_state,
    compile_hot_path,
    compiled,
    source_digest,
    use_current_build,
)
from tests.enrich_support import (
    ROOT,
    build_index,
    enrich_command,
    forward_records,
    generated_lines,
)

# .ci/run compiles the hot path and sets this, so the suite cannot pass interpreted by mistake.
REQUIRE_COMPILED = os.environ.get("CWH_REQUIRE_COMPILED") == "1"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the domain's modules, so builds and edits here leave the real one alone."""
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    domain = compiled.PACKAGE_DIR.parent
    copy = tmp_path / domain.name
    shutil.copytree(domain, copy, ignore=shutil.ignore_patterns("__pycache__", f"{BUILD_DIR}*"))
    return copy / compiled.PACKAGE_DIR.name


def _write_manifest(package: Path, digest: str) -> None:
    (package / BUILD_DIR).mkdir(exist_ok=True)
    (package / BUILD_DIR / MANIFEST).write_text(json.dumps({"digest": digest}), encoding="utf-8")


def test_without_a_build_the_source_runs(package: Path) -> None:
    search_path = [str(package)]
    state = use_current_build(search_path, package)
    assert not state.compiled
    assert "run `cwh compile`" in state.reason
    assert search_path == [str(package)]


def test_a_current_build_goes_in_front_of_the_source(package: Path) -> None:
    _write_manifest(package, source_digest(package))
    search_path = [str(package)]
    state = use_current_build(search_path, package)
    assert state.compiled
    assert search_path == [str(package / BUILD_DIR), str(package)]
    use_current_build(search_path, package)
    assert search_path.count(str(package / BUILD_DIR)) == 1


def test_editing_any_module_retires_the_build(package: Path) -> None:
    _write_manifest(package, source_digest(package))
    elsewhere = package.parent / "textbook" / "rows.py"
    elsewhere.write_text(elsewhere.read_text(encoding="utf-8") + "\n# edited\n", "utf-8")
    state = build_state(package)
    assert not state.compiled
    assert "older than the source" in state.reason


def test_a_new_module_also_retires_the_build(package: Path) -> None:
    _write_manifest(package, source_digest(package))
    (package / "added.py").write_text("VALUE = 1\n", encoding="utf-8")
    assert not build_state(package).compiled


def test_an_edited_c_module_also_retires_the_build(package: Path) -> None:
    _write_manifest(package, source_digest(package))
    scanner = package / "_logscan.c"
    scanner.write_text(scanner.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert not build_state(package).compiled


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"digest": 7}'])
def test_a_broken_manifest_is_not_trusted(package: Path, content: str) -> None:
    (package / BUILD_DIR).mkdir()
    (package / BUILD_DIR / MANIFEST).write_text(content, encoding="utf-8")
    assert not build_state(package).compiled


def test_the_environment_can_force_the_source(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_manifest(package, source_digest(package))
    monkeypatch.setenv(INTERPRETED_ENV, "1")
    state = build_state(package)
    assert not state.compiled
    assert INTERPRETED_ENV in state.reason


def test_compiling_a_copy_builds_every_hot_module_and_swaps_it_in(package: Path) -> None:
    first = compile_hot_path(package)
    assert first == package / BUILD_DIR
    built = {path.name.split(".", 1)[0] for path in first.iterdir()}
    assert built == {*HOT_MODULES, *NATIVE_MODULES, "hotpath__mypyc", "manifest"}
    assert build_state(package).compiled
    manifest = json.loads((first / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["digest"] == source_digest(package)
    # Nothing but the build is left behind in the package: no staging or retired directories.
    assert sorted(p.name for p in package.iterdir() if p.is_dir()) == [BUILD_DIR]


@pytest.mark.parametrize(
    ("module", "breakage"),
    [("enricher.py", "\nBROKEN: int = 'text'\n"), ("_logscan.c", "\nnot C at all\n")],
)
def test_a_failed_compile_keeps_the_previous_build(
    package: Path, module: str, breakage: str
) -> None:
    _write_manifest(package, source_digest(package))
    before = (package / BUILD_DIR / MANIFEST).read_bytes()
    source = package / module
    source.write_text(source.read_text(encoding="utf-8") + breakage, "utf-8")
    with pytest.raises(compiled.CompileError, match="the build failed"):
        compile_hot_path(package)
    assert (package / BUILD_DIR / MANIFEST).read_bytes() == before
    assert not build_state(package).compiled


def test_a_missing_compiler_is_named(
    package: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(compiled.CompileError, match="no C compiler"):
        compile_hot_path(package)
    assert not (package / BUILD_DIR).exists()


def _enrich(
    lines: list[bytes], index: Path, sample: Path, *, interpreted: bool
) -> tuple[list[dict[str, Any]], str]:
    env = {**os.environ}
    env.pop(INTERPRETED_ENV, None)
    if interpreted:
        env[INTERPRETED_ENV] = "1"
    done = subprocess.run(
        enrich_command(index, sample / "passwd", sample / "users"),
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(documents) == len(lines)
    return documents, done.stderr.decode()


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """A dead letter is stamped with the time it was written; everything else must agree."""
    if "error_type" not in document:
        return document
    return {k: v for k, v in document.items() if k not in ("@timestamp", "target_index", "doc_id")}


def test_compiled_and_interpreted_runs_write_the_same_documents(
    lcwrapper_sample: Path, tmp_path: Path
) -> None:
    index = build_index(lcwrapper_sample / "textbook", tmp_path / "meme.csv")
    records = [json.dumps(r["record"]).encode() for r in forward_records(lcwrapper_sample)]
    lines = records + generated_lines(lcwrapper_sample, 20_000)
    fast, fast_log = _enrich(lines, index, lcwrapper_sample, interpreted=False)
    slow, slow_log = _enrich(lines, index, lcwrapper_sample, interpreted=True)
    assert "hot path: interpreted (CWH_INTERPRETED is set)" in slow_log
    if REQUIRE_COMPILED:
        assert "hot path: compiled (mypyc)" in fast_log, fast_log[-2000:]
    assert sum("error_type" not in d for d in fast) >= len(records)
    for number, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert _comparable(a) == _comparable(b), f"line {number}"


@pytest.mark.skipif(not REQUIRE_COMPILED, reason="only CI requires the compiled build")
def test_ci_runs_the_suite_on_the_compiled_build() -> None:
    from cwh.enrich import hot_path_state

    state = hot_path_state()
    assert state.compiled, state.describe()
