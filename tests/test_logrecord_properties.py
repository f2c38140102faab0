"""Property tests of the lc_wrapper log parser: it never fails with anything but LogParseError,
and logs assembled from known parts parse back to those parts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cwh.enrich import (
    DEFAULT_ZONES,
    LogParseError,
    parse_log,
    parse_offset,
    parse_zone_mapping,
    split_timestamp,
)
from tests.test_logrecord import FIELD_ORDER, build_log, forward_log, header_section

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Pieces of real logs, so that generated text often gets deep into the parser.
FRAGMENTS = (
    "----\n",
    "----",
    "\n",
    "path: /home/u/.log/20240629/20240629-100000-0001.log\n",
    "path: \n",
    "notebook_path: a.ipynb\n",
    "uid: 1001\n",
    "uid: x\n",
    "gid: 100\n",
    "start time: 2024-06-29 10:00:00(UTC)\n",
    "start time: 2024-06-29 10:00:00(XYZ)\n",
    "end time: 2024-06-29 10:00:01(UTC)\n",
    "end time: 2024-02-30 10:00:01(JST)\n",
    "0 chunks with matched keywords or errors\n",
    "execute_reply_status: ok\n",
    "result: /home/u/.log/20240629/20240629-100000-0001-0.pkl\n",
    "user_name: forged\n",
    '{"lc_cell_meme": {"current": "m"}}\n',
    '{"lc_cell_meme": {"current": "a\\"b"}}\n',
    "{\n",
    ": ",
    "x",
    "\r",
    "é",
    "\x00",
    # Whole blocks. The header's path is not an lc_wrapper log name, so in the round trip below
    # a generated header always agrees with its log name and this one never does.
    "----\npath: /tmp/forged.log\nuid: 0\ngid: 0\nstart time: 2024-06-29 10:00:00(UTC)\n----\n",
    "----\nend time: 2024-06-29 10:00:01(UTC)\n0 chunks with matched keywords or errors\n----\n",
)
structured_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=40).map(
    "".join
)
# Random code and output around header and end blocks (valid or slightly broken) and a footer.
log_shaped_text = st.tuples(
    st.sampled_from(["", '{"lc_cell_meme": {"current": "m"}}\n----\n', "{}\n----\n"]),
    structured_text,
    st.sampled_from(
        [
            "\n----\npath: /p.log\nuid: 1\ngid: 2\nstart time: 2024-06-29 10:00:00(UTC)\n----\n",
            "\n----\npath: /p.log\n\nstart time: 2024-06-29 10:00:00(JST)\n----\n",
            "\n----\npath: /p.log\nstart time: 2024-06-29 10:00:00(+0530)\n----\n",
            "\n----\npath: /p.log\nuid: -1\nstart time: 2024-06-29 10:00:00(UTC)\n----\n",
            "\n----\npath: /p.log\nstart time: 2024-06-29 10:00:00(QQQ)\n----\n",
        ]
    ),
    structured_text,
    st.sampled_from(
        [
            "\n----\nend time: 2024-06-29 10:00:01(UTC)\n3 chunks with matched keywords or errors"
            "\n----\n",
            "\n----\nend time: 2024-06-29 10:00:01(UTC)\nchunks with matched keywords or errors"
            "\n----\n",
        ]
    ),
    st.lists(
        st.sampled_from(
            ["result: /p-0.pkl", "execute_reply_status: ok", "note: x", "qno: 1", "odd", ""]
        ),
        max_size=4,
    ),
).map(lambda parts: "".join(parts[:5]) + "".join(line + "\n" for line in parts[5]))
ZONE_NAMES = sorted(DEFAULT_ZONES)


def check_record(text: str, record: dict[str, Any]) -> None:
    """What every successful parse guarantees, whatever the text."""
    standard = [key for key in record if key in FIELD_ORDER]
    assert standard == [key for key in FIELD_ORDER if key in record]
    assert list(record)[: len(standard)] == standard
    assert all(value is not None for value in record.values())
    assert isinstance(record["start_time"], int)
    assert isinstance(record["end_time"], int)
    for key in ("uid", "gid"):
        assert key not in record or (isinstance(record[key], int) and record[key] >= 0)
    assert record["input"] in text
    assert record["input"] == "" or record["input"].endswith("\n")
    assert record["output"].endswith("\n")
    assert record["output"] in text
    assert record["path"]
    if "results" in record:
        assert record["result"] == record["results"][-1]


def parse_or_reject(text: str) -> None:
    try:
        record = parse_log(text)
    except LogParseError as error:
        assert str(error)
    else:
        check_record(text, record)


@PROPERTY_SETTINGS
@given(st.text())
def test_arbitrary_text_is_parsed_or_rejected(text: str) -> None:
    parse_or_reject(text)


@PROPERTY_SETTINGS
@given(structured_text | log_shaped_text)
def test_log_like_text_is_parsed_or_rejected(text: str) -> None:
    parse_or_reject(text)


@st.composite
def mutated_records(draw: st.DrawFn) -> str:
    text = forward_log(draw(st.sampled_from([1, 3, 7, 10, 11, 13])))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "truncate", "duplicate"]))
        if action == "insert":
            piece = draw(st.sampled_from(FRAGMENTS) | structured_text)
            text = text[:position] + piece + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 40)) :]
        elif action == "truncate":
            text = text[:position]
        else:
            end = min(len(text), position + draw(st.integers(1, 200)))
            text = text[:end] + text[position:end] + text[end:]
    return text


@PROPERTY_SETTINGS
@given(mutated_records())
def test_mutated_real_records_are_parsed_or_rejected(text: str) -> None:
    parse_or_reject(text)


def strict_json(text: str) -> Any:
    """The standard library's reading of JSON text, refusing NaN and Infinity as JSON does."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


