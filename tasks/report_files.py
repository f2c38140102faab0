"""Report files on disk: the heatmap PNG and the HTML page, per course.

Each report is written under ``<reports>/<course slug>/`` with a timestamped name and
copied to ``latest.png``/``latest.html``, so a teacher can bookmark one path that always
shows the newest report. Files are replaced atomically (a browser reloading during a write
never sees half a page) and only the newest ``keep`` timestamped reports are kept: the
schedule writes one every five minutes during class.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cwh.atomic_write import write_bytes_atomic
from tasks.store import cwh_home

DEFAULT_KEEP = 48
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")


def default_report_dir() -> Path:
    return cwh_home() / "reports"


def course_slug(course: str) -> str:
    """Lowercase letters, digits and dashes (Prefect artifact keys allow nothing else).

    Names with other characters (``情報基礎``) get a short hash so that two such courses
    never share a key.
    """
    slug = _SLUG_CHARS.sub("-", course.lower()).strip("-")
    if slug == course:
        return slug
    digest = hashlib.sha256(course.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"course-{digest}"


@dataclass(frozen=True)
class ReportFiles:
    png: Path
    html: Path
    latest_png: Path
    latest_html: Path


def write_report_files(
    directory: Path,
    course: str,
    png: bytes,
    html: str,
    generated_at: datetime,
    *,
    keep: int = DEFAULT_KEEP,
) -> ReportFiles:
    folder = Path(directory).expanduser() / course_slug(course)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"progress-{generated_at:%Y%m%d-%H%M%S}"
    files = ReportFiles(
        png=folder / f"{stamp}.png",
        html=folder / f"{stamp}.html",
        latest_png=folder / "latest.png",
        latest_html=folder / "latest.html",
    )
    page = html.encode("utf-8")
    for path, data in (
        (files.png, png),
        (files.html, page),
        (files.latest_png, png),
        (files.latest_html, page),
    ):
        write_bytes_atomic(path, data)
    _prune(folder, keep)
    return files


def _prune(folder: Path, keep: int) -> None:
    for suffix in (".png", ".html"):
        reports = sorted(folder.glob(f"progress-*{suffix}"))
        for old in reports[: max(0, len(reports) - keep)]:
            old.unlink(missing_ok=True)
