"""Entry point of the ``cwh`` console script.

Every subcommand lives in ``deployments/cli/<name>.py`` and exposes ``register(subparsers)``
which adds its parser and sets ``handler`` to a function ``(args) -> int``. Registration must
stay cheap: heavy imports belong inside the handler.

A reader that goes away (``cwh schedule preview FILE --json | head``) ends any command
quietly, here, once for all of them: see :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from collections.abc import Sequence

READER_GONE_STATUS = 128 + 13
"""Exit status when the reader of the output went away: a shell's status for SIGPIPE."""

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
    "blocks",
    "compile",
    "alerts",
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
    """Run one ``cwh`` command; its exit status.

    When the output's reader goes away, the command stops at its next write with
    :data:`READER_GONE_STATUS` and no message, as the Python documentation advises for
    SIGPIPE: standard output is pointed at ``/dev/null`` so that the flush at interpreter
    exit cannot fail again. A broken pipe that is not standard output's (a socket, a
    child's stdin) is the command's own error and is raised as such.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else None
    parser = build_parser(command if command in COMMAND_MODULES else None)
    try:
        args = parser.parse_args(arguments)
        result: int = args.handler(args)
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        _silence_stdout()
        return READER_GONE_STATUS
    except SystemExit:
        if not _flush_stdout():
            return READER_GONE_STATUS
        raise
    return result if _flush_stdout() else READER_GONE_STATUS


def _flush_stdout() -> bool:
    """Flush standard output now, while a failure can still be handled; False when its
    reader has gone away (standard output is then silenced)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    return True


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe or socket whose reading end is closed (an output
    that is no file descriptor, such as a test's capture, cannot be)."""
    try:
        descriptor = sys.stdout.fileno()
        poller = select.poll()
        poller.register(descriptor, select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return False
    return any(flags & (select.POLLERR | select.POLLHUP) for _, flags in events)


def _silence_stdout() -> None:
    """Point standard output at ``/dev/null``: what is still buffered goes nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        return


if __name__ == "__main__":
    sys.exit(main())
