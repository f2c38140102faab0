"""Unit tests of the lc_wrapper log parser against the real sample and hand-built edge cases."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import (
    DEFAULT_ZONES,
    RESERVED_FIELDS,
    LogParseError,
    ZoneSpecError,
    parse_log,
    parse_zone_mapping,
)

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"

FIELD_ORDER = (
    "lc_cell_meme",
    "start_time",
    "end_time",
    "execute_reply_status",
    "input",
    "output",
    "result",
    "results",
    "uid",
    "gid",
    "lc_notebook_meme",
    "notebook_path",
    "server_signature",
    "path",
)
# expected.jsonl holds enriched documents; these are the fields the parser owns.
EXPECTED_PARSER_FIELDS = tuple(name for name in FIELD_ORDER if name != "results")

CELL_MEME = "cb98905e-35b8-11ef-bcb4-02420a64001e"
NOTEBOOK_MEME = "b9f187ae-2c65-11ef-8eda-02420a64000d"
SERVER_SIGNATURE = "9d315e0a-11b7-11ef-a0d3-02420a64000e"
LOG_PATH = "/home/alexx1f2e3d/.log/20240629/20240629-100000-0123.log"
START = "2024-06-29 10:00:00(UTC)"
END = "2024-06-29 10:00:01(UTC)"
START_EPOCH = int(datetime(2024, 6, 29, 10, 0, 0, tzinfo=UTC).timestamp())
END_EPOCH = START_EPOCH + 1


# --- building logs the way lc_wrapper writes them -------------------------------------------


def header_block(
    *,
    path: str | None = LOG_PATH,
    notebook_path: str | None = "Untitled.ipynb",
    lc_notebook_meme: str | None = NOTEBOOK_MEME,
    server_signature: str | None = SERVER_SIGNATURE,
    uid: int | str | None = 1001,
    gid: int | str | None = 100,
    start: str = START,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """Header lines as lc_wrapper writes them (without the surrounding ``----`` lines)."""
    lines = [
        f"{key}: {value}"
        for key, value in (
            ("path", path),
            ("notebook_path", notebook_path),
            ("lc_notebook_meme", lc_notebook_meme),
            ("server_signature", server_signature),
            *extra,
            ("uid", uid),
            ("gid", gid),
        )
        if value is not None
    ]
    lines.append(f"start time: {start}")
    return "".join(line + "\n" for line in lines)


def build_log(
    code: str,
    output: str,
    *,
    meme: str | None = CELL_MEME,
    header: str | None = None,
    end: str = END,
    chunks: int = 0,
    footer: Iterable[str] = ("execute_reply_status: ok",),
) -> str:
    """A log in lc_wrapper's layout; ``code`` and ``output`` are the cell's text without the
    newline lc_wrapper adds after each."""
    parts = []
    if meme is not None:
        parts.append(json.dumps({"lc_cell_meme": {"current": meme}}) + "\n----\n")
    parts.append(code + "\n----\n")
    parts.append((header_block() if header is None else header) + "----\n")
    parts.append(output + "\n----\n")
    parts.append(f"end time: {end}\n{chunks} chunks with matched keywords or errors\n----\n")
    parts.extend(line + "\n" for line in footer)
    return "".join(parts)


def header_section(log: str) -> str:
    """The header block of a log made by ``build_log`` with ``----`` lines around it."""
    start = log.index("\n----\npath: ") + 1
    end = log.index("\n----\n", start + 5) + 6
    return log[start:end]


# --- the real sample ------------------------------------------------------------------------


@cache
def forward_records() -> tuple[dict[str, Any], ...]:
    lines = (FIXTURE_DIR / "forward-records.jsonl").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines)


@cache
def expected_documents() -> tuple[dict[str, Any], ...]:
    lines = (FIXTURE_DIR / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines)


def forward_log(row: int) -> str:
    text: str = forward_records()[row - 1]["record"]["log"]
    return text


def parser_fields(document: dict[str, Any]) -> dict[str, Any]:
    return {name: document[name] for name in EXPECTED_PARSER_FIELDS if name in document}


def test_sample_is_complete() -> None:
    assert len(forward_records()) == len(expected_documents()) == 14


@pytest.mark.parametrize("row", range(1, 15))
def test_forward_record_matches_expected_document(row: int) -> None:
    parsed = parse_log(forward_log(row))
    assert parser_fields(parsed) == parser_fields(expected_documents()[row - 1])


@pytest.mark.parametrize("row", range(1, 15))
def test_keys_follow_the_documented_order(row: int) -> None:
    keys = list(parse_log(forward_log(row)))
    assert keys == [name for name in FIELD_ORDER if name in keys]


@pytest.mark.parametrize("row", range(1, 15))
def test_end_time_is_the_forward_event_time(row: int) -> None:
    assert parse_log(forward_log(row))["end_time"] == forward_records()[row - 1]["time"]


def test_log_files_on_disk_parse_like_their_forward_records() -> None:
    by_path = {doc["path"]: parser_fields(doc) for doc in expected_documents()}
    files = sorted(
        path
        for path in (FIXTURE_DIR / "users").glob("*/**/.log/*/*.log")
        if path.parent.name.isdigit() and len(path.parent.name) == 8
    )
    assert len(files) == 14
    for file in files:
        parsed = parse_log(file.read_text(encoding="utf-8"))
        assert parsed["path"].endswith("/" + file.relative_to(file.parents[2]).as_posix())
        assert parser_fields(parsed) == by_path[parsed["path"]]


def test_several_results_keep_all_paths_and_the_last_is_result() -> None:
    parsed = parse_log(forward_log(11))
    stem = parsed["path"].removesuffix(".log")
    assert parsed["results"] == [f"{stem}-{n}.pkl" for n in range(3)]
    assert parsed["result"] == f"{stem}-2.pkl"


def test_record_without_result_has_neither_result_nor_results() -> None:
    parsed = parse_log(forward_log(1))
    assert "result" not in parsed
    assert "results" not in parsed


def test_printed_separator_and_end_block_lines_stay_in_output() -> None:
    parsed = parse_log(forward_log(10))
    assert parsed["output"].startswith("----\nstart time: 2026-11-22 13:56:38(UTC)\n----\n")
    assert parsed["output"].endswith(
        "----\nend time: 2026-11-22 13:56:39(UTC)\n0 chunks with matched keywords or errors\n"
        "----\nexecute_reply_status: ok\n\n"
    )
    assert parsed["end_time"] - parsed["start_time"] == 1


def test_summarize_prefix_and_all_output_lines_are_kept() -> None:
    parsed = parse_log(forward_log(9))
    assert parsed["input"].startswith("!!")
    assert parsed["output"].count("\n") == 1200 + 1


def test_cell_without_stream_output_has_a_newline_as_output() -> None:
    assert parse_log(forward_log(3))["output"] == "\n"


# --- the reference parser's test cases --------------------------------------------------------

PING_OUTPUT = (
    "PING 172.30.2.160 (172.30.2.160) 56(84) bytes of data.\n"
    "64 bytes from 172.30.2.160: icmp_seq=1 ttl=63 time=0.186 ms\n"
    "\n--- 172.30.2.160 ping statistics ---\n"
    "1 packets transmitted, 1 received, 0% packet loss, time 0ms\n"
)


def test_reference_normal_log() -> None:
    text = build_log("!ping -c 1 172.30.2.160", PING_OUTPUT, end="2024-06-29 10:00:02(UTC)")
    assert parse_log(text) == {
        "lc_cell_meme": CELL_MEME,
        "start_time": START_EPOCH,
        "end_time": START_EPOCH + 2,
        "execute_reply_status": "ok",
        "input": "!ping -c 1 172.30.2.160\n",
        "output": PING_OUTPUT + "\n",
        "uid": 1001,
        "gid": 100,
        "lc_notebook_meme": NOTEBOOK_MEME,
        "notebook_path": "Untitled.ipynb",
        "server_signature": SERVER_SIGNATURE,
        "path": LOG_PATH,
    }


def test_reference_error_log_with_result() -> None:
    result = LOG_PATH.removesuffix(".log") + "-0.pkl"
    text = build_log(
        'raise "error"', "", footer=(f"result: {result}", "execute_reply_status: error")
    )
    parsed = parse_log(text)
    assert parsed["input"] == 'raise "error"\n'
    assert parsed["output"] == "\n"
    assert parsed["result"] == result
    assert parsed["results"] == [result]
    assert parsed["execute_reply_status"] == "error"


def test_reference_fake_times_and_separators_in_input_and_output() -> None:
    fake = f"start time: {START}\n----\n\n----\nabc\nxyz\n----\n\n\n----\nend time: {END}\n"
    code = f"print('''\n{fake}''')"
    output = fake + "\n"
    parsed = parse_log(build_log(code, output, chunks=1))
    assert parsed["input"] == code + "\n"
    assert parsed["output"] == output + "\n"
    assert (parsed["start_time"], parsed["end_time"]) == (START_EPOCH, END_EPOCH)
    assert parsed["path"] == LOG_PATH


def test_empty_text_is_rejected() -> None:
    with pytest.raises(LogParseError, match="empty"):
        parse_log("")


@pytest.mark.parametrize(
    "first_section",
    [
        '{"invalid_json": broken',
        '{"lc_cell_meme": {"current": "}}',
        '{"lc_cell_meme": {"current": "a"}}}',
        '{"lc_cell_meme": {"current": "\x01"}}',
        '{"lc_cell_meme": "not_a_hash"}',
        '{"lc_cell_meme": {"current": 42}}',
        '{"lc_cell_meme": {"previous": "x"}}',
        '["lc_cell_meme"]',
    ],
)
def test_first_section_without_a_meme_becomes_part_of_input(first_section: str) -> None:
    text = build_log("!ping -c 1 172.30.2.160", "PING output", meme=None)
    text = first_section + "\n----\n" + text
    parsed = parse_log(text)
    assert "lc_cell_meme" not in parsed
    assert parsed["input"] == first_section + "\n----\n!ping -c 1 172.30.2.160\n"
    assert parsed["output"] == "PING output\n"


def test_separator_lines_in_output() -> None:
    output = "Command output:\n----\nSeparator in output\n----\nMore output after separator"
    parsed = parse_log(build_log('echo "test output"', output))
    assert parsed["input"] == 'echo "test output"\n'
    assert parsed["output"] == output + "\n"


def test_fake_end_time_lines_in_output() -> None:
    output = (
        "Log entry: end time: 2024-06-29 09:59:59(UTC) found in previous execution\n"
        "end time: 2024-06-29 09:58:58(UTC) in another log\nFinal output line"
    )
    parsed = parse_log(build_log('echo "log analysis"', output))
    assert parsed["output"] == output + "\n"
    assert parsed["end_time"] == END_EPOCH


def test_separator_lines_in_input() -> None:
    code = 'echo "First line\n----\nSecond line with separator\n----\nThird line"'
    output = "First line\n----\nSecond line with separator\n----\nThird line"
    parsed = parse_log(build_log(code, output))
    assert parsed["input"] == code + "\n"
    assert parsed["output"] == output + "\n"


def test_complete_fake_end_block_in_output() -> None:
    output = (
        "Analyzing previous execution log:\n----\nend time: 2024-06-29 09:59:58(UTC)\n"
        "0 chunks with matched keywords or errors\n----\nActual command output here"
    )
    parsed = parse_log(build_log('echo "simulating log analysis"', output))
    assert parsed["output"] == output + "\n"
    assert parsed["end_time"] == END_EPOCH
    assert parsed["execute_reply_status"] == "ok"


def test_unclosed_fake_header_in_input() -> None:
    fake = header_block(path="/tmp/fake.log", uid=999, gid=999, start="2024-01-01 00:00:00(UTC)")
    code = f"cat <<EOF\n----\n{fake}EOF\necho real"
    parsed = parse_log(build_log(code, "Command executed successfully"))
    assert parsed["input"] == code + "\n"
    assert (parsed["path"], parsed["uid"]) == (LOG_PATH, 1001)


def test_several_unclosed_fake_path_blocks_in_input() -> None:
    code = (
        'echo "First fake:"\ncat <<EOF1\n----\npath: /tmp/first_fake.log\nEOF1\n'
        'echo "Second fake:"\ncat <<EOF2\n----\npath: /tmp/second_fake.log\n'
        'notebook_path: second_fake.ipynb\nEOF2\necho "Real command execution"'
    )
    parsed = parse_log(build_log(code, "All commands executed"))
    assert parsed["input"] == code + "\n"
    assert parsed["path"] == LOG_PATH
    assert parsed["notebook_path"] == "Untitled.ipynb"


def test_complete_fake_header_in_input() -> None:
    """The reference parser's lazy head stops at this block and returns the fake fields."""
    fake = header_block(
        path="/home/alexx1f2e3d/.log/20240101/20240101-000000-0000.log",
        uid=0,
        gid=0,
        start="2024-01-01 00:00:00(UTC)",
    )
    code = f"text = '''\n----\n{fake}----\n'''\nprint(text)"
    output = f"\n----\n{fake}----\n"
    parsed = parse_log(build_log(code, output))
    assert parsed["input"] == code + "\n"
    assert parsed["output"] == output + "\n"
    assert (parsed["path"], parsed["uid"], parsed["gid"]) == (LOG_PATH, 1001, 100)
    assert parsed["start_time"] == START_EPOCH


