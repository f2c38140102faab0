"""Turn one lc_wrapper log record into the document a teacher reads.

The same :class:`Enricher` serves the live path (fluentd pipes records through
``cwh enrich``) and the batch path (backfill, re-enrichment), so a document always gets the
same fields and the same id whichever way it arrives. It never raises for bad input: a
record that cannot be parsed or enriched becomes a dead-letter document that keeps the raw
text and the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cwh.logrecord import DEFAULT_ZONES, LogParseError, parse_log
from cwh.memeindex import MemeIndex, cell_meme_uuid
from cwh.passwd import PasswdTable, local_name
from cwh.provenance import check_owner
from cwh.result_files import ResultFileError, ResultReader

Document = dict[str, Any]

DOC_ID = "doc_id"
TARGET_INDEX = "target_index"
DEADLETTER_INFIX = "deadletter"

_log = logging.getLogger("cwh.enrich")


@dataclass
class EnrichStats:
    """Counters a long-running filter reports; dead letters are counted by reason."""

    documents: int = 0
    suspect: int = 0
    result_errors: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)

    @property
    def dead_letter_total(self) -> int:
        return sum(self.dead_letters.values())


def document_id(parsed: Mapping[str, Any], text: str) -> str:
    """A stable id: the same execution gets it live, on retry and when re-read from disk.

    The log file path is unique per execution (it carries the user's home and a
    millisecond timestamp) and the start time pins it; both come from the log text itself,
    so the id does not depend on how the record travelled.
    """
    path = parsed.get("path")
    start = parsed.get("start_time")
    key = f"{path}\x00{start}" if path is not None and start is not None else text
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def deadletter_id(raw: str) -> str:
    return hashlib.blake2b(
        b"dead\x00" + raw.encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()


class _DayNames:
    """Caches the date part of index names and timestamps.

    Formatting dates with ``strftime`` would cost more than parsing a small record; a
    class day has few distinct dates, so the date text is computed once per day and the
    time of day with integer arithmetic.
    """

    def __init__(self) -> None:
        self._days: dict[int, tuple[str, str]] = {}

    def _names(self, key: int) -> tuple[str, str]:
        names = self._days.get(key)
        if names is None:
            date = datetime.fromtimestamp(key * 86400, UTC)
            names = (date.strftime("%Y.%m.%d"), date.strftime("%Y-%m-%dT"))
            if len(self._days) > 4096:
                self._days.clear()
            self._days[key] = names
        return names

    def day(self, epoch: int) -> str:
        return self._names(epoch // 86400)[0]

    def iso(self, epoch: int) -> str:
        days, seconds = divmod(epoch, 86400)
        hours, rest = divmod(seconds, 3600)
        return f"{self._names(days)[1]}{hours:02}:{rest // 60:02}:{rest % 60:02}Z"


@dataclass
class Enricher:
    """Parses and enriches records against the current lookup tables.

    ``passwd`` and ``meme_index`` are callables so that reloading tables (which swap in a
    new file's contents atomically) and fixed tables (tests, batch runs) look the same.
    ``results`` is None when result files are not reachable from this host.
    """

    passwd: Callable[[], PasswdTable]
    meme_index: Callable[[], MemeIndex]
    results: ResultReader | None = None
    index_prefix: str = "lcwrapper"
    zones: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ZONES))
    check_provenance: bool = True
    stats: EnrichStats = field(default_factory=EnrichStats)
    home_prefix: str = "/home"
    _days: _DayNames = field(default_factory=_DayNames, repr=False)

    @property
    def _home_prefix(self) -> str:
        return self.home_prefix.rstrip("/") + "/"

    def enrich_record(self, record: Any, *, received_at: float | None = None) -> Document:
        """Enrich one fluentd record (a mapping with the log text under ``log``)."""
        if not isinstance(record, Mapping):
            return self.dead_letter(
                repr(record), "InvalidRecord", "record is not a JSON object", received_at
            )
        text = record.get("log")
        if not isinstance(text, str):
            return self.dead_letter(
                _compact(record),
                "InvalidRecord",
                "record has no string field 'log'",
                received_at,
            )
        return self.enrich_text(text, received_at=received_at)

    def enrich_text(self, text: str, *, received_at: float | None = None) -> Document:
        """Enrich the text of one ``.log`` file (what lc_wrapper sends as ``log``)."""
        try:
            parsed = parse_log(text, self.zones)
        except LogParseError as exc:
            return self.dead_letter(text, "LogParseError", str(exc), received_at)
        try:
            return self._enrich(parsed, text)
        except Exception as exc:
            _log.exception("enrichment failed for a parsed record")
            return self.dead_letter(text, type(exc).__name__, str(exc), received_at)

    def _enrich(self, doc: Document, text: str) -> Document:
        uid = doc.get("uid")
        if isinstance(uid, int):
            user = self.passwd().user_name(uid)
            if user is not None:
                doc["user_name"] = user
                doc["local_name"] = local_name(user)
        meme = doc.get("lc_cell_meme")
        if isinstance(meme, str):
            uuid = cell_meme_uuid(meme)
            if uuid is not None:
                doc["lc_cell_meme_uuid"] = uuid
        self._attach_textbook(doc)
        owners: dict[str, int] = {}
        if self.results is not None:
            self._attach_result(doc, owners)
            if self.check_provenance:
                self._log_file_owner(doc, owners)
        reasons = []
        if owners and (not isinstance(uid, int) or any(o != uid for o in owners.values())):
            reason = check_owner(uid if isinstance(uid, int) else None, owners)
            if reason is not None:
                reasons.append(reason)
        reason = _foreign_home(doc, self._home_prefix)
        if reason is not None:
            reasons.append(reason)
        if reasons:
            doc["suspect"] = True
            doc["suspect_reason"] = "; ".join(reasons)
            self.stats.suspect += 1
        start = doc.get("start_time")
        if isinstance(start, int):
            doc["@timestamp"] = self._days.iso(start)
            doc[TARGET_INDEX] = f"{self.index_prefix}-{self._days.day(start)}"
        else:
            now = int(time.time())
            doc[TARGET_INDEX] = f"{self.index_prefix}-{self._days.day(now)}"
        doc[DOC_ID] = document_id(doc, text)
        self.stats.documents += 1
        return doc

    def _attach_textbook(self, doc: Document) -> None:
        index = self.meme_index()
        uuid = doc.get("lc_cell_meme_uuid")
        if uuid is not None:
            cell = index.cell(uuid)
            if cell is not None:
                doc["qno"] = cell.qno
                if cell.qlabel is not None:
                    doc["qlabel"] = cell.qlabel
        notebook_meme = doc.get("lc_notebook_meme")
        if isinstance(notebook_meme, str):
            notebook = index.notebook(notebook_meme)
            if notebook is not None:
                doc["textbook_path"] = notebook.textbook_path
                doc["course_server"] = notebook.course_server

    def _attach_result(self, doc: Document, owners: dict[str, int]) -> None:
        assert self.results is not None
        result_path = doc.get("result")
        if not isinstance(result_path, str) or not result_path:
            return
        try:
            result = self.results.read(result_path)
        except ResultFileError as exc:
            doc["result_error"] = str(exc)
            self.stats.result_errors += 1
            return
        doc["result_json"] = result.result_json
        if result.result_text is not None:
            doc["result_text"] = result.result_text
        owners[str(result.path)] = result.owner_uid

    def _log_file_owner(self, doc: Document, owners: dict[str, int]) -> None:
        """Record who owns the record's own ``.log`` file.

        Only the owner is read (one ``lstat`` of the lexically mapped path, links not
        followed), never the content, so no symlink resolution is needed here; this check
        runs for every record and must stay cheap.
        """
        assert self.results is not None
        path = doc.get("path")
        if not isinstance(path, str):
            return
        local = _lexical_home_path(path, self._home_prefix, str(self.results.homes_dir))
        if local is None:
            return
        try:
            owners[local] = os.lstat(local).st_uid
        except (OSError, ValueError):
            return

    def dead_letter(
        self, raw: str, error_type: str, message: str, received_at: float | None = None
    ) -> Document:
        """A document for the dead-letter index: nothing is dropped, the reason is kept."""
        self.stats.dead_letters[error_type] = self.stats.dead_letters.get(error_type, 0) + 1
        when = int(received_at if received_at is not None else time.time())
        return {
            "raw": raw,
            "error_type": error_type,
            "error_message": message,
            "@timestamp": self._days.iso(when),
            TARGET_INDEX: f"{self.index_prefix}-{DEADLETTER_INFIX}-{self._days.day(when)}",
            DOC_ID: deadletter_id(raw),
        }


def _home_user(path: str, home_prefix: str) -> str | None:
    if not path.startswith(home_prefix):
        return None
    user, _, _ = path[len(home_prefix) :].partition("/")
    return user or None


def _foreign_home(doc: Document, home_prefix: str) -> str | None:
    """Why the record's files lie outside the home of the user its uid names, if they do.

    A kernel writes its log and results below its own user's home, so a record claiming
    uid 2009 (``alice``) whose files are in ``/home/bob`` was not written by alice's kernel.
    """
    user = doc.get("user_name")
    if not isinstance(user, str):
        return None
    own_home = f"{home_prefix}{user}/"
    problems = []
    for key in ("path", "result"):
        value = doc.get(key)
        if isinstance(value, str) and not value.startswith(own_home):
            owner = _home_user(value, home_prefix)
            if owner is not None and owner != user:
                problems.append(f"{key} {value} is in the home of {owner!r}, not of {user!r}")
    return "; ".join(problems) or None


def _lexical_home_path(path: str, home_prefix: str, homes_dir: str) -> str | None:
    """``/home/u/x`` -> ``<homes_dir>/u/x`` without touching the disk; None if unsafe."""
    if not path.startswith(home_prefix) or "\x00" in path:
        return None
    rest = path[len(home_prefix) :]
    probe = f"/{rest}/"
    if not rest or "/../" in probe or "/./" in probe or "//" in probe:
        return None
    return f"{homes_dir.rstrip('/')}/{rest}"


def _compact(record: Mapping[str, Any]) -> str:
    try:
        import orjson

        return orjson.dumps(record, default=str).decode()
    except TypeError:
        return repr(dict(record))
