"""Parse one Jupyter-LC_wrapper execution log (the text of a ``.log`` file) into its fields.

lc_wrapper writes, for every cell execution::

    {"lc_cell_meme": {"current": "<cell MEME>"}}     (absent for console executions)
    ----
    <code>
    ----
    path: <this log file>
    notebook_path: ...  lc_notebook_meme: ...  server_signature: ...   (each only when known)
    uid: <int>
    gid: <int>
    start time: YYYY-mm-dd HH:MM:SS(ZONE)
    ----
    <stream output>
    (newline)
    ----
    end time: YYYY-mm-dd HH:MM:SS(ZONE)
    <N> chunks with matched keywords or errors
    ----
    result: <pkl path>            (zero or more)
    execute_reply_status: <status>

The code and the output are arbitrary student text and may contain ``----`` lines, fake end
blocks and fake headers. The parser therefore anchors on what students cannot write:

* **End block, from the end.** The footer lines come from lc_wrapper and never contain a
  ``----`` line, so the *last* ``----`` line of the text closes the end block; the two lines above
  it must be ``end time:`` and ``N chunks ...`` and the line above those a ``----`` line.
  Everything after it must be ``key: value`` lines, and the text must end with a newline, which
  rejects most truncated logs instead of misreading them.
* **Header, by validated candidates.** Every ``----`` line followed by a ``path:`` line between
  the start of the code and the end block starts a candidate. A candidate ends at the first
  ``----`` line after its ``path:`` line, so candidates never overlap and checking all of them
  stays linear. It is valid when its last line is a well-formed ``start time:``, the other lines
  are ``key: value`` with no key repeated (blank lines are tolerated: ``server_signature`` is
  copied verbatim from a file that may end with a newline), ``uid``/``gid`` are integers, and at
  least the output's newline separates it from the end block.
* **Choosing among valid candidates**, by these criteria in order:

  1. its ``path`` is the stem of every ``result:`` path in the footer (lc_wrapper names result
     pickles ``<log stem>-<n>.pkl``; the footer is not student-writable). Neutral without results;
  2. its ``path`` is an lc_wrapper log name ``.../YYYYMMDD/YYYYMMDD-HHMMSS-mmmm.log`` whose local
     time lies 0..60 s after its own ``start time`` (lc_wrapper takes the start time, then names
     the file with the same local clock);
  3. its start time is closest to the end block's ``end time`` (a header copied from an older log
     into the code, or printed by ``cat`` of an older log, is older than the real one);
  4. it comes first (the real header is written before anything the cell prints, so an exact
     copy printed by the cell comes later).

  Headers pasted into the code or printed from older logs lose on criterion 3. A cell that
  deliberately prints a forged header stamped with the current time can still win it; the text
  alone cannot tell such a forgery from the real header, which is why the uid a record claims
  is checked against file ownership downstream.

A first section that is not a JSON object holding ``lc_cell_meme.current`` as a string means "no
MEME line": the whole text is then parsed as a log without MEME, so a broken MEME line ends
up at the start of ``input``.

Logs in exactly lc_wrapper's layout take a shortcut (:mod:`cwh.enrich.logshortcut`, and its C
version where built) that returns what the general path below would, or declines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson

from cwh.enrich.logshortcut import (
    _DEFAULT_ZONE_TABLE,
    _NATIVE_SHORTCUT,
    HEADER_OPENING,
    MEME_LINE_START,
    _parse_standard,
)
from cwh.enrich.logtime import (
    DEFAULT_ZONES,
    ZoneSpecError,
    local_seconds,
    parse_zone_mapping,
    split_timestamp,
    zone_offset,
)

__all__ = [
    "DEFAULT_ZONES",
    "RESERVED_FIELDS",
    "LogParseError",
    "ZoneSpecError",
    "parse_log",
    "parse_zone_mapping",
]


class LogParseError(ValueError):
    """The text is not an lc_wrapper log; the message says what is wrong and where (line)."""


#: Names a header or footer line may not introduce as an "other" key: the parser's own fields
#: and the fields enrichment adds later (``cwh.enrich``), so that a forged line cannot pre-fill
#: them.
RESERVED_FIELDS: Final[frozenset[str]] = frozenset(
    {
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
        "user_name",
        "local_name",
        "lc_cell_meme_uuid",
        "qno",
        "qlabel",
        "textbook_path",
        "course_server",
        "result_json",
        "result_text",
        "result_error",
        "error_pattern",
        "suspect",
        "suspect_reason",
        "doc_id",
        "target_index",
    }
)
_EXTRA_KEY_FIRST: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_EXTRA_KEY_REST: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

_SEPARATOR_LINE: Final = "----\n"
_END_TIME_PREFIX: Final = "end time: "
_START_TIME_PREFIX: Final = "start time: "
_STATUS_PREFIX: Final = "execute_reply_status: "
_CHUNKS_SUFFIX: Final = " chunks with matched keywords or errors"
_MEME_PREFIX: Final = '{"lc_cell_meme": {"current": "'
_MEME_SUFFIX: Final = '"}}'
_TEXT_HEADER_KEYS: Final = ("lc_notebook_meme", "notebook_path", "server_signature")
_KNOWN_HEADER_KEYS: Final = frozenset(
    {"path", "notebook_path", "lc_notebook_meme", "server_signature", "uid", "gid"}
)
# The real header has at most seven lines; the bound leaves room for keys a later lc_wrapper may
# add while capping the work one fake candidate can cause.
_MAX_HEADER_LINES: Final = 32
# lc_wrapper names the log file right after taking the start time; the slack covers a slow
# configuration request to the wrapped kernel in between.
_NAME_AFTER_START_LIMIT: Final = 60
_LOG_NAME_LENGTH: Final = len("YYYYMMDD-HHMMSS-mmmm.log")
_UNKNOWN_DISTANCE: Final = 1 << 62
_EXCERPT_LENGTH: Final = 60


class _Span(NamedTuple):
    """A located header candidate: where it is and what ranking it needs."""

    separator: int  # its "----" line
    closing_newline: int  # the newline before its closing "----" line
    stamp_start: int  # its "start time:" line
    path: str
    start_local: int  # start time in seconds, local to its zone (see split_timestamp)
    zone: str


# Why a candidate is not a header: (its position, a message, a detail for the message's "{}" or
# None). Kept unformatted because only one of possibly thousands is ever reported.
_Rejection = tuple[int, str, str | None]


class _Header(NamedTuple):
    """A valid header candidate; positions are indices into the log text."""

    separator_start: int  # its "----" line: the input ends here
    output_start: int  # just after its closing "----" line
    start_local: int  # start time in seconds, local to its zone (see split_timestamp)
    zone: str
    values: dict[str, str]  # known keys as written
    uid: int | None
    gid: int | None
    extras: list[tuple[str, str]]  # other keys, spaces replaced by "_"


def parse_log(text: object, zones: Mapping[str, int] = DEFAULT_ZONES) -> dict[str, Any]:
    """Parse the text of one lc_wrapper ``.log`` file (a fluentd record's ``log`` field).

    Returns the fields in this order, each only when it can be determined (never ``None``):
    ``lc_cell_meme, start_time, end_time, execute_reply_status, input, output, result, results,
    uid, gid, lc_notebook_meme, notebook_path, server_signature, path``, then any other header
    and footer keys (spaces replaced by ``_``). Times are integer epoch seconds; ``zones`` maps
    zone abbreviations to UTC offsets in seconds (numeric abbreviations such as ``+0530`` need
    no entry). ``result`` is the last ``result:`` path, ``results`` all of them in order.
    ``input`` and ``output`` keep lc_wrapper's trailing newline (the code plus ``\\n``, the
    stream text plus ``\\n``).

    Raises ``LogParseError`` -- and nothing else, whatever the text -- when the text is not a
    complete lc_wrapper log or uses a zone abbreviation missing from ``zones``.
    """
    if not isinstance(text, str):
        raise LogParseError(f"log text must be a str, not {type(text).__name__}")
    if not text:
        raise LogParseError("empty log text")
    if text[-1] != "\n":
        raise LogParseError(
            f"log text does not end with a newline (line {_line_of(text, len(text))} is cut "
            "short): truncated log"
        )
    if zones is DEFAULT_ZONES:
        zones = _DEFAULT_ZONE_TABLE
    if _NATIVE_SHORTCUT is not None and type(zones) is dict:
        native = _NATIVE_SHORTCUT(text, zones)
        if native is not None:
            return native
    standard = _parse_standard(text, zones)
    if standard is not None:
        return standard
    return _parse_general(text, zones)


def _parse_general(text: str, zones: Mapping[str, int]) -> dict[str, Any]:
    """``parse_log`` for any non-empty text ending in a newline: every layout, every error."""
    meme, body_start = _split_meme(text)
    end_block_start, footer_start, end_time = _locate_end_block(text, body_start, zones)
    status, results, footer_extras = _parse_footer(text, footer_start)
    (separator_start, output_start, start_local, zone, values, uid, gid, header_extras) = (
        _choose_header(text, body_start, end_block_start, end_time, results, zones)
    )
    offset = zones.get(zone)
    if offset is None:
        offset = zone_offset(zone, zones)
        if offset is None:
            raise _unknown_zone(text, output_start - 6, "start time", zone)

    record: dict[str, Any] = {}
    if meme is not None:
        record["lc_cell_meme"] = meme
    record["start_time"] = start_local - offset
    record["end_time"] = end_time
    if status:
        record["execute_reply_status"] = status
    record["input"] = text[body_start:separator_start]
    record["output"] = text[output_start:end_block_start]
    if results:
        record["result"] = results[-1]
        record["results"] = results
    if uid is not None:
        record["uid"] = uid
    if gid is not None:
        record["gid"] = gid
    for key in _TEXT_HEADER_KEYS:
        value = values.get(key)
        if value:
            record[key] = value
    record["path"] = values["path"]
    for key, value in header_extras:
        record[key] = value
    for key, value in footer_extras:
        record[key] = value
    return record


def _split_meme(text: str) -> tuple[str | None, int]:
    """Return (cell MEME, index where the code starts); (None, 0) when there is no MEME line."""
    if text.startswith(_SEPARATOR_LINE):
        return None, 0
    newline = text.find("\n----\n")
    if newline < 0 or text[0] not in MEME_LINE_START:
        return None, 0
    # lc_wrapper writes the line with json.dumps: take that exact shape without a JSON decoder
    # when the value needs no unescaping; anything else goes through the decoder.
    if (
        newline >= len(_MEME_PREFIX) + len(_MEME_SUFFIX)
        and text.startswith(_MEME_PREFIX)
        and text.endswith(_MEME_SUFFIX, 0, newline)
    ):
        current = text[len(_MEME_PREFIX) : newline - len(_MEME_SUFFIX)]
        if '"' not in current and "\\" not in current and current.isprintable():
            return current, newline + 6
    try:
        head = orjson.loads(text[:newline])
    except orjson.JSONDecodeError:
        return None, 0
    if isinstance(head, dict):
        meme = head.get("lc_cell_meme")
        if isinstance(meme, dict):
            decoded = meme.get("current")
            if isinstance(decoded, str):
                return decoded, newline + 6
    return None, 0


def _locate_end_block(text: str, body_start: int, zones: Mapping[str, int]) -> tuple[int, int, int]:
    """Return (start of the end block, start of the footer, end time as epoch seconds)."""
    closing_newline = text.rfind("\n----\n", body_start)
    if closing_newline < 0:
        raise LogParseError(
            "no '----' separator line after the code: not an lc_wrapper log, or truncated"
        )
    chunks_newline = text.rfind("\n", body_start, closing_newline)
    end_newline = text.rfind("\n", body_start, chunks_newline) if chunks_newline >= 0 else -1
    opening = end_newline - 4
    if (
        opening - 1 < body_start
        or text[opening - 1 : end_newline] != "\n----"
        or not text.startswith(_END_TIME_PREFIX, end_newline + 1, chunks_newline)
        or not text.endswith(_CHUNKS_SUFFIX, chunks_newline, closing_newline)
        or not _is_number(text[chunks_newline + 1 : closing_newline - len(_CHUNKS_SUFFIX)])
    ):
        raise LogParseError(
            f"no end block: the last '----' line (line {_line_of(text, closing_newline + 1)}) "
            "must follow a '----' line, an 'end time: ...' line and a '<N> chunks with matched "
            "keywords or errors' line; the log is truncated or not an lc_wrapper log"
        )
    stamp_text = text[end_newline + 1 + len(_END_TIME_PREFIX) : chunks_newline]
    stamp = split_timestamp(stamp_text)
    if stamp is None:
        raise LogParseError(
            f"end time {_excerpt(stamp_text)} (line {_line_of(text, end_newline + 1)}) is not "
            "'YYYY-mm-dd HH:MM:SS(ZONE)'"
        )
    offset = zones.get(stamp[1])
    if offset is None:
        offset = zone_offset(stamp[1], zones)
        if offset is None:
            raise _unknown_zone(text, end_newline + 1, "end time", stamp[1])
    return opening, closing_newline + 6, stamp[0] - offset


def _is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` alone also accepts other scripts' digits)."""
    return text.isdigit() and text.isascii()