def test_fake_header_closed_by_the_real_headers_separator() -> None:
    """A code cell ending in a header-like block: its closing line is the real opening line."""
    fake = header_block(path="/tmp/fake.log", uid=0, gid=0, start="2024-01-01 00:00:00(UTC)")
    code = "x = 1\n----\n" + fake.rstrip("\n")
    parsed = parse_log(build_log(code, "out"))
    assert parsed["input"] == code + "\n"
    assert parsed["output"] == "out\n"
    assert parsed["uid"] == 1001


def test_thousand_fake_path_blocks_in_input() -> None:
    fakes = "\n".join(
        f'echo "fake{i}"\ncat <<EOF{i}\n----\npath: /tmp/fake{i}.log\nnotebook_path: f{i}.ipynb'
        f"\nEOF{i}"
        for i in range(1000)
    )
    code = f"echo start\n{fakes}\necho real"
    parsed = parse_log(build_log(code, "done"))
    assert parsed["input"] == code + "\n"
    assert parsed["path"] == LOG_PATH


def test_thousand_fake_end_blocks_in_output() -> None:
    fakes = "\n".join(
        f"----\nend time: 2024-06-29 {i % 24:02d}:{i % 60:02d}:{i * 17 % 60:02d}(UTC)\n"
        f"{i} chunks with matched keywords or errors\n----\nFake end {i}"
        for i in range(1000)
    )
    output = f"started\n{fakes}\nreal output ends here"
    parsed = parse_log(build_log("echo x", output))
    assert parsed["output"] == output + "\n"
    assert parsed["end_time"] == END_EPOCH


