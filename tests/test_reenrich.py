"""Re-enrichment after a textbook release renumbers questions, in both stores.

Under ``name`` numbering, adding ``python-basic/00_setup.ipynb`` shifts every python-basic
notebook by one, so those executions' qno must change; data-science's must not. Dropping a
label from the textbook must remove ``qlabel`` from the executions of that cell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from cwh.enrich import MemeIndex
from cwh.textbook import IndexOptions, build_index
from tasks.backfill import run_backfill
from tasks.elasticsearch_store import ElasticsearchStore
from tasks.embedded_store import EmbeddedStore
from tasks.store import Store, StoreConfig
from tests.test_backfill_stores import (  # noqa: F401  (pytest fixtures)
    QLABEL,
    backfill_config,
    store_config_fixture,
    store_fixture,
    two_user_course,
)

LABELLED_CELL = "636590ba-e67b-11f1-8ade-02fc00000001"  # 01-002 問1-2 in the fixture


def add_setup_notebook(textbook: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["lc_notebook_meme"] = {"current": "aaaa0000-e67b-11f1-8ade-02fc00000001"}
    markdown = nbformat.v4.new_markdown_cell("問0-1 準備")
    markdown.metadata["lc_cell_meme"] = {"current": "aaaa0001-e67b-11f1-8ade-02fc00000001"}
    code = nbformat.v4.new_code_cell("import sys")
    code.metadata["lc_cell_meme"] = {"current": "aaaa0002-e67b-11f1-8ade-02fc00000001"}
    notebook.cells = [markdown, code]
    nbformat.write(notebook, textbook / "python-basic" / "00_setup.ipynb")


def drop_label(textbook: Path, label: str) -> None:
    path = textbook / "python-basic" / "01_python_intro.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = ["".join(cell["source"]).replace(label, "練習")]
    path.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")


def _documents_of_cell(target: Store, uuid: str) -> list[dict[str, Any]]:
    if isinstance(target, EmbeddedStore):
        return [d for _, d in target.documents() if d.get("lc_cell_meme_uuid") == uuid]
    assert isinstance(target, ElasticsearchStore)
    target.flush()
    hits = target.client.search(
        index=target.executions, query={"term": {"lc_cell_meme_uuid": uuid}}, size=100
    )["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _qnos(target: Store, course: str) -> dict[tuple[str, str], tuple[int, int, str, int]]:
    return {
        (c.user_name, c.qno): (c.runs, c.ok_runs, c.last_status, c.last_time)
        for c in target.progress_rows(course)
    }


def test_renumbered_textbook_changes_only_the_affected_documents(
    lcwrapper_sample: Path, tmp_path: Path, store_config: StoreConfig, store: Store
) -> None:
    course = two_user_course(lcwrapper_sample, tmp_path, numbering="name")
    run_backfill(backfill_config(course, store_config, tmp_path), store=store)
    python_before = _qnos(store, "python-basic")
    data_before = _qnos(store, "data-science")
    index = MemeIndex.from_csv_text(course.index.read_text(encoding="utf-8"))
    assert store.reenrich(index) == 0

    add_setup_notebook(course.textbook)
    build_index(
        course.textbook, course.index, IndexOptions(qlabel_pattern=QLABEL, numbering="name")
    )
    renumbered = MemeIndex.from_csv_text(course.index.read_text(encoding="utf-8"))
    assert renumbered.cell(LABELLED_CELL) is not None
    assert renumbered.cell(LABELLED_CELL).qno == "02-002"  # type: ignore[union-attr]

    # 10 python-basic executions with a qno by the fixture's student, 4 by the second user.
    assert store.reenrich(renumbered) == 14
    shifted = {
        (user, f"{int(qno[:2]) + 1:02}{qno[2:]}"): value
        for (user, qno), value in python_before.items()
    }
    assert _qnos(store, "python-basic") == shifted
    assert _qnos(store, "data-science") == data_before
    assert store.reenrich(renumbered) == 0

    drop_label(course.textbook, "問1-2")
    build_index(
        course.textbook, course.index, IndexOptions(qlabel_pattern=QLABEL, numbering="name")
    )
    unlabelled = MemeIndex.from_csv_text(course.index.read_text(encoding="utf-8"))
    assert store.reenrich(unlabelled) == 2
    documents = _documents_of_cell(store, LABELLED_CELL)
    assert len(documents) == 2
    for document in documents:
        assert document["qno"] == "02-002"
        assert "qlabel" not in document
        assert document["textbook_path"] == "python-basic/01_python_intro.ipynb"
    assert _qnos(store, "python-basic") == shifted
