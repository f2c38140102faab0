"""The live path for real: lc_wrapper-like senders -> the vendored fluentd running exactly the
configuration the setup flow renders -> ``cwh enrich --chunk`` -> a real Elasticsearch node.

Every record must arrive exactly once: sent one at a time, replayed, across an Elasticsearch
outage with ``kill -9`` of fluentd in the middle, and across ``kill -9`` of fluentd while
deliveries are in flight. A document Elasticsearch rejects must end in the dead-letter index
with Elasticsearch's reason. Latency is measured by ``bench/live.py``, not asserted here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.elasticsearch_node import ElasticsearchNode, running_node
from tests.services.live_path import LivePath, unique_records

pytestmark = pytest.mark.fluentd
ROUNDS = 3


@pytest.fixture(scope="module")
def own_node() -> Iterator[ElasticsearchNode]:
    """A node of this module's own, which the outage tests stop and start again."""
    with running_node() as node:
        yield node


@pytest.fixture
def live(
    own_node: ElasticsearchNode, lcwrapper_sample: Path, tmp_path: Path, request: Any
) -> Iterator[LivePath]:
    if own_node.process is None or own_node.process.poll() is not None:
        own_node.start()
    prefix = f"live{abs(hash(request.node.name)) % 10**8}"
    path = LivePath(lcwrapper_sample, tmp_path / "live", own_node.url, prefix)
    path.start()
    yield path
    path.fluentd.stop()
    if own_node.process is None or own_node.process.poll() is not None:
        own_node.start()
    _delete(own_node.url, f"{prefix}*?expand_wildcards=all")
    _delete(own_node.url, f"_index_template/{prefix}*")


def _delete(url: str, what: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url}/{what}", method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_records_sent_one_at_a_time_are_searchable_and_a_replay_adds_nothing(
    live: LivePath, lcwrapper_sample: Path
) -> None:
    records = unique_records(lcwrapper_sample, 42)
    for n, record in enumerate(records, start=1):
        live.send_each([record])
        assert live.wait_for_count(n, timeout_s=30) == n, live.fluentd.log_tail()
    live.send_each(records)
    live.wait_until_drained()
    assert live.count() == 42
    stats = live.stats()
    assert (stats.stored, stats.already_stored, stats.failed_chunks) == (42, 42, 0)
    assert stats.dead_letter_total == 0


def test_outage_with_kill_9_of_fluentd_loses_nothing_and_stores_nothing_twice(
    live: LivePath, own_node: ElasticsearchNode, lcwrapper_sample: Path
) -> None:
    sent = 0
    for round_ in range(ROUNDS):
        before = unique_records(lcwrapper_sample, 20, first=1000 * round_)
        live.send_each(before[:10])
        own_node.stop()
        live.send_each(before[10:])
        _wait(lambda failed=round_: _failed_chunks(live) > failed, 60)
        live.fluentd.kill_hard()
        own_node.start()
        live.start()
        during = unique_records(lcwrapper_sample, 10, first=1000 * round_ + 500)
        live.send_each(during)
        sent += len(before) + len(during)
        assert live.wait_for_count(sent) == sent, live.fluentd.log_tail()
        live.wait_until_drained()
        assert live.count() == sent
    assert live.dead_letters() == []


def test_kill_9_of_fluentd_while_deliveries_run_loses_nothing(
    live: LivePath, lcwrapper_sample: Path
) -> None:
    """fluentd (supervisor, worker and the delivery it is running) is killed the moment a
    delivery is in flight; what that delivery had not stored is delivered after the restart."""
    sent = 0
    kills = 0
    for round_ in range(ROUNDS):
        records = unique_records(lcwrapper_sample, 150, first=1000 * round_)
        with live.sender() as sender:
            for start in range(0, len(records), 10):
                assert sender.send_burst(records[start : start + 10]), sender.last_error
                if _delivery_running(live):
                    break
        sent += start + 10
        if _delivery_running(live) or _wait_for_delivery(live):
            live.fluentd.kill_hard()
            kills += 1
        live.start()
        live.send_each(records[start + 10 :])
        sent += len(records) - (start + 10)
        assert live.wait_for_count(sent) == sent, live.fluentd.log_tail()
        live.wait_until_drained()
        assert live.count() == sent
    assert kills == ROUNDS, "every round killed fluentd during a delivery"


def _delivery_running(live: LivePath) -> bool:
    """Whether fluentd has a child besides its supervisor and worker: a delivery."""
    return len(live.fluentd.pids()) > 2


def _wait_for_delivery(live: LivePath) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _delivery_running(live):
            return True
        time.sleep(0.005)
    return False


def test_a_document_elasticsearch_rejects_is_a_dead_letter_with_the_reason(
    live: LivePath, lcwrapper_sample: Path
) -> None:
    record = unique_records(lcwrapper_sample, 1)[0]
    day_index = f"{live.index_prefix}-2026.11.22"
    _create_conflicting_index(live.es_url, day_index)
    live.send_each([record])
    _wait(lambda: bool(live.dead_letters()), 30)
    live.wait_until_drained()
    (dead,) = live.dead_letters()
    assert dead["error_type"] == "IndexRejected"
    assert "failed to parse field [path] of type [long]" in dead["error_message"]
    assert "student09x0c0ffee" in dead["raw"]
    assert live.stats().rejected == 1
    live.send_each([record])
    live.wait_until_drained()
    assert len(live.dead_letters()) == 1, "a replayed rejection is stored once"


def _failed_chunks(live: LivePath) -> int:
    stats = live.stats()
    return 0 if stats is None else int(stats.failed_chunks)


def _create_conflicting_index(url: str, index: str) -> None:
    import json
    import urllib.request

    # The request's mapping wins over the project's template: ``path`` cannot be a number.
    body = json.dumps({"mappings": {"properties": {"path": {"type": "long"}}}}).encode()
    request = urllib.request.Request(
        f"{url}/{index}", data=body, method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def _wait(condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
