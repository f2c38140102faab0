"""The export options of ``cwh report``: ``--format``, ``--pseudonymize`` and the key."""

from __future__ import annotations

import argparse
from typing import Any


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``--format`` and the pseudonymisation of the exports."""
    group = parser.add_argument_group("exports (written beside the HTML report)")
    group.add_argument(
        "--format",
        action="append",
        dest="formats",
        metavar="FORMAT",
        help="also write csv, xlsx, moodle (a gradebook CSV for Moodle's grade import) or "
        "attempts (the drill-down's attempts with code and output, one record each); "
        "repeatable or a comma list; html is always written",
    )
    group.add_argument(
        "--pseudonymize",
        action="store_true",
        help="replace user and local names in the exports by keyed pseudonyms (HMAC-SHA256)",
    )
    key = group.add_mutually_exclusive_group()
    key.add_argument(
        "--pseudonym-key-file",
        metavar="FILE",
        help="file holding the pseudonym key (at least 32 bytes, not readable by others)",
    )
    key.add_argument(
        "--coursewarehub-block",
        metavar="NAME",
        help="CoursewareHub block whose pseudonym_key field holds the key",
    )
    group.add_argument(
        "--keep-free-text",
        action="store_true",
        help="keep text that can carry names (code, output, error messages) in the "
        "pseudonymised attempts export; by default those columns are left empty",
    )


def export_request(args: argparse.Namespace) -> Any:
    """The :class:`tasks.report_exports.ExportRequest` the options describe."""
    from cwh.progress import parse_formats
    from tasks.report_exports import ExportRequest

    return ExportRequest(
        formats=parse_formats(args.formats),
        pseudonymize=args.pseudonymize,
        key_file=args.pseudonym_key_file,
        coursewarehub_block=args.coursewarehub_block,
        keep_free_text=args.keep_free_text,
    )


def print_exports(files: Any) -> None:
    """The export files of one course, one line each."""
    from cwh.messages import language_setting, text

    if files is None:
        return
    language = language_setting()
    for name, path in files.paths().items():
        label = text(f"exports.file.{name}", language)
        print(text("exports.cli.line", language, label=label, path=path))
    if files.pseudonymized:
        print(text("exports.cli.pseudonymized", language))
    if files.free_text_left_out:
        print(text("exports.cli.free_text_left_out", language))
