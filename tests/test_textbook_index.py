"""Index writing: unchanged content, incremental rebuilds, empty textbooks, concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cwh.textbook import IndexFiles, IndexOptions, IndexOptionsError, build_index, parse_csv, scan
from tests.test_textbook_builders import age, lesson, meme, write_notebook


def _textbook(root: Path, count: int) -> None:
    for serial in range(1, count + 1):
        age(lesson(root, f"course{serial % 3}/lesson{serial:02}.ipynb", serial), 60)


def test_rebuild_without_changes_leaves_the_index_alone(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 4)
    first = build_index(root, output, IndexOptions())
    assert (first.status, first.rows, first.files_read) == ("written", 8, 4)
    before = output.stat()
    second = build_index(root, output, IndexOptions())
    assert (second.status, second.files_read, second.ledger_changed) == ("unchanged", 0, False)
    after = output.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert second.changed_notebook_memes == ()


def test_rebuild_after_one_change_reads_only_that_notebook(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 6)
    build_index(root, output, IndexOptions())
    lesson(root, "course1/lesson04.ipynb", 4, questions=3)  # one more question
    outcome = build_index(root, output, IndexOptions())
    assert outcome.status == "written"
    assert outcome.files_read == 1
    assert outcome.rows == 13
    assert outcome.changed_notebook_memes == (meme(4000),)
    assert outcome.changed_textbook_paths == ("course1/lesson04.ipynb",)


def test_incremental_rebuild_equals_a_fresh_build(tmp_path: Path) -> None:
    """Fragments reused from the previous index give exactly the bytes of a full render."""
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 6)
    options = IndexOptions(qlabel_pattern=r"問\d+-\d+")
    build_index(root, output, options)
    lesson(root, "course2/lesson05.ipynb", 5, questions=1)
    age(lesson(root, "course0/lesson07.ipynb", 7), 60)
    outcome = build_index(root, output, options)
    assert (outcome.files_read, outcome.fragments_reused) == (2, 5)
    assert outcome.changed_textbook_paths == ("course0/lesson07.ipynb", "course2/lesson05.ipynb")
    fresh = tmp_path / "fresh" / "index.csv"
    fresh.parent.mkdir()
    Path(f"{output}.ledger.json").rename(Path(f"{fresh}.ledger.json"))
    assert build_index(root, fresh, options).fragments_reused == 0
    assert fresh.read_bytes() == output.read_bytes()


def test_index_edited_behind_the_cache_is_rendered_in_full(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 3)
    build_index(root, output, IndexOptions())
    expected = output.read_bytes()
    output.write_bytes(expected.replace(b"answer_2_1", b"edited by hand"))
    outcome = build_index(root, output, IndexOptions())
    assert (outcome.status, outcome.fragments_reused) == ("written", 0)
    assert output.read_bytes() == expected
    assert outcome.changed_textbook_paths == ("course2/lesson02.ipynb",)


def test_touched_but_identical_notebook_is_not_parsed_again(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 2)
    build_index(root, output, IndexOptions())
    path = root / "course1/lesson01.ipynb"
    path.write_bytes(path.read_bytes())  # same bytes, new mtime
    textbook_scan = scan(root, IndexOptions(), output)
    origins = {nb.path: nb.origin for nb in textbook_scan.notebooks}
    assert origins == {"course1/lesson01.ipynb": "cache-by-hash", "course2/lesson02.ipynb": "cache"}


def test_recently_modified_files_are_rechecked(tmp_path: Path) -> None:
    """A stat match is not trusted within the mtime granularity window (racy write)."""
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)  # mtime = now
    build_index(root, output, IndexOptions())
    again = scan(root, IndexOptions(), output)
    assert [nb.origin for nb in again.notebooks] == ["cache-by-hash"]


def test_damaged_cache_means_a_full_read_not_a_failure(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 3)
    build_index(root, output, IndexOptions())
    expected = output.read_bytes()
    IndexFiles(output).cache.write_text("{ not json", encoding="utf-8")
    textbook_scan = scan(root, IndexOptions(), output)
    assert textbook_scan.files_read == 3
    assert any("build cache" in note for note in textbook_scan.notes)
    assert build_index(root, output, IndexOptions()).status == "unchanged"
    assert output.read_bytes() == expected


def test_empty_textbook_writes_a_header_only_index(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    root.mkdir()
    outcome = build_index(root, output, IndexOptions())
    assert (outcome.status, outcome.rows, outcome.notebooks) == ("written", 0, ())
    assert parse_csv(output.read_bytes()) == []
    assert output.read_bytes().startswith(b"qno,qlabel,lc_cell_meme,")


def test_empty_textbook_does_not_wipe_a_filled_index(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 2)
    build_index(root, output, IndexOptions())
    before = output.read_bytes()
    for notebook in root.rglob("*.ipynb"):
        notebook.unlink()
    outcome = build_index(root, output, IndexOptions())
    assert outcome.status == "refused"
    assert outcome.refusal is not None and "--allow-empty" in outcome.refusal
    assert output.read_bytes() == before
    emptied = build_index(root, output, IndexOptions(allow_empty=True))
    assert emptied.status == "written"
    assert parse_csv(output.read_bytes()) == []


def test_unchanged_check_covers_options(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 2)
    build_index(root, output, IndexOptions())
    labelled = build_index(root, output, IndexOptions(qlabel_pattern=r"問\d+-\d+"))
    assert labelled.status == "written"
    assert labelled.files_read == 0  # labels come from the cached markdown
    assert {row.qlabel for row in parse_csv(output.read_bytes())} == {
        "問1-1",
        "問1-2",
        "問2-1",
        "問2-2",
    }


def test_concurrent_builds_agree(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    _textbook(root, 5)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_index(root, output, IndexOptions())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = parse_csv(output.read_bytes())
    assert sorted({row.qno[:2] for row in rows}) == ["00", "01", "02", "03", "04"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"qlabel_pattern": "問(\\d+"}, "invalid qlabel pattern"),
        ({"qno_format": "{:02}-{:03}-{}"}, "invalid qno format"),
        ({"qno_format": "{name}"}, "invalid qno format"),
        ({"qno_format": "{:02}"}, "must include both"),
        ({"qno_format": "{1:03}"}, "must include both"),
        ({"numbering": "random"}, "unknown numbering"),
        ({"include": ()}, "at least one include pattern"),
    ],
)
def test_bad_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(IndexOptionsError, match=message):
        IndexOptions(**options)  # type: ignore[arg-type]


def test_notebook_without_questions_still_takes_a_number(tmp_path: Path) -> None:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    write_notebook(root, "a/intro.ipynb", [], meme(1))
    lesson(root, "b/lesson.ipynb", 2)
    outcome = build_index(root, output, IndexOptions())
    assert [(n.number, n.questions) for n in outcome.notebooks] == [(0, 0), (1, 2)]
    assert {row.qno for row in parse_csv(output.read_bytes())} == {"01-000", "01-001"}
