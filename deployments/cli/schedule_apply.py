"""``cwh schedule apply FILE``: the reconcile deployment's schedules on the Prefect server follow
the timetable.

One cron schedule per phase transition plus the safety net, as ``cwh schedule to-prefect``
prints them, but written to the server through its API instead of pasted into prefect.yaml:

* schedules are matched by slug and updated in place, so each keeps its id;
* a schedule whose phase left the file is removed;
* a schedule not generated from a timetable (no slug, or a slug without the matching ``phase``
  parameter) is reported and left alone, or removed with ``--prune``;
* a second run changes nothing and says so; ``--dry-run`` only reads the server.

The file is read and checked before the server is contacted, so a broken timetable changes
nothing. Registered by :mod:`deployments.cli.schedule`, which loads the timetable.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwh.timetable import Timetable

DEFAULT_DEPLOYMENT = "reconcile-workers"


def add_parser(actions: Any) -> argparse.ArgumentParser:
    """The ``apply`` subcommand; the caller adds the timetable arguments."""
    apply: argparse.ArgumentParser = actions.add_parser(
        "apply",
        help="write the timetable's schedules to the reconcile deployment on the Prefect server",
        description="Bring the schedules of a deployment on the Prefect server (PREFECT_API_URL) "
        "to those the timetable implies: matched by slug and updated in place, removed when "
        "their phase left the file; schedules not generated from a timetable are left alone "
        "unless --prune. Running it again changes nothing.",
    )
    apply.add_argument(
        "--deployment",
        default=DEFAULT_DEPLOYMENT,
        metavar="NAME",
        help="FLOW/DEPLOYMENT, or a deployment name only one flow uses "
        f"(default {DEFAULT_DEPLOYMENT})",
    )
    apply.add_argument(
        "--prune",
        action="store_true",
        help="also remove schedules that were not generated from a timetable",
    )
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would change; change nothing"
    )
    apply.add_argument(
        "--safety-net-minutes",
        type=int,
        choices=(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60),
        metavar="N",
        help="interval of the safety-net schedule, a divisor of 60 "
        "(default: the deployment's, else 15)",
    )
    apply.add_argument(
        "--language", metavar="ja|en", help="language of the messages (default: CWH_LANGUAGE, en)"
    )
    return apply


def apply_schedules(args: argparse.Namespace, timetable: Timetable) -> int:
    """Apply ``timetable``'s schedules to ``args.deployment``; print what changed."""
    from cwh.messages import UnknownLanguage, language_setting, text
    from cwh.safe_input import printable
    from cwh.timetable import render_schedule_diff
    from tasks.deployment_schedules import PrefectApiError, sync_deployment_schedules

    try:
        language = language_setting(args.language)
    except UnknownLanguage as exc:
        print(f"cwh schedule apply: --language: {exc}", file=sys.stderr)
        return 2
    try:
        done = sync_deployment_schedules(
            args.deployment,
            timetable,
            at=datetime.now(timetable.timezone),
            prune=args.prune,
            dry_run=args.dry_run,
            safety_net_minutes=args.safety_net_minutes,
            language=language,
        )
    except PrefectApiError as exc:
        print(printable(f"cwh schedule apply: {exc}"), file=sys.stderr)
        return 1
    report = render_schedule_diff(
        done.diff,
        deployment=done.deployment.full_name,
        source=args.file.name,
        language=language,
        notes=done.notes,
    )
    print(printable(report, keep_newlines=True), end="")
    if args.dry_run and not done.diff.changes_nothing:
        print(text("schedule_sync.dry_run", language))
    return 0