@pytest.mark.parametrize("where", ["input", "output"])
def test_ten_thousand_long_lines(where: str) -> None:
    big = "\n".join(f"line {i}: " + "x" * 180 for i in range(10_000))
    code, output = (big, "ok") if where == "input" else ("print(big)", big)
    parsed = parse_log(build_log(code, output))
    assert parsed["input"] == code + "\n"
    assert parsed["output"] == output + "\n"


# --- other shapes lc_wrapper produces ---------------------------------------------------------


def test_console_execution_has_no_meme_and_no_notebook_fields() -> None:
    header = header_block(notebook_path=None, lc_notebook_meme=None)
    parsed = parse_log(build_log("print(1)", "1", meme=None, header=header))
    assert list(parsed) == [
        "start_time",
        "end_time",
        "execute_reply_status",
        "input",
        "output",
        "uid",
        "gid",
        "server_signature",
        "path",
    ]
    assert parsed["input"] == "print(1)\n"


def test_console_execution_without_server_signature() -> None:
    header = header_block(notebook_path=None, lc_notebook_meme=None, server_signature=None)
    parsed = parse_log(build_log("1", "", meme=None, header=header))
    assert "server_signature" not in parsed
    assert parsed["uid"] == 1001


def test_empty_code_gives_a_newline_as_input() -> None:
    assert parse_log(build_log("", "out"))["input"] == "\n"
    assert parse_log(build_log("", "out", meme=None))["input"] == "\n"


