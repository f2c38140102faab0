"""The claimed uid against the owners of the files a record names."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cwh.enrich import (
    DirectoryOwners,
    Enricher,
    LogDirectories,
    MemeIndex,
    PasswdTable,
    ResultReader,
    check_owner,
    file_owner,
)
from tests.enrich_support import forward_records

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


# -- the record's text against its .log file on disk ----------------------------------------

STUDENT = "student09x0c0ffee"
PASSWD = f"{STUDENT}:x:2009:100::/home/{STUDENT}:/bin/bash\nbob:x:2010:100::/home/bob:/bin/sh\n"


def _owned_homes(tmp_path: Path) -> Path:
    """A copy of the sample homes owned by its student, as on a manager node."""
    homes = tmp_path / "homes"
    shutil.copytree(FIXTURE / "users", homes, symlinks=True)
    for path in [homes, *homes.rglob("*")]:
        os.lchown(path, 2009, 100)
    return homes


def _log_enricher(homes: Path | None) -> Enricher:
    table = PasswdTable.from_text(PASSWD)
    return Enricher(
        passwd=lambda: table,
        meme_index=lambda: MemeIndex.EMPTY,
        results=None if homes is None else ResultReader(homes),
    )


def _record(number: int = 0) -> tuple[str, Path]:
    """The text of a fixture record and the path it names, relative to the homes root."""
    text = forward_records(FIXTURE)[number]["record"]["log"]
    path = next(line for line in text.splitlines() if line.startswith("path: "))
    return text, Path(path.removeprefix("path: /home/"))


def _compare(homes: Path, relative: Path | str, text: str) -> tuple[int | None, str | None]:
    directory, _, name = str(relative).rpartition("/")
    return LogDirectories(str(homes)).compare(f"{directory}/", name, text)


def test_a_log_file_matching_the_record_gives_its_owner_and_no_reason(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record(8)  # 1200 lines: more than one read's worth on some systems
    assert _compare(homes, relative, text) == (2009, None)


def test_a_missing_log_file_is_reported(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    missing = str(relative).replace(".log", "9.log")
    assert _compare(homes, missing, text) == (None, f"log file {homes}/{missing} does not exist")
    assert _compare(homes, "nobody/x/.log/1/a.log", text) == (
        None,
        f"log file {homes}/nobody/x/.log/1/a.log does not exist",
    )


@pytest.mark.parametrize(
    ("change", "sizes"),
    [
        (lambda text: text.replace("Python", "PYTHON"), "(574 bytes vs 574 bytes)"),
        (lambda text: text + "extra\n", "(580 bytes vs 574 bytes)"),
        (lambda text: text[:60], "(60 bytes vs 574 bytes)"),
    ],
)
def test_a_record_whose_text_differs_from_the_file_is_reported(
    tmp_path: Path, change: Callable[[str], str], sizes: str
) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    assert _compare(homes, relative, change(text)) == (
        2009,
        f"record text differs from the log file {homes / relative} on disk {sizes}",
    )


def test_symlinks_and_fifos_are_reported_and_never_followed(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    real = homes / relative
    link = relative.with_name("link.log")
    (homes / link).symlink_to(real.name)
    assert _compare(homes, link, text) == (None, f"log file {homes / link} is a symbolic link")
    fifo = relative.with_name("fifo.log")
    os.mkfifo(homes / fifo)
    assert _compare(homes, fifo, text) == (
        None,
        f"log file {homes / fifo} is not a regular file",
    )
    # A directory on the way that is a symlink to another home, with the very same file.
    other = homes / "bob" / "day"
    other.mkdir(parents=True)
    shutil.copy(real, other / real.name)
    (homes / STUDENT / "elsewhere").symlink_to(other)
    through = f"{STUDENT}/elsewhere/{real.name}"
    assert _compare(homes, through, text) == (
        None,
        f"log file {homes}/{through} lies behind the symbolic link 'elsewhere'",
    )


def test_a_directory_re_created_since_it_was_opened_is_opened_again(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    directories = LogDirectories(str(homes))
    day = f"{relative.parent}/"
    assert directories.compare(day, relative.name, text) == (2009, None)
    moved = homes / relative.parent.with_name("old")
    (homes / relative.parent).rename(moved)
    (homes / relative.parent).mkdir()
    (moved / relative.name).rename(homes / relative)
    assert directories.compare(day, relative.name, text) == (2009, None)
    (homes / relative).unlink()
    assert directories.compare(day, relative.name, text)[1] == (
        f"log file {homes / relative} does not exist"
    )
    directories.close()


def test_directories_are_walked_again_once_old_and_kept_within_the_limit(
    tmp_path: Path,
) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    now = [0.0]
    directories = LogDirectories(str(homes), max_age=60.0, limit=1, clock=lambda: now[0])
    day = f"{relative.parent}/"
    assert directories.compare(day, relative.name, text) == (2009, None)
    second_text, second = _record(11)  # another course's directory: evicts the first
    assert second.parent != relative.parent
    assert directories.compare(f"{second.parent}/", second.name, second_text) == (2009, None)
    assert directories.compare(day, relative.name, text) == (2009, None)
    # The day directory swapped for a symlink to a copy of itself.
    (homes / relative.parent).rename(homes / relative.parent.with_name("copy"))
    (homes / relative.parent).symlink_to("copy")
    now[0] = 59.0
    assert directories.compare(day, relative.name, text) == (2009, None), "kept within max_age"
    now[0] = 61.0
    assert directories.compare(day, relative.name, text) == (
        None,
        f"log file {homes / relative} lies behind the symbolic link '20261122'",
    )
    directories.close()


def test_the_homes_root_gone_or_a_dotted_directory_is_no_evidence(tmp_path: Path) -> None:
    text, relative = _record()
    directory, _, name = str(relative).rpartition("/")
    assert LogDirectories(str(tmp_path / "gone")).compare(f"{directory}/", name, text) == (
        None,
        None,
    )
    homes = _owned_homes(tmp_path)
    assert LogDirectories(str(homes)).compare(f"{STUDENT}/../{STUDENT}/", name, text) == (
        None,
        None,
    )


def _in_child_as(uid: int, call: Callable[[], object]) -> object:
    """``call()`` run in a forked child with ``uid`` (for a permission the test's root ignores)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(uid, uid, uid)
            os.write(write_end, json.dumps(call()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        data = answer.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_an_unreadable_log_file_or_directory_is_no_evidence(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    text, relative = _record()
    (homes / relative).chmod(0)
    os.chmod(tmp_path, 0o755)

    def compare(path: Path | str) -> object:
        if os.geteuid() != 0:
            return list(_compare(homes, path, text))
        return _in_child_as(2010, lambda: _compare(homes, path, text))

    assert compare(relative) == [None, None]
    other = relative.with_name("other.log")
    shutil.copy(homes / relative, homes / other)
    (homes / relative).parent.chmod(0)
    assert compare(other) == [None, None]


def test_a_forged_record_naming_another_students_execution_keeps_its_own_id(
    tmp_path: Path,
) -> None:
    """The victim's path, start time and uid (so every owner check passes), other text."""
    homes = _owned_homes(tmp_path)
    genuine, relative = _record()
    enricher = _log_enricher(homes)
    victim = enricher.enrich_text(genuine)
    assert "suspect" not in victim
    forged_text = genuine.replace("Python の学習を始めましょう", "I did not write this")
    forged = enricher.enrich_text(forged_text)
    assert forged["path"] == victim["path"] and forged["start_time"] == victim["start_time"]
    assert forged["uid"] == 2009 and forged["user_name"] == STUDENT
    assert forged["suspect"] is True
    assert forged["suspect_reason"] == (
        f"record text differs from the log file {homes / relative} on disk "
        f"({len(forged_text.encode())} bytes vs {len(genuine.encode())} bytes)"
    )
    assert forged["doc_id"] != victim["doc_id"]
    assert enricher.enrich_text(forged_text)["doc_id"] == forged["doc_id"], "stable on retry"
    assert enricher.enrich_text(genuine)["doc_id"] == victim["doc_id"]
    assert enricher.stats.suspect == 2
    # Nothing to compare with: no homes dir, or a homes root that is gone (unmounted).
    assert "suspect" not in _log_enricher(None).enrich_text(forged_text)
    assert "suspect" not in _log_enricher(tmp_path / "unmounted").enrich_text(forged_text)


def test_a_record_naming_a_log_file_that_does_not_exist_is_suspect(tmp_path: Path) -> None:
    homes = _owned_homes(tmp_path)
    genuine, relative = _record()
    invented = genuine.replace(relative.name, "20261122-235959-0001.log")
    document = _log_enricher(homes).enrich_text(invented)
    assert document["suspect"] is True
    assert document["suspect_reason"] == (
        f"log file {homes / relative.with_name('20261122-235959-0001.log')} does not exist"
    )
    outside = genuine.replace(f"path: /home/{STUDENT}/", "path: /tmp/")
    assert _log_enricher(homes).enrich_text(outside)["suspect_reason"] == (
        "log file path /tmp/python-basic/.log/20261122/20261122-225613-0219.log "
        "does not lie in a home below /home/"
    )


def test_text_read_from_the_file_it_names_is_not_read_again(tmp_path: Path) -> None:
    """The batch path says where it read the text: no second read, only the owner check."""
    homes = _owned_homes(tmp_path)
    genuine, relative = _record()
    enricher = _log_enricher(homes)
    (homes / relative).write_text("changed since it was read", encoding="utf-8")
    read_here = enricher.enrich_text(genuine, log_file=relative.as_posix())
    assert "suspect" not in read_here
    assert read_here["doc_id"] == _log_enricher(None).enrich_text(genuine)["doc_id"]
    assert enricher.enrich_text(genuine)["suspect"] is True


def test_a_file_naming_another_file_is_compared_with_the_file_it_names(tmp_path: Path) -> None:
    """A log planted in one's own tree that names another student's execution."""
    homes = _owned_homes(tmp_path)
    genuine, relative = _record()
    planted = relative.with_name("20261122-000000-0000.log")
    forged_text = genuine.replace("Python の学習を始めましょう", "I did not write this")
    (homes / planted).write_text(forged_text, encoding="utf-8")
    document = _log_enricher(homes).enrich_text(forged_text, log_file=planted.as_posix())
    assert document["suspect"] is True
    assert document["suspect_reason"].startswith(
        f"record text differs from the log file {homes / relative} on disk"
    )


def test_the_backfill_compares_nothing_for_the_file_it_read(tmp_path: Path) -> None:
    """A log holding bytes that are not UTF-8: the text the backfill reads (with U+FFFD in
    their place) is not the file's bytes, yet it is the file's own record."""
    from tasks.backfill import enrich_files

    homes = _owned_homes(tmp_path)
    _, relative = _record()
    local = homes / relative
    local.write_bytes(local.read_bytes().replace("始め".encode(), b"\xff\xfe"))
    enricher = _log_enricher(homes)
    [document] = enrich_files(enricher, homes, [relative.as_posix()])
    assert "suspect" not in document
    assert "\ufffd" in document["output"]
    assert enricher.enrich_text(local.read_text(errors="replace"))["suspect"] is True
