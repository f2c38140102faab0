"""Flow ``index-textbook``: keep the textbook MEME index current.

Started by the ``cwh.textbook.changed`` events of ``cwh textbook watch`` (one run per
debounced burst, with the changed paths as ``changed_paths``) and by a daily safety-net
schedule (see ``prefect.yaml``). It scans, validates and writes the index, publishes a
per-notebook table and a summary as artifacts, and announces a changed index with
``cwh.textbook.indexed``. A refused write (strict mode with problems, or an empty
textbook over a non-empty index) fails the run so it is seen, with the index untouched.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.utilities.annotations import quote

from cwh.messages import language_setting, text
from cwh.textbook import (
    DEFAULT_INCLUDE,
    DEFAULT_QNO_FORMAT,
    IndexOptions,
    IndexOutcome,
    Numbering,
    more_suffix,
    notebook_table,
    summary_markdown,
)
from tasks.textbook_files import (
    announce_textbook_indexed,
    scan_textbook_files,
    validate_textbook,
    write_textbook_index,
)

DEFAULT_TEXTBOOK_DIR = "/jupyter/admin/textbook"
DEFAULT_INDEX_FILE = "/var/lib/lc-wrapper/meme.csv"
NOTEBOOKS_ARTIFACT_KEY = "textbook-index-notebooks"
SUMMARY_ARTIFACT_KEY = "textbook-index-summary"
MAX_LOGGED_PATHS = 20
T = TypeVar("T")


class TextbookIndexRefused(RuntimeError):
    """The index was deliberately not written; the previous index is still in place."""


@flow(name="index-textbook", description="Build the textbook MEME index (qno/qlabel per cell).")
def index_textbook(
    textbook_dir: str = DEFAULT_TEXTBOOK_DIR,
    output: str = DEFAULT_INDEX_FILE,
    qlabel_pattern: str | None = None,
    strict: bool = False,
    numbering: Numbering = "stable",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    qno_format: str = DEFAULT_QNO_FORMAT,
    keep_branch_number: bool = False,
    allow_empty: bool = False,
    changed_paths: list[str] | None = None,
    allow_outside_links: bool = False,
    max_notebook_mb: float | None = None,
    language: str | None = None,
) -> IndexOutcome:
    """Scan, validate and write the index; the options mirror ``cwh textbook index``.

    ``changed_paths`` is what the triggering ``cwh.textbook.changed`` event listed
    (relative to ``textbook_dir``). It is logged and shown in the summary; the scan
    always covers the whole textbook, so nothing depends on the list being complete.
    A notebook that cannot be used (not a regular file, a link leading out of the textbook
    without ``allow_outside_links``, over ``max_notebook_mb``, broken JSON) is reported as a
    problem and the others are indexed. ``language`` (``ja``/``en``) is the summary's;
    unset, ``CWH_LANGUAGE`` decides.
    """
    logger = get_run_logger()
    lang = language_setting(language)
    options = IndexOptions(
        include=tuple(include) if include else DEFAULT_INCLUDE,
        exclude=tuple(exclude or ()),
        qlabel_pattern=qlabel_pattern,
        qno_format=qno_format,
        numbering=numbering,
        keep_branch_number=keep_branch_number,
        strict=strict,
        allow_empty=allow_empty,
        allow_outside_links=allow_outside_links,
        **_size_limit(max_notebook_mb),
    )
    if changed_paths is not None:
        shown = changed_paths[:MAX_LOGGED_PATHS]
        more = more_suffix(len(changed_paths), len(shown))
        logger.info("started for %d changed path(s): %s%s", len(changed_paths), shown, more)
    scan = scan_textbook_files(textbook_dir, options, output)
    problems = validate_textbook(_unvisited(scan), options)
    outcome = write_textbook_index(_unvisited(scan), problems, options, output)
    create_table_artifact(
        key=NOTEBOOKS_ARTIFACT_KEY,
        table=notebook_table(outcome),
        description=text("textbook.artifact.notebooks", lang, textbook=textbook_dir, index=output),
    )
    create_markdown_artifact(
        key=SUMMARY_ARTIFACT_KEY,
        markdown=summary_markdown(outcome, textbook_dir, changed_paths, lang),
        description=text("textbook.artifact.summary", lang, index=output),
    )
    if outcome.changed:
        announce_textbook_indexed(_unvisited(outcome), textbook_dir)
    if outcome.status == "refused":
        raise TextbookIndexRefused(outcome.refusal_in(lang))
    return outcome


def _size_limit(max_notebook_mb: float | None) -> dict[str, int]:
    """The ``max_notebook_bytes`` option, when a limit in MiB is given."""
    if max_notebook_mb is None:
        return {}
    return {"max_notebook_bytes": int(max_notebook_mb * (1 << 20))}


def _unvisited(value: T) -> T:
    """Pass ``value`` to a task without Prefect walking through it.

    Prefect visits every element of task arguments to track dependencies; for a scan of
    a large textbook (12,000 cells) that costs about 0.3 s per visit. ``quote`` skips it,
    and Prefect unwraps the quote before the task body runs, so the task still receives
    ``value`` itself; the cast only tells the type checker so.
    """
    return cast(T, quote(value))