def test_meme_with_json_escapes_is_decoded() -> None:
    meme = 'odd "meme"\\ with é and \t tab'
    assert parse_log(build_log("1", ""))["lc_cell_meme"] == CELL_MEME
    assert parse_log(build_log("1", "", meme=meme))["lc_cell_meme"] == meme


def test_meme_object_with_more_keys_is_accepted() -> None:
    head = json.dumps({"lc_cell_meme": {"current": "m-1", "next": None}, "x": 1})
    text = head + "\n----\n" + build_log("1", "", meme=None)
    parsed = parse_log(text)
    assert parsed["lc_cell_meme"] == "m-1"
    assert parsed["input"] == "1\n"


def test_log_without_status_line_omits_the_status() -> None:
    parsed = parse_log(build_log("1", "", footer=()))
    assert "execute_reply_status" not in parsed
    assert parsed["end_time"] == END_EPOCH


def test_later_status_line_wins_and_empty_values_are_skipped() -> None:
    footer = ("execute_reply_status: ok", "result: ", "execute_reply_status: error")
    parsed = parse_log(build_log("1", "", footer=footer))
    assert parsed["execute_reply_status"] == "error"
    assert "result" not in parsed
    assert "execute_reply_status" not in parse_log(
        build_log("1", "", footer=("execute_reply_status: ",))
    )