def _parse_footer(text: str, start: int) -> tuple[str, list[str], list[tuple[str, str]]]:
    """Return (status or "", result paths, other keys) from the ``key: value`` footer lines.

    A key/value reading: a later status line wins, lines with an empty value are skipped.
    """
    results: list[str] = []
    if text.startswith(_STATUS_PREFIX, start) and text.find("\n", start) == len(text) - 1:
        return text[start + len(_STATUS_PREFIX) : -1], results, []
    status = ""
    extras: dict[str, str] = {}
    if start < len(text):
        for index, line in enumerate(text[start:-1].split("\n")):
            key, separator, value = line.partition(": ")
            if not separator:
                raise LogParseError(
                    f"footer line {_line_of(text, start) + index} {_excerpt(line)} is not "
                    "'key: value': the log is truncated or not an lc_wrapper log"
                )
            if not value:
                continue
            if key == "result":
                results.append(value)
            elif key == "execute_reply_status":
                status = value
            else:
                name = _extra_key(key)
                if name is None:
                    raise LogParseError(
                        f"footer line {_line_of(text, start) + index} has the key "
                        f"{_excerpt(key)}, which is not a plain name or is a reserved field name"
                    )
                extras[name] = value
    return status, results, list(extras.items())


def _extra_key(key: str) -> str | None:
    """Field name for an unrecognised header/footer key, or None when it is not acceptable.

    lc_wrapper's keys are lowercase words; accepting only that shape also keeps out names that
    mean something to Elasticsearch (``_id``, ``_index``, ``@timestamp``).
    """
    name = key.replace(" ", "_")
    if (
        not name
        or name[0] not in _EXTRA_KEY_FIRST
        or not _EXTRA_KEY_REST.issuperset(name)
        or name in RESERVED_FIELDS
    ):
        return None
    return name


