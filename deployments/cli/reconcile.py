"""``cwh reconcile FILE``: run the ``reconcile-workers`` flow once, now (or for ``--at``).

The same flow the cron schedules start, run in this process: it observes the swarm and the
VM provider, applies what the timetable wants and prints the run's report. ``--dry-run``
plans without changing anything (``cwh schedule plan`` does the same on paper, without
looking at the swarm). Exit status 0 when the pool converged or only waits for user servers
to end, 1 when anything could not be applied or the input is invalid.

Only stdlib is imported at module level; Prefect and the flow load when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cwh.defaults import DEFAULT_DOCKER_HOST, DEFAULT_VCP_DOCKER_URL_TEMPLATE

DEFAULT_LEDGER = "~/.cwh/worker-ledger.jsonl"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reconcile",
        help="bring the swarm's worker nodes and VMs to the timetable's state now",
        description=(
            "Run the reconcile-workers flow once: observe the swarm and the VM provider, "
            "apply what FILE wants at --at (default: now) and print the report. FILE is our "
            "timetable or the reference's OCS document / old swarm list (YAML or JSON)."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="timetable (YAML or JSON)")
    parser.add_argument(
        "--at",
        metavar="ISO-TIME",
        help="instant to reconcile for; without an offset it is read in the timetable's zone",
    )
    parser.add_argument("--dry-run", action="store_true", help="plan only, change nothing")
    parser.add_argument(
        "--provider",
        choices=("vcp", "static"),
        default="vcp",
        help="vcp: VMs of a VCP unit (needs --vcp-block); static: on-premises machines that "
        "are always on, only their swarm availability changes (default vcp)",
    )
    parser.add_argument(
        "--vcp-block", metavar="NAME", help="saved 'VCP Worker Unit' block (unit and token)"
    )
    parser.add_argument(
        "--docker-host",
        default=DEFAULT_DOCKER_HOST,
        metavar="URL",
        help=f"Docker API of the swarm manager (default {DEFAULT_DOCKER_HOST})",
    )
    parser.add_argument(
        "--docker-host-block", metavar="NAME", help="saved DockerHost block, instead of a URL"
    )
    parser.add_argument(
        "--node-docker-url",
        metavar="TEMPLATE",
        default=DEFAULT_VCP_DOCKER_URL_TEMPLATE,
        help="how static machines' Docker API is reached to join them "
        f"(default {DEFAULT_VCP_DOCKER_URL_TEMPLATE})",
    )
    parser.add_argument(
        "--ips", metavar="A,B,C", help="worker addresses in order, replacing the file's list"
    )
    parser.add_argument(
        "--down-type",
        choices=("deleted", "power_down"),
        help="what happens to unneeded VMs when FILE does not say",
    )
    parser.add_argument(
        "--allow-zero-active",
        action="store_true",
        help="accept a state with no active worker (no student could start a server)",
    )
    parser.add_argument(
        "--hub-service",
        metavar="NAME",
        help="JupyterHub swarm service whose culling settings follow the timetable",
    )
    parser.add_argument(
        "--hub-block",
        metavar="NAME",
        help="CoursewareHub block whose JupyterHub API tells which servers are idle "
        "(used only when the timetable sets force_idle_after)",
    )
    ledger = parser.add_mutually_exclusive_group()
    ledger.add_argument(
        "--ledger",
        default=DEFAULT_LEDGER,
        metavar="FILE",
        help=f"node-hours ledger read by `cwh schedule savings` (default {DEFAULT_LEDGER})",
    )
    ledger.add_argument("--no-ledger", action="store_true", help="do not record node-hours")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--language",
        choices=("ja", "en"),
        help="language of the report and artifacts (default: the --hub-block's, else "
        "CWH_LANGUAGE, else en)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from blocks import BlockNotFound
    from cwh.messages import language_setting, text
    from cwh.timetable import DownType, PlanRefused, TimetableError, load_timetable
    from flows.reconcile_workers import ReconcileFailed, reconcile_workers
    from tasks.language import named_block_language

    try:
        at = datetime.fromisoformat(args.at) if args.at else None
    except ValueError:
        said = text("reconcile.cli.bad_at", language_setting(args.language), at=repr(args.at))
        print(f"cwh reconcile: {said}", file=sys.stderr)
        return 1
    ips = None
    if args.ips is not None:
        ips = [part.strip() for part in args.ips.split(",") if part.strip()]
    down_type = DownType(args.down_type) if args.down_type else None
    try:
        # Checked here too, so a wrong file is reported plainly before any flow run starts.
        load_timetable(args.file, ips=ips, down_type=down_type)
    except TimetableError as exc:
        print(f"cwh reconcile: {exc}", file=sys.stderr)
        return 1
    # --language, else the hub block's, else CWH_LANGUAGE: the run and this report speak it.
    try:
        language = named_block_language(args.language, args.hub_block)
    except BlockNotFound as exc:
        print(f"cwh reconcile: {exc}", file=sys.stderr)
        return 1
    state = reconcile_workers(
        timetable=str(args.file),
        at=at,
        provider=args.provider,
        vcp_block=args.vcp_block,
        docker_host=args.docker_host,
        docker_host_block=args.docker_host_block,
        node_docker_url=args.node_docker_url,
        ips=ips,
        down_type=args.down_type,
        dry_run=args.dry_run,
        allow_zero_active=args.allow_zero_active,
        ledger=None if args.no_ledger else args.ledger,
        hub_service=args.hub_service,
        hub_block=args.hub_block,
        language=language,
        return_state=True,
    )
    if state.is_completed():
        report = state.result()
        _print_report(report, language, as_json=args.json)
        return 0
    error = state.result(raise_on_failure=False)
    if isinstance(error, ReconcileFailed):
        report = dict(error.report)
        _print_report(report, language, as_json=args.json)
        print(f"cwh reconcile: {error}", file=sys.stderr)
    elif isinstance(error, TimetableError | PlanRefused | ValueError):
        print(f"cwh reconcile: {error}", file=sys.stderr)
    else:
        said = text("reconcile.cli.ended", language, state=state.name, error=error)
        print(f"cwh reconcile: {said}", file=sys.stderr)
    return 1


def _print_report(report: dict[str, Any], language: Any, *, as_json: bool) -> None:
    from cwh.timetable import node_table_markdown, summary_markdown

    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(summary_markdown(report, language))
    print(node_table_markdown(report["nodes"], language), end="")