def test_blank_line_after_server_signature_is_tolerated() -> None:
    header = header_block(server_signature=SERVER_SIGNATURE + "\n")
    parsed = parse_log(build_log("1", "", header=header))
    assert parsed["server_signature"] == SERVER_SIGNATURE
    assert parsed["uid"] == 1001


def test_other_header_and_footer_keys_come_last() -> None:
    header = header_block(extra=(("kernel name", "python3"),))
    footer = ("result: /r-0.pkl", "output size: 12 bytes", "execute_reply_status: ok")
    parsed = parse_log(build_log("1", "", header=header, footer=footer))
    assert list(parsed)[-3:] == ["path", "kernel_name", "output_size"]
    assert parsed["kernel_name"] == "python3"
    assert parsed["output_size"] == "12 bytes"


@pytest.mark.parametrize("key", sorted(RESERVED_FIELDS - {"result", "execute_reply_status"}))
def test_footer_key_that_is_a_field_name_is_rejected(key: str) -> None:
    text = build_log("1", "", footer=(f"{key}: forged", "execute_reply_status: ok"))
    with pytest.raises(LogParseError, match="reserved"):
        parse_log(text)


@pytest.mark.parametrize("key", ["user_name", "qno", "start_time", "_index", "Path", "é"])
def test_header_with_reserved_or_odd_key_is_not_a_header(key: str) -> None:
    text = build_log("1", "", header=header_block(extra=((key, "forged"),)))
    with pytest.raises(LogParseError, match="not a plain name or is a reserved field name"):
        parse_log(text)


@pytest.mark.parametrize(
    ("uid", "gid"), [("abc", 100), (1001, "-1"), ("１０", 100), ("", 100), (1001, "1.0")]
)
def test_header_with_non_integer_ids_is_not_a_header(uid: int | str, gid: int | str) -> None:
    with pytest.raises(LogParseError, match=r"its uid or gid is not a non-negative integer$"):
        parse_log(build_log("1", "", header=header_block(uid=uid, gid=gid)))


def test_header_with_repeated_key_is_not_a_header() -> None:
    header = header_block(extra=(("notebook_path", "other.ipynb"),))
    with pytest.raises(LogParseError, match="appears twice"):
        parse_log(build_log("1", "", header=header))


def test_header_with_empty_path_is_not_a_header() -> None:
    with pytest.raises(LogParseError, match=r"at line 4: its 'path:' value is empty$"):
        parse_log(build_log("1", "", header=header_block(path="")))


def test_empty_optional_header_values_are_omitted() -> None:
    parsed = parse_log(build_log("1", "", header=header_block(notebook_path="")))
    assert "notebook_path" not in parsed


# --- choosing among several complete headers ----------------------------------------------------


def older_header(minutes_before: int, *, uid: int = 0) -> str:
    moment = datetime(2024, 6, 29, 10, 0, 0) - timedelta(minutes=minutes_before)
    path = f"/home/bob/.log/{moment:%Y%m%d}/{moment:%Y%m%d-%H%M%S}-0456.log"
    return "----\n" + header_block(path=path, uid=uid, start=f"{moment:%Y-%m-%d %H:%M:%S}(UTC)")


