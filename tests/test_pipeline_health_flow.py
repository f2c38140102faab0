"""The ``pipeline-health`` flow against a real Elasticsearch and Prefect server: each event
fires under its condition (dead letters written, Kibana's port unreachable, fluentd's port
closed) and not otherwise, the artifact is published and a misconfiguration fails the run."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.events.worker import EventsWorker
from prefect_docker import DockerHost  # type: ignore[import-untyped]

from blocks.coursewarehub import CoursewareHub
from blocks.kibana import KibanaConnection
from cwh.enrich import DeliveryStats, add_delivery_stats
from cwh.health import HealthReport
from flows.pipeline_health import ARTIFACT_KEY, pipeline_health

pytestmark = pytest.mark.prefect
EVENT_WAIT_SECONDS = 60


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def _run(**parameters: Any) -> tuple[HealthReport, str]:
    state = pipeline_health(**parameters, return_state=True)
    assert state.is_completed(), state.message
    EventsWorker.instance().drain()
    return state.result(), str(state.state_details.flow_run_id)


def _server_events(
    flow_run_id: str, expected: int, wait: float = EVENT_WAIT_SECONDS
) -> list[tuple[str, str]]:
    """The cwh events the server stored for one flow run (they arrive asynchronously)."""
    deadline = time.monotonic() + wait
    found: list[tuple[str, str]] = []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            page = client.read_events(
                EventFilter(
                    occurred={"since": datetime.now(UTC) - timedelta(hours=1)},
                    event=EventNameFilter(prefix=["cwh."]),
                    related=EventRelatedFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
                ),
                limit=50,
            )
            found = sorted((e.event, e.resource.id) for e in page.events)
            if len(found) >= expected:
                return found
            time.sleep(1)
    return found


def _dead_letter(reason: str, number: int) -> dict[str, Any]:
    return {
        "raw": f"garbage {reason} {number}",
        "error_type": reason,
        "error_message": "test",
        "@timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_events_fire_under_their_conditions_and_not_otherwise(
    prefect_api: str, es_url: str, es_client: Any, es_index_prefix: str, tmp_path: Path
) -> None:
    prefix = es_index_prefix
    day = datetime.now(UTC).strftime("%Y.%m.%d")
    es_client.index(
        index=f"{prefix}-{day}",
        document={"@timestamp": datetime.now(UTC).isoformat(), "suspect": True, "qno": "01-001"},
        refresh=True,
    )
    stats = tmp_path / "delivery-stats.json"
    add_delivery_stats(stats, DeliveryStats(chunks=1, records=1, documents=1, last_delivery=1.0))
    common = {
        "elasticsearch_url": es_url,
        "index_prefix": prefix,
        "stats_file": str(stats),
        "state_file": str(tmp_path / "state.json"),
        "dead_letter_threshold": 10,
        "crashed_runs_of": ["no-deployment-of-this-test"],
        "language": "ja",
    }

    # 1. First run, every system up: totals recorded, nothing emitted.
    with _listening() as fluentd:
        first, first_id = _run(**common, fluentd=f"127.0.0.1:{fluentd}")
    assert first.events == () and first.healthy
    assert {c.name: c.ok for c in first.checks}["elasticsearch"] is True
    assert first.state.baseline.suspect == 1

    # 2. Dead letters written, Kibana unreachable, fluentd's port closed.
    for number in range(8):
        es_client.index(index=f"{prefix}-deadletter-{day}", document=_dead_letter("A", number))
    for number in range(4):
        es_client.index(index=f"{prefix}-deadletter-{day}", document=_dead_letter("B", number))
    es_client.indices.refresh(index=f"{prefix}-*")
    KibanaConnection(url=f"http://127.0.0.1:{_closed_port()}").save(
        "health-test-kibana", overwrite=True
    )
    second, second_id = _run(
        **common, fluentd=f"127.0.0.1:{_closed_port()}", kibana_block="health-test-kibana"
    )
    expected = [
        ("cwh.deadletters.rising", "cwh.deadletters"),
        ("cwh.pipeline.unhealthy", "cwh.pipeline.fluentd"),
        ("cwh.pipeline.unhealthy", "cwh.pipeline.kibana"),
    ]
    assert sorted((e.event, e.resource["prefect.resource.id"]) for e in second.events) == expected
    rising = next(e for e in second.events if e.event == "cwh.deadletters.rising")
    assert rising.payload["since_last_run"] == 12
    assert rising.payload["by_reason"] == {"A": 8, "B": 4}
    assert _server_events(second_id, len(expected)) == expected

    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None and artifact.data is not None
    rows = json.loads(str(artifact.data))
    items = {row["項目"]: row for row in rows}
    assert items["Kibana"]["状態"] == "異常"
    assert items["前回以降のデッドレター件数"]["状態"] == "警告"

    # 3. Nothing new, everything up again: no event.
    with _listening() as fluentd:
        third, third_id = _run(**common, fluentd=f"127.0.0.1:{fluentd}")
    assert third.events == () and third.counts.dead_letters == 0
    # The server stored the second run's events within seconds; none came from the others.
    assert _server_events(third_id, 1, wait=5) == []
    assert _server_events(first_id, 1, wait=1) == []


def test_a_misconfigured_check_fails_but_a_down_system_does_not(
    prefect_api: str, tmp_path: Path
) -> None:
    state = pipeline_health(
        kibana_block="no-such-kibana-block",
        state_file=str(tmp_path / "state.json"),
        return_state=True,
    )
    assert state.is_failed()
    assert "no-such-kibana-block" in str(state.message)

    bad = pipeline_health(fluentd="nowhere", database=str(tmp_path / "x"), return_state=True)
    assert bad.is_failed()

    CoursewareHub(
        manager_address="192.0.2.10",
        docker=DockerHost(base_url=f"unix://{tmp_path}/no-docker.sock"),
        enrich_state_dir=str(tmp_path / "no-delivery"),
    ).save("health-test-hub", overwrite=True)
    down = pipeline_health(
        coursewarehub_block="health-test-hub",
        database=str(tmp_path / "missing.sqlite3"),
        fluentd=f"127.0.0.1:{_closed_port()}",
        state_file=str(tmp_path / "state.json"),
        crashed_runs_of=["no-deployment-of-this-test"],
        return_state=True,
    )
    assert down.is_completed()
    report: HealthReport = down.result()
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert set(failed) == {"docker", "fluentd", "store"}
    assert "unreachable" in failed["docker"]
    assert sorted(e.resource["cwh.check"] for e in report.events) == sorted(failed)
    assert not (tmp_path / "missing.sqlite3").exists()
