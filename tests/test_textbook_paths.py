"""Which files are textbook notebooks: globs, hidden directories, ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwh.textbook import (
    GlobPatternError,
    IndexOptions,
    IndexOptionsError,
    PathMatcher,
    TextbookDirError,
    build_index,
    compile_glob,
    course_server_of,
    discover_notebooks,
    path_sort_key,
)
from tests.test_textbook_builders import lesson


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.ipynb", "a.ipynb", True),
        ("**/*.ipynb", "course/week1/a.ipynb", True),
        ("**/*.ipynb", "course/a.ipynb.txt", False),
        ("*.ipynb", "a.ipynb", True),
        ("*.ipynb", "course/a.ipynb", False),
        ("course/*.ipynb", "course/a.ipynb", True),
        ("course/*.ipynb", "course/sub/a.ipynb", False),
        ("course/**/*.ipynb", "course/a.ipynb", True),
        ("course/**/*.ipynb", "course/x/y/a.ipynb", True),
        ("drafts/**", "drafts/x/y.ipynb", True),
        ("drafts/**", "final/drafts/y.ipynb", False),
        ("**/drafts/**", "final/drafts/y.ipynb", True),
        ("ex0?.ipynb", "ex01.ipynb", True),
        ("ex0?.ipynb", "ex1.ipynb", False),
        ("ex[0-2].ipynb", "ex2.ipynb", True),
        ("ex[!0-2].ipynb", "ex2.ipynb", False),
        ("ex[!0-2].ipynb", "ex3.ipynb", True),
        ("./a.ipynb", "a.ipynb", True),
        ("第*回.ipynb", "第1回.ipynb", True),
        ("a+b (1).ipynb", "a+b (1).ipynb", True),
    ],
)
def test_glob_translation(pattern: str, path: str, expected: bool) -> None:
    assert bool(compile_glob(pattern).fullmatch(path)) is expected


@pytest.mark.parametrize("pattern", ["", "/abs/**", "a//b"])
def test_unusable_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(GlobPatternError):
        compile_glob(pattern)


def test_unusable_pattern_is_an_options_error() -> None:
    with pytest.raises(IndexOptionsError, match="absolute"):
        IndexOptions(include=("/jupyter/**/*.ipynb",))


def test_discovery_skips_hidden_and_checkpoints_and_applies_excludes(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    for relative in [
        "b/lesson.ipynb",
        "a-b/lesson.ipynb",
        "a/lesson.ipynb",
        "a/.ipynb_checkpoints/lesson-checkpoint.ipynb",
        ".git/x.ipynb",
        "a/.~lesson.ipynb",
        "a/notes.txt",
        "drafts/wip.ipynb",
        "top.ipynb",
    ]:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}", encoding="utf-8")
    found = discover_notebooks(root, PathMatcher.compile(["**/*.ipynb"], ["drafts/**"]))
    assert found.paths == ("a/lesson.ipynb", "a-b/lesson.ipynb", "b/lesson.ipynb", "top.ipynb")
    assert found.issues == ()


def test_excluded_notebooks_are_not_numbered(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    lesson(root, "a/one.ipynb", 1)
    lesson(root, "b/drafts.ipynb", 2)
    lesson(root, "c/three.ipynb", 3)
    output = tmp_path / "index.csv"
    outcome = build_index(root, output, IndexOptions(exclude=("b/**",)))
    assert [(n.number, n.path) for n in outcome.notebooks] == [
        (0, "a/one.ipynb"),
        (1, "c/three.ipynb"),
    ]


def test_missing_textbook_dir_is_an_error_not_an_empty_index(tmp_path: Path) -> None:
    output = tmp_path / "index.csv"
    with pytest.raises(TextbookDirError, match="does not exist"):
        build_index(tmp_path / "absent", output, IndexOptions())
    assert not output.exists()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x", encoding="utf-8")
    with pytest.raises(TextbookDirError, match="not a directory"):
        build_index(not_a_dir, output, IndexOptions())


def test_path_order_is_by_components() -> None:
    paths = ["a-b/x.ipynb", "a/z.ipynb", "a/b/y.ipynb", "B/x.ipynb"]
    assert sorted(paths, key=path_sort_key) == [
        "B/x.ipynb",
        "a/b/y.ipynb",
        "a/z.ipynb",
        "a-b/x.ipynb",
    ]


@pytest.mark.parametrize(
    ("path", "course"),
    [("python-basic/ex01.ipynb", "python-basic"), ("c/w/x.ipynb", "c"), ("top.ipynb", "")],
)
def test_course_server(path: str, course: str) -> None:
    assert course_server_of(path) == course