def _choose_header(
    text: str,
    body_start: int,
    limit: int,
    end_time: int,
    results: list[str],
    zones: Mapping[str, int],
) -> _Header:
    """Find the header candidates before ``limit`` and pick one (module docstring rule).

    Ranking needs only a candidate's ``path`` and ``start time`` lines, so every candidate is
    located and ranked cheaply, and full validation then runs in rank order until one passes:
    the best-ranked valid candidate, at the cost of about one full validation.
    """
    if text.startswith(HEADER_OPENING[1:], body_start):
        separator = body_start
    else:
        separator = _next_candidate(text, body_start, limit)
    if separator >= 0 and _next_candidate(text, separator + 5, limit) < 0:
        # The usual log has exactly one candidate: no ranking, no bookkeeping.
        only = _locate_candidate(text, separator, limit)
        if isinstance(only, _Span):
            header = _read_header(text, only)
            if isinstance(header, _Header):
                return header
    spans: list[_Span] = []
    rejections: list[_Rejection] = []
    while separator >= 0:
        located = _locate_candidate(text, separator, limit)
        if isinstance(located, _Span):
            spans.append(located)
        else:
            rejections.append(located)
        separator = _next_candidate(text, separator + 5, limit)

    if len(spans) > 1:
        # A stable sort keeps equally ranked candidates in text order: the earliest wins ties.
        spans.sort(key=lambda span: _preference(span, end_time, results, zones), reverse=True)
    for span in spans:
        header = _read_header(text, span)
        if isinstance(header, _Header):
            return header
        rejections.append(header)
    if rejections:
        separator, template, detail = max(rejections, key=lambda rejection: rejection[0])
        reason = template if detail is None else template.format(_excerpt(detail))
        raise LogParseError(
            f"no valid header block; {len(rejections)} candidate(s) rejected, the last at line "
            f"{_line_of(text, separator)}: {reason}"
        )
    raise LogParseError(
        "no header block: expected a '----' line, 'path: ...', ..., 'start time: "
        "YYYY-mm-dd HH:MM:SS(ZONE)' and a '----' line between the code and the output"
    )


