"""Enrichment: one lc_wrapper log record in, one document that says who ran which question out.

Parsing (a Python shortcut for lc_wrapper's own layout, also built in C), result files read
through a safe unpickler, the passwd and MEME tables that reload when their files change,
provenance checks of the claimed uid, and the line loop of ``cwh enrich``. The hot path runs
from its mypyc build when a current one exists (:mod:`cwh.enrich.compiled`).
"""

from cwh.enrich.compiled import use_current_build

use_current_build(__path__)

from cwh.enrich.bulk import (
    REJECTED,
    BulkTally,
    ItemOutcome,
    classify,
    create_action,
    is_dead_letter,
    item_result,
    reason_of,
    rejection_dead_letter,
    split_document,
    tally,
)
from cwh.enrich.compiled import (
    BUILD_DIR,
    HOT_MODULES,
    INTERPRETED_ENV,
    MANIFEST,
    NATIVE_MODULES,
    CompileError,
    build_state,
    compile_hot_path,
    hot_path_state,
    source_digest,
    use_current_build,
)
from cwh.enrich.delivery_stats import DeliveryStats, add_delivery_stats, read_delivery_stats
from cwh.enrich.enricher import DOC_ID, TARGET_INDEX, Enricher
from cwh.enrich.error_messages import error_pattern, normalise_error
from cwh.enrich.logrecord import (
    DEFAULT_ZONES,
    RESERVED_FIELDS,
    LogParseError,
    ZoneSpecError,
    parse_log,
    parse_zone_mapping,
)
from cwh.enrich.logtime import parse_offset, split_timestamp
from cwh.enrich.memeindex import CellEntry, MemeIndex, MemeIndexError, NotebookEntry, cell_meme_uuid
from cwh.enrich.options import EnrichOptions, build_enricher
from cwh.enrich.passwd import PasswdError, PasswdTable, local_name
from cwh.enrich.provenance import DirectoryOwners, LogDirectories, check_owner, file_owner
from cwh.enrich.reloading import ReloadingFile
from cwh.enrich.result_files import DEFAULT_JSONPATHS, ResultFile, ResultFileError, ResultReader
from cwh.enrich.safe_unpickle import (
    MAX_SAME_HASH,
    MAX_TUPLES,
    UnsafePickleError,
    safe_loads,
    to_json_value,
)
from cwh.enrich.stream import LineTransformer, log_summary, run_stream

__all__ = [
    "BUILD_DIR",
    "DEFAULT_JSONPATHS",
    "DEFAULT_ZONES",
    "DOC_ID",
    "HOT_MODULES",
    "INTERPRETED_ENV",
    "MANIFEST",
    "MAX_SAME_HASH",
    "MAX_TUPLES",
    "NATIVE_MODULES",
    "REJECTED",
    "RESERVED_FIELDS",
    "TARGET_INDEX",
    "BulkTally",
    "CellEntry",
    "CompileError",
    "DeliveryStats",
    "DirectoryOwners",
    "EnrichOptions",
    "Enricher",
    "ItemOutcome",
    "LineTransformer",
    "LogDirectories",
    "LogParseError",
    "MemeIndex",
    "MemeIndexError",
    "NotebookEntry",
    "PasswdError",
    "PasswdTable",
    "ReloadingFile",
    "ResultFile",
    "ResultFileError",
    "ResultReader",
    "UnsafePickleError",
    "ZoneSpecError",
    "add_delivery_stats",
    "build_enricher",
    "build_state",
    "cell_meme_uuid",
    "check_owner",
    "classify",
    "compile_hot_path",
    "create_action",
    "error_pattern",
    "file_owner",
    "hot_path_state",
    "is_dead_letter",
    "item_result",
    "local_name",
    "log_summary",
    "normalise_error",
    "parse_log",
    "parse_offset",
    "parse_zone_mapping",
    "read_delivery_stats",
    "reason_of",
    "rejection_dead_letter",
    "run_stream",
    "safe_loads",
    "source_digest",
    "split_document",
    "split_timestamp",
    "tally",
    "to_json_value",
    "use_current_build",
]
