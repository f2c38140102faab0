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
    "compile",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``cwh`` parser; with ``only``, just that subcommand is registered.

    Registering one subcommand instead of all of them keeps the start-up of a command such
    as ``cwh enrich`` (started by fluentd, and again after every restart) to its own imports.
    """
    parser = argparse.ArgumentParser(
        prog="cwh",
        description="CoursewareHub pipelines: learning-progress analytics and worker scheduling.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES if only is None else (only,):
        module = importlib.import_module(f"deployments.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else None
    parser = build_parser(command if command in COMMAND_MODULES else None)
    args = parser.parse_args(arguments)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
