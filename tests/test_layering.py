"""The layout's rules, checked on every import of every module so the shape cannot decay.

``cwh/`` is the pure domain: no Prefect, no client of an outside system, no outer layer.
``blocks/`` hold connections and secrets and never build project tasks; ``tasks/`` never
reach up to flows; nothing ships that imports the command line or the tests. Outside one of
``cwh``'s packages, callers import the package, not its internal modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("cwh", "blocks", "tasks", "flows", "deployments", "bench", "tests")
OUTSIDE_SYSTEMS = ("prefect", "prefect_docker", "elasticsearch", "docker", "httpx", "watchfiles")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "cwh": ("tasks", "flows", "blocks", "deployments", "tests", *OUTSIDE_SYSTEMS),
    "blocks": ("tasks", "flows", "deployments", "tests"),
    "tasks": ("flows", "deployments", "tests"),
    "flows": ("deployments", "tests"),
    "deployments": ("tests",),
}
# Sizes a reader can take in at once: flows only orchestrate, so they stay the shortest.
MAX_LINES = {"flows": 350, "tasks": 600, "cwh": 600}
# Besides its packages, the domain's top level holds only a few cross-cutting modules.
MAX_TOP_LEVEL_MODULES = 5


def _modules(layer: str) -> Iterator[Path]:
    for path in sorted((ROOT / layer).rglob("*.py")):
        if "_compiled" not in path.parts:
            yield path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, at any depth (functions, ``TYPE_CHECKING`` blocks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _where(path: Path, line: int, module: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} imports {module}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    forbidden = FORBIDDEN[layer]
    offenders = [
        _where(path, line, module)
        for path in _modules(layer)
        for line, module in _imports(path)
        if module.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_only_tests_and_benchmarks_import_the_tests() -> None:
    """Benchmarks reuse the test services and fixture builders; nothing that ships does."""
    offenders = [
        _where(path, line, module)
        for layer in ("cwh", "blocks", "tasks", "flows", "deployments")
        for path in _modules(layer)
        for line, module in _imports(path)
        if module.split(".")[0] == "tests"
    ]
    assert offenders == []


def test_callers_import_a_domain_package_not_its_modules() -> None:
    packages = {path.parent.name for path in (ROOT / "cwh").glob("*/__init__.py")}
    offenders = []
    for layer in ("cwh", "blocks", "tasks", "flows", "deployments", "bench"):
        for path in _modules(layer):
            inside = path.relative_to(ROOT).parts[1] if layer == "cwh" else None
            for line, module in _imports(path):
                parts = module.split(".")
                if (
                    len(parts) >= 3
                    and parts[0] == "cwh"
                    and parts[1] in packages
                    and parts[1] != inside
                    and not _is_exported_name(parts)
                ):
                    offenders.append(_where(path, line, module))
    assert offenders == []


def _is_exported_name(parts: list[str]) -> bool:
    """``from cwh.enrich import Enricher`` yields ``cwh.enrich.Enricher``: a name, not a module."""
    return len(parts) == 3 and not (ROOT / "cwh" / parts[1] / f"{parts[2]}.py").exists()


def test_every_domain_package_says_what_it_does_and_exports_its_names() -> None:
    for init in sorted((ROOT / "cwh").glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init.relative_to(ROOT)} has no docstring"
        exported = [
            node
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        assert exported, f"{init.relative_to(ROOT)} has no __all__"


@pytest.mark.parametrize("layer", sorted(MAX_LINES))
def test_modules_stay_small_enough_to_read(layer: str) -> None:
    limit = MAX_LINES[layer]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules(layer)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > limit
    }
    assert too_long == {}, f"over {limit} lines"


def test_the_domain_top_level_holds_packages_and_a_few_cross_cutting_modules() -> None:
    modules = sorted(p.name for p in (ROOT / "cwh").glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_nothing_test_only_ships_in_the_wheel() -> None:
    """Production never starts Docker daemons or network namespaces: only the test lab does."""
    offenders = [
        str(path.relative_to(ROOT))
        for layer in ("cwh", "blocks", "tasks", "flows", "deployments")
        for path in _modules(layer)
        if any(mark in path.read_text(encoding="utf-8") for mark in ('"dockerd"', "netns"))
    ]
    assert offenders == []
