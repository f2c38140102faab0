"""``cwh blocks register``: make the project's block types known to the Prefect server.

The Prefect UI's Blocks catalog offers only the types its server knows; after this command
an operator fills in the CoursewareHub, Elasticsearch, Kibana and VCP blocks there.
Registering again updates the types' schemas in place. ``cwh serve`` does it at start too.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "blocks",
        help="register the project's block types with the Prefect server",
        description="Block types of cwh-flows for the Prefect server at PREFECT_API_URL.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    registering = actions.add_parser("register", help="register (or update) every block type")
    registering.add_argument(
        "--language", choices=("ja", "en"), help="messages (default CWH_LANGUAGE)"
    )
    registering.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from blocks.registry import register_block_types
    from cwh.messages import language_setting, text

    language = language_setting(args.language)
    try:
        types = register_block_types()
    except Exception as exc:
        print(f"cwh blocks register: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(text("cli.blocks.registered", language, types=", ".join(types)))
    return 0
