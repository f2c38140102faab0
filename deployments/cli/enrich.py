"""``cwh enrich``: enrich lc_wrapper records, as fluentd's delivery or as a line filter.

With ``--chunk FILE`` (how the fluentd configuration of ``cwh setup`` runs it, once per buffer
chunk) it enriches the chunk's records and stores them in Elasticsearch, exiting 0 only when
every record is stored (:mod:`deployments.live.delivery`). Without it, it is a filter: JSON
lines on stdin, exactly one JSON line per input line on stdout.

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
    parser.add_argument(
        "--accepted-dir",
        type=Path,
        help="keep the last accepted passwd and index here, so that each new process (fluentd "
        "starts one per chunk) judges a changed file against them",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help="also append the log here (fluentd keeps only what its own log shows)",
    )
    delivery = parser.add_argument_group(
        "delivery to Elasticsearch (fluentd's out_exec runs this once per buffer chunk)"
    )
    delivery.add_argument(
        "--chunk",
        type=Path,
        metavar="FILE",
        help="enrich the JSON lines of this fluentd buffer chunk and store them; exit 0 only "
        "when every record is stored (75: Elasticsearch unavailable, fluentd retries)",
    )
    delivery.add_argument(
        "--elasticsearch",
        action="append",
        dest="es_urls",
        default=[],
        metavar="URL",
        help="Elasticsearch node URL (repeatable; tried in order)",
    )
    delivery.add_argument("--es-auth", choices=("none", "basic", "api_key"), default="none")
    delivery.add_argument(
        "--es-username", help="user for basic authentication (password: $CWH_ES_PASSWORD)"
    )
    delivery.add_argument("--es-ca-file", help="CA certificate file for https nodes")
    delivery.add_argument(
        "--es-no-verify", action="store_true", help="do not verify the node's certificate"
    )
    delivery.add_argument("--es-timeout", type=float, default=30.0, help="seconds per request")
    delivery.add_argument(
        "--stats-file",
        type=Path,
        help="JSON file of running totals, added to after every chunk (for health checks)",
    )
    delivery.add_argument(
        "--undeliverable",
        type=Path,
        help="JSON-lines file for documents even the dead-letter index refuses",
    )
    parser.set_defaults(handler=run)


def _configure_logging(log_file: Path | None, *, quiet_stderr: bool) -> None:
    formatter = logging.Formatter("%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet_stderr else logging.INFO)
    handlers.append(console)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            print(f"cwh enrich: cannot write log file {log_file}: {exc}", file=sys.stderr)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)


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

    chunk_mode = args.chunk is not None
    _configure_logging(args.log_file, quiet_stderr=chunk_mode and args.log_file is not None)
    log = logging.getLogger("cwh.enrich")
    if not chunk_mode:
        log.info("hot path: %s", hot_path_state().describe())
    elif not args.es_urls:
        log.error("--chunk needs at least one --elasticsearch URL")
        return 78
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
                accepted_dir=args.accepted_dir,
            )
        )
    except ValueError as exc:
        log.error("cwh enrich: %s", exc)
        return 78 if chunk_mode else 2
    if chunk_mode:
        from deployments.live.chunk_command import deliver_chunk

        return deliver_chunk(args, enricher)
    started = time.monotonic()
    transformer = LineTransformer(enricher)
    result = run_stream(transformer, too_long=transformer.too_long)
    log_summary(enricher, result, started)
    return 0