def test_headers_printed_from_older_logs_lose() -> None:
    output = "".join(older_header(minutes) + "----\nold output" for minutes in (30, 1, 90))
    code = "!cat .log/20240629/*.log"
    parsed = parse_log(build_log(code, output))
    assert parsed["output"] == output + "\n"
    assert (parsed["path"], parsed["uid"], parsed["start_time"]) == (LOG_PATH, 1001, START_EPOCH)


def test_headers_pasted_into_code_lose() -> None:
    code = f"sample = '''\n{older_header(5)}----\n'''\n# {older_header(1)}----"
    parsed = parse_log(build_log(code, "x"))
    assert parsed["input"] == code + "\n"
    assert parsed["uid"] == 1001


def test_exact_copy_of_the_header_printed_later_loses_to_the_first() -> None:
    base = build_log("print(open(log).read())", "")
    copy = header_section(base)
    parsed = parse_log(build_log("print(open(log).read())", copy.rstrip("\n")))
    assert parsed["input"] == "print(open(log).read())\n"
    assert parsed["output"] == copy


def test_result_paths_identify_the_header() -> None:
    forged = header_block(path="/home/eve/.log/20240629/20240629-100001-0999.log", uid=0, start=END)
    result = LOG_PATH.removesuffix(".log") + "-0.pkl"
    footer = (f"result: {result}", "execute_reply_status: ok")
    parsed = parse_log(build_log("1", f"----\n{forged}----\n", footer=footer))
    assert (parsed["path"], parsed["uid"]) == (LOG_PATH, 1001)


def test_log_name_agreeing_with_start_time_beats_closeness() -> None:
    close_but_odd = header_block(path="/tmp/not-a-log-name.log", uid=0, start=END)
    code = f"s = '''\n----\n{close_but_odd}----\n'''"
    parsed = parse_log(build_log(code, ""))
    assert (parsed["path"], parsed["uid"]) == (LOG_PATH, 1001)


def test_log_name_must_sit_in_its_date_directory_and_follow_the_start() -> None:
    wrong_directory = header_block(path="/h/.log/20240628/20240629-100000-0001.log", uid=0)
    name_before_start = header_block(path="/h/.log/20240629/20240629-095959-0001.log", uid=1)
    real = header_block(path="/h/.log/20240629/20240629-100000-0002.log", uid=2, start=START)
    for fake in (wrong_directory, name_before_start):
        text = build_log(f"s = '''\n----\n{fake}----\n'''", "", header=real)
        assert parse_log(text)["uid"] == 2


def test_unknown_zone_in_a_losing_header_does_not_matter() -> None:
    fake = header_block(path="/tmp/fake.log", uid=0, start="2024-06-29 10:00:00(XYZT)")
    parsed = parse_log(build_log(f"s = '''\n----\n{fake}----\n'''", ""))
    assert parsed["uid"] == 1001


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "\n",
        "----\n",
        "hello world\n",
        '{"lc_cell_meme": {"current": "x"}}\n',
        '{"lc_cell_meme": {"current": "x"}}\n----\n',
        "----\npath: /x.log\nstart time: 2024-06-29 10:00:00(UTC)\n----\n",
        "\x00\x01\n",
        "----\n----\n----\n----\n",
        "----\nend time: 2024-06-29 10:00:01(UTC)\n0 chunks with matched keywords or errors\n"
        "----\nexecute_reply_status: ok\n",
    ],
)
def test_garbage_is_rejected(text: str) -> None:
    with pytest.raises(LogParseError):
        parse_log(text)


@pytest.mark.parametrize("value", [None, b"bytes", 42, ["----\n"]])
def test_non_text_is_rejected(value: Any) -> None:
    with pytest.raises(LogParseError, match="must be a str"):
        parse_log(value)


def test_windows_line_endings_are_rejected() -> None:
    with pytest.raises(LogParseError):
        parse_log(forward_log(1).replace("\n", "\r\n"))


def test_missing_final_newline_is_reported_as_truncation() -> None:
    with pytest.raises(LogParseError, match="truncated"):
        parse_log(forward_log(1)[:-1])


