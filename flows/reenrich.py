"""Flow ``reenrich``: keep stored executions in step with a re-released textbook.

When the textbook changes, a cell can get another question number (a notebook inserted
before it under ``name`` numbering), another label, or its notebook another path. The
``index-textbook`` flow announces a changed index with ``cwh.textbook.indexed``; this flow,
triggered by that event, finds the documents whose ``lc_cell_meme_uuid`` /
``lc_notebook_meme`` now map to different ``qno``/``qlabel``/``textbook_path``/
``course_server`` and updates those fields only. Documents already right are not touched,
so running it twice changes nothing the second time.
"""

from __future__ import annotations

from typing import TypedDict

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from cwh.messages import language_setting, text
from tasks.reenrichment import load_meme_index, reenrich_store, summary_markdown
from tasks.store import StoreConfig


class ReenrichSummary(TypedDict):
    """What the flow returns: the index used, the documents changed and where."""

    index: str
    changed: int
    store: str


@flow(
    name="reenrich",
    description="Update qno/qlabel/textbook_path/course_server of stored executions "
    "after the textbook index changed.",
)
def reenrich(
    index: str,
    elasticsearch_block: str | None = None,
    elasticsearch_url: str | None = None,
    database: str | None = None,
    index_prefix: str | None = None,
    language: str | None = None,
) -> ReenrichSummary:
    """``language`` (``ja``/``en``) is the artifact's; unset, ``CWH_LANGUAGE`` decides."""
    lang = language_setting(language)
    config = StoreConfig(elasticsearch_block, elasticsearch_url, database, index_prefix)
    meme_index = load_meme_index(index)
    done = reenrich_store(config, meme_index)
    get_run_logger().info("%d document(s) re-enriched in %s", done.changed, done.store)
    create_markdown_artifact(
        summary_markdown(index, meme_index, done, lang),
        key="reenrich-summary",
        description=text("backfill.reenrich.artifact", lang, index=index),
    )
    return {"index": index, "changed": done.changed, "store": done.store}
