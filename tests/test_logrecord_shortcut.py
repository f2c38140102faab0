"""The parser's shortcut for lc_wrapper's own layout answers exactly as the general path does.

``parse_log`` tries ``_parse_standard`` first and falls back to ``_parse_general``. The shortcut
may decline any text (None), but a record it returns must equal the general path's, field for
field and in the same order, and it must decline every text the general path rejects.

Where the compiled build is in use, the C shortcut (``cwh/enrich/_logscan.c``) runs before it: a
record it returns must equal ``_parse_standard``'s, and it must take every layout the Python
shortcut takes except the few it leaves to Python on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from cwh.enrich import LogParseError, hot_path_state
from cwh.enrich.logrecord import _parse_general
from cwh.enrich.logshortcut import _DEFAULT_ZONE_TABLE, _NATIVE_SHORTCUT, _parse_standard
from tests.enrich_support import generated_lines
from tests.test_logrecord import build_log, forward_log, header_block
from tests.test_logrecord_properties import (
    PROPERTY_SETTINGS,
    log_shaped_text,
    mutated_records,
    structured_text,
)


def general(text: str) -> dict[str, Any] | None:
    try:
        return _parse_general(text, _DEFAULT_ZONE_TABLE)
    except LogParseError:
        return None


def native_shortcut(text: str) -> dict[str, Any] | None:
    return None if _NATIVE_SHORTCUT is None else _NATIVE_SHORTCUT(text, _DEFAULT_ZONE_TABLE)


def assert_shortcut_agrees(text: str) -> None:
    if not text or text[-1] != "\n":
        return  # parse_log rejects these before either path runs
    shortcut = _parse_standard(text, _DEFAULT_ZONE_TABLE)
    native = native_shortcut(text)
    if native is not None:
        assert shortcut is not None, "the C shortcut accepted a text the Python one declines"
        assert list(native.items()) == list(shortcut.items())
    if shortcut is None:
        return
    expected = general(text)
    assert expected is not None, "the shortcut accepted a text the general path rejects"
    assert list(shortcut.items()) == list(expected.items())


@pytest.mark.parametrize("row", range(1, 15))
def test_every_real_record_takes_the_shortcut(row: int) -> None:
    text = forward_log(row)
    assert _parse_standard(text, _DEFAULT_ZONE_TABLE) is not None
    assert _NATIVE_SHORTCUT is None or native_shortcut(text) is not None
    assert_shortcut_agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        build_log("x = 1", "1"),
        build_log("", ""),
        build_log("print('é')", "日本語の出力"),
        build_log("print('🙂')", "🙂\n----\n"),
        build_log("x", "", header=header_block(notebook_path="演習/第1回.ipynb")),
        build_log("x", "", meme=None),
        build_log("x", "", footer=("result: /home/u/a.pkl", "result: /home/u/b.pkl",
                                   "execute_reply_status: ok")),
        build_log("x", "", header=header_block(notebook_path=None, lc_notebook_meme=None,
                                               server_signature=None)),
        build_log("x", "", end="2024-06-29 10:00:01(JST)", chunks=12),
    ],
)  # fmt: skip
def test_common_layouts_take_the_shortcut(text: str) -> None:
    assert _parse_standard(text, _DEFAULT_ZONE_TABLE) is not None
    assert _NATIVE_SHORTCUT is None or native_shortcut(text) is not None
    assert_shortcut_agrees(text)


@PROPERTY_SETTINGS
@given(structured_text | log_shaped_text | mutated_records())
def test_generated_texts_get_the_same_answer(text: str) -> None:
    assert_shortcut_agrees(text)


def test_twenty_thousand_mutated_records_get_the_same_answer(lcwrapper_sample: Path) -> None:
    taken = taken_natively = 0
    for line in generated_lines(lcwrapper_sample, 20_000):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        text = record.get("log") if isinstance(record, dict) else None
        if isinstance(text, str) and text.endswith("\n"):
            assert_shortcut_agrees(text)
            taken += _parse_standard(text, _DEFAULT_ZONE_TABLE) is not None
            taken_natively += native_shortcut(text) is not None
    assert taken > 1_000
    if _NATIVE_SHORTCUT is not None:
        assert taken_natively == taken


@pytest.mark.skipif(_NATIVE_SHORTCUT is None, reason="the compiled build is not in use")
@pytest.mark.parametrize(
    ("text", "zones"),
    [
        (build_log("x", "", header=header_block(start="2024-06-29 10:00:00(+0900)")),
         _DEFAULT_ZONE_TABLE),
        (build_log("x", ""), {"UTC": True}),
        (build_log("x", ""), {"UTC": 2**70}),
        (build_log("x", "", header=header_block(uid="1" * 30)), _DEFAULT_ZONE_TABLE),
    ],
)  # fmt: skip
def test_the_c_shortcut_leaves_unusual_values_to_python(text: str, zones: dict[str, int]) -> None:
    """A numeric zone, a table value that is not a plain int, a uid too long for C: the C
    shortcut declines and the Python shortcut answers."""
    assert _NATIVE_SHORTCUT is not None
    assert _NATIVE_SHORTCUT(text, zones) is None
    assert _parse_standard(text, zones) is not None


@pytest.mark.skipif(_NATIVE_SHORTCUT is None, reason="the compiled build is not in use")
def test_the_c_shortcut_declines_what_is_not_a_str_and_a_dict() -> None:
    assert _NATIVE_SHORTCUT is not None
    text = build_log("x", "")
    assert _NATIVE_SHORTCUT(text, dict(_DEFAULT_ZONE_TABLE)) is not None
    assert _NATIVE_SHORTCUT(text.encode(), _DEFAULT_ZONE_TABLE) is None  # type: ignore[arg-type]
    assert _NATIVE_SHORTCUT(text, list(_DEFAULT_ZONE_TABLE.items())) is None  # type: ignore[arg-type]
    assert _NATIVE_SHORTCUT("", _DEFAULT_ZONE_TABLE) is None


def test_the_c_shortcut_runs_wherever_the_build_does() -> None:
    assert (_NATIVE_SHORTCUT is not None) == hot_path_state().compiled