def test_garbage_after_the_end_block_names_its_line() -> None:
    text = forward_log(1) + "stray text\n"
    with pytest.raises(LogParseError, match="footer line 20 'stray text'"):
        parse_log(text)


def test_missing_end_block_names_the_last_separator_line() -> None:
    text = build_log("1", "out").replace("0 chunks with", "zero chunks with")
    with pytest.raises(LogParseError, match=r"no end block: the last '----' line \(line 17\)"):
        parse_log(text)


def test_bad_end_time_is_reported_with_its_line() -> None:
    text = build_log("1", "", end="2024-02-30 10:00:01(UTC)")
    with pytest.raises(LogParseError, match=r"end time '2024-02-30 10:00:01\(UTC\)' \(line 15\)"):
        parse_log(text)


def test_bad_start_time_is_reported() -> None:
    text = build_log("1", "", header=header_block(start="2024-06-29 25:00:00(UTC)"))
    with pytest.raises(LogParseError, match=r"1 candidate.*not 'start time: YYYY"):
        parse_log(text)


def _is_footer_line_boundary(text: str, cut: int) -> bool:
    footer_start = text.rindex("\n----\n") + 6
    return cut >= footer_start and text[cut - 1] == "\n"


@pytest.mark.parametrize("row", [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14])
def test_every_truncation_is_rejected_or_only_loses_footer_lines(row: int) -> None:
    """Rows 9 (large) and 10 are left out: row 10 prints a complete end block and footer, so
    cutting the log right after them leaves a well-formed, different log."""
    text = forward_log(row)
    whole = parse_log(text)
    for cut in range(len(text)):
        if _is_footer_line_boundary(text, cut):
            part = parse_log(text[:cut])
            for name in ("input", "output", "start_time", "end_time", "path", "uid"):
                assert part[name] == whole[name]
        else:
            with pytest.raises(LogParseError):
                parse_log(text[:cut])


# --- time zones and timestamps ------------------------------------------------------------------


def test_unknown_zone_is_named_in_the_error() -> None:
    text = build_log("1", "", header=header_block(start="2024-06-29 10:00:00(CST)"))
    with pytest.raises(LogParseError, match=r"unknown time zone abbreviation 'CST'.*line 11"):
        parse_log(text)
    with pytest.raises(LogParseError, match="'CST' in the end time"):
        parse_log(build_log("1", "", end="2024-06-29 10:00:00(CST)"))


def test_zone_mapping_decides_an_ambiguous_abbreviation() -> None:
    text = build_log(
        "1",
        "",
        header=header_block(start="2024-06-29 18:00:00(CST)"),
        end="2024-06-29 18:00:01(CST)",
    )
    zones = {**DEFAULT_ZONES, **parse_zone_mapping(["CST=+08:00"])}
    parsed = parse_log(text, zones)
    assert (parsed["start_time"], parsed["end_time"]) == (START_EPOCH, END_EPOCH)


@pytest.mark.parametrize(
    ("stamp", "offset_hours"),
    [("+0530", 5.5), ("-03", -3), ("+07", 7), ("+0545", 5.75), ("-0930", -9.5)],
)
def test_numeric_zone_abbreviations_need_no_table(stamp: str, offset_hours: float) -> None:
    text = build_log(
        "1",
        "",
        header=header_block(start=f"2024-06-29 10:00:00({stamp})"),
        end=f"2024-06-29 10:00:00({stamp})",
    )
    parsed = parse_log(text, zones={})
    assert parsed["start_time"] == START_EPOCH - int(offset_hours * 3600)


@pytest.mark.parametrize(
    "local",
    [
        "1970-01-01 00:00:00",
        "2000-02-29 23:59:59",
        "2024-02-29 12:34:56",
        "2100-03-01 00:00:00",
        "2026-11-22 22:56:13",
        "1999-12-31 23:59:59",
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "JST", "NDT", "ACST", "HST"])
def test_timestamps_convert_like_datetime(local: str, zone: str) -> None:
    naive = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    offset = timedelta(seconds=DEFAULT_ZONES[zone])
    expected = int((naive - offset).replace(tzinfo=UTC).timestamp())
    text = build_log("1", "", header=header_block(start=f"{local}({zone})"), end=f"{local}({zone})")
    parsed = parse_log(text)
    assert parsed["start_time"] == parsed["end_time"] == expected


