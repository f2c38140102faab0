"""Where a person opens a report file: its URL on the report server, else a ``file://`` URI.

A process that serves the report directory over HTTP (``cwh serve``, the ``cwh demo``
background process) announces it to the flow runs it starts through two environment
variables: ``CWH_REPORTS_URL`` (the base URL a browser reaches, on another machine too) and
``CWH_REPORTS_DIR`` (the directory behind it). A file under that directory is linked by
URL; anything else, or a run without a report server, keeps the ``file://`` URI that opens
on the machine that wrote the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

REPORTS_URL_ENV = "CWH_REPORTS_URL"
REPORTS_DIR_ENV = "CWH_REPORTS_DIR"


def report_url(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """The address of the report file ``path`` for a person's browser."""
    env = os.environ if environ is None else environ
    resolved = Path(path).resolve()
    base = env.get(REPORTS_URL_ENV, "").strip()
    root = env.get(REPORTS_DIR_ENV, "").strip()
    if base and root:
        try:
            relative = resolved.relative_to(Path(root).expanduser().resolve())
        except ValueError:
            return resolved.as_uri()
        return base.rstrip("/") + "/" + quote(relative.as_posix())
    return resolved.as_uri()


def announce_report_server(base_url: str, directory: Path) -> dict[str, str]:
    """The environment entries that make runs of this process link to ``base_url``."""
    return {REPORTS_URL_ENV: base_url, REPORTS_DIR_ENV: str(Path(directory).resolve())}
