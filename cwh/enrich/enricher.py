"""Turn one lc_wrapper log record into the document a teacher reads.

The same :class:`Enricher` serves the live path (fluentd pipes records through
``cwh enrich``) and the batch path (backfill, re-enrichment), so a document always gets the
same fields and the same id whichever way it arrives. It never raises for bad input: a
record that cannot be parsed or enriched becomes a dead-letter document that keeps the raw
text and the reason. Times are held to a sane window (years 2000 to 2100 by default): an
execution stamped outside it is a dead letter (``TimeOutOfRange``), and a receive time outside
it is not trusted for stamping dead letters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from cwh.defaults import DEADLETTER_INFIX, DEFAULT_INDEX_PREFIX
from cwh.enrich.error_messages import error_pattern
from cwh.enrich.logrecord import DEFAULT_ZONES, LogParseError, parse_log
from cwh.enrich.logtime import DEFAULT_TIME_WINDOW, DayNames, utc_text
from cwh.enrich.memeindex import MemeIndex, cell_meme_uuid
from cwh.enrich.passwd import PasswdTable, local_name
from cwh.enrich.provenance import DirectoryOwners, LogDirectories, check_owner
from cwh.enrich.result_files import ResultFileError, ResultReader

Document = dict[str, Any]

DOC_ID = "doc_id"
TARGET_INDEX = "target_index"

_log = logging.getLogger("cwh.enrich")

# The document id hash, copied for each id: cheaper than setting up a new hash object.
_ID_HASH = hashlib.blake2b(digest_size=16)

# Distinct uids remembered per passwd table: far more than one host has students, but a
# bound all the same, as uids come from the records.
_CACHED_USERS = 65536
# Distinct log directories remembered (one per student, course and day).
_CACHED_DIRECTORIES = 65536
# Distinct cell or notebook MEMEs remembered per index version (a textbook has a few thousand).
_CACHED_MEMES = 65536
# A tuple, not ``int | float``: that expression would build a union object on every call.
_NUMBERS = (int, float)
_K = TypeVar("_K")
_V = TypeVar("_V")


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


def document_id(parsed: Mapping[str, Any], text: str, *, suspect: bool = False) -> str:
    """A stable id: the same execution gets it live, on retry and when re-read from disk.

    The log file path is unique per execution (it carries the user's home and a
    millisecond timestamp) and the start time pins it; both come from the log text itself,
    so the id does not depend on how the record travelled.

    Anyone can send a record naming another student's path and start time, so a
    ``suspect`` record's id covers its whole text as well: it can never take the id of
    the genuine execution and replace it, and the same suspect record sent again still
    gets the same id.
    """
    path = parsed.get("path")
    start = parsed.get("start_time")
    if path is None or start is None:
        key = text
    elif suspect:
        key = f"suspect\x00{path}\x00{start}\x00{text}"
    else:
        key = f"{path}\x00{start}"
    digest = _ID_HASH.copy()
    digest.update(key.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def deadletter_id(raw: str) -> str:
    return hashlib.blake2b(
        b"dead\x00" + raw.encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class _User:
    """What a uid adds to a document, worked out once per passwd table."""

    name: str
    home: str  # "<home prefix><name>/": where this user's kernel writes its files
    fields: dict[str, str]  # user_name and local_name, added to a document in one call


# What a textbook MEME adds to a document, worked out once per index version. Shared by every
# document with that MEME: they are only ever copied into documents, never changed.
_Fields = dict[str, str]
_NO_FIELDS: _Fields = {}


@dataclass
class Enricher:
    """Parses and enriches records against the current lookup tables.

    ``passwd`` and ``meme_index`` are callables so that reloading tables (which swap in a
    new file's contents atomically) and fixed tables (tests, batch runs) look the same.
    ``results`` is None when result files are not reachable from this host.
    ``time_window`` is (first accepted epoch second, first refused one after it), see
    :func:`cwh.enrich.logtime.year_window`.
    """

    passwd: Callable[[], PasswdTable]
    meme_index: Callable[[], MemeIndex]
    results: ResultReader | None = None
    index_prefix: str = DEFAULT_INDEX_PREFIX
    zones: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ZONES))
    check_provenance: bool = True
    stats: EnrichStats = field(default_factory=EnrichStats)
    home_prefix: str = "/home"
    time_window: tuple[int, int] = DEFAULT_TIME_WINDOW
    _days: DayNames = field(default_factory=DayNames, repr=False)

    def __post_init__(self) -> None:
        # Work that depends only on a table or a setting is done once per version of it, not
        # per record: the users of the current passwd table, the normalised locations. Set
        # here rather than as init=False fields, which the compiled hot path does not support.
        self._users_of: PasswdTable | None = None
        self._users_home = ""
        self._users: dict[int, _User | None] = {}
        self._locations_of: tuple[str, ResultReader | None] | None = None
        self._locations_cache = ("/", "")
        self._textbook_of: MemeIndex | None = None
        self._cell_fields: dict[str, _Fields] = {}
        self._notebook_fields: dict[str, _Fields] = {}
        self._log_directories = DirectoryOwners()
        # The log files the records name, below the current homes root (see _locations).
        self._log_files: LogDirectories | None = None
        # In-container log directory ("/home/u/course/.log/20261122/") -> its host
        # directory, "" when it cannot be mapped safely; for the current locations.
        self._log_host_directories: dict[str, str] = {}

    def _locations(self) -> tuple[str, str]:
        """(home prefix ending in "/", homes root on this host) for the current settings."""
        settings = self._locations_of
        if (
            settings is None
            or settings[0] is not self.home_prefix
            or settings[1] is not self.results
        ):
            prefix = self.home_prefix.rstrip("/") + "/"
            homes = "" if self.results is None else str(self.results.homes_dir)
            self._locations_cache = (prefix, homes)
            self._locations_of = (self.home_prefix, self.results)
            self._log_host_directories = {}
            if self._log_files is not None:
                self._log_files.close()
            self._log_files = None if self.results is None else LogDirectories(homes)
        return self._locations_cache

    def enrich_record(self, record: Any, *, received_at: float | None = None) -> Document:
        """Enrich one fluentd record (a mapping with the log text under ``log``)."""
        # ``type() is dict`` first: records decoded from JSON are dicts, and the ABC check
        # costs more than the rest of this method.
        if type(record) is not dict and not isinstance(record, Mapping):
            return self.dead_letter(
                _shown(record), "InvalidRecord", "record is not a JSON object", received_at
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

    def enrich_text(
        self, text: str, *, received_at: float | None = None, log_file: str | None = None
    ) -> Document:
        """Enrich the text of one ``.log`` file (what lc_wrapper sends as ``log``).

        ``log_file`` is where the caller read ``text`` from, relative to the homes dir
        (``<user>/<course>/.log/<day>/<name>.log``): when the record names that very file,
        its content is not read a second time to be compared.
        """
        try:
            parsed = parse_log(text, self.zones)
        except LogParseError as exc:
            return self.dead_letter(text, "LogParseError", str(exc), received_at)
        except Exception as error:
            _log.exception("parsing failed for a record")
            return self.dead_letter(text, type(error).__name__, str(error), received_at)
        # Typed, so that the compiled build compares machine integers.
        earliest, latest = self.time_window
        start: int = parsed["start_time"]
        end: int = parsed["end_time"]
        if not (earliest <= start < latest and earliest <= end < latest):
            return self._out_of_range(text, start, end, received_at)
        try:
            return self._enrich(parsed, text, log_file)
        except Exception as error:
            _log.exception("enrichment failed for a parsed record")
            return self.dead_letter(text, type(error).__name__, str(error), received_at)

    def _out_of_range(self, text: str, start: int, end: int, received_at: float | None) -> Document:
        earliest, latest = self.time_window
        inside = earliest <= start < latest
        field_name, value = ("end_time", end) if inside else ("start_time", start)
        message = (
            f"{field_name} {value} ({utc_text(value)}) lies outside the accepted window "
            f"{utc_text(earliest)} to {utc_text(latest - 1)}"
        )
        return self.dead_letter(text, "TimeOutOfRange", message, received_at)

    def _enrich(self, doc: Document, text: str, log_file: str | None = None) -> Document:
        """Add the looked-up fields to a ``parse_log`` result.

        This runs for every record of the live filter, so it leans on what ``parse_log``
        guarantees (``path`` and ``start_time`` are always there, every field has its
        documented type) instead of checking types again, and the common case (files where
        the uid says, owned by that uid) builds no intermediate objects.
        """
        home_prefix, homes_root = self._locations()
        uid = doc.get("uid")
        user = None if uid is None else self._user(uid, home_prefix)
        if user is not None:
            doc.update(user.fields)
        self._attach_textbook(doc)
        path = doc["path"]
        reasons: list[str] = []
        if self.results is not None:
            result_owner = self._attach_result(doc) if "result" in doc else None
            log_owner = None
            if self.check_provenance:
                log_owner, log_reason = self._check_log_file(
                    path, uid, text, log_file, home_prefix, homes_root
                )
                if log_reason is not None:
                    reasons.append(log_reason)
            if (result_owner is not None and result_owner[1] != uid) or log_owner is not None:
                owners = dict(owner for owner in (result_owner, log_owner) if owner is not None)
                reason = check_owner(uid, owners)
                if reason is not None:
                    reasons.append(reason)
        if user is not None:
            # Quick test first; _foreign_home words the reason when a path is elsewhere.
            result = doc.get("result")
            if not path.startswith(user.home) or (
                result is not None and not result.startswith(user.home)
            ):
                reason = _foreign_home(doc, home_prefix)
                if reason is not None:
                    reasons.append(reason)
        suspect = bool(reasons)
        if suspect:
            doc["suspect"] = True
            doc["suspect_reason"] = "; ".join(reasons)
            self.stats.suspect += 1
        doc["@timestamp"], day = self._days.stamp(doc["start_time"])
        doc[TARGET_INDEX] = f"{self.index_prefix}-{day}"
        doc[DOC_ID] = document_id(doc, text, suspect=suspect)
        self.stats.documents += 1
        return doc

    def _user(self, uid: int, home_prefix: str) -> _User | None:
        """The user owning ``uid`` in the current passwd table, None when it has none."""
        table = self.passwd()
        if table is not self._users_of or home_prefix != self._users_home:
            self._users = {}
            self._users_of = table
            self._users_home = home_prefix
        users = self._users
        try:
            return users[uid]
        except KeyError:
            pass
        name = table.user_name(uid)
        user = (
            None
            if name is None
            else _User(
                name, f"{home_prefix}{name}/", {"user_name": name, "local_name": local_name(name)}
            )
        )
        return _remember(users, uid, user, _CACHED_USERS)

    def _attach_textbook(self, doc: Document) -> None:
        """Add what the textbook index says about the record's cell and notebook.

        The fields of each MEME are looked up once per index version: a class runs the
        same few hundred cells over and over.
        """
        index = self.meme_index()
        if index is not self._textbook_of:
            self._textbook_of = index
            self._cell_fields = {}
            self._notebook_fields = {}
        meme = doc.get("lc_cell_meme")
        if meme is not None:
            fields = self._cell_fields.get(meme)
            if fields is None:
                fields = _remember(
                    self._cell_fields, meme, _cell_fields(index, meme), _CACHED_MEMES
                )
            doc.update(fields)
        notebook_meme = doc.get("lc_notebook_meme")
        if notebook_meme is not None:
            fields = self._notebook_fields.get(notebook_meme)
            if fields is None:
                fields = _remember(
                    self._notebook_fields,
                    notebook_meme,
                    _notebook_fields(index, notebook_meme),
                    _CACHED_MEMES,
                )
            doc.update(fields)

    def _attach_result(self, doc: Document) -> tuple[str, int] | None:
        """Attach the result file; (its path, its owner) when it was read."""
        assert self.results is not None
        try:
            result = self.results.read(doc["result"])
        except ResultFileError as exc:
            doc["result_error"] = str(exc)
            self.stats.result_errors += 1
            return None
        doc["result_json"] = result.result_json
        if result.result_text is not None:
            doc["result_text"] = result.result_text
        pattern = error_pattern(result.result_json)
        if pattern is not None:
            doc["error_pattern"] = pattern
        return str(result.path), result.owner_uid

    def _check_log_file(
        self,
        path: str,
        uid: int | None,
        text: str,
        log_file: str | None,
        home_prefix: str,
        homes_root: str,
    ) -> tuple[tuple[str, int] | None, str | None]:
        """(host path and owner of the ``.log`` file if someone else owns it, why the record
        does not match that file).

        A record read from the very file it names (``log_file``, see :meth:`enrich_text`)
        matches it by construction: only the owner is checked. Any other record is compared
        with the file it names (:meth:`cwh.enrich.provenance.LogDirectories.compare`), whose
        ``fstat`` also gives the owner; a path that cannot lie in a home names no file.
        """
        if (
            log_file is not None
            and path.startswith(home_prefix)
            and path[len(home_prefix) :] == log_file
        ):
            return self._log_file_mismatch(path, uid, home_prefix, homes_root), None
        log_files = self._log_files
        if log_files is None:
            return None, None
        location = self._host_log_location(path, home_prefix, homes_root)
        if location is None:
            return None, f"log file path {path} does not lie in a home below {home_prefix}"
        host_directory, name = location
        relative = host_directory[len(homes_root.rstrip("/")) + 1 :]
        owner, reason = log_files.compare(relative, name, text)
        if owner is None:
            if reason is None:
                return self._log_file_mismatch(path, uid, home_prefix, homes_root), None
            return None, reason
        return (None if owner == uid else (host_directory + name, owner)), reason

    def _log_file_mismatch(
        self, path: str, uid: int | None, home_prefix: str, homes_root: str
    ) -> tuple[str, int] | None:
        """(host path, owner uid) of the record's own ``.log`` file if someone else owns it.

        None when the owner is ``uid`` or cannot be read. Only the owner is read (one
        ``lstat`` of the lexically mapped path, links not followed), never the content, so
        no symlink resolution is needed here. This runs for every record: the mapping of
        the file's directory is worked out once per directory, and when that directory
        vouches for the claimed uid (:class:`cwh.enrich.provenance.DirectoryOwners`) the file is
        not looked at at all.
        """
        location = self._host_log_location(path, home_prefix, homes_root)
        if location is None:
            return None
        host_directory, name = location
        if uid is not None and self._log_directories.vouches_for_directory(host_directory, uid):
            return None
        local = host_directory + name
        try:
            owner = os.lstat(local).st_uid
        except (OSError, ValueError):
            return None
        return None if owner == uid else (local, owner)

    def _host_log_location(
        self, path: str, home_prefix: str, homes_root: str
    ) -> tuple[str, str] | None:
        """(host directory, file name) of an in-container file path; None if unsafe.

        ``/home/u/d/x`` -> (``<homes_root>/u/d/``, ``x``) without touching the disk. The
        directory part is mapped once per directory (:func:`_lexical_home_directory`).
        """
        slash = path.rfind("/") + 1
        name = path[slash:]
        if not name or name == "." or name == ".." or "\x00" in name:
            return None
        directory = path[:slash]
        host_directory = self._log_host_directories.get(directory)
        if host_directory is None:
            host_directory = _remember(
                self._log_host_directories,
                directory,
                _lexical_home_directory(directory, home_prefix, homes_root),
                _CACHED_DIRECTORIES,
            )
        return (host_directory, name) if host_directory else None

    def dead_letter(
        self, raw: str, error_type: str, message: str, received_at: float | None = None
    ) -> Document:
        """A document for the dead-letter index: nothing is dropped, the reason is kept.

        It is stamped with ``received_at`` when that is a number inside the time window, else
        with the current time: a receive time comes from the sender and is not trusted.
        """
        self.stats.dead_letters[error_type] = self.stats.dead_letters.get(error_type, 0) + 1
        when = self._dead_letter_time(received_at)
        return {
            "raw": raw,
            "error_type": error_type,
            "error_message": message,
            "@timestamp": self._days.iso(when),
            TARGET_INDEX: f"{self.index_prefix}-{DEADLETTER_INFIX}-{self._days.day(when)}",
            DOC_ID: deadletter_id(raw),
        }

    def _dead_letter_time(self, received_at: object) -> int:
        earliest, latest = self.time_window
        # Both comparisons are False for NaN; infinities and huge numbers fail one of them.
        if isinstance(received_at, _NUMBERS) and earliest <= received_at < latest:
            return int(received_at)
        return int(time.time())

    def internal_error(self, raw: str, error: BaseException) -> Document:
        """The dead letter for a line whose handling failed unexpectedly.

        Built from the raw text, the error's type and the clock only, so that nothing of
        the record that caused the failure is touched again.
        """
        kind = type(error).__name__
        self.stats.dead_letters["InternalError"] = (
            self.stats.dead_letters.get("InternalError", 0) + 1
        )
        now = datetime.now(UTC)
        return {
            "raw": raw,
            "error_type": "InternalError",
            "error_message": f"internal error ({kind}) while enriching this line, kept as raw",
            "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            TARGET_INDEX: f"{self.index_prefix}-{DEADLETTER_INFIX}-{now.strftime('%Y.%m.%d')}",
            DOC_ID: deadletter_id(raw),
        }


def _cell_fields(index: MemeIndex, meme: str) -> _Fields:
    uuid = cell_meme_uuid(meme)
    if uuid is None:
        return _NO_FIELDS
    fields = {"lc_cell_meme_uuid": uuid}
    cell = index.cell(uuid)
    if cell is not None:
        fields["qno"] = cell.qno
        if cell.qlabel is not None:
            fields["qlabel"] = cell.qlabel
    return fields


def _notebook_fields(index: MemeIndex, notebook_meme: str) -> _Fields:
    notebook = index.notebook(notebook_meme)
    if notebook is None:
        return _NO_FIELDS
    return {"textbook_path": notebook.textbook_path, "course_server": notebook.course_server}


def _remember(cache: dict[_K, _V], key: _K, value: _V, limit: int) -> _V:
    """Keep ``value`` for ``key`` in a cache of at most ``limit`` entries, and return it.

    The keys (uids, MEMEs) come from the records, so every per-record cache is bounded:
    when full it starts over, which costs one lookup per key again and nothing else.
    """
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


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


def _lexical_home_directory(directory: str, home_prefix: str, homes_dir: str) -> str:
    """``/home/u/d/`` -> ``<homes_dir>/u/d/`` without touching the disk; "" if unsafe.

    ``directory`` and ``home_prefix`` end with "/"; no component may be "." or "..", none
    may be empty, and no NUL may appear.
    """
    if not directory.startswith(home_prefix) or "\x00" in directory:
        return ""
    rest = directory[len(home_prefix) :]
    probe = f"/{rest}"
    if "/../" in probe or "/./" in probe or "//" in probe:
        return ""
    return f"{homes_dir.rstrip('/')}/{rest}"


def _compact(record: Mapping[str, Any]) -> str:
    """The record as compact JSON, else as its repr, else a note of what it was."""
    try:
        return orjson.dumps(record, default=str).decode()
    except Exception:
        pass
    try:
        return repr(dict(record))
    except Exception as error:
        return f"<{type(record).__name__} that cannot be shown: {type(error).__name__}>"


def _shown(value: object) -> str:
    try:
        return repr(value)
    except Exception as error:
        return f"<{type(value).__name__} that cannot be shown: {type(error).__name__}>"
