"""Flow ``backfill-logs``: index the executions users' ``.log`` trees hold.

Lists the log files, enriches and stores them (:mod:`tasks.backfill`: idempotent and
resumable, progress shown as a progress artifact) and publishes a summary.
"""

from __future__ import annotations

from typing import cast

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.utilities.annotations import quote

from cwh.enrich import DEFAULT_JSONPATHS
from tasks.backfill import (
    DEFAULT_BATCH_SIZE,
    BackfillConfig,
    BackfillCounts,
    store_files,
    summary_markdown,
)
from tasks.log_files import list_log_files
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
) -> BackfillCounts:
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
    files = list_log_files(homes_dir, config.users)
    result = store_files(config, cast(list[str], quote(files)))
    create_markdown_artifact(
        summary_markdown(result, config),
        key="backfill-summary",
        description=f"Backfill of {homes_dir}",
    )
    return result.to_dict()
