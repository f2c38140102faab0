"""``cwh serve``: run every deployment of ``prefect.yaml`` and the textbook watcher here.

See :mod:`deployments.serve` for this route and the work-pool + worker alternative.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve every deployment of prefect.yaml and watch the textbook",
        description=(
            "Registers the deployments of prefect.yaml (schedules, event triggers, limits) "
            "with the Prefect server at PREFECT_API_URL and executes their runs in this "
            "process; also runs the textbook watcher for the index-textbook deployment. "
            "Alternative: 'prefect --no-prompt deploy --all' and 'prefect worker start "
            "--pool cwh-process' with 'cwh textbook watch' as its own service."
        ),
    )
    parser.add_argument("--prefect-yaml", type=Path, help="deployments file (default: the repo's)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="serve only this deployment (repeatable)"
    )
    parser.add_argument("--no-watch", action="store_true", help="do not run the textbook watcher")
    parser.add_argument("--limit", type=int, help="at most this many concurrent flow runs")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from deployments.serve import DEFAULT_PREFECT_YAML, ServeConfigError, serve_all

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        serve_all(
            args.prefect_yaml or DEFAULT_PREFECT_YAML,
            only=args.only,
            watch=not args.no_watch,
            limit=args.limit,
        )
    except ServeConfigError as exc:
        print(f"cwh serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
