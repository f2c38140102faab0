"""Entry point of the ``cwh`` console script.

Every subcommand lives in ``deployments/cli/<name>.py`` and exposes ``register(subparsers)``
which adds its parser and sets ``handler`` to a function ``(args) -> int``. Registration must
stay cheap: heavy imports belong inside the handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "enrich",
    "textbook",
    "schedule",
    "reconcile",
    "setup",
    "backfill",
    "report",
    "demo",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwh",
        description="CoursewareHub pipelines: learning-progress analytics and worker scheduling.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"deployments.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
