"""Bulk ``create`` requests for enriched documents, and what Elasticsearch's answer means.

Every writer of executions (the live delivery that fluentd runs, the batch store) sends
``create`` operations with the document's deterministic id: a second copy of an execution
(a replayed fluentd chunk, a backfill of what already arrived live) is answered 409 and
counted as already stored, and a later record can never overwrite a stored execution.

Each item of a bulk answer falls into one :class:`ItemOutcome`:

* ``STORED`` (201) and ``ALREADY_STORED`` (409): nothing more to do;
* ``REJECTED`` (any other 4xx but 429): the document itself is wrong for the index (a
  mapping conflict, a value out of range); sending it again would fail again, so it becomes
  a dead letter carrying Elasticsearch's reason (:func:`rejection_dead_letter`);
* ``RETRY`` (429, 5xx, no status): the cluster could not take it now; the caller sends it
  again later.

This module only builds bytes and reads answers; the callers own the connections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from cwh.defaults import DEADLETTER_INFIX
from cwh.enrich.enricher import DOC_ID, TARGET_INDEX, Document

REJECTED = "IndexRejected"
"""The dead-letter error type of a document Elasticsearch refused to index."""

_CREATE = "create"


class ItemOutcome(Enum):
    STORED = "stored"
    ALREADY_STORED = "already stored"
    REJECTED = "rejected"
    RETRY = "retry"


def is_dead_letter(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is a dead letter (the enricher's, or a rejection's)."""
    return "error_type" in document and "raw" in document


def split_document(document: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(id, index, source) of an enriched document; ValueError when it lacks either key."""
    source = dict(document)
    doc_id = source.pop(DOC_ID, None)
    index = source.pop(TARGET_INDEX, None)
    if not isinstance(doc_id, str) or not isinstance(index, str) or not doc_id or not index:
        raise ValueError("a document without doc_id/target_index cannot be stored idempotently")
    return doc_id, index, source


def create_action(doc_id: str, index: str, source: Mapping[str, Any]) -> bytes:
    """The two NDJSON lines of one bulk ``create`` (action, then the source)."""
    action = orjson.dumps({_CREATE: {"_index": index, "_id": doc_id}})
    body = orjson.dumps(source, default=str)
    return b"%s\n%s\n" % (action, body)


def item_result(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The inner result of one bulk answer item (``{"create": {...}}`` -> ``{...}``)."""
    result = item.get(_CREATE)
    return result if isinstance(result, Mapping) else {}


def classify(result: Mapping[str, Any]) -> ItemOutcome:
    status = result.get("status")
    if not isinstance(status, int):
        return ItemOutcome.RETRY
    if 200 <= status < 300:
        return ItemOutcome.STORED
    if status == 409:
        return ItemOutcome.ALREADY_STORED
    if 400 <= status < 500 and status != 429:
        return ItemOutcome.REJECTED
    return ItemOutcome.RETRY


def reason_of(result: Mapping[str, Any]) -> str:
    """Why one bulk item failed, as Elasticsearch put it (type and reason)."""
    error = result.get("error")
    if isinstance(error, Mapping):
        reason = f"{error.get('type')}: {error.get('reason')}"
        cause = error.get("caused_by")
        if isinstance(cause, Mapping) and cause.get("reason"):
            reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return reason
    return str(error or f"status {result.get('status')}")


def rejection_dead_letter(
    result: Mapping[str, Any], source: Mapping[str, Any], doc_id: str, index_prefix: str
) -> Document:
    """The dead letter for a document Elasticsearch rejected: its whole source and the reason.

    It keeps the execution's id, so a rejected execution that is replayed is counted once.
    """
    index = str(result.get("_index") or "")
    day = index.removeprefix(f"{index_prefix}-")
    if not day or day == index:
        day = "unrouted"
    return {
        "raw": orjson.dumps(source, default=str).decode(),
        "error_type": REJECTED,
        "error_message": f"{index or 'index'}: {reason_of(result)}",
        "@timestamp": source.get("@timestamp"),
        DOC_ID: doc_id,
        TARGET_INDEX: f"{index_prefix}-{DEADLETTER_INFIX}-{day}",
    }


@dataclass
class BulkTally:
    """What one or more bulk answers did, item by item."""

    stored: int = 0
    already_stored: int = 0
    rejected: list[Document] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    """One line per item to send again: its index and the reason."""

    def add(self, other: BulkTally) -> None:
        self.stored += other.stored
        self.already_stored += other.already_stored
        self.rejected.extend(other.rejected)
        self.retry.extend(other.retry)


def tally(
    items: Iterable[Mapping[str, Any]],
    sources: Mapping[str, Mapping[str, Any]],
    index_prefix: str,
) -> BulkTally:
    """Sort the items of a bulk answer; ``sources`` maps each sent id to its source."""
    counts = BulkTally()
    for item in items:
        result = item_result(item)
        outcome = classify(result)
        if outcome is ItemOutcome.STORED:
            counts.stored += 1
        elif outcome is ItemOutcome.ALREADY_STORED:
            counts.already_stored += 1
        elif outcome is ItemOutcome.REJECTED:
            doc_id = str(result.get("_id"))
            counts.rejected.append(
                rejection_dead_letter(result, sources.get(doc_id, {}), doc_id, index_prefix)
            )
        else:
            counts.retry.append(f"{result.get('_index')}: {reason_of(result)}")
    return counts
