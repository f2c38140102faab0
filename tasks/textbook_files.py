"""Prefect tasks around the textbook files: scan the notebooks, validate, write the index.

The textbook usually sits on NFS, so reading and writing retry on ``OSError`` (a
remount blip, a missing directory for a few seconds); problems that retrying cannot fix
(bad options, a damaged ledger) fail at once. Tasks pass large scans to each other, so
they use no result cache (hashing thousands of cells for a cache key would cost more
than the work itself).
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
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
from tasks.common import NOT_CACHED, retry_on_os_error, retrying, run_logger

MAX_EVENT_ITEMS = 500
ON_FILE_SYSTEM = retrying(2, (5, 30), condition=retry_on_os_error)


@task(name="scan-textbook", **ON_FILE_SYSTEM)
def scan_textbook_files(textbook_dir: str, options: IndexOptions, index_file: str) -> TextbookScan:
    """Find and extract the notebooks, reading only those changed since the last build."""
    logger = run_logger(__name__)
    scan = textbook.scan(Path(textbook_dir), options, Path(index_file))
    logger.info(
        "scanned %s: %d notebook(s), %d question cell(s), %d file(s) read",
        textbook_dir,
        len(scan.notebooks),
        scan.question_count,
        scan.files_read,
    )
    return scan


@task(name="validate-textbook", **NOT_CACHED)
def validate_textbook(scan: TextbookScan, options: IndexOptions) -> list[Problem]:
    """List the MEME problems, each logged with the command that fixes it."""
    logger = run_logger(__name__)
    problems = textbook.validate(scan, options)
    for problem in problems:
        logger.warning(problem.describe())
    logger.info("validation: %d problem(s)", len(problems))
    return problems


@task(name="write-textbook-index", **ON_FILE_SYSTEM)
def write_textbook_index(
    scan: TextbookScan, problems: list[Problem], options: IndexOptions, index_file: str
) -> IndexOutcome:
    """Number the notebooks and replace the index atomically when its content changed."""
    logger = run_logger(__name__)
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


@task(name="announce-textbook-indexed", **NOT_CACHED)
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
        run_logger(__name__).warning("events are disabled; %s not emitted", TEXTBOOK_INDEXED_EVENT)
        return None
    return str(event.id)
