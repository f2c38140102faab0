"""``cwh serve``: run every deployment of ``prefect.yaml``, the textbook watcher and the
report files' HTTP server here.

See :mod:`deployments.serve` for this route and the work-pool + worker alternative, and
:mod:`deployments.report_http` for what the report server serves to whom.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_REPORTS_PORT = 4201
REPORTS_PORT_ENV = "CWH_REPORTS_PORT"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve every deployment of prefect.yaml, watch the textbook, serve the reports",
        description=(
            "Registers the block types and the deployments of prefect.yaml (schedules, event "
            "triggers, limits) with the Prefect server at PREFECT_API_URL and executes their "
            "runs in this process; also runs the textbook watcher for the index-textbook "
            "deployment and serves the progress reports over HTTP on the API's host "
            "(PREFECT_SERVER_API_HOST, with its PREFECT_SERVER_API_AUTH_STRING). Alternative: "
            "'prefect --no-prompt deploy --all' and 'prefect worker start --pool cwh-process' "
            "with 'cwh textbook watch' as its own service."
        ),
    )
    parser.add_argument("--prefect-yaml", type=Path, help="deployments file (default: the repo's)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="serve only this deployment (repeatable)"
    )
    parser.add_argument("--no-watch", action="store_true", help="do not run the textbook watcher")
    parser.add_argument("--limit", type=int, help="at most this many concurrent flow runs")
    parser.add_argument(
        "--reports-dir", type=Path, help="report directory to serve (default ~/.cwh/reports)"
    )
    parser.add_argument(
        "--reports-port",
        type=int,
        help=f"port of the report server (default ${REPORTS_PORT_ENV} or "
        f"{DEFAULT_REPORTS_PORT}; 0: no report server)",
    )
    parser.add_argument(
        "--reports-url",
        help="base URL browsers use for the reports, when a proxy or another name is in front",
    )
    parser.add_argument("--language", choices=("ja", "en"), help="messages (default CWH_LANGUAGE)")
    parser.set_defaults(handler=run)


def start_report_server(args: argparse.Namespace) -> Any:
    """The report server of ``args`` (None with port 0), announced to runs."""
    port = args.reports_port
    if port is None:
        setting = os.environ.get(REPORTS_PORT_ENV, "").strip() or str(DEFAULT_REPORTS_PORT)
        if not setting.isdigit() or int(setting) > 65535:
            raise OSError(f"{REPORTS_PORT_ENV}={setting[:20]!r} is not a port number")
        port = int(setting)
    if port == 0:
        return None
    from prefect.settings import get_current_settings

    from deployments.report_http import ReportServer, public_url
    from tasks.report_files import default_report_dir
    from tasks.report_links import announce_report_server

    settings = get_current_settings().server.api
    auth = settings.auth_string.get_secret_value() if settings.auth_string else None
    directory = (args.reports_dir or default_report_dir()).expanduser()
    server = ReportServer(directory, settings.host, port, auth_string=auth).start()
    ui_api_url = get_current_settings().server.ui.api_url
    url = args.reports_url or public_url(settings.host, server.port, ui_api_url)
    os.environ.update(announce_report_server(url, server.directory))
    return server


def run(args: argparse.Namespace) -> int:
    from cwh.messages import language_setting, text
    from deployments.cli.blocks import register_and_report
    from deployments.serve import DEFAULT_PREFECT_YAML, ServeConfigError, serve_all

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    language = language_setting(args.language)
    if not register_and_report("cwh serve", language):
        return 1
    try:
        reports = start_report_server(args)
    except OSError as exc:
        print(f"cwh serve: report server: {exc}", file=sys.stderr)
        return 1
    if reports is not None:
        url = os.environ["CWH_REPORTS_URL"]
        print(text("cli.serve.reports", language, url=url, directory=reports.directory))
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
    finally:
        if reports is not None:
            reports.stop()
    return 0