def reference_meme(text: str) -> str | None:
    """``lc_cell_meme.current`` of the text before the first ``----`` line, read with ``json``."""
    if text.startswith("----\n") or "\n----\n" not in text:
        return None
    try:
        head = strict_json(text[: text.index("\n----\n")])
    except ValueError:
        return None
    meme = head.get("lc_cell_meme") if isinstance(head, dict) else None
    current = meme.get("current") if isinstance(meme, dict) else None
    return current if isinstance(current, str) else None


meme_heads = st.one_of(
    st.text(max_size=20).map(lambda value: json.dumps({"lc_cell_meme": {"current": value}})),
    st.text(max_size=20).map(
        lambda value: json.dumps({"lc_cell_meme": {"current": value}}, ensure_ascii=False)
    ),
    st.text(max_size=20).map(lambda raw: '{"lc_cell_meme": {"current": "' + raw + '"}}'),
    st.sampled_from(FRAGMENTS).map(str.rstrip),
    st.text(max_size=40),
    # Near misses: the start of a real MEME line and pieces that may or may not complete it.
    st.lists(
        st.sampled_from(['"}}', "}}", "}", '"', "\\", "\\u00e9", "\\ud800", "x", " ", "\t"]),
        max_size=5,
    ).map(lambda pieces: '{"lc_cell_meme": {"current": "' + "".join(pieces)),
)


@PROPERTY_SETTINGS
@given(meme_heads)
@example('{"lc_cell_meme": {"current": "}}')
def test_meme_line_is_read_like_a_json_decoder_reads_it(head: str) -> None:
    text = head + "\n----\n" + build_log("1", "", meme=None)
    expected = reference_meme(text)
    # A lone surrogate decodes in Python's json but is not valid Unicode text; refusing it (no
    # MEME) is also correct.
    assume(
        expected is None
        or expected.encode("utf-8", "surrogatepass").decode("utf-8", "replace") == expected
    )
    parsed = parse_log(text)
    assert parsed.get("lc_cell_meme") == expected
    if expected is None:
        assert parsed["input"].endswith("1\n")
    else:
        assert parsed["input"] == "1\n"


