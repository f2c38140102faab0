"""What the health check reads from the execution store and the live delivery's stats file.

Totals only (executions, suspect executions, dead letters by reason, the newest execution's
time): :func:`cwh.health.assess` compares them with the last run's. Against Elasticsearch these
are a few ``_count`` requests and one small aggregation, whatever the data's size; against the
embedded store, indexed SQL counts. A store that cannot be read is a failed ``store`` check,
not a failed run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from prefect import task

from cwh.defaults import DEADLETTER_INFIX
from cwh.enrich import DeliveryStats, read_delivery_stats
from cwh.health import CheckOutcome, StoreFigures
from tasks.common import NOT_CACHED, run_logger
from tasks.store import StoreConfig

MAX_REASONS = 100
"""Dead-letter reasons counted one by one (error types: a handful in practice)."""


def _reason_field(client: Any, index: str) -> str:
    """``error_type`` when it is a keyword (the project's template), else its sub-field."""
    caps = client.field_caps(
        index=index,
        fields=["error_type", "error_type.keyword"],
        allow_no_indices=True,
        ignore_unavailable=True,
    )["fields"]
    if "keyword" in caps.get("error_type", {}):
        return "error_type"
    return "error_type.keyword"


def elasticsearch_figures(client: Any, prefix: str, endpoint: str) -> StoreFigures:
    executions = f"{prefix}-*,-{prefix}-{DEADLETTER_INFIX}-*"
    dead = f"{prefix}-{DEADLETTER_INFIX}-*"
    options = {"allow_no_indices": True, "ignore_unavailable": True}
    total = int(client.count(index=executions, **options)["count"])
    suspect = int(
        client.count(index=executions, query={"term": {"suspect": True}}, **options)["count"]
    )
    newest = client.search(
        index=executions,
        size=0,
        aggs={"newest": {"max": {"field": "@timestamp"}}},
        **options,
    )
    newest_ms = ((newest.get("aggregations") or {}).get("newest") or {}).get("value")
    answer = client.search(
        index=dead,
        size=0,
        aggs={"reasons": {"terms": {"field": _reason_field(client, dead), "size": MAX_REASONS}}},
        **options,
    )
    buckets = ((answer.get("aggregations") or {}).get("reasons") or {}).get("buckets") or []
    reasons = {str(b["key"]): int(b["doc_count"]) for b in buckets}
    counted = sum(reasons.values())
    all_dead = int(client.count(index=dead, **options)["count"])
    if all_dead > counted:
        reasons["(other)"] = all_dead - counted
    return StoreFigures(
        store=f"Elasticsearch {endpoint} {prefix}-*",
        executions=total,
        suspect=suspect,
        dead_letters=reasons,
        newest=float(newest_ms) / 1000.0 if newest_ms is not None else None,
    )


def embedded_figures(path: Path) -> StoreFigures:
    """Read-only counts of the embedded store (a missing file is an error, not a new store)."""
    if not path.is_file():
        raise FileNotFoundError(f"embedded store {path} does not exist")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        total, suspect, newest = conn.execute(
            "SELECT COUNT(*), COUNT(suspect), MAX(start_time) FROM executions"
        ).fetchone()
        reasons = dict(
            conn.execute("SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type")
        )
    finally:
        conn.close()
    return StoreFigures(
        store=f"embedded {path}",
        executions=int(total),
        suspect=int(suspect),
        dead_letters={str(k): int(v) for k, v in reasons.items()},
        newest=float(newest) if newest is not None else None,
    )


@task(name="health-store-figures", **NOT_CACHED)
def read_store_figures(config: StoreConfig) -> StoreFigures | CheckOutcome:
    """The store's totals, or the failed ``store`` check saying why they cannot be read."""
    try:
        if config.uses_elasticsearch:
            from tasks.elasticsearch_store import connect

            client, prefix = connect(
                url=config.elasticsearch_url, block_name=config.elasticsearch_block
            )
            try:
                endpoint = config.elasticsearch_url or f"block {config.elasticsearch_block}"
                figures = elasticsearch_figures(client, config.index_prefix or prefix, endpoint)
            finally:
                client.close()
        else:
            figures = embedded_figures(config.database_path())
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        run_logger(__name__).warning("health store: FAILED, %s", detail)
        return CheckOutcome("store", False, detail)
    run_logger(__name__).info(
        "health store %s: %d execution(s), %d suspect, dead letters %s",
        figures.store,
        figures.executions,
        figures.suspect,
        dict(figures.dead_letters) or "none",
    )
    return figures


@task(name="health-delivery-stats", **NOT_CACHED)
def read_delivery_figures(path: Path) -> DeliveryStats | CheckOutcome | None:
    """The live delivery's totals (None: no delivery has run here yet)."""
    try:
        return read_delivery_stats(path)
    except (OSError, ValueError) as exc:
        return CheckOutcome("live-delivery", False, str(exc)[:300])
