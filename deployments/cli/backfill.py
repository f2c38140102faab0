"""``cwh backfill``: index the executions in users' ``.log`` trees, with a progress bar.

Runs the same code as the ``backfill-logs`` flow, without needing a Prefect server. Safe to
interrupt (Ctrl-C) and run again: it resumes after the last committed batch, and documents
already stored (from an earlier run or from fluentd) are counted, never duplicated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from cwh.messages import Language
from cwh.messages import text as message
from tasks.store import StoreConfig


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where documents live: Elasticsearch (block or URL) or the embedded SQLite file."""
    group = parser.add_argument_group("store (default: the embedded SQLite store)")
    target = group.add_mutually_exclusive_group()
    target.add_argument(
        "--elasticsearch-block", metavar="NAME", help="saved Elasticsearch connection block"
    )
    target.add_argument(
        "--elasticsearch-url", metavar="URL", help="Elasticsearch without credentials"
    )
    target.add_argument(
        "--database", metavar="FILE", help="embedded store file (default ~/.cwh/executions.sqlite3)"
    )
    group.add_argument(
        "--index-prefix", help="Elasticsearch index prefix (default: the block's, or lcwrapper)"
    )


def store_config(args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(
        elasticsearch_block=args.elasticsearch_block,
        elasticsearch_url=args.elasticsearch_url,
        database=args.database,
        index_prefix=args.index_prefix,
    )


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backfill",
        help="index the executions recorded in users' .log trees",
        description=(
            "Scans <homes-dir>/<user>/**/.log/YYYYMMDD/*.log, enriches every log exactly as "
            "'cwh enrich' does (same document ids) and stores the documents in batches. "
            "Resumable and idempotent."
        ),
    )
    parser.add_argument("--homes-dir", required=True, help="users' homes on this host")
    parser.add_argument("--index", required=True, help="textbook MEME index CSV")
    parser.add_argument("--passwd", required=True, help="passwd file (uid -> name)")
    parser.add_argument("--home-prefix", default="/home", help="home root inside containers")
    parser.add_argument(
        "--user", action="append", dest="users", metavar="NAME", help="only this user (repeatable)"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="documents per write")
    parser.add_argument(
        "--write-workers", type=int, help="concurrent writes (default 2 for Elasticsearch, 1)"
    )
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint file for resuming")
    parser.add_argument(
        "--restart", action="store_true", help="ignore an existing checkpoint and start over"
    )
    parser.add_argument(
        "--result-jsonpath", action="append", dest="result_jsonpaths", metavar="EXPR",
        help="JSONPath giving result_text (repeatable, first match wins)",
    )  # fmt: skip
    parser.add_argument(
        "--zone", action="append", dest="zones", default=[], metavar="ABBR=+HH:MM",
        help="extra time-zone abbreviation for log timestamps (repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--language",
        choices=("ja", "en"),
        help="language of the progress and summary (default: CWH_LANGUAGE, else en)",
    )
    add_store_arguments(parser)
    parser.set_defaults(handler=run)


class ProgressBar:
    """A one-line bar on a terminal; on a pipe or file, a line every ten percent."""

    WIDTH = 30

    def __init__(self, stream: TextIO, language: Language = "en") -> None:
        self.stream = stream
        self.language = language
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_decile = -1

    def __call__(self, done: int, total: int, counts: Any) -> None:
        fraction = done / total if total else 1.0
        rate = done / max(time.monotonic() - self.started, 1e-9)
        text = message(
            "backfill.cli.progress",
            self.language,
            done=done,
            total=total,
            percent=f"{fraction:4.0%}",
            indexed=counts.indexed,
            present=counts.already_present,
            dead_letters=counts.dead_letters,
            rate=f"{rate:,.0f}",
        )
        if self.tty:
            filled = round(self.WIDTH * fraction)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {text}")
            if done >= total:
                self.stream.write("\n")
        else:
            decile = int(fraction * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from cwh.enrich import DEFAULT_JSONPATHS
    from cwh.messages import language_setting
    from tasks.backfill import BackfillConfig, run_backfill

    language = language_setting(args.language)
    try:
        config = BackfillConfig(
            homes_dir=args.homes_dir,
            index=args.index,
            passwd=args.passwd,
            store=store_config(args),
            home_prefix=args.home_prefix,
            users=tuple(args.users) if args.users else None,
            result_jsonpaths=tuple(args.result_jsonpaths or DEFAULT_JSONPATHS),
            zones=tuple(args.zones),
            batch_size=args.batch_size,
            write_workers=args.write_workers,
            checkpoint=args.checkpoint,
            resume=not args.restart,
        )
        result = run_backfill(config, progress=ProgressBar(sys.stderr, language))
    except KeyboardInterrupt:
        print("\n" + message("backfill.cli.interrupted", language), file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"cwh backfill: {exc}", file=sys.stderr)
        return 2
    counts = result.summary
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        done = message(
            "backfill.cli.done",
            language,
            files=result.files,
            indexed=counts.indexed,
            present=counts.already_present,
            dead_letters=counts.dead_letters,
            seconds=f"{result.seconds:.1f}",
            store=result.store,
        )
        print(done)
        for reason, count in sorted(counts.dead_letters_by_reason.items()):
            print(message("backfill.cli.reason", language, reason=reason, count=count))
    return 0