def _next_candidate(text: str, after: int, limit: int) -> int:
    """Index of the next ``----`` line followed by ``path:`` in [after, limit), or -1."""
    found = text.find(HEADER_OPENING, after, limit)
    return found + 1 if found >= 0 else -1


def _locate_candidate(text: str, separator: int, limit: int) -> _Span | _Rejection:
    """Delimit the candidate whose ``----`` line starts at ``separator``; read its path and time.

    A candidate ends at the first ``----`` line after its ``path:`` line, so candidates cover
    disjoint stretches of the text and locating all of them stays linear.
    """
    first = separator + 5
    closing_newline = text.find("\n----\n", first, limit + 5)
    if closing_newline + 1 >= limit:
        return separator, "it has no '----' line of its own before the end block", None
    stamp_start = text.rfind("\n", first, closing_newline) + 1
    if stamp_start <= first:
        return separator, "it has no 'start time:' line", None
    stamp = (
        split_timestamp(text[stamp_start + len(_START_TIME_PREFIX) : closing_newline])
        if text.startswith(_START_TIME_PREFIX, stamp_start, closing_newline)
        else None
    )
    if stamp is None:
        detail = text[stamp_start : min(closing_newline, stamp_start + _EXCERPT_LENGTH + 1)]
        return (
            separator,
            "the line above its closing '----' line, {}, is not "
            "'start time: YYYY-mm-dd HH:MM:SS(ZONE)'",
            detail,
        )
    path = text[first + len("path: ") : text.find("\n", first)]
    return _Span(separator, closing_newline, stamp_start, path, stamp[0], stamp[1])


