"""``cwh enrich``: the long-running filter fluentd's ``exec_filter`` pipes records through.

Only stdlib is imported at module level; the engine is imported when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from cwh.defaults import DEFAULT_INDEX_PREFIX, DEFAULT_JSONPATHS


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "enrich",
        help="enrich lc_wrapper records: JSON lines on stdin -> JSON lines on stdout",
        description=(
            "Reads one fluentd record per line ({'log': <lc_wrapper log text>, ...}) and writes "
            "exactly one enriched document per line, in order. Records that cannot be parsed "
            "become dead-letter documents. Runs until end of input or SIGTERM. "
            "The index and passwd files are reloaded when they change; a new version is "
            "used only when it parses completely and loses at most --reload-max-loss of the "
            "loaded entries at once, else the loaded table stays and a warning says why. To "
            "let one larger change through (the end of a term, say), create FILE.accept-loss "
            "beside the file (e.g. touch /srv/cwh/passwd.accept-loss): the next new version "
            "is accepted with a warning and the marker is removed."
        ),
    )
    parser.add_argument("--index", type=Path, required=True, help="textbook MEME index CSV")
    parser.add_argument("--passwd", type=Path, required=True, help="passwd file (uid -> name)")
    parser.add_argument("--homes-dir", type=Path, required=True, help="users' homes on this host")
    parser.add_argument(
        "--home-prefix", default="/home", help="home root inside the users' containers"
    )
    parser.add_argument(
        "--index-prefix", default=DEFAULT_INDEX_PREFIX, help="Elasticsearch index prefix"
    )
    parser.add_argument(
        "--result-jsonpath",
        action="append",
        dest="result_jsonpaths",
        metavar="EXPR",
        help="JSONPath giving result_text (repeatable, first match wins; "
        f"default: {' then '.join(DEFAULT_JSONPATHS)})",
    )
    parser.add_argument(
        "--zone",
        action="append",
        dest="zones",
        default=[],
        metavar="ABBR=+HH:MM",
        help="extra or overriding time-zone abbreviation for log timestamps (repeatable)",
    )
    parser.add_argument(
        "--max-result-bytes",
        type=int,
        default=10 * 1024 * 1024,
        help="largest result file read (bytes)",
    )
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=2.0,
        help="seconds between checks of the index and passwd files for changes",
    )
    parser.add_argument(
        "--reload-max-loss",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="largest share (0..1) of the loaded users or index cells a new version of the "
        "passwd or index file may drop at once without an override marker; default 0.5",
    )
    parser.add_argument(
        "--first-year",
        type=int,
        default=2000,
        help="executions stamped before 1 January of this year (UTC) become dead letters "
        "(TimeOutOfRange); default 2000",
    )
    parser.add_argument(
        "--last-year",
        type=int,
        default=2100,
        help="executions stamped after 31 December of this year (UTC) become dead letters; "
        "default 2100",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time

    from cwh.enrich import (
        EnrichOptions,
        LineTransformer,
        build_enricher,
        hot_path_state,
        log_summary,
        run_stream,
    )

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("cwh.enrich").info("hot path: %s", hot_path_state().describe())
    try:
        enricher = build_enricher(
            EnrichOptions(
                index=args.index,
                passwd=args.passwd,
                homes_dir=args.homes_dir,
                home_prefix=args.home_prefix,
                index_prefix=args.index_prefix,
                result_jsonpaths=tuple(args.result_jsonpaths or DEFAULT_JSONPATHS),
                zones=tuple(args.zones),
                max_result_bytes=args.max_result_bytes,
                reload_interval=args.reload_interval,
                reload_max_loss=args.reload_max_loss,
                first_year=args.first_year,
                last_year=args.last_year,
            )
        )
    except ValueError as exc:
        print(f"cwh enrich: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    result = run_stream(LineTransformer(enricher))
    log_summary(enricher, result, started)
    return 0
