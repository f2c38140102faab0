"""The whole live path on this machine: real fluentd, the rendered config, real Elasticsearch.

:class:`LivePath` renders ``lc_wrapper.conf`` with the setup flow's renderer (only the bind
address, port, buffer, log and state paths point into the lab), starts the vendored fluentd
with it, and sends records as lc_wrapper's kernels do. :func:`unique_records` turns the real
fixture records into as many distinct executions as a test needs. Tests and ``bench/live.py``
share it.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwh.enrich import read_delivery_stats
from cwh.setup import (
    ElasticsearchOutput,
    EnrichCommand,
    FluentdSettings,
    index_templates,
    render_lc_wrapper_conf,
)
from tests.enrich_support import build_index, forward_records
from tests.services.fluentd_sender import ForwardSender
from tests.services.fluentd_service import FluentdService

TAG = "cwh.lc_wrapper"
_LOG_NAME = re.compile(r"-(\d{4})\.log\n")


def unique_records(sample: Path, count: int, *, first: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct lc_wrapper records made from the fixture's real ones.

    Record ``n`` is fixture record ``n % 14`` with the millisecond part of its log file name
    (which the document id covers) set from ``n`` and its text otherwise unchanged; ``first``
    lets successive batches stay distinct (``n`` must stay below 10,000 per user and second).
    """
    bases = [item["record"] for item in forward_records(sample)]
    records = []
    for n in range(first, first + count):
        base = bases[n % len(bases)]
        serial = n // len(bases)
        if serial >= 10_000:
            raise ValueError("at most 10,000 records per fixture record")
        text = _LOG_NAME.sub(f"-{serial:04d}.log\n", base["log"], count=1)
        records.append({**base, "log": text})
    return records


@dataclass
class LivePath:
    """fluentd running the rendered configuration, delivering to ``es_url``."""

    sample: Path
    workdir: Path
    es_url: str
    index_prefix: str
    fluentd: FluentdService = field(init=False)
    settings: FluentdSettings = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fluentd = FluentdService(self.workdir / "fluentd")
        index = build_index(self.sample / "textbook", self.workdir / "meme.csv")
        self.settings = FluentdSettings(
            bind_address="127.0.0.1",
            port=self.fluentd.port,
            tag=TAG,
            enrich=EnrichCommand(
                python=sys.executable,
                index=str(index),
                passwd=str(self.sample / "passwd"),
                homes_dir=str(self.sample / "users"),
                index_prefix=self.index_prefix,
                result_jsonpaths=('$.content.data["text/plain"]', "$.content.ename"),
            ),
            elasticsearch=ElasticsearchOutput(urls=(self.es_url,), request_timeout_s=10),
            buffer_dir=str(self.workdir / "buffer"),
            log_file=str(self.workdir / "enrich.log"),
            state_dir=str(self.workdir / "state"),
        )
        self.config = render_lc_wrapper_conf(self.settings)

    @property
    def stats_file(self) -> Path:
        return self.workdir / "state" / "delivery-stats.json"

    def start(self) -> None:
        """Install the index templates (as ``cwh setup`` does) and start fluentd."""
        for template in index_templates(self.index_prefix):
            request = urllib.request.Request(
                f"{self.es_url}/_index_template/{template.name}",
                data=json.dumps(template.body).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30):
                pass
        self.fluentd.start(self.config)

    def sender(self, *, acks: bool = True) -> ForwardSender:
        return ForwardSender(self.fluentd.port, TAG, require_ack_response=acks)

    def send_each(self, records: list[dict[str, Any]]) -> None:
        """One message per record, each acknowledged by fluentd (it is in the file buffer)."""
        with self.sender() as sender:
            for record in records:
                if not sender.send(record):
                    raise AssertionError(f"fluentd did not accept a record: {sender.last_error}")

    def count(self) -> int:
        """Executions searchable now (dead letters excluded), straight from the node."""
        return self._count(f"{self.index_prefix}-2*")

    def dead_letters(self) -> list[dict[str, Any]]:
        url = f"{self.es_url}/{self.index_prefix}-deadletter-*/_search?size=1000"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                hits = json.loads(response.read())["hits"]["hits"]
        except OSError:
            return []
        return [hit["_source"] for hit in hits]

    def _count(self, pattern: str) -> int:
        url = f"{self.es_url}/{pattern}/_count?allow_no_indices=true&ignore_unavailable=true"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(json.loads(response.read())["count"])
        except OSError:
            return -1

    def wait_for_count(self, expected: int, *, timeout_s: float = 120.0) -> int:
        """Poll until ``expected`` executions are searchable; the last count seen."""
        deadline = time.monotonic() + timeout_s
        seen = self.count()
        while seen != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = self.count()
        return seen

    def wait_until_drained(self, *, timeout_s: float = 120.0) -> None:
        """Wait until fluentd's delivery buffer holds no chunk."""
        buffer = Path(self.settings.buffer_dir)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(buffer.glob("delivery/buffer.*.log")):
                return
            time.sleep(0.1)
        raise AssertionError(f"fluentd's buffer still holds chunks:\n{self.fluentd.log_tail()}")

    def stats(self) -> Any:
        return read_delivery_stats(self.stats_file)
