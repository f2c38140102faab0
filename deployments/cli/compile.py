"""``cwh compile``: build the mypyc-compiled enrichment hot path (see :mod:`cwh.enrich.compiled`).

Optional: without a build every module runs from its source. The build needs a C compiler
and the dev dependencies (mypy, setuptools); it is used only while the source is unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compile",
        help="compile the enrichment hot path with mypyc (optional, faster cwh enrich)",
        description=(
            "Compiles the modules every enriched record runs through, and the parser's C "
            "shortcut, into cwh/_compiled/. "
            "They are used while the source matches the build; edit any module and the "
            "interpreted source runs again until the next cwh compile."
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cwh.enrich import HOT_MODULES, NATIVE_MODULES, CompileError, compile_hot_path

    started = time.monotonic()
    try:
        target = compile_hot_path()
    except CompileError as exc:
        print(f"cwh compile: {exc}", file=sys.stderr)
        return 1
    modules = ", ".join([*HOT_MODULES, *(f"{name} (C)" for name in NATIVE_MODULES)])
    print(f"compiled {modules} into {target} in {time.monotonic() - started:.0f} s")
    return 0
