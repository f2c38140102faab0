"""Flow ``backfill-logs``: index the executions users' ``.log`` trees hold.

Lists the log files, enriches and stores them (:mod:`tasks.backfill`: idempotent and
resumable, progress shown as a progress artifact), publishes a summary and announces the
result as the event ``cwh.backfill.completed``. Scheduled nightly over the last days' logs,
it is the safety net behind the live path: what it adds is what fluentd did not deliver.
"""

from __future__ import annotations

from typing import cast

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.utilities.annotations import quote

from cwh.enrich import DEFAULT_JSONPATHS
from cwh.messages import language_setting, text
from tasks.backfill import (
    DEFAULT_BATCH_SIZE,
    BackfillConfig,
    BackfillCounts,
    announce_backfill,
    store_files,
    summary_markdown,
)
from tasks.log_files import first_recent_day, list_log_files
from tasks.store import StoreConfig


@flow(
    name="backfill-logs",
    description="Index the executions recorded in users' .log trees (idempotent, resumable).",
)
def backfill_logs(
    homes_dir: str,
    index: str,
    passwd: str,
    home_prefix: str = "/home",
    index_prefix: str | None = None,
    elasticsearch_block: str | None = None,
    elasticsearch_url: str | None = None,
    database: str | None = None,
    users: list[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    write_workers: int | None = None,
    checkpoint: str | None = None,
    resume: bool = True,
    result_jsonpaths: list[str] | None = None,
    zones: list[str] | None = None,
    recent_days: int | None = None,
    language: str | None = None,
) -> BackfillCounts:
    """``recent_days`` limits the run to the dated log directories of the last days (the
    nightly safety net behind the live path); None reads every log. ``language``
    (``ja``/``en``) is the artifacts'; unset, ``CWH_LANGUAGE`` decides."""
    lang = language_setting(language)
    config = BackfillConfig(
        homes_dir=homes_dir,
        index=index,
        passwd=passwd,
        store=StoreConfig(elasticsearch_block, elasticsearch_url, database, index_prefix),
        home_prefix=home_prefix,
        users=tuple(users) if users else None,
        result_jsonpaths=tuple(result_jsonpaths or DEFAULT_JSONPATHS),
        zones=tuple(zones or ()),
        batch_size=batch_size,
        write_workers=write_workers,
        checkpoint=checkpoint,
        resume=resume,
    )
    since_day = first_recent_day(recent_days)
    files = list_log_files(homes_dir, config.users, since_day)
    result = store_files(config, cast(list[str], quote(files)), lang)
    create_markdown_artifact(
        summary_markdown(result, config, lang),
        key="backfill-summary",
        description=text("backfill.artifact.summary", lang, homes=homes_dir),
    )
    announce_backfill(result, homes_dir, since_day)
    return result.to_dict()
