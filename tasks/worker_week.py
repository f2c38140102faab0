"""The reconcile flow's week picture: the coming seven days of the worker pool, as an artifact.

Every run draws the pool the timetable wants from the start of today (local) for seven days,
holidays and other off days shaded and named, with a line at the run's instant, and publishes
it as a Markdown artifact holding the PNG inline (the key stays the same, so the Prefect UI
always shows the latest week). A picture that cannot be drawn is logged and skipped: it never
fails the reconcile.
"""

from __future__ import annotations

import base64
from datetime import datetime, time

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from cwh.messages import language_setting, text
from cwh.timetable import Timetable, render_week
from tasks.common import run_logger

WEEK_ARTIFACT_KEY = "reconcile-workers-week"
INLINE_IMAGE_LIMIT = 512 * 1024
"""Largest PNG embedded in the artifact (a week of a few dozen nodes is well below it)."""


@task(name="publish-worker-week", cache_policy=NO_CACHE)
def publish_week_picture(timetable: Timetable, at: datetime, language: str | None = None) -> int:
    """Draw and publish the week from ``at``'s local day; returns the PNG's size (0: skipped)."""
    log = run_logger(__name__)
    chosen = language_setting(language)
    local_day = at.astimezone(timetable.timezone).date()
    start = timetable.instant_of(datetime.combine(local_day, time()))
    try:
        picture = render_week(timetable, start, language=chosen, now=at)
    except (ValueError, OSError, RuntimeError) as exc:
        log.warning("week picture not drawn: %s", exc)
        return 0
    first, last = picture.days[0].isoformat(), picture.days[-1].isoformat()
    caption = text(
        "schedule.week.artifact", chosen, first=first, last=last, zone=timetable.timezone.key
    )
    if len(picture.png) <= INLINE_IMAGE_LIMIT:
        encoded = base64.b64encode(picture.png).decode("ascii")
        markdown = f"## {caption}\n\n![{caption}](data:image/png;base64,{encoded})\n"
    else:
        too_large = text("schedule.week.artifact_too_large", chosen, size=len(picture.png))
        markdown = f"## {caption}\n\n{too_large}\n"
    create_markdown_artifact(key=WEEK_ARTIFACT_KEY, markdown=markdown, description=caption)
    return len(picture.png)
