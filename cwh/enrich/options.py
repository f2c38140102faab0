"""Build an :class:`~cwh.enrich.Enricher` from file locations, as the CLI and flows do.

Configuration errors (a bad JSONPath, a malformed zone) are raised as ``ValueError`` before
any record is read. Missing lookup files are not errors: the filter must be able to start
before the first textbook release, and it picks the files up as soon as they appear. A new
version of a lookup file replaces the loaded one only when it parses completely and loses
at most ``reload_max_loss`` of its entries (see :mod:`cwh.enrich.reloading`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cwh.defaults import DEFAULT_INDEX_PREFIX
from cwh.enrich.enricher import Enricher
from cwh.enrich.logrecord import DEFAULT_ZONES, parse_zone_mapping
from cwh.enrich.logtime import DEFAULT_FIRST_YEAR, DEFAULT_LAST_YEAR, year_window
from cwh.enrich.memeindex import MemeIndex
from cwh.enrich.passwd import PasswdTable
from cwh.enrich.reloading import ReloadingFile
from cwh.enrich.result_files import DEFAULT_JSONPATHS, ResultReader

_log = logging.getLogger("cwh.enrich")


@dataclass(frozen=True)
class EnrichOptions:
    index: Path
    passwd: Path
    homes_dir: Path | None
    home_prefix: str = "/home"
    index_prefix: str = DEFAULT_INDEX_PREFIX
    result_jsonpaths: Sequence[str] = DEFAULT_JSONPATHS
    zones: Sequence[str] = ()
    max_result_bytes: int = 10 * 1024 * 1024
    reload_interval: float = 2.0
    # Share of the loaded passwd users or index cells a new version may lose at once.
    reload_max_loss: float = 0.5
    # Executions stamped before 1 January of first_year or after 31 December of last_year
    # (UTC) become dead letters.
    first_year: int = DEFAULT_FIRST_YEAR
    last_year: int = DEFAULT_LAST_YEAR
    # Where the last accepted passwd and index are kept, so that short-lived processes (one
    # per fluentd chunk) judge a new version against them; None: judged per process only.
    accepted_dir: Path | None = None


def _accepted(options: EnrichOptions, name: str) -> Path | None:
    return None if options.accepted_dir is None else options.accepted_dir / f"{name}.accepted"


def build_enricher(options: EnrichOptions) -> Enricher:
    zones = dict(DEFAULT_ZONES)
    time_window = year_window(options.first_year, options.last_year)
    zones.update(parse_zone_mapping(options.zones))
    if not options.index_prefix or options.index_prefix != options.index_prefix.lower():
        raise ValueError(
            f"index prefix {options.index_prefix!r} must be non-empty lowercase "
            "(Elasticsearch index names are lowercase)"
        )
    if not 0.0 <= options.reload_max_loss <= 1.0:
        raise ValueError(
            f"reload max loss {options.reload_max_loss} must be a share between 0 and 1"
        )
    passwd = ReloadingFile(
        options.passwd,
        _complete_passwd,
        empty=PasswdTable.EMPTY,
        check_interval=options.reload_interval,
        logger=_log,
        entries=PasswdTable.uids,
        max_loss=options.reload_max_loss,
        accepted_copy=_accepted(options, "passwd"),
    )
    index = ReloadingFile(
        options.index,
        MemeIndex.from_csv_text,
        empty=MemeIndex.EMPTY,
        check_interval=options.reload_interval,
        logger=_log,
        entries=MemeIndex.cell_uuids,
        max_loss=options.reload_max_loss,
        accepted_copy=_accepted(options, "meme-index.csv"),
    )
    results = None
    if options.homes_dir is not None:
        if not options.homes_dir.is_dir():
            _log.warning(
                "homes dir %s does not exist: results cannot be attached yet", options.homes_dir
            )
        results = ResultReader(
            options.homes_dir,
            home_prefix=options.home_prefix,
            max_bytes=options.max_result_bytes,
            jsonpaths=tuple(options.result_jsonpaths),
        )
    for source in (passwd, index):
        source.reload_now()
    return Enricher(
        passwd=passwd.get,
        meme_index=index.get,
        results=results,
        index_prefix=options.index_prefix,
        zones=zones,
        home_prefix=options.home_prefix,
        time_window=time_window,
    )


def _complete_passwd(text: str) -> PasswdTable:
    return PasswdTable.from_text(text, complete=True)
