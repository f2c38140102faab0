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

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from cwh.enrich import MemeIndex
from tasks.store import StoreConfig, reenrich_store


class IndexUnusable(RuntimeError):
    """The index file is missing or incomplete; nothing was changed."""


@task(name="load-meme-index", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=2)
def load_index(index: str) -> MemeIndex:
    path = Path(index)
    try:
        return MemeIndex.from_csv_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexUnusable(f"MEME index {path} does not exist") from None
    except ValueError as exc:
        raise IndexUnusable(f"MEME index {path} is not usable: {exc}") from exc


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
) -> dict[str, Any]:
    config = StoreConfig(
        elasticsearch_block=elasticsearch_block,
        elasticsearch_url=elasticsearch_url,
        database=database,
        index_prefix=index_prefix,
    )
    meme_index = load_index(index)
    changed, where = reenrich_store(config, meme_index)
    get_run_logger().info("%d document(s) re-enriched in %s", changed, where)
    create_markdown_artifact(
        "## Re-enrichment\n\n"
        f"- Index: `{index}` ({len(meme_index)} questions, "
        f"{meme_index.notebook_count} notebooks)\n"
        f"- Store: {where}\n"
        f"- Documents updated: **{changed}**\n",
        key="reenrich-summary",
        description=f"Re-enrichment after {index} changed",
    )
    return {"index": index, "changed": changed, "store": where}