def _read_header(text: str, span: _Span) -> _Header | _Rejection:
    """Validate the lines of a located candidate and collect its fields."""
    separator = span.separator
    lines = text[separator + 5 : span.stamp_start - 1].split("\n", _MAX_HEADER_LINES)
    if len(lines) >= _MAX_HEADER_LINES:
        return separator, f"it has more than {_MAX_HEADER_LINES} lines", None
    values: dict[str, str] = {}
    extras: dict[str, str] = {}
    for line in lines:
        key, separator_found, value = line.partition(": ")
        if separator_found and key in _KNOWN_HEADER_KEYS and key not in values:
            values[key] = value
        elif line:
            problem = _add_other_header_line(line, values, extras)
            if problem is not None:
                return separator, problem[0], problem[1]
    if not span.path:
        return separator, "its 'path:' value is empty", None
    uid_text = values.get("uid")
    gid_text = values.get("gid")
    if (uid_text is not None and not _is_number(uid_text)) or (
        gid_text is not None and not _is_number(gid_text)
    ):
        return separator, "its uid or gid is not a non-negative integer", None
    try:
        uid = None if uid_text is None else int(uid_text)
        gid = None if gid_text is None else int(gid_text)
    except ValueError:
        # More digits than int() converts (sys.get_int_max_str_digits()).
        return separator, "its uid or gid has too many digits", None
    return _Header(
        separator,
        span.closing_newline + 6,
        span.start_local,
        span.zone,
        values,
        uid,
        gid,
        list(extras.items()),
    )


