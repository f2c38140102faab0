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
    parser.add_argument(
        "--include-teachers",
        action="store_true",
        help="show users outside the roster's student group too (teachers, assistants); "
        "by default a report with a roster shows its students only",
    )
    parser.add_argument(
        "--student-group",
        help="gid of the students' accounts in a passwd roster (default: every account in "
        "the student uid range)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        help="latest attempts per student and question in the HTML drill-down (default 3)",
    )
    parser.add_argument("--language", help="ja or en (default: CWH_LANGUAGE, else en)")
    add_store_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cwh.messages import text
    from cwh.progress import (
        DEFAULT_ATTEMPTS,
        ReportConfigError,
        RosterError,
        parse_zone,
        window_from,
    )
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
            include_teachers=args.include_teachers,
            student_group=args.student_group,
            attempts_per_cell=DEFAULT_ATTEMPTS if args.attempts is None else args.attempts,
            language=args.language,
        )
        language = config.speaks()
        reports = run_report(config)
    except (ReportConfigError, RosterError, ValueError, OSError) as exc:
        print(f"cwh report: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        assert report.files is not None
        matrix = report.matrix
        print(
            text(
                "progress.cli.course",
                language,
                course=matrix.course,
                students=len(matrix.students),
                questions=len(matrix.questions),
                stuck=len(report.summary.stuck),
            )
        )
        for note in (matrix.suspect_note(language), matrix.others_note(language)):
            if note:
                print(f"  {note}")
        print("  " + text("progress.cli.heatmap", language, path=report.files.png))
        print("  " + text("progress.cli.html", language, path=report.files.html))
        print_exports(report.exports)
    return 0
