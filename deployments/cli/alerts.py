"""``cwh alerts apply``: install the project's Prefect automations on the server.

::

    cwh alerts apply --notify-block slack-webhook/ops [--language ja] [--stale-run-after 180]

One automation per rule of :func:`cwh.health.alert_rules` (pipeline unhealthy, dead letters
rising, workers stuck, schedule drift, failed or crashed runs of the deployments of
``prefect.yaml``, and runs whose heartbeat stopped, which are set CRASHED). They are found
again by name, so running the command again changes nothing, and after an edit of the rules
it updates them in place. Only stdlib is imported at module level.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "alerts",
        help="install the Prefect automations that notify about pipeline problems",
        description="Create or update (by name, idempotently) the project's Prefect "
        "automations on the server at PREFECT_API_URL.",
    )
    actions = parser.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    apply = actions.add_parser(
        "apply",
        help="create or update the automations",
        description="Create or update the automations; notifications go through the saved "
        "notification block named <type slug>/<name> (any notification block type).",
    )
    apply.add_argument(
        "--notify-block",
        required=True,
        metavar="TYPE/NAME",
        help="saved notification block, e.g. slack-webhook/ops or custom-webhook/pager",
    )
    apply.add_argument("--prefect-yaml", type=Path, help="deployments file (default: the repo's)")
    apply.add_argument(
        "--stale-run-after",
        type=int,
        metavar="SECONDS",
        help="a run without a heartbeat for this long is set CRASHED "
        "(default: three heartbeats of the serving processes)",
    )
    apply.add_argument("--language", help="language of the notifications: ja or en")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cwh.health import alert_rules
    from cwh.messages import UnknownLanguage, language_setting, text
    from deployments.serve import DEFAULT_PREFECT_YAML, ServeConfigError, read_specs
    from tasks.automations import AlertsError, apply_automations, notification_block_id

    try:
        language = language_setting(args.language)
    except UnknownLanguage as exc:
        print(f"cwh alerts: {exc}", file=sys.stderr)
        return 2
    prefect_yaml = args.prefect_yaml or DEFAULT_PREFECT_YAML
    try:
        names = [spec.name for spec in read_specs(prefect_yaml)]
    except ServeConfigError as exc:
        message = text("health.cli.prefect_yaml", language, path=prefect_yaml, error=exc)
        print(f"cwh alerts: {message}", file=sys.stderr)
        return 2
    rules = alert_rules(names, language, stale_run_after=args.stale_run_after)
    try:
        block_id = notification_block_id(args.notify_block, language)
        applied = apply_automations(rules, block_id)
    except AlertsError as exc:
        print(f"cwh alerts: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        error = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"cwh alerts: {text('health.cli.api', language, error=error)}", file=sys.stderr)
        return 1
    for item in applied:
        print(text(f"health.cli.{item.change}", language, name=item.name))
    return 0
