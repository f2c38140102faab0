"""Attaching result files: path confinement, file checks, decoding and the cache."""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import ResultFile, ResultFileError, ResultReader
from tests.enrich_support import cycles_left_by, hostile_pickles

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"
RESULT = {"msg_type": "execute_result", "content": {"data": {"text/plain": "42"}}}


def fixture_records() -> list[dict[str, Any]]:
    lines = (FIXTURE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    """Two users' homes with one result each, plus a file outside the homes."""
    root = tmp_path / "users"
    for user in ("alice", "bob"):
        log_dir = root / user / "course" / ".log" / "20261122"
        log_dir.mkdir(parents=True)
        write_pickle(log_dir / "r-0.pkl", {**RESULT, "owner": user})
    (tmp_path / "outside.pkl").write_bytes(pickle.dumps({"secret": "outside"}))
    return root


def write_pickle(path: Path, value: object) -> None:
    path.write_bytes(pickle.dumps(value, protocol=4))


def reason_of(reader: ResultReader, container_path: Any) -> str:
    with pytest.raises(ResultFileError) as caught:
        reader.read(container_path)
    return caught.value.reason


def test_fixture_results_match_expected_documents() -> None:
    reader = ResultReader(FIXTURE / "users")
    checked = 0
    for record in fixture_records():
        if "result" not in record:
            continue
        result = reader.read(record["result"])
        assert result.result_json == record["result_json"]
        assert result.result_text == record.get("result_text")
        relative = Path(record["result"]).relative_to("/home")
        assert result.path == (FIXTURE / "users" / relative).resolve()
        assert result.owner_uid == result.path.stat().st_uid
        checked += 1
    assert checked == 5


def test_result_text_prefers_text_plain_then_ename(homes: Path) -> None:
    reader = ResultReader(homes)
    home = homes / "alice" / "course"
    write_pickle(home / "err.pkl", {"content": {"ename": "KeyError", "evalue": "'x'"}})
    write_pickle(home / "both.pkl", {"content": {"data": {"text/plain": "1"}, "ename": "E"}})
    write_pickle(home / "none.pkl", {"content": {"data": {"image/png": "iVBOR"}}})
    write_pickle(home / "num.pkl", {"content": {"data": {"text/plain": 7}}})
    write_pickle(home / "null.pkl", {"content": {"data": {"text/plain": None}, "ename": "E"}})
    assert reader.read("/home/alice/course/err.pkl").result_text == "KeyError"
    assert reader.read("/home/alice/course/both.pkl").result_text == "1"
    assert reader.read("/home/alice/course/none.pkl").result_text is None
    assert reader.read("/home/alice/course/num.pkl").result_text == "7"
    assert reader.read("/home/alice/course/null.pkl").result_text == "E"


def test_custom_jsonpaths_and_invalid_ones(homes: Path) -> None:
    reader = ResultReader(homes, jsonpaths=["$.msg_type", "$.content.data['text/plain']"])
    assert reader.read("/home/alice/course/.log/20261122/r-0.pkl").result_text == "execute_result"
    assert (
        ResultReader(homes, jsonpaths=())
        .read("/home/alice/course/.log/20261122/r-0.pkl")
        .result_text
        is None
    )
    with pytest.raises(ValueError, match=r"invalid JSONPath expression '\$\.content\['"):
        ResultReader(homes, jsonpaths=["$.content["])
    with pytest.raises(ValueError, match="not one string"):
        ResultReader(homes, jsonpaths="$.a")


def test_map_path_maps_the_home_prefix(homes: Path) -> None:
    reader = ResultReader(homes / ".." / "users", home_prefix="/home/")
    mapped = reader.map_path("/home/alice/course/.log/20261122/r-0.pkl")
    assert mapped == (homes / "alice/course/.log/20261122/r-0.pkl").resolve()
    assert (
        reader.map_path("/home/alice//course/./x.pkl") == (homes / "alice/course/x.pkl").resolve()
    )
    other = ResultReader(homes, home_prefix="/srv/jupyter/home")
    assert other.map_path("/srv/jupyter/home/bob/a") == (homes / "bob" / "a").resolve()


@pytest.mark.parametrize(
    ("container_path", "reason"),
    [
        ("/etc/passwd", "escape"),
        ("/home/../etc/passwd", "escape"),
        ("/home/alice/../bob/course/.log/20261122/r-0.pkl", "escape"),
        ("/home/alice/course/../../../outside.pkl", "escape"),
        ("/homeevil/alice/x.pkl", "escape"),
        ("home/alice/x.pkl", "escape"),
        ("/home/alice/x\x00.pkl", "invalid_path"),
        ("/home/alice/" + "a" * 5000, "invalid_path"),
        ("/home/alice", "invalid_path"),
        ("/home/alice/", "invalid_path"),
        ("/home//x.pkl", "invalid_path"),
        ("/home/./x.pkl", "invalid_path"),
        (b"/home/alice/x.pkl", "invalid_path"),
        (None, "invalid_path"),
        (["/home/alice/x.pkl"], "invalid_path"),
    ],
)
def test_paths_outside_a_home_are_refused(homes: Path, container_path: Any, reason: str) -> None:
    reader = ResultReader(homes)
    assert reason_of(reader, container_path) == reason
    with pytest.raises(ResultFileError) as caught:
        reader.map_path(container_path)
    assert caught.value.reason == reason


def test_names_with_double_dots_are_legitimate(homes: Path) -> None:
    home = homes / "alice" / "course"
    write_pickle(home / "a..b.pkl", RESULT)
    (home / "..hidden").mkdir()
    write_pickle(home / "..hidden" / "x.pkl", RESULT)
    reader = ResultReader(homes)
    assert reader.read("/home/alice/course/a..b.pkl").result_text == "42"
    assert reader.read("/home/alice/course/..hidden/x.pkl").result_text == "42"


@pytest.mark.parametrize(
    ("link", "target", "through"),
    [
        ("etc", "/etc", "etc/passwd"),
        ("passwd.pkl", "/etc/passwd", "passwd.pkl"),
        ("bobs-home", "../../bob", "bobs-home/course/.log/20261122/r-0.pkl"),
        ("bobs.pkl", "../../bob/course/.log/20261122/r-0.pkl", "bobs.pkl"),
        ("outside.pkl", "../../../outside.pkl", "outside.pkl"),
    ],
)
def test_symlinks_leading_out_of_the_home_are_refused(
    homes: Path, link: str, target: str, through: str
) -> None:
    (homes / "alice" / "course" / link).symlink_to(target)
    assert (homes / "alice" / "course" / through).exists()
    reader = ResultReader(homes)
    for container_path in (f"/home/alice/course/{link}", f"/home/alice/course/{through}"):
        assert reason_of(reader, container_path) == "escape"
        with pytest.raises(ResultFileError) as mapped:
            reader.map_path(container_path)
        assert mapped.value.reason == "escape"


def test_directory_symlink_to_another_home_is_refused(homes: Path) -> None:
    (homes / "alice" / "bob").symlink_to(homes / "bob")
    reader = ResultReader(homes)
    # Reading bob's file through his own path first puts it in the cache.
    assert reader.read("/home/bob/course/.log/20261122/r-0.pkl").result_json["owner"] == "bob"
    assert reason_of(reader, "/home/alice/bob/course/.log/20261122/r-0.pkl") == "escape"
    reader.clear_cache()
    assert reason_of(reader, "/home/alice/bob/course/.log/20261122/r-0.pkl") == "escape"


def test_symlinks_inside_the_home_are_followed(homes: Path) -> None:
    course = homes / "alice" / "course"
    (course / "latest.pkl").symlink_to(".log/20261122/r-0.pkl")
    (course / "logs").symlink_to(course / ".log")
    reader = ResultReader(homes)
    real = (course / ".log/20261122/r-0.pkl").resolve()
    assert reader.read("/home/alice/course/latest.pkl").path == real
    assert reader.read("/home/alice/course/logs/20261122/r-0.pkl").path == real
    assert reader.map_path("/home/alice/course/latest.pkl") == real


def test_without_proc_fd_links_the_opened_inode_is_compared(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cwh.enrich.result_files._FD_LINK_DIR", str(homes / "no-such-dir"))
    course = homes / "alice" / "course"
    (course / "logs").symlink_to(course / ".log")
    (course / "bob").symlink_to(homes / "bob")
    reader = ResultReader(homes)
    assert reader.read("/home/alice/course/logs/20261122/r-0.pkl").result_text == "42"
    assert reason_of(reader, "/home/alice/course/bob/course/.log/20261122/r-0.pkl") == "escape"


def test_symlink_loop_is_refused(homes: Path) -> None:
    course = homes / "alice" / "course"
    (course / "loop-a").symlink_to("loop-b")
    (course / "loop-b").symlink_to("loop-a")
    assert reason_of(ResultReader(homes), "/home/alice/course/loop-a") in ("escape", "not_found")


def test_missing_and_non_regular_files(homes: Path) -> None:
    course = homes / "alice" / "course"
    os.mkfifo(course / "fifo.pkl")
    (course / "plain").write_bytes(b"x")
    reader = ResultReader(homes)
    assert reason_of(reader, "/home/alice/course/missing.pkl") == "not_found"
    assert reason_of(reader, "/home/nobody/course/missing.pkl") == "not_found"
    assert reason_of(reader, "/home/alice/course/plain/below.pkl") == "not_found"
    assert reason_of(reader, "/home/alice/course/.log") == "not_a_file"
    # A FIFO would block a plain open() forever; it is refused at once.
    assert reason_of(reader, "/home/alice/course/fifo.pkl") == "not_a_file"


def test_missing_homes_dir_is_reported_per_read_until_it_appears(tmp_path: Path) -> None:
    reader = ResultReader(tmp_path / "later")
    with pytest.raises(ResultFileError, match="does not exist") as caught:
        reader.read("/home/alice/x.pkl")
    assert caught.value.reason == "not_found"
    (tmp_path / "later" / "alice").mkdir(parents=True)
    write_pickle(tmp_path / "later" / "alice" / "x.pkl", RESULT)
    assert reader.read("/home/alice/x.pkl").result_text == "42"


def test_oversized_files_are_refused(homes: Path) -> None:
    course = homes / "alice" / "course"
    write_pickle(course / "big.pkl", {"content": {"data": {"text/plain": "x" * 5000}}})
    reader = ResultReader(homes, max_bytes=1000)
    with pytest.raises(ResultFileError, match="exceeds the 1000-byte limit") as caught:
        reader.read("/home/alice/course/big.pkl")
    assert caught.value.reason == "too_large"
    assert reader.read("/home/alice/course/.log/20261122/r-0.pkl").result_text == "42"


def test_malicious_pickle_is_refused_and_never_runs(homes: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    (homes / "alice" / "course" / "evil.pkl").write_bytes(pickle.dumps({"content": Evil()}))
    reader = ResultReader(homes)
    for _ in range(2):  # the second answer comes from the cache, with the same reason
        with pytest.raises(ResultFileError, match="refused global") as caught:
            reader.read("/home/alice/course/evil.pkl")
        assert caught.value.reason == "unsafe_pickle"
    assert not marker.exists()
    (homes / "alice" / "course" / "junk.pkl").write_bytes(b"not a pickle")
    assert reason_of(reader, "/home/alice/course/junk.pkl") == "unsafe_pickle"


def test_owner_uid_comes_from_the_file(homes: Path) -> None:
    path = homes / "alice" / "course" / ".log" / "20261122" / "r-0.pkl"
    os.chown(path, 2009, 100)
    reader = ResultReader(homes)
    assert reader.read("/home/alice/course/.log/20261122/r-0.pkl").owner_uid == 2009
    os.chown(path, 0, 0)
    assert reader.read("/home/alice/course/.log/20261122/r-0.pkl").owner_uid == 0


def test_cache_returns_the_decoded_value_until_the_file_changes(homes: Path) -> None:
    reader = ResultReader(homes)
    container_path = "/home/alice/course/.log/20261122/r-0.pkl"
    first = reader.read(container_path)
    again = reader.read(container_path)
    assert again.result_json is first.result_json
    path = homes / "alice" / "course" / ".log" / "20261122" / "r-0.pkl"
    stat_before = path.stat()
    # Same size, mtime put back: only the ctime shows the rewrite.
    write_pickle(path, {**RESULT, "owner": "ALICE"})
    assert path.stat().st_size == stat_before.st_size
    os.utime(path, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    changed = reader.read(container_path)
    assert changed.result_json["owner"] == "ALICE"


def test_cache_is_bounded_in_entries_and_bytes(homes: Path) -> None:
    course = homes / "alice" / "course"
    for n in range(3):
        write_pickle(course / f"{n}.pkl", {"n": n})
    reader = ResultReader(homes, cache_entries=2)
    first = reader.read("/home/alice/course/0.pkl")
    reader.read("/home/alice/course/1.pkl")
    reader.read("/home/alice/course/2.pkl")
    assert reader.read("/home/alice/course/0.pkl").result_json is not first.result_json
    by_bytes = ResultReader(homes, cache_bytes=10)
    one = by_bytes.read("/home/alice/course/0.pkl")
    assert by_bytes.read("/home/alice/course/0.pkl").result_json is not one.result_json


def test_result_file_is_immutable(homes: Path) -> None:
    result = ResultReader(homes).read("/home/bob/course/.log/20261122/r-0.pkl")
    assert isinstance(result, ResultFile)
    with pytest.raises(AttributeError):
        result.owner_uid = 5  # type: ignore[misc]


def test_constructor_validates_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="home_prefix"):
        ResultReader(tmp_path, home_prefix="home")
    with pytest.raises(ValueError, match="home_prefix"):
        ResultReader(tmp_path, home_prefix="/home/../etc")
    with pytest.raises(ValueError, match="max_bytes"):
        ResultReader(tmp_path, max_bytes=0)


def test_fixture_tree_copy_with_real_owners(tmp_path: Path) -> None:
    """The fixture's results read from a copy whose files belong to the student."""
    copy = tmp_path / "users"
    shutil.copytree(FIXTURE / "users", copy, symlinks=True)
    for path in copy.rglob("*.pkl"):
        os.chown(path, 2009, 100)
    reader = ResultReader(copy)
    for record in fixture_records():
        if "result" in record:
            result = reader.read(record["result"])
            assert result.owner_uid == record["uid"]
            assert result.result_text == record.get("result_text")


def test_file_growing_after_fstat_is_read_whole_or_refused(homes: Path) -> None:
    path = homes / "alice" / "course" / "growing.pkl"
    path.write_bytes(b"a" * 100)
    reader = ResultReader(homes, max_bytes=500)
    fd = os.open(path, os.O_RDONLY)
    try:
        with path.open("ab") as stream:
            stream.write(b"b" * 300)
        assert (
            reader._read_all("/home/alice/course/growing.pkl", fd, 100) == b"a" * 100 + b"b" * 300
        )
        with path.open("ab") as stream:
            stream.write(b"c" * 300)
        os.lseek(fd, 0, os.SEEK_SET)
        with pytest.raises(ResultFileError, match="grew beyond the 500-byte limit"):
            reader._read_all("/home/alice/course/growing.pkl", fd, 100)
    finally:
        os.close(fd)


def test_refused_files_are_cached_as_their_reason_only(homes: Path) -> None:
    course = homes / "alice" / "course"
    (course / "cycle.pkl").write_bytes(hostile_pickles()["cycle-under-cap"])
    reader = ResultReader(homes)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        messages = []
        for _ in range(2):  # decoded, then answered from the cache
            with pytest.raises(ResultFileError, match="refused pickle") as caught:
                reader.read("/home/alice/course/cycle.pkl")
            assert caught.value.__cause__ is None and caught.value.__context__ is None
            messages.append(str(caught.value))
            del caught
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert peak - before > 5_000_000  # the graph was built (99,000 lists) ...
    assert kept - before < 100_000  # ... and none of it outlives the refusal
    assert messages[0] == messages[1]
    # Nor is any of it left for the cycle collector.
    assert cycles_left_by(_OPEN_READER, _READ_TWICE, str(homes)) == 0


_OPEN_READER = """
import sys
from pathlib import Path
from cwh.enrich import ResultFileError, ResultReader
reader = ResultReader(Path(sys.argv[1]))
"""
_READ_TWICE = """
for _ in range(2):
    try:
        reader.read("/home/alice/course/cycle.pkl")
    except ResultFileError as error:
        kept = error
    else:
        raise SystemExit("not refused")
"""


def test_cache_budget_counts_what_a_result_holds_in_memory(homes: Path) -> None:
    course = homes / "alice" / "course"
    write_pickle(course / "many.pkl", [{} for _ in range(50_000)])
    assert (course / "many.pkl").stat().st_size < 200_000
    # 50,000 dicts take megabytes once loaded: more than a 1 MiB budget.
    reader = ResultReader(homes, cache_bytes=1024 * 1024)
    first = reader.read("/home/alice/course/many.pkl")
    assert reader.read("/home/alice/course/many.pkl").result_json is not first.result_json
    roomy = ResultReader(homes, cache_bytes=64 * 1024 * 1024)
    kept = roomy.read("/home/alice/course/many.pkl")
    assert roomy.read("/home/alice/course/many.pkl").result_json is kept.result_json
