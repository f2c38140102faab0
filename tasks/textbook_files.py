"""Prefect tasks around the textbook files: scan the notebooks, validate, write the index.

The textbook usually sits on NFS, so reading and writing retry on ``OSError`` (a
remount blip, a missing directory for a few seconds); problems that retrying cannot fix
(bad options, a damaged ledger) fail at once. Tasks pass large scans to each other, so
they use no result cache (hashing thousands of cells for a cache key would cost more
than the work itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.events import emit_event

from cwh import textbook
from cwh.textbook import (
    INDEX_PATH_LABEL,
    INDEX_RESOURCE_ID,
    TEXTBOOK_DIR_LABEL,
    TEXTBOOK_INDEXED_EVENT,
    IndexOptions,
    IndexOutcome,
    Problem,
    TextbookScan,
)

MAX_EVENT_ITEMS = 500


def _retry_on_os_error(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    """Retry file-system failures only; anything else would fail the same way again."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError)


@task(
    name="scan-textbook",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_retry_on_os_error,
)
def scan_textbook_files(textbook_dir: str, options: IndexOptions, index_file: str) -> TextbookScan:
    """Find and extract the notebooks, reading only those changed since the last build."""
    logger = get_run_logger()
    scan = textbook.scan(Path(textbook_dir), options, Path(index_file))
    logger.info(
        "scanned %s: %d notebook(s), %d question cell(s), %d file(s) read",
        textbook_dir,
        len(scan.notebooks),
        scan.question_count,
        scan.files_read,
    )
    return scan


@task(name="validate-textbook", cache_policy=NO_CACHE)
def validate_textbook(scan: TextbookScan, options: IndexOptions) -> list[Problem]:
    """List the MEME problems, each logged with the command that fixes it."""
    logger = get_run_logger()
    problems = textbook.validate(scan, options)
    for problem in problems:
        logger.warning(problem.describe())
    logger.info("validation: %d problem(s)", len(problems))
    return problems


@task(
    name="write-textbook-index",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_retry_on_os_error,
)
def write_textbook_index(
    scan: TextbookScan, problems: list[Problem], options: IndexOptions, index_file: str
) -> IndexOutcome:
    """Number the notebooks and replace the index atomically when its content changed."""
    logger = get_run_logger()
    outcome = textbook.write_index(scan, problems, options, Path(index_file))
    for note in outcome.notes:
        logger.warning(note)
    if outcome.status == "refused":
        logger.error(outcome.refusal)
    else:
        logger.info(
            "index %s %s: %d question(s), %d notebook(s) rendered, %d reused; ledger %s",
            index_file,
            outcome.status,
            outcome.rows,
            len(outcome.notebooks) - outcome.fragments_reused,
            outcome.fragments_reused,
            "updated" if outcome.ledger_changed else "unchanged",
        )
    return outcome


@task(name="announce-textbook-indexed", cache_policy=NO_CACHE)
def announce_textbook_indexed(outcome: IndexOutcome, textbook_dir: str) -> str | None:
    """Emit ``cwh.textbook.indexed`` so re-enrichment can follow a changed index.

    The payload names the notebooks whose questions changed, so a consumer can limit
    re-enrichment to their executions.
    """
    memes = list(outcome.changed_notebook_memes)
    paths = list(outcome.changed_textbook_paths)
    event = emit_event(
        event=TEXTBOOK_INDEXED_EVENT,
        resource={
            "prefect.resource.id": INDEX_RESOURCE_ID,
            "prefect.resource.name": outcome.index.name,
            INDEX_PATH_LABEL: str(outcome.index),
            TEXTBOOK_DIR_LABEL: textbook_dir,
        },
        payload={
            "index": str(outcome.index),
            "textbook_dir": textbook_dir,
            "rows": outcome.rows,
            "notebooks": len(outcome.notebooks),
            "problems": len(outcome.problems),
            "changed_notebook_memes": memes[:MAX_EVENT_ITEMS],
            "changed_textbook_paths": paths[:MAX_EVENT_ITEMS],
            "truncated": len(memes) > MAX_EVENT_ITEMS or len(paths) > MAX_EVENT_ITEMS,
        },
    )
    if event is None:
        get_run_logger().warning("events are disabled; %s not emitted", TEXTBOOK_INDEXED_EVENT)
        return None
    return str(event.id)
