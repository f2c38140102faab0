"""``cwh textbook index|validate|watch``: the textbook MEME index from the command line.

``index`` builds the index exactly as the ``index-textbook`` flow does, ``validate``
only reports, and ``watch`` runs the file watcher that triggers the flow. Exit codes:
0 success, 1 validation problems or a refused/failed build (in non-strict mode the index
is still written), 2 unusable options.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
DEFAULT_QUIET_SECONDS = 3.0
DEFAULT_MAX_WAIT_SECONDS = 60.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "textbook",
        help="build, validate and watch the textbook MEME index",
        description="Textbook MEME index: question numbers and labels for every code cell.",
    )
    commands = parser.add_subparsers(dest="textbook_command", required=True, metavar="ACTION")
    _add_index(commands)
    _add_validate(commands)
    _add_watch(commands)
    parser.set_defaults(handler=run)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--textbook-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="released textbook directory, e.g. /jupyter/admin/textbook",
    )
    for flag, help in (
        (
            "--include",
            "notebooks to index, relative to the textbook (repeatable; default '**/*.ipynb')",
        ),
        ("--exclude", "notebooks to leave out, e.g. 'drafts/**' (repeatable)"),
    ):
        parser.add_argument(flag, action="append", metavar="GLOB", help=help)
    _switch(
        parser,
        "--keep-branch-number",
        "keep MEME branch numbers in lc_cell_meme (default: first five parts only)",
    )
    _switch(
        parser,
        "--allow-outside-links",
        "read notebooks that are symbolic links leading out of the textbook directory"
        " (refused by default)",
    )
    parser.add_argument(
        "--language",
        choices=("ja", "en"),
        help="language of the summary and report (default: CWH_LANGUAGE, else en)",
    )
    parser.add_argument(
        "--max-notebook-mb",
        type=_positive,
        default=None,
        metavar="MB",
        help="largest notebook read, in MiB (default 32); larger ones are reported and skipped",
    )


def _command(commands: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    return parser


def _switch(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """An option that is off unless given."""
    parser.add_argument(flag, action="store_true", help=help)


def _add_index(commands: Any) -> None:
    parser = _command(
        commands,
        "index",
        "build or update the index file",
        "Scan the textbook, validate it and write the index atomically"
        " (only when its content changes).",
    )
    _add_selection(parser)
    parser.add_argument("--output", required=True, type=Path, metavar="FILE", help="index CSV")
    parser.add_argument(
        "--qlabel-pattern",
        metavar="RE",
        help=r"regex whose first match in the preceding markdown is the label, e.g. '問\s*\d+-\d+'",
    )
    _switch(
        parser, "--strict", "write nothing when validation finds problems (the old index stays)"
    )
    parser.add_argument(
        "--numbering",
        choices=("stable", "name", "mtime", "ctime"),
        default="stable",
        help="notebook numbers: a ledger that never renumbers (default), or the reference's"
        " sort orders",
    )
    parser.add_argument(
        "--qno-format",
        default="{:02}-{:03}",
        metavar="FMT",
        help="str.format pattern for (notebook, cell), default '{:02}-{:03}'",
    )
    _switch(parser, "--allow-empty", "allow an empty textbook to replace a non-empty index")


def _add_validate(commands: Any) -> None:
    parser = _command(
        commands,
        "validate",
        "report MEME problems (exit 1 when there are any)",
        "Check every notebook for missing and duplicate MEMEs and print the"
        " commands that fix them.",
    )
    _add_selection(parser)


def _add_watch(commands: Any) -> None:
    parser = _command(
        commands,
        "watch",
        "send cwh.textbook.changed events when notebooks change",
        "Watch the textbook directory and emit one debounced Prefect event per"
        " burst of notebook changes (needs PREFECT_API_URL).",
    )
    parser.add_argument("--textbook-dir", required=True, type=Path, metavar="DIR")
    parser.add_argument(
        "--quiet-seconds",
        type=_non_negative,
        default=DEFAULT_QUIET_SECONDS,
        metavar="S",
        help=f"send after this long without changes (default {DEFAULT_QUIET_SECONDS:g})",
    )
    parser.add_argument(
        "--max-wait-seconds",
        type=_non_negative,
        default=DEFAULT_MAX_WAIT_SECONDS,
        metavar="S",
        help="send at the latest this long after the first change of a burst"
        f" (default {DEFAULT_MAX_WAIT_SECONDS:g})",
    )
    _switch(
        parser, "--poll", "poll instead of inotify (needed on NFS for writes made on other hosts)"
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive,
        default=1.0,
        metavar="S",
        help="polling interval with --poll (default 1)",
    )
    _switch(parser, "--no-initial-event", "do not ask for a re-index when the watcher starts")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def run(args: argparse.Namespace) -> int:
    command = args.textbook_command
    if command == "index":
        return _run_index(args)
    if command == "validate":
        return _run_validate(args)
    return _run_watch(args)


def _options(args: argparse.Namespace, **extra: Any) -> Any:
    from cwh.textbook import DEFAULT_INCLUDE, IndexOptions

    if args.max_notebook_mb is not None:
        extra["max_notebook_bytes"] = int(args.max_notebook_mb * (1 << 20))
    return IndexOptions(
        include=tuple(args.include) if args.include else DEFAULT_INCLUDE,
        exclude=tuple(args.exclude or ()),
        keep_branch_number=args.keep_branch_number,
        allow_outside_links=args.allow_outside_links,
        **extra,
    )


def _error(action: str, message: str) -> None:
    from cwh.safe_input import printable

    print(f"cwh textbook {action}: error: {printable(message)}", file=sys.stderr)


def _run_index(args: argparse.Namespace) -> int:
    from cwh import textbook
    from cwh.messages import language_setting, text
    from cwh.safe_input import InputRefused, printable
    from cwh.textbook import LedgerError, TextbookDirError, format_report

    language = language_setting(args.language)

    try:
        options = _options(
            args,
            qlabel_pattern=args.qlabel_pattern,
            strict=args.strict,
            numbering=args.numbering,
            qno_format=args.qno_format,
            allow_empty=args.allow_empty,
        )
    except textbook.IndexOptionsError as exc:
        _error("index", str(exc))
        return EXIT_USAGE
    try:
        scan = textbook.scan(args.textbook_dir, options, args.output)
        problems = textbook.validate(scan, options)
        outcome = textbook.write_index(scan, problems, options, args.output)
    except (TextbookDirError, LedgerError, textbook.IndexLockTimeout, OSError, InputRefused) as exc:
        _error("index", str(exc))
        return EXIT_PROBLEMS
    for note in outcome.notes:
        print(text("textbook.cli.note", language, note=printable(note)), file=sys.stderr)
    if problems:
        report = format_report(problems, textbook_dir=args.textbook_dir, language=language)
        print(report, file=sys.stderr)
    if outcome.refusal:
        _error("index", outcome.refusal_in(language) or "")
        return EXIT_PROBLEMS
    summary = text(
        f"textbook.cli.{outcome.status}",
        language,
        index=printable(str(outcome.index)),
        rows=outcome.rows,
        notebooks=len(outcome.notebooks),
        read=outcome.files_read,
    )
    print(summary)
    return EXIT_PROBLEMS if problems else EXIT_OK


def _run_validate(args: argparse.Namespace) -> int:
    from cwh import textbook
    from cwh.messages import language_setting, text
    from cwh.textbook import TextbookDirError, format_report

    language = language_setting(args.language)
    try:
        options = _options(args)
    except textbook.IndexOptionsError as exc:
        _error("validate", str(exc))
        return EXIT_USAGE
    try:
        scan = textbook.scan(args.textbook_dir, options)
    except TextbookDirError as exc:
        _error("validate", str(exc))
        return EXIT_PROBLEMS
    problems = textbook.validate(scan, options)
    print(format_report(problems, textbook_dir=args.textbook_dir, language=language))
    if not problems:
        notebooks, questions = len(scan.notebooks), scan.question_count
        print(text("textbook.cli.validated", language, notebooks=notebooks, questions=questions))
    return EXIT_PROBLEMS if problems else EXIT_OK


def _run_watch(args: argparse.Namespace) -> int:
    from deployments.textbook_watch import TextbookWatcher, WatchConfig, prefect_event_sender

    if args.max_wait_seconds < args.quiet_seconds:
        _error("watch", "--max-wait-seconds must be at least --quiet-seconds")
        return EXIT_USAGE
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    root = Path(os.path.abspath(args.textbook_dir))
    config = WatchConfig(
        textbook_dir=root,
        quiet_seconds=args.quiet_seconds,
        max_wait_seconds=args.max_wait_seconds,
        force_polling=args.poll,
        poll_interval_seconds=args.poll_interval,
        announce_start=not args.no_initial_event,
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logging.getLogger("cwh.textbook.watch").info(
            "received %s, stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    TextbookWatcher(config, prefect_event_sender(root)).run(stop)
    return EXIT_OK
