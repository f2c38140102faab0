"""Unit behaviour of the enrichment engine that the CLI tests do not isolate."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from cwh.enrich import LineTransformer, MemeIndex, PasswdTable, ResultReader
from cwh.enrich.enricher import Enricher, EnrichStats
from cwh.enrich.logtime import DayNames, year_window
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
    names = DayNames()
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
    first = enricher.dead_letter("garbage", "LogParseError", "bad", received_at=1795355773)
    second = enricher.dead_letter("garbage", "LogParseError", "bad", received_at=1795399999)
    assert first["doc_id"] == second["doc_id"]
    assert first["target_index"] == "lcwrapper-deadletter-2026.11.22"
    assert first["@timestamp"] == "2026-11-22T13:56:13Z"
    assert enricher.stats.dead_letters == {"LogParseError": 2}


@pytest.mark.parametrize(
    "received",
    [0, -1.0, 1e12, -1e20, float("nan"), float("inf"), float("-inf"), 2**64, -(2**63), 10**400,
     4133980800, True],
)  # fmt: skip
def test_receive_times_outside_the_window_stamp_dead_letters_now(received: float) -> None:
    enricher = _enricher()
    before = datetime.now(UTC).strftime("%Y.%m.%d")
    document = enricher.dead_letter("garbage", "LogParseError", "bad", received_at=received)
    after = datetime.now(UTC).strftime("%Y.%m.%d")
    assert document["target_index"].removeprefix("lcwrapper-deadletter-") in (before, after)
    for record in ({"time": received}, {"time": received, "log": "not a log"}, [received]):
        assert "error_type" in enricher.enrich_record(record, received_at=received)


def test_window_edges_and_a_configured_window(lcwrapper_sample: Path) -> None:
    log = forward_records(lcwrapper_sample)[0]["record"]["log"]
    assert "error_type" not in _enricher().enrich_text(log)
    start = _enricher().enrich_text(log)["start_time"]
    inside = _enricher(time_window=(start, start + 3600)).enrich_text(log)
    assert "error_type" not in inside
    late = _enricher(time_window=year_window(2000, 2025)).enrich_text(log)
    assert late["error_type"] == "TimeOutOfRange"
    assert late["raw"] == log
    assert late["error_message"].startswith(f"start_time {start} (2026-11-22T")
    assert "2000-01-01T00:00:00Z to 2025-12-31T23:59:59Z" in late["error_message"]
    assert _enricher(time_window=(start + 1, 2**40)).enrich_text(log)["error_type"] == (
        "TimeOutOfRange"
    )
    with pytest.raises(ValueError, match="1 <= first <= last <= 9998"):
        year_window(2100, 2000)


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [
        ("9999-12-31 23:59:59(UTC)", "253402300799 (9999-12-31T23:59:59Z)"),
        ("0001-01-01 00:00:00(UTC)", "-62135596800 (0001-01-01T00:00:00Z)"),
        ("1999-12-31 23:59:59(UTC)", "946684799 (1999-12-31T23:59:59Z)"),
        ("2101-01-01 00:00:00(UTC)", "4133980800 (2101-01-01T00:00:00Z)"),
    ],
)
def test_execution_times_outside_the_window_are_dead_letters(
    lcwrapper_sample: Path, stamp: str, shown: str
) -> None:
    log = forward_records(lcwrapper_sample)[0]["record"]["log"]
    header = next(line for line in log.splitlines() if line.startswith("start time: "))
    footer = next(line for line in log.splitlines() if line.startswith("end time: "))
    for old, name in ((header, "start_time"), (footer, "end_time")):
        prefix = old.split(": ", 1)[0]
        forged = log.replace(old, f"{prefix}: {stamp}")
        document = _enricher().enrich_text(forged, received_at=1795355773)
        assert document["error_type"] == "TimeOutOfRange", name
        assert document["error_message"] == (
            f"{name} {shown} lies outside the accepted window "
            "2000-01-01T00:00:00Z to 2100-12-31T23:59:59Z"
        )
        assert document["target_index"] == "lcwrapper-deadletter-2026.11.22"


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


class _FailingCounts(dict[str, int]):
    """Dead-letter counts that fail for every reason but ``spared``: a stand-in for a bug."""

    def __init__(self, spared: str) -> None:
        super().__init__()
        self.spared = spared

    def __setitem__(self, key: str, value: int) -> None:
        if key != self.spared:
            raise KeyError("a bug")
        super().__setitem__(key, value)


@pytest.mark.parametrize("spared", ["InternalError", ""])
def test_an_unexpected_exception_still_answers_the_line(
    spared: str, caplog: pytest.LogCaptureFixture
) -> None:
    enricher = _enricher(stats=EnrichStats(dead_letters=_FailingCounts(spared)))
    transform = LineTransformer(enricher)
    line = b"not JSON \xff"
    for _ in range(12):
        answer = transform(line)
    assert answer.endswith(b"\n") and answer.count(b"\n") == 1
    document = orjson.loads(answer)
    assert document["error_type"] == "InternalError"
    assert document["target_index"].startswith("lcwrapper-deadletter-")
    assert len(document["doc_id"]) == 32
    if spared:
        assert document["raw"] == "not JSON \ufffd"
        assert "KeyError" in document["error_message"]
    # The first tracebacks are logged, then only counts.
    assert len([r for r in caplog.records if r.exc_info]) == 10
