"""File-backed tables: reload on change, never lose a good table to a bad file."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import (
    Enricher,
    EnrichOptions,
    MemeIndex,
    PasswdTable,
    ReloadingFile,
    build_enricher,
)

LOGGER = "tests.reloading"
CELL = "63658f20-e67b-11f1-8ade-02fc00000001"
NB = "63658d72-e67b-11f1-8ade-02fc00000001"
HEADER = "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\r\n"


def index_text(qno: str) -> str:
    return f'{HEADER}{qno},問1-1,{CELL},{NB},c/a.ipynb,c,"print(1)\nprint(2)\n"\r\n'


def counting(loader: Callable[[str], MemeIndex]) -> tuple[Callable[[str], MemeIndex], list[str]]:
    calls: list[str] = []

    def load(text: str) -> MemeIndex:
        calls.append(text)
        return loader(text)

    return load, calls


def replace_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def qno_of(source: ReloadingFile[MemeIndex]) -> str | None:
    cell = source.get().cell(CELL)
    return cell.qno if cell is not None else None


def make(path: Path, interval: float = 0.0, **kwargs: int) -> ReloadingFile[MemeIndex]:
    return ReloadingFile(
        path,
        MemeIndex.from_csv_text,
        empty=MemeIndex.EMPTY,
        check_interval=interval,
        logger=logging.getLogger(LOGGER),
        **kwargs,
    )


def test_missing_file_gives_the_empty_value_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    source = make(tmp_path / "meme.csv")
    for _ in range(3):
        assert source.get() is MemeIndex.EMPTY
    assert source.loaded is False
    assert source.last_error == "the file does not exist"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"cannot load {tmp_path / 'meme.csv'}: the file does not exist; "
        "nothing loaded yet, lookups find nothing"
    ]


def test_file_appearing_later_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    source = make(path)
    assert qno_of(source) is None
    path.write_text(index_text("00-000"), encoding="utf-8")
    assert qno_of(source) == "00-000"
    assert source.loaded is True
    assert source.last_error is None


def test_atomic_rename_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    source = make(path)
    assert qno_of(source) == "00-000"
    replace_atomically(path, index_text("07-001"))
    assert qno_of(source) == "07-001"


def test_half_written_file_keeps_the_previous_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    load, calls = counting(MemeIndex.from_csv_text)
    source = ReloadingFile(
        path, load, empty=MemeIndex.EMPTY, check_interval=0, logger=logging.getLogger(LOGGER)
    )
    good = source.get()
    assert qno_of(source) == "00-000"
    full = index_text("01-000")
    path.write_text(full[: len(full) - 12], encoding="utf-8")
    assert source.get() is good
    assert source.last_error is not None
    assert "cannot parse: MemeIndexError" in source.last_error
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert "keeping the previously loaded version" in warnings[0]
    # The bad version is not parsed again while it stays the same.
    parsed = len(calls)
    for _ in range(5):
        source.get()
    assert len(calls) == parsed
    # Once the writer finishes, the new table replaces the old one.
    path.write_text(full, encoding="utf-8")
    assert qno_of(source) == "01-000"
    assert source.last_error is None


def test_deleted_file_keeps_the_previous_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    source = make(path)
    assert qno_of(source) == "00-000"
    path.unlink()
    assert qno_of(source) == "00-000"
    assert source.last_error == "the file does not exist"
    assert "keeping the previously loaded version" in caplog.text
    path.write_text(index_text("02-000"), encoding="utf-8")
    assert qno_of(source) == "02-000"


def test_oversized_and_non_utf8_files_keep_the_previous_table(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    source = make(path, max_bytes=400)
    assert qno_of(source) == "00-000"
    path.write_text(index_text("00-000") + "x" * 500, encoding="utf-8")
    assert qno_of(source) == "00-000"
    assert source.last_error is not None
    assert "exceeds the 400-byte limit" in source.last_error
    path.write_bytes(index_text("03-000").encode("utf-8").replace("問".encode(), b"\xff\xfe"))
    assert qno_of(source) == "00-000"
    assert source.last_error is not None
    assert source.last_error.startswith("not UTF-8 text")


def test_unreadable_path_keeps_the_previous_table(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    source = make(path)
    assert qno_of(source) == "00-000"
    path.unlink()
    path.mkdir()
    assert qno_of(source) == "00-000"
    assert source.last_error is not None
    assert "cannot read the file" in source.last_error


def test_no_stat_between_checks(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    source = make(path, interval=3600)
    assert qno_of(source) == "00-000"
    replace_atomically(path, index_text("05-000"))
    assert qno_of(source) == "00-000"
    assert source.reload_now() is True
    assert qno_of(source) == "05-000"


def test_unchanged_identity_is_not_reread(tmp_path: Path) -> None:
    path = tmp_path / "meme.csv"
    path.write_text(index_text("00-000"), encoding="utf-8")
    load, calls = counting(MemeIndex.from_csv_text)
    source = ReloadingFile(path, load, empty=MemeIndex.EMPTY, check_interval=0)
    assert qno_of(source) == "00-000"
    for _ in range(5):
        source.get()
    assert len(calls) == 1
    # Same inode, same size, mtime restored: the check sees no change.
    before = path.stat()
    with open(path, "r+", encoding="utf-8") as stream:
        stream.write(index_text("09-000"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert qno_of(source) == "00-000"
    assert len(calls) == 1
    # reload_now reads regardless of the identity.
    assert source.reload_now() is True
    assert qno_of(source) == "09-000"


def test_reload_now_reports_failure(tmp_path: Path) -> None:
    source = make(tmp_path / "absent.csv")
    assert source.reload_now() is False
    assert source.get() is MemeIndex.EMPTY


def test_loader_problems_are_logged_on_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    path = tmp_path / "passwd"
    lines = ["root:x:0:0:root:/root:/bin/bash", '"oops:x:1', "alice:x:1000:100::/h:/bin/sh"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = ReloadingFile(
        path,
        PasswdTable.from_text,
        empty=PasswdTable.EMPTY,
        logger=logging.getLogger(LOGGER),
    )
    assert source.get().user_name(1000) == "alice"
    messages = [r.getMessage() for r in caplog.records]
    assert f"loaded {path} (2 entries)" in messages
    assert any("1 line(s) skipped or shadowed: line 2" in m for m in messages)


def test_any_loader_exception_keeps_the_previous_value(tmp_path: Path) -> None:
    path = tmp_path / "numbers"
    path.write_text("1\n", encoding="utf-8")
    source: ReloadingFile[int] = ReloadingFile(
        path, lambda text: int(text.strip()), empty=-1, check_interval=0
    )
    assert source.get() == 1
    path.write_text("one\n", encoding="utf-8")
    assert source.get() == 1
    assert source.last_error is not None
    assert source.last_error.startswith("cannot parse: ValueError")


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="check_interval"):
        ReloadingFile(tmp_path / "x", str, empty="", check_interval=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        ReloadingFile(tmp_path / "x", str, empty="", max_bytes=0)


def passwd_text(first: int, last: int) -> str:
    return "".join(f"user{n}:x:{n}:100::/home/user{n}:/bin/bash\n" for n in range(first, last))


def index_rows(count: int) -> str:
    notebook = uuid.UUID(int=10**6)
    rows = [
        f'{n // 100:02}-{n % 100:03},,{uuid.UUID(int=n + 1)},{notebook},c/a.ipynb,c,"x"\n'
        for n in range(count)
    ]
    return HEADER.replace("\r\n", "\n") + "".join(rows)


def tables(tmp_path: Path, **options: Any) -> tuple[Path, Path, Enricher]:
    tmp_path.mkdir(exist_ok=True)
    passwd, index = tmp_path / "passwd", tmp_path / "meme.csv"
    passwd.write_text(passwd_text(1000, 1100), encoding="utf-8")
    index.write_text(index_rows(100), encoding="utf-8")
    enricher = build_enricher(
        EnrichOptions(index=index, passwd=passwd, homes_dir=None, reload_interval=0, **options)
    )
    assert len(enricher.passwd()) == 100 and len(enricher.meme_index()) == 100
    return passwd, index, enricher


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda text: text[: len(text) // 2 + 3], "not terminated by a newline"),
        (lambda text: text[:-1], "not terminated by a newline"),
        (lambda text: "", "the file is empty"),
        (lambda text: "\n\n", "the file is empty"),
        (lambda text: "<html>\n<body>502 Bad Gateway</body>\n</html>\n", "line 1: expected 7"),
        (lambda text: text.replace("user1050:x:1050", "user1050:x:"), "line 51: uid ''"),
        (lambda text: text + ":x:5:5::/:/bin/sh\n", "line 101: empty user name"),
        (lambda text: text[: text.index("user1030")], "loses 70 of the 100 loaded entries (70%)"),
    ],
)
def test_a_damaged_passwd_keeps_the_loaded_table(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[str], str],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.enrich")
    passwd, _, enricher = tables(tmp_path)
    loaded = enricher.passwd()
    replace_atomically(passwd, damage(passwd_text(1000, 1100)))
    assert enricher.passwd() is loaded
    assert enricher.passwd() is loaded
    (warning,) = warnings_of(caplog)
    assert reason in warning and str(passwd) in warning
    assert "keeping the previously loaded version" in warning


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda text: text[: len(text) // 2 + 3], "not terminated by a newline"),
        (lambda text: "", "the index is empty"),
        (lambda text: "garbage\nmore garbage\n", "header lacks required column"),
        (lambda text: text[: text.index("00-040")], "loses 60 of the 100 loaded entries (60%)"),
        (lambda text: text.splitlines(keepends=True)[0], "loses 100 of the 100 loaded entries"),
    ],
)
def test_a_damaged_index_keeps_the_loaded_table(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[str], str],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.enrich")
    _, index, enricher = tables(tmp_path)
    loaded = enricher.meme_index()
    replace_atomically(index, damage(index_rows(100)))
    assert enricher.meme_index() is loaded
    (warning,) = warnings_of(caplog)
    assert reason in warning and str(index) in warning


def test_small_changes_are_accepted_and_the_share_is_configurable(tmp_path: Path) -> None:
    passwd, index, enricher = tables(tmp_path)
    replace_atomically(passwd, passwd_text(1040, 1200))  # 40 of 100 gone, 100 new
    assert len(enricher.passwd()) == 160
    replace_atomically(index, index_rows(55))
    assert len(enricher.meme_index()) == 55
    strict = tables(tmp_path / "strict", reload_max_loss=0.0)
    replace_atomically(strict[0], passwd_text(1001, 1101))
    assert len(strict[2].passwd()) == 100
    assert strict[2].passwd().user_name(1000) == "user1000"
    with pytest.raises(ValueError, match="between 0 and 1"):
        tables(tmp_path / "bad", reload_max_loss=1.5)


def test_a_large_change_goes_through_once_with_the_override(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.enrich")
    passwd, _, enricher = tables(tmp_path)
    marker = tmp_path / "passwd.accept-loss"
    # End of term: most students leave. Held back until the operator confirms.
    replace_atomically(passwd, passwd_text(1090, 1100))
    assert len(enricher.passwd()) == 100
    assert f"create {marker}" in warnings_of(caplog)[0]
    marker.touch()
    assert len(enricher.passwd()) == 10
    assert not marker.exists()
    accepted = warnings_of(caplog)[-1]
    assert "accepting" in accepted and "loses 90 of the 100" in accepted and str(marker) in accepted
    # Used once: the next large loss is held back again.
    replace_atomically(passwd, passwd_text(1099, 1100))
    assert len(enricher.passwd()) == 10
    # A marker created ahead of the change works too, and is removed with it.
    marker.touch()
    replace_atomically(passwd, passwd_text(1099, 1101))
    assert len(enricher.passwd()) == 2
    assert not marker.exists()
    # It never makes a damaged file acceptable.
    marker.touch()
    replace_atomically(passwd, passwd_text(1099, 1101)[:-3])
    assert len(enricher.passwd()) == 2
    assert marker.exists()


def test_an_unneeded_or_stuck_override_is_not_left_to_cover_later_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cwh.enrich")
    passwd, index, enricher = tables(tmp_path)
    marker = tmp_path / "passwd.accept-loss"
    marker.touch()
    replace_atomically(passwd, passwd_text(1000, 1101))
    assert len(enricher.passwd()) == 101
    assert not marker.exists()
    assert any(f"removed {marker}" in r.getMessage() for r in caplog.records)
    # A marker that cannot be removed (here a non-empty directory) is not honoured.
    index_marker = tmp_path / "meme.csv.accept-loss"
    (index_marker / "x").mkdir(parents=True)
    replace_atomically(index, index_rows(10))
    assert len(enricher.meme_index()) == 100
    assert any("it is not honoured" in warning for warning in warnings_of(caplog))


def test_a_new_process_judges_a_changed_file_against_the_last_accepted_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """fluentd starts one delivery per chunk: a passwd cut short between two deliveries must
    not become the table of the next one just because that one has no earlier table."""
    caplog.set_level(logging.INFO, logger="cwh.enrich")
    accepted = tmp_path / "accepted"
    passwd, index, _ = tables(tmp_path, accepted_dir=accepted)
    assert (accepted / "passwd.accepted").read_text() == passwd.read_text()
    assert (accepted / "meme-index.csv.accepted").stat().st_mode & 0o777 == 0o600
    replace_atomically(passwd, passwd_text(1000, 1010))
    replace_atomically(index, index_rows(100)[:-40])
    options = EnrichOptions(
        index=index, passwd=passwd, homes_dir=None, reload_interval=0, accepted_dir=accepted
    )
    later = build_enricher(options)
    assert len(later.passwd()) == 100 and len(later.meme_index()) == 100
    warnings = warnings_of(caplog)
    assert any("loses 90 of the 100 loaded entries" in w for w in warnings)
    assert any("not terminated by a newline" in w for w in warnings)
    replace_atomically(passwd, passwd_text(1000, 1120))
    assert len(build_enricher(options).passwd()) == 120
    assert (accepted / "passwd.accepted").read_text() == passwd_text(1000, 1120)
    (accepted / "passwd.accepted").write_text("garbage", encoding="utf-8")
    assert len(build_enricher(options).passwd()) == 120
    assert any("ignoring the accepted copy" in w for w in warnings_of(caplog))
