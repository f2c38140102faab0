"""The ``cwh`` command line: one subcommand per pipeline, each in its own module.

Subcommand modules are imported only when their command runs, so ``cwh enrich``
(started by fluentd and kept running) never pays for importing Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; imports the parser lazily (see ``deployments.cli.main``)."""
    from deployments.cli.main import main as run_main

    return run_main(argv)


__all__ = ["main"]