@pytest.mark.parametrize(
    "bad",
    [
        "2024-13-01 00:00:00",
        "2023-02-29 00:00:00",
        "2024-04-31 00:00:00",
        "2024-06-29 24:00:00",
        "2024-06-29 10:60:00",
        "2024-06-29 10:00:60",
        "0000-01-01 00:00:00",
        "２０２４-06-29 10:00:00",
        "2024/06/29 10:00:00",
        "2024-06-29T10:00:00",
    ],
)
def test_impossible_end_times_are_rejected(bad: str) -> None:
    with pytest.raises(LogParseError, match="is not 'YYYY-mm-dd HH:MM:SS"):
        parse_log(build_log("1", "", end=f"{bad}(UTC)"))


def _tzdata_offsets(first_year: int, last_year: int) -> dict[str, set[int]]:
    """UTC offsets per abbreviation used by any tzdata zone, sampled twice a month."""
    offsets: dict[str, set[int]] = {}
    moments = [
        datetime(year, month, day, 12, tzinfo=UTC)
        for year in range(first_year, last_year + 1)
        for month in range(1, 13)
        for day in (1, 16)
    ]
    for name in zoneinfo.available_timezones():
        zone = zoneinfo.ZoneInfo(name)
        for moment in moments:
            local = moment.astimezone(zone)
            offset = local.utcoffset()
            abbreviation = local.tzname()
            if offset is not None and abbreviation is not None:
                offsets.setdefault(abbreviation, set()).add(int(offset.total_seconds()))
    return offsets


def test_default_zones_are_exactly_what_tzdata_means() -> None:
    offsets = _tzdata_offsets(2019, 2030)
    wrong = {
        name: (offset, offsets.get(name))
        for name, offset in DEFAULT_ZONES.items()
        if name not in ("Z", "UT") and offsets.get(name) != {offset}
    }
    assert wrong == {}
    for ambiguous in ("CST", "CDT", "IST", "PST"):
        assert len(offsets[ambiguous]) > 1
        assert ambiguous not in DEFAULT_ZONES
    assert {"UTC", "GMT", "Z", "JST", "KST"} <= DEFAULT_ZONES.keys()


def test_default_zones_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        DEFAULT_ZONES["JST"] = 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("CST=+08:00", {"CST": 8 * 3600}),
        ("IST=+0530", {"IST": 5 * 3600 + 1800}),
        ("NPT=+05:45", {"NPT": 5 * 3600 + 2700}),
        (" BRT = -03 ", {"BRT": -3 * 3600}),
        ("X=-9", {"X": -9 * 3600}),
        ("LINT=+14:00", {"LINT": 14 * 3600}),
    ],
)
def test_zone_specs_are_parsed(spec: str, expected: dict[str, int]) -> None:
    assert parse_zone_mapping([spec]) == expected


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("CST", "is not ABBR=OFFSET"),
        ("=+08:00", "no abbreviation"),
        ("C(S)T=+08:00", "cannot appear"),
        ("C T=+08:00", "cannot appear"),
        ("CST=08:00", "not a signed UTC offset"),
        ("CST=+8:00", "not a signed UTC offset"),
        ("CST=+08:60", "not a signed UTC offset"),
        ("CST=+19:00", "not a signed UTC offset"),
        ("CST=+080", "not a signed UTC offset"),
        ("CST=+٠٨", "not a signed UTC offset"),
        ("CST=", "not a signed UTC offset"),
    ],
)
def test_bad_zone_specs_are_refused_with_a_reason(spec: str, complaint: str) -> None:
    with pytest.raises(ZoneSpecError, match=complaint):
        parse_zone_mapping([spec])


def test_zone_spec_given_twice_must_agree() -> None:
    assert parse_zone_mapping(["CST=+08:00", "CST=+0800"]) == {"CST": 8 * 3600}
    with pytest.raises(ZoneSpecError, match=r"two different offsets \(\+08:00 and -06:00\)"):
        parse_zone_mapping(["CST=+08:00", "CST=-06:00"])


def test_zone_spec_error_is_a_value_error() -> None:
    assert issubclass(ZoneSpecError, ValueError)
    assert issubclass(LogParseError, ValueError)
