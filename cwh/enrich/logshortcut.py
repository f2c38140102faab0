"""The parser's shortcut for a log in exactly the layout lc_wrapper writes.

The live enrichment filter calls ``parse_log`` for every record, so a log with one header
candidate and the standard header and footer lines is first tried here: two ``rfind`` calls
locate the end block, two ``find`` calls the header, and three anchored patterns check the MEME
line, the header and the end block with the footer. Each pattern accepts only lines the general
parser (:mod:`cwh.enrich.logrecord`) accepts and reads the same values from them, so the
shortcut returns what the general path would; any other text (another layout, several
candidates, an invalid log) is declined and goes through the general path, which also words the
error messages. Nothing is quadratic: the patterns have no nested repetition and are never run
over the code or the output.

Where ``cwh compile`` has built it, the same shortcut written in C (``cwh/enrich/_logscan.c``) runs
first; it returns what ``_parse_standard`` returns or declines, and then the Python shortcut
and the general path run as they would without it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from cwh.enrich.logtime import DEFAULT_ZONES, TIMESTAMP_PATTERN, minute_seconds, zone_offset

# Where a header candidate starts: a "----" line and a "path:" line (the general parser looks
# for the same opening).
HEADER_OPENING: Final = "\n----\npath: "

# The standard layout, line by line, for the shortcut (module docstring). ``[^\n]`` keeps every
# match inside its lines and ``[0-9]`` is ASCII only, like ``_is_number``.
# The MEME itself: printable ASCII without '"' and '\\', which json.dumps writes as is (the
# general path also accepts other printable characters and escapes).
_STANDARD_MEME_LINE: Final = re.compile(
    r'\{"lc_cell_meme": \{"current": "([\x20\x21\x23-\x5b\x5d-\x7e]*)"\}\}\n----\n'
)
_STANDARD_HEADER: Final = re.compile(
    r"path: ([^\n]+)\n"
    r"(?:notebook_path: ([^\n]*)\n)?"
    r"(?:lc_notebook_meme: ([^\n]*)\n)?"
    r"(?:server_signature: ([^\n]*)\n)?"
    r"uid: ([0-9]+)\ngid: ([0-9]+)\n"
    r"start time: " + TIMESTAMP_PATTERN + r"\n----\n"
)
_STANDARD_TAIL: Final = re.compile(
    r"\n----\nend time: " + TIMESTAMP_PATTERN + r"\n"
    r"[0-9]+ chunks with matched keywords or errors\n----\n"
    r"((?:result: [^\n]+\n)*)execute_reply_status: ([^\n]+)\n"
)
_RESULT_PREFIX: Final = "result: "
_CANDIDATE_AT_START: Final = HEADER_OPENING[1:]
# "00".."59" -> int (the patterns admit nothing else).
_SECONDS: Final[dict[str, int]] = {f"{n:02d}": n for n in range(60)}
# Characters a first line must start with to be worth decoding as a MEME line (``_split_meme``).
MEME_LINE_START: Final = "{ \t\r\n"
# ``DEFAULT_ZONES`` as a plain dict: a read-only proxy answers ``get`` noticeably slower.
_DEFAULT_ZONE_TABLE: Final[dict[str, int]] = dict(DEFAULT_ZONES)

NativeShortcut = Callable[[str, dict[str, int]], "dict[str, Any] | None"]


def _load_native_shortcut() -> NativeShortcut | None:
    """The C shortcut of the compiled build; None where it is not built or not in use."""
    try:
        module = importlib.import_module("cwh.enrich._logscan")
    except ImportError:
        return None
    return cast(NativeShortcut, module.parse_standard)


_NATIVE_SHORTCUT: Final = _load_native_shortcut()


def _parse_standard(text: str, zones: Mapping[str, int]) -> dict[str, Any] | None:
    """The record of a log in exactly lc_wrapper's layout; None for any other text.

    The shortcut of the module docstring: it returns only what the general path would return
    for the same text, field for field and in the same order, and leaves everything else --
    including every error -- to it.
    """
    meme_line = _STANDARD_MEME_LINE.match(text)
    if meme_line is not None:
        meme: str | None = meme_line[1]
        body_start = meme_line.end()
    elif text[0] in MEME_LINE_START:
        return None
    else:
        meme = None
        body_start = 0

    closing_newline = text.rfind("\n----\n", body_start)
    opening_newline = text.rfind("\n----\n", body_start, closing_newline)
    if opening_newline < 0:
        return None
    tail = _STANDARD_TAIL.fullmatch(text, opening_newline)
    if tail is None:
        return None
    end_minute, end_second, end_zone, results_text, status = tail.groups()
    end_time = _epoch_seconds(end_minute, end_second, end_zone, zones)
    if end_time is None:
        return None

    limit = opening_newline + 1
    if body_start or not text.startswith(_CANDIDATE_AT_START):
        # Searching from the newline that ends the MEME line also finds a candidate right at
        # the start of the code (empty code).
        found = text.find(HEADER_OPENING, body_start - 1 if body_start else 0, limit)
        if found < 0:
            return None
        separator = found + 1
    else:
        separator = 0
    if text.find(HEADER_OPENING, separator + 5, limit) >= 0:
        return None  # several candidates: they need ranking
    header = _STANDARD_HEADER.match(text, separator + 5, limit)
    if header is None:
        return None
    (
        path,
        notebook_path,
        notebook_meme,
        signature,
        uid,
        gid,
        start_minute,
        start_second,
        start_zone,
    ) = header.groups()
    start_time = _epoch_seconds(start_minute, start_second, start_zone, zones)
    if start_time is None:
        return None

    record: dict[str, Any] = {}
    if meme is not None:
        record["lc_cell_meme"] = meme
    record["start_time"] = start_time
    record["end_time"] = end_time
    record["execute_reply_status"] = status
    record["input"] = text[body_start:separator]
    record["output"] = text[header.end() : limit]
    if results_text:
        results = results_text[len(_RESULT_PREFIX) : -1].split("\n" + _RESULT_PREFIX)
        record["result"] = results[-1]
        record["results"] = results
    try:
        record["uid"] = int(uid)
        record["gid"] = int(gid)
    except ValueError:
        return None  # more digits than int() converts: the general path rejects it
    if notebook_meme:
        record["lc_notebook_meme"] = notebook_meme
    if notebook_path:
        record["notebook_path"] = notebook_path
    if signature:
        record["server_signature"] = signature
    record["path"] = path
    return record


def _epoch_seconds(minute: str, second: str, zone: str, zones: Mapping[str, int]) -> int | None:
    """Epoch seconds of a timestamp the patterns matched; None when its zone is unknown or its
    minute is not a valid date and time (the general path then words the error)."""
    offset = zones.get(zone)
    if offset is None:
        offset = zone_offset(zone, zones)
    local = minute_seconds(minute)
    if offset is None or local is None:
        return None
    return local + _SECONDS[second] - offset
