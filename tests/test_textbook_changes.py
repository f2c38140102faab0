"""Which file changes matter, and the debounce that coalesces bursts (pure logic)."""

from __future__ import annotations

import pytest

from cwh.textbook import (
    MAX_EVENT_PATHS,
    ChangeBatch,
    ChangeDebouncer,
    ChangeKind,
    relevant_path,
)


@pytest.mark.parametrize(
    ("path", "kind", "is_dir", "expected"),
    [
        ("course/ex01.ipynb", "added", False, True),
        ("course/ex01.ipynb", "modified", False, True),
        ("course/ex01.ipynb", "deleted", False, True),
        ("第1回/演習.ipynb", "added", False, True),
        ("course/EX01.IPYNB", "modified", False, True),
        ("course/.ipynb_checkpoints/ex01-checkpoint.ipynb", "modified", False, False),
        ("course/.~ex01.ipynb", "added", False, False),
        ("course/ex01.ipynb~", "added", False, False),
        ("course/.#ex01.ipynb", "added", False, False),
        ("course/#ex01.ipynb#", "added", False, False),
        ("course/ex01.ipynb.swp", "modified", False, False),
        ("course/ex01.ipynb.part", "added", False, False),
        (".git/index", "modified", False, False),
        ("course/notes.txt", "modified", False, False),
        ("course/data.csv", "deleted", False, False),
        ("course", "added", True, True),
        ("course/week2", "deleted", False, True),
        (".ipynb_checkpoints", "added", True, False),
        ("", "modified", True, False),
    ],
)
def test_relevant_paths(path: str, kind: ChangeKind, is_dir: bool, expected: bool) -> None:
    assert relevant_path(path, kind, is_dir=is_dir) is expected


def test_debounce_waits_for_quiet_and_coalesces() -> None:
    debouncer = ChangeDebouncer(quiet_seconds=3, max_wait_seconds=60)
    assert not debouncer.due(0)
    for second in range(10):  # 50 notebooks over 10 s, never 3 s apart
        debouncer.add([("added", f"c/n{second}-{i}.ipynb") for i in range(5)], float(second))
        assert not debouncer.due(second + 2.9)
    assert debouncer.due(12.0)
    batch = debouncer.take()
    assert len(batch.changes) == 50
    assert batch.reasons == ("changes",)
    assert not debouncer.pending and not debouncer.due(100)


def test_ceiling_under_continuous_writes() -> None:
    debouncer = ChangeDebouncer(quiet_seconds=3, max_wait_seconds=10)
    debouncer.add([("modified", "a.ipynb")], 0.0)
    for second in range(1, 10):
        debouncer.add([("modified", "a.ipynb")], float(second))
        assert not debouncer.due(second + 0.5)
    assert debouncer.due(10.0)


def test_later_change_of_a_path_wins() -> None:
    debouncer = ChangeDebouncer(quiet_seconds=1, max_wait_seconds=5)
    debouncer.add([("added", "a.ipynb"), ("modified", "a.ipynb"), ("deleted", "b.ipynb")], 0)
    debouncer.add([("deleted", "a.ipynb")], 0.5)
    assert debouncer.take().changes == {"b.ipynb": "deleted", "a.ipynb": "deleted"}


def test_reasons_without_changes() -> None:
    debouncer = ChangeDebouncer(quiet_seconds=1, max_wait_seconds=5)
    debouncer.add_reason("watcher-started", 0)
    debouncer.add_reason("watcher-started", 0.2)
    assert debouncer.due(1.2)
    assert debouncer.take() == ChangeBatch({}, ("watcher-started",))


def test_restore_keeps_newer_changes() -> None:
    debouncer = ChangeDebouncer(quiet_seconds=1, max_wait_seconds=5)
    debouncer.add([("added", "a.ipynb"), ("added", "b.ipynb")], 0)
    debouncer.add_reason("directory-reappeared", 0)
    failed = debouncer.take()
    debouncer.add([("deleted", "a.ipynb")], 2)
    debouncer.restore(failed, 2.5)
    assert not debouncer.due(3.0)
    assert debouncer.due(3.6)
    again = debouncer.take()
    assert again.changes == {"a.ipynb": "deleted", "b.ipynb": "added"}
    assert again.reasons == ("changes", "directory-reappeared")


def test_payload_lists_sorted_paths_and_truncates() -> None:
    changes: dict[str, ChangeKind] = {
        f"c/{n:04}.ipynb": "added" for n in range(MAX_EVENT_PATHS + 7)
    }
    changes["b/x.ipynb"] = "deleted"
    payload = ChangeBatch(changes, ("changes",)).payload("/tb")
    assert payload["textbook_dir"] == "/tb"
    assert payload["paths"][0] == "b/x.ipynb"
    assert len(payload["paths"]) == MAX_EVENT_PATHS
    assert payload["path_count"] == MAX_EVENT_PATHS + 8
    assert payload["truncated"] is True
    assert payload["changes"] == {"added": MAX_EVENT_PATHS + 7, "deleted": 1}


def test_inconsistent_timings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_wait_seconds"):
        ChangeDebouncer(quiet_seconds=5, max_wait_seconds=1)