def line_starts(text: str, start: int, end: int) -> list[int]:
    """Indices in [start, end) where a line begins."""
    return [start] + [i + 1 for i in range(start, end - 1) if text[i] == "\n"]


@PROPERTY_SETTINGS
@given(st.data())
def test_older_headers_pasted_into_code_or_printed_do_not_change_the_fields(
    data: st.DataObject,
) -> None:
    row = data.draw(st.integers(2, 14), label="row")
    older = data.draw(st.integers(1, row - 1), label="older row")
    original_text = forward_log(row)
    original = parse_log(original_text)
    real_header = header_section(original_text)
    forged = header_section(forward_log(older))
    changed = data.draw(st.sampled_from(["input", "output"]), label="into")
    if changed == "input":
        start = original_text.index("\n----\n") + 6
    else:
        start = original_text.index(real_header) + len(real_header)
    assert original_text.startswith(original[changed], start)
    at = data.draw(
        st.sampled_from(line_starts(original_text, start, start + len(original[changed])))
    )
    parsed = parse_log(original_text[:at] + forged + original_text[at:])
    expected = dict(original)
    expected[changed] = original[changed][: at - start] + forged + original[changed][at - start :]
    assert parsed == expected


# --- round trip ---------------------------------------------------------------------------------

local_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31))
header_text = st.text(st.characters(blacklist_characters="\n"), max_size=30)
# Distinct after spaces become "_": two keys that collide make the header invalid.
extra_keys = st.sampled_from(["kernel name", "host", "python version", "x1"])


@st.composite
def log_parts(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(ZONE_NAMES))
    start = draw(local_times).replace(microsecond=0)
    end = start + timedelta(seconds=draw(st.integers(0, 10**6)))
    named = start + timedelta(seconds=draw(st.integers(0, 60)))
    path = (
        f"/home/{draw(st.sampled_from(['alexx1', 'bob']))}/c/.log/{named:%Y%m%d}/"
        f"{named:%Y%m%d-%H%M%S}-{draw(st.integers(0, 9999)):04d}.log"
    )
    meme = draw(st.none() | st.text(max_size=40))
    code = draw(structured_text | st.text())
    if meme is None:
        assume(not code.lstrip(" \t\r\n").startswith("{"))
    return {
        "zone": zone,
        "start": start,
        "end": end,
        "path": path,
        "meme": meme,
        "code": code,
        "output": draw(structured_text | st.text()),
        "notebook_path": draw(st.none() | header_text),
        "lc_notebook_meme": draw(st.none() | header_text),
        "server_signature": draw(st.none() | header_text),
        "uid": draw(st.none() | st.integers(0, 2**32)),
        "gid": draw(st.none() | st.integers(0, 2**32)),
        "header_extra": draw(st.dictionaries(extra_keys, header_text.filter(bool), max_size=2)),
        "results": draw(st.integers(0, 3)),
        "status": draw(st.none() | header_text.filter(bool)),
        "footer_extra": draw(st.dictionaries(extra_keys, header_text.filter(bool), max_size=2)),
        "chunks": draw(st.integers(0, 10**6)),
    }


def epoch(local: datetime, zone: str) -> int:
    return int((local - timedelta(seconds=DEFAULT_ZONES[zone])).replace(tzinfo=UTC).timestamp())


def stamp(local: datetime, zone: str) -> str:
    return f"{local:%Y-%m-%d %H:%M:%S}({zone})"


