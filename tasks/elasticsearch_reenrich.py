"""Re-enrichment of the Elasticsearch store after the textbook index changed.

Composite aggregations find the (cell, qno, qlabel) and (notebook, path, course)
combinations that disagree with the new index; only the documents of those combinations
are rewritten: partial ``update`` operations (no scripts, which the node may not allow), or
a full re-index guarded by ``if_seq_no`` when a field has to disappear.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elasticsearch import helpers

from cwh.enrich import MemeIndex, reason_of
from tasks.elasticsearch_indices import (
    BULK_CHUNK,
    ElasticsearchStoreError,
    ExecutionIndices,
)


class Reenrichment(ExecutionIndices):
    """:meth:`tasks.store.Store.reenrich` over the execution indices."""

    def reenrich(self, index: MemeIndex) -> int:
        self.flush()
        changed: dict[tuple[str, str], dict[str, str | None]] = {}
        cell_field = self._field("lc_cell_meme_uuid")
        for key in self._combinations(cell_field, "qno", "qlabel"):
            uuid, qno, qlabel = key["a"], key["b"], key["c"]
            cell = index.cell(uuid)
            wanted = (cell.qno, cell.qlabel) if cell is not None else (None, None)
            if (qno, qlabel) != wanted:
                query = _match_combination(
                    (cell_field, uuid), (self._field("qno"), qno), (self._field("qlabel"), qlabel)
                )
                for hit in self._hits(query):
                    changed.setdefault((hit[0], hit[1]), {}).update(qno=wanted[0], qlabel=wanted[1])
        notebook_field = self._field("lc_notebook_meme")
        for key in self._combinations(notebook_field, "textbook_path", "course_server"):
            meme, path, course = key["a"], key["b"], key["c"]
            notebook = index.notebook(meme)
            wanted = (notebook.textbook_path, notebook.course_server) if notebook else (None, None)
            if (path, course) != wanted:
                query = _match_combination(
                    (notebook_field, meme),
                    (self._field("textbook_path"), path),
                    (self._field("course_server"), course),
                )
                for hit in self._hits(query):
                    changed.setdefault((hit[0], hit[1]), {}).update(
                        textbook_path=wanted[0], course_server=wanted[1]
                    )
        if changed:
            self._apply(changed)
        return len(changed)

    def _combinations(self, first: str, second: str, third: str) -> Iterator[dict[str, Any]]:
        sources: list[dict[str, Any]] = [
            {"a": {"terms": {"field": first}}},
            {"b": {"terms": {"field": self._field(second), "missing_bucket": True}}},
            {"c": {"terms": {"field": self._field(third), "missing_bucket": True}}},
        ]
        for bucket in self._composite({"exists": {"field": first}}, sources, None):
            yield bucket["key"]

    def _hits(self, query: dict[str, Any]) -> Iterator[tuple[str, str]]:
        for hit in helpers.scan(
            self.client,
            index=self.executions,
            query={"query": query, "_source": False},
            size=5000,
            allow_no_indices=True,
            ignore_unavailable=True,
        ):
            yield hit["_index"], hit["_id"]

    def _apply(self, changed: dict[tuple[str, str], dict[str, str | None]]) -> None:
        updates = []
        removals: dict[tuple[str, str], dict[str, str | None]] = {}
        for (index, doc_id), fields in changed.items():
            if any(value is None for value in fields.values()):
                removals[(index, doc_id)] = fields
            else:
                updates.append(
                    {"_op_type": "update", "_index": index, "_id": doc_id, "doc": fields}
                )
        errors: list[str] = []
        for ok, item in helpers.streaming_bulk(
            self.client, updates, chunk_size=BULK_CHUNK, raise_on_error=False, max_retries=5
        ):
            if not ok:
                errors.append(reason_of(item["update"]))
        if removals:
            errors += self._rewrite(removals)
        self.flush()
        if errors:
            raise ElasticsearchStoreError(
                f"{len(errors)} document(s) could not be re-enriched (first: {errors[0]}); "
                "running re-enrichment again retries exactly those"
            )

    def _rewrite(self, removals: dict[tuple[str, str], dict[str, str | None]]) -> list[str]:
        """Fields that must disappear: re-index the document, guarded against races."""
        errors = []
        keys = list(removals)
        for start in range(0, len(keys), BULK_CHUNK):
            chunk = keys[start : start + BULK_CHUNK]
            docs = self.client.mget(
                docs=[{"_index": i, "_id": d} for i, d in chunk], realtime=True
            )["docs"]
            actions = []
            for (index, doc_id), doc in zip(chunk, docs, strict=True):
                if not doc.get("found"):
                    continue
                source = dict(doc["_source"])
                for name, value in removals[(index, doc_id)].items():
                    if value is None:
                        source.pop(name, None)
                    else:
                        source[name] = value
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": index,
                        "_id": doc_id,
                        "_source": source,
                        "if_seq_no": doc["_seq_no"],
                        "if_primary_term": doc["_primary_term"],
                    }
                )
            for ok, item in helpers.streaming_bulk(
                self.client, actions, raise_on_error=False, max_retries=5
            ):
                if not ok:
                    errors.append(reason_of(item["index"]))
        return errors


def _match_combination(*pairs: tuple[str, str | None]) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for name, value in pairs:
        if value is None:
            must_not.append({"exists": {"field": name}})
        else:
            must.append({"term": {name: value}})
    return {"bool": {"filter": must, "must_not": must_not}}
