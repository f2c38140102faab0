"""The claimed uid against the owners of the files a record names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cwh.enrich import DirectoryOwners, ResultReader, check_owner, file_owner

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"


def test_file_owner_reads_the_owner_without_following_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "result.pkl"
    target.write_bytes(b"x")
    os.chown(target, 2009, 100)
    link = tmp_path / "link.pkl"
    link.symlink_to(target)
    os.lchown(link, 3000, 100)
    assert file_owner(target) == 2009
    assert file_owner(link) == 3000


def test_file_owner_of_missing_or_unrepresentable_paths_is_unknown(tmp_path: Path) -> None:
    assert file_owner(tmp_path / "missing") is None
    assert file_owner(Path("bad\x00name")) is None


def test_matching_owner_is_not_suspect() -> None:
    assert check_owner(2009, {"/jupyter/users/s/.log/a.log": 2009, "/x.pkl": 2009}) is None


def test_mismatch_names_the_file_and_both_uids() -> None:
    reason = check_owner(2009, {"/jupyter/users/x/.log/20261122/r-0.pkl": 0})
    assert reason == "uid 2009 claimed but /jupyter/users/x/.log/20261122/r-0.pkl is owned by uid 0"


def test_every_mismatching_file_is_listed_in_order() -> None:
    reason = check_owner(2009, {"/a.log": 2010, "/b.pkl": 2009, "/c.pkl": 0})
    assert reason == "uid 2009 claimed but /a.log is owned by uid 2010; /c.pkl is owned by uid 0"


def test_unknown_owners_are_no_evidence() -> None:
    assert check_owner(2009, {"/a.log": None}) is None
    assert check_owner(2009, {}) is None
    assert check_owner(None, {}) is None
    assert check_owner(2009, {"/a.log": None, "/b.pkl": 7}) == (
        "uid 2009 claimed but /b.pkl is owned by uid 7"
    )


@pytest.mark.parametrize("claimed", [None, True])
def test_record_without_a_valid_uid_is_suspect_when_files_are_owned(claimed: object) -> None:
    reason = check_owner(claimed, {"/a.log": 2009})  # type: ignore[arg-type]
    assert reason == f"record claims no valid uid ({claimed!r}) but /a.log is owned by uid 2009"


def test_forged_uid_in_fixture_records_is_detected(tmp_path: Path) -> None:
    """A copy of the real sample, owned by its student, checked against forged claims."""
    copy = tmp_path / "users"
    shutil.copytree(FIXTURE / "users", copy, symlinks=True)
    for path in [copy, *copy.rglob("*")]:
        os.lchown(path, 2009, 100)
    reader = ResultReader(copy)
    lines = (FIXTURE / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    checked = 0
    for record in map(json.loads, lines):
        log_path = reader.map_path(record["path"])
        owners: dict[str, int | None] = {str(log_path): file_owner(log_path)}
        if "result" in record:
            result = reader.read(record["result"])
            owners[str(result.path)] = result.owner_uid
        assert check_owner(record["uid"], owners) is None
        forged = check_owner(0, owners)
        assert forged is not None
        assert forged.startswith("uid 0 claimed but ")
        assert f"{log_path} is owned by uid 2009" in forged
        checked += 1
    assert checked == 14


def _directory(tmp_path: Path, name: str, uid: int, mode: int) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    os.chown(directory, uid, 100)
    directory.chmod(mode)
    return directory


def test_a_directory_only_its_owner_may_write_vouches_for_that_owner(tmp_path: Path) -> None:
    private = _directory(tmp_path, "private", 2009, 0o755)
    owners = DirectoryOwners()
    assert owners.vouches_for(f"{private}/20261122-101500-0001.log", 2009)
    assert owners.vouches_for(f"{private}/missing.log", 2009)
    assert not owners.vouches_for(f"{private}/x.log", 2010)


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o1777])
def test_a_directory_others_may_write_vouches_for_nobody(tmp_path: Path, mode: int) -> None:
    shared = _directory(tmp_path, "shared", 2009, mode)
    assert not DirectoryOwners().vouches_for(f"{shared}/x.log", 2009)


def test_missing_directories_and_symlinked_ones_vouch_for_nobody(tmp_path: Path) -> None:
    private = _directory(tmp_path, "private", 2009, 0o755)
    link = tmp_path / "link"
    link.symlink_to(private)
    os.lchown(link, 2009, 100)
    owners = DirectoryOwners()
    assert not owners.vouches_for(f"{link}/x.log", 2009)
    assert not owners.vouches_for(f"{tmp_path}/gone/x.log", 2009)
    assert not owners.vouches_for("bad\x00dir/x.log", 2009)


def test_a_directory_is_read_again_once_its_answer_is_old(tmp_path: Path) -> None:
    private = _directory(tmp_path, "private", 2009, 0o755)
    now = [0.0]
    owners = DirectoryOwners(max_age=60.0, clock=lambda: now[0])
    assert owners.vouches_for(f"{private}/a.log", 2009)
    os.chown(private, 2010, 100)
    now[0] = 59.0
    assert owners.vouches_for(f"{private}/b.log", 2009), "within max_age the answer is kept"
    now[0] = 61.0
    assert not owners.vouches_for(f"{private}/c.log", 2009)
    assert owners.vouches_for(f"{private}/c.log", 2010)
