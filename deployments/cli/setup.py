"""``cwh setup``: run the ``setup-logging`` flow from a shell, with the same blocks.

``cwh setup --dry-run`` prints the plan the flow would carry out and changes nothing; without
it the flow checks, applies and prints its report. The flow run is recorded on the Prefect
server like any other (its blocks live there), so ``PREFECT_API_URL`` must point at it.
Exit status: 0 done, 1 checks or a step failed (nothing or only earlier steps changed), 2 a
block is missing or invalid.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "setup",
        help="set up lc_wrapper logging: index templates, Kibana, fluentd, JupyterHub",
        description=(
            "Checks the CoursewareHub, Elasticsearch and Kibana named by the blocks, then "
            "installs the index templates, the Kibana data view and dashboard, the fluentd "
            "config and the JupyterHub settings. Idempotent: a second run changes nothing."
        ),
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the planned changes and change nothing"
    )
    for flag, block_type in (
        ("--coursewarehub", "CoursewareHub"),
        ("--elasticsearch", "CoursewareHub Elasticsearch"),
        ("--kibana", "CoursewareHub Kibana"),
    ):
        parser.add_argument(
            flag, default="default", metavar="BLOCK", help=f"{block_type} block name"
        )
    parser.add_argument(
        "--language",
        choices=("ja", "en"),
        help="language of the report (default: CWH_LANGUAGE, else en)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from blocks import BlockNotFound
    from flows.setup_logging import setup_logging

    try:
        report = setup_logging(
            coursewarehub_block=args.coursewarehub,
            elasticsearch_block=args.elasticsearch,
            kibana_block=args.kibana,
            dry_run=args.dry_run,
            language=args.language,
        )
    except Exception as exc:
        print(f"cwh setup: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BlockNotFound) else 1
    print(report.markdown)
    return 0
