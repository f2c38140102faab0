"""The ``cwh`` command line: one subcommand per pipeline, each in its own module.

Subcommand modules are imported only when their command runs, so ``cwh enrich``
(started by fluentd and kept running) never pays for importing Prefect.
"""

from deployments.cli.main import main

__all__ = ["main"]
