"""``cwh blocks register``: make the project's block types known to the Prefect server.

The Prefect UI's Blocks catalog offers only the types its server knows; after this command
an operator fills in the CoursewareHub, Elasticsearch, Kibana and VCP blocks there.
Registering again updates the types' schemas in place. ``cwh serve`` does it at start too.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwh.messages import Language


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
    from cwh.messages import language_setting

    return 0 if register_and_report("cwh blocks register", language_setting(args.language)) else 1


def register_and_report(command: str, language: Language) -> bool:
    """Register the project's block types and say which; False (the reason on stderr,
    prefixed by ``command``) when the Prefect API refused or could not be reached."""
    from blocks.registry import register_block_types
    from cwh.messages import text

    try:
        types = register_block_types()
    except Exception as exc:
        print(f"{command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return False
    print(text("cli.blocks.registered", language, types=", ".join(types)))
    return True
