"""``cwh report``: the progress report (heatmap PNG + HTML) per course, without Prefect."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cwh.defaults import DEFAULT_TIMEZONE
from deployments.cli.backfill import add_store_arguments, store_config
from deployments.cli.report_exports import add_export_arguments, export_request, print_exports


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="students x questions progress report per course",
        description=(
            "Writes, per course, a heatmap PNG and a self-contained HTML page (every question "
            "of the textbook, every student of the roster) and prints their paths."
        ),
    )
    parser.add_argument("--index", required=True, help="textbook MEME index CSV")
    parser.add_argument(
        "--roster", help="passwd file or roster list: students shown even with no runs"
    )
    parser.add_argument(
        "--course", action="append", dest="courses", help="only this course (repeatable)"
    )
    parser.add_argument("--since", help="start of the window (ISO-8601, inclusive)")
    parser.add_argument("--until", help="end of the window (ISO-8601, exclusive)")
    parser.add_argument("--last-minutes", type=int, help="window: the last N minutes")
    parser.add_argument(
        "--student", action="append", dest="students", help="only this user or local name"
    )
    parser.add_argument("--output-dir", help="report directory (default ~/.cwh/reports)")
    parser.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="time zone of the report")
    parser.add_argument(
        "--include-suspect",
        action="store_true",
        help="count suspect executions too (records that do not match the log file or its "
        "owner on disk); by default they are left out and only their number is reported",
    )
    add_export_arguments(parser)
    add_store_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cwh.progress import ReportConfigError, RosterError, parse_zone, window_from
    from tasks.progress_reports import ReportConfig, run_report

    try:
        zone = parse_zone(args.timezone)
        since, until = window_from(
            args.since, args.until, args.last_minutes, zone, datetime.now(UTC)
        )
        config = ReportConfig(
            index=args.index,
            store=store_config(args),
            roster=args.roster,
            courses=tuple(args.courses) if args.courses else None,
            since=since,
            until=until,
            students=tuple(args.students) if args.students else None,
            output_dir=args.output_dir,
            timezone=args.timezone,
            include_suspect=args.include_suspect,
            exports=export_request(args),
        )
        reports = run_report(config)
    except (ReportConfigError, RosterError, ValueError, OSError) as exc:
        print(f"cwh report: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        assert report.files is not None
        matrix = report.matrix
        print(
            f"{matrix.course}: {len(matrix.students)} students x {len(matrix.questions)} "
            f"questions, {len(report.summary.stuck)} latest run(s) failed"
        )
        note = matrix.suspect_note()
        if note:
            print(f"  {note}")
        print(f"  heatmap: {report.files.png}")
        print(f"  html:    {report.files.html}")
        print_exports(report.exports)
    return 0