def _add_other_header_line(
    line: str, values: dict[str, str], extras: dict[str, str]
) -> tuple[str, str] | None:
    """Store a header line that is not the first of a known key, or return (problem, detail)."""
    key, separator_found, value = line.partition(": ")
    if not separator_found:
        return "line {} is not 'key: value'", line
    name = _extra_key(key)
    if key in values or name in extras:
        return "the key {} appears twice", key
    if name is None:
        return "the key {} is not a plain name or is a reserved field name", key
    extras[name] = value
    return None


def _preference(
    span: _Span, end_time: int, results: list[str], zones: Mapping[str, int]
) -> tuple[bool, bool, int]:
    """Sort key of a candidate: result stem, log name agrees with start, closeness to end."""
    path = span.path
    stem = path[:-4] if path.endswith(".log") else path
    results_agree = all(result.startswith(stem + "-") for result in results)
    name_local = _log_name_local_seconds(path)
    name_agrees = (
        name_local is not None and 0 <= name_local - span.start_local <= _NAME_AFTER_START_LIMIT
    )
    offset = zone_offset(span.zone, zones)
    distance = _UNKNOWN_DISTANCE if offset is None else abs(end_time - (span.start_local - offset))
    return results_agree, name_agrees, -distance


def _log_name_local_seconds(path: str) -> int | None:
    """Local time encoded in ``.../YYYYMMDD/YYYYMMDD-HHMMSS-mmmm.log``; None for other names."""
    slash = path.rfind("/")
    name = path[slash + 1 :]
    milliseconds = name[16:20]
    if (
        slash < 1
        or len(name) != _LOG_NAME_LENGTH
        or not name.endswith(".log")
        or name[8] != "-"
        or name[15] != "-"
        or not (milliseconds.isdigit() and milliseconds.isascii())
        or path[path.rfind("/", 0, slash) + 1 : slash] != name[:8]
    ):
        return None
    return local_seconds(
        f"{name[0:4]}-{name[4:6]}-{name[6:8]} {name[9:11]}:{name[11:13]}:{name[13:15]}"
    )


def _unknown_zone(text: str, position: int, what: str, zone: str) -> LogParseError:
    return LogParseError(
        f"unknown time zone abbreviation {_excerpt(zone)} in the {what} (line "
        f"{_line_of(text, position)}); give its UTC offset in the zone mapping"
    )


def _line_of(text: str, position: int) -> int:
    """1-based line number of ``position`` (only computed when reporting an error)."""
    return text.count("\n", 0, position) + 1


def _excerpt(value: str) -> str:
    if len(value) <= _EXCERPT_LENGTH:
        return repr(value)
    return repr(value[:_EXCERPT_LENGTH]) + "..."