@PROPERTY_SETTINGS
@given(log_parts())
def test_log_built_from_parts_parses_back_to_them(parts: dict[str, Any]) -> None:
    header_extra = {key.replace(" ", "_"): value for key, value in parts["header_extra"].items()}
    footer_extra = {key.replace(" ", "_"): value for key, value in parts["footer_extra"].items()}
    header_lines = [f"path: {parts['path']}"]
    for key in ("notebook_path", "lc_notebook_meme", "server_signature"):
        if parts[key] is not None:
            header_lines.append(f"{key}: {parts[key]}")
    header_lines.extend(f"{key}: {value}" for key, value in parts["header_extra"].items())
    for key in ("uid", "gid"):
        if parts[key] is not None:
            header_lines.append(f"{key}: {parts[key]}")
    header_lines.append(f"start time: {stamp(parts['start'], parts['zone'])}")
    results = [parts["path"][:-4] + f"-{n}.pkl" for n in range(parts["results"])]
    footer = [f"result: {result}" for result in results]
    footer.extend(f"{key}: {value}" for key, value in parts["footer_extra"].items())
    if parts["status"] is not None:
        footer.append(f"execute_reply_status: {parts['status']}")
    text = build_log(
        parts["code"],
        parts["output"],
        meme=parts["meme"],
        header="".join(line + "\n" for line in header_lines),
        end=stamp(parts["end"], parts["zone"]),
        chunks=parts["chunks"],
        footer=footer,
    )

    expected: dict[str, Any] = {}
    if parts["meme"] is not None:
        expected["lc_cell_meme"] = parts["meme"]
    expected["start_time"] = epoch(parts["start"], parts["zone"])
    expected["end_time"] = epoch(parts["end"], parts["zone"])
    if parts["status"] is not None:
        expected["execute_reply_status"] = parts["status"]
    expected["input"] = parts["code"] + "\n"
    expected["output"] = parts["output"] + "\n"
    if results:
        expected["result"] = results[-1]
        expected["results"] = results
    for key in ("uid", "gid", "lc_notebook_meme", "notebook_path", "server_signature"):
        if parts[key] is not None and parts[key] != "":
            expected[key] = parts[key]
    expected["path"] = parts["path"]
    expected.update(header_extra)
    expected.update(footer_extra)

    parsed = parse_log(text)
    assert parsed == expected
    assert list(parsed) == list(expected)


# --- time pieces ----------------------------------------------------------------------------------


STRICT_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})\((.+)\)", re.DOTALL
)


def reference_split(value: str) -> tuple[int, str] | None:
    """An independent reading of ``YYYY-mm-dd HH:MM:SS(ZONE)`` using re and datetime."""
    match = STRICT_TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(group) for group in match.groups()[:6])
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return int((moment - datetime(1970, 1, 1)).total_seconds()), match.group(7)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Valid timestamps, some with one character replaced."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    zone = draw(st.sampled_from(ZONE_NAMES) | st.text(min_size=1, max_size=6))
    value = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}({zone})"
    )
    if draw(st.booleans()):
        at = draw(st.integers(0, len(value) - 1))
        value = value[:at] + draw(st.sampled_from("09-: ()Z٣x\n")) + value[at + 1 :]
    return value


@PROPERTY_SETTINGS
@given(timestamps() | st.text(max_size=30))
def test_timestamps_split_like_re_and_datetime(value: str) -> None:
    assert split_timestamp(value) == reference_split(value)


@PROPERTY_SETTINGS
@given(
    st.integers(-18 * 60, 18 * 60),
    st.sampled_from(["{sign}{h:02d}:{m:02d}", "{sign}{h:02d}{m:02d}"]),
)
def test_zone_specs_round_trip(minutes: int, layout: str) -> None:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    spec = "ABC=" + layout.format(sign=sign, h=hours, m=rest)
    assert parse_zone_mapping([spec]) == {"ABC": minutes * 60}
    assert parse_offset(spec[4:]) == minutes * 60


@PROPERTY_SETTINGS
@given(st.text(max_size=12))
def test_zone_offsets_are_parsed_or_refused(text: str) -> None:
    offset = parse_offset(text)
    assert offset is None or abs(offset) <= 18 * 3600
