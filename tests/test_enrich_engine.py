"""Unit behaviour of the enrichment engine that the CLI tests do not isolate."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cwh.enrich import MemeIndex, PasswdTable, ResultReader
from cwh.enrich.enricher import Enricher, _DayNames
from tests.enrich_support import forward_records

PASSWD = (
    "student09x0c0ffee:x:2009:100::/home/student09x0c0ffee:/bin/bash\n"
    "bob:x:2010:100::/home/bob:/bin/sh\n"
)


def _enricher(**kwargs: object) -> Enricher:
    table = PasswdTable.from_text(PASSWD)
    return Enricher(passwd=lambda: table, meme_index=lambda: MemeIndex.EMPTY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("epoch", [0, 59, 86399, 86400, 1795355777, 951782400, 4102444799])
def test_day_names_agree_with_datetime(epoch: int) -> None:
    names = _DayNames()
    moment = datetime.fromtimestamp(epoch, UTC)
    assert names.iso(epoch) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert names.day(epoch) == moment.strftime("%Y.%m.%d")


@pytest.mark.parametrize(
    ("path", "mapped"),
    [
        ("/home/u/c/.log/20261122/a.log", "/homes/u/c/.log/20261122/a.log"),
        ("/home/u/a..b.pkl", "/homes/u/a..b.pkl"),
        ("/home/u/../v/x.log", None),
        ("/home/u/./x.log", None),
        ("/home/u//x.log", None),
        ("/home/..", None),
        ("/etc/passwd", None),
        ("/home/u/x\x00.log", None),
        ("/home/", None),
    ],
)
def test_log_paths_map_lexically_inside_the_homes_root(path: str, mapped: str | None) -> None:
    location = _enricher()._host_log_location(path, "/home/", "/homes/")
    assert (None if location is None else "".join(location)) == mapped


def test_files_in_another_users_home_make_the_record_suspect(lcwrapper_sample: Path) -> None:
    log = forward_records(lcwrapper_sample)[0]["record"]["log"]
    forged = log.replace("/home/student09x0c0ffee/", "/home/bob/")
    document = _enricher().enrich_text(forged)
    assert document["suspect"] is True
    assert "'bob'" in document["suspect_reason"]
    assert "'student09x0c0ffee'" in document["suspect_reason"]
    honest = _enricher().enrich_text(log)
    assert "suspect" not in honest


def test_same_text_same_id_and_dead_letters_are_stable() -> None:
    enricher = _enricher()
    first = enricher.dead_letter("garbage", "LogParseError", "bad", received_at=0)
    second = enricher.dead_letter("garbage", "LogParseError", "bad", received_at=99999)
    assert first["doc_id"] == second["doc_id"]
    assert first["target_index"] == "lcwrapper-deadletter-1970.01.01"
    assert enricher.stats.dead_letters == {"LogParseError": 2}


def test_an_unexpected_failure_becomes_a_dead_letter(lcwrapper_sample: Path) -> None:
    def broken() -> MemeIndex:
        raise RuntimeError("index table exploded")

    table = PasswdTable.from_text(PASSWD)
    enricher = Enricher(passwd=lambda: table, meme_index=broken)
    log = forward_records(lcwrapper_sample)[0]["record"]["log"]
    document = enricher.enrich_text(log, received_at=1795355773)
    assert document["error_type"] == "RuntimeError"
    assert document["raw"] == log
    assert document["target_index"] == "lcwrapper-deadletter-2026.11.22"


def test_records_without_a_log_field_are_dead_letters() -> None:
    enricher = _enricher()
    assert enricher.enrich_record({"message": "x"})["error_type"] == "InvalidRecord"
    assert enricher.enrich_record(["log"])["error_type"] == "InvalidRecord"


def _log_in(directory: Path, uid: int) -> Path:
    log = directory / "20261122-101500-0001.log"
    log.write_text("x", encoding="utf-8")
    os.chown(log, uid, 100)
    return log


@pytest.mark.parametrize(
    ("directory_owner", "directory_mode", "log_owner", "flagged"),
    [
        (2009, 0o755, 2009, False),  # the usual case: the directory vouches
        # Only root can have put another user's file in it: the file is not looked at.
        (2009, 0o755, 2010, False),
        (2010, 0o755, 2010, True),  # another user's directory: the file is read
        (2009, 0o775, 2010, True),  # a shared directory vouches for nobody
        (2009, 0o775, 2009, False),
        (2010, 0o755, 2009, False),  # the file's own owner decides when it is read
    ],
)
def test_log_file_owner_is_read_from_the_file_unless_its_directory_vouches(
    tmp_path: Path, directory_owner: int, directory_mode: int, log_owner: int, flagged: bool
) -> None:
    homes = tmp_path / "homes"
    directory = homes / "alicex01" / "course" / ".log" / "20261122"
    directory.mkdir(parents=True)
    os.chown(directory, directory_owner, 100)
    directory.chmod(directory_mode)
    log = _log_in(directory, log_owner)
    enricher = _enricher(results=ResultReader(homes))
    mismatch = enricher._log_file_mismatch(
        "/home/alicex01/course/.log/20261122/20261122-101500-0001.log", 2009, "/home/", str(homes)
    )
    assert (mismatch is not None) is flagged
    if mismatch is not None:
        assert mismatch == (str(log), log_owner)
