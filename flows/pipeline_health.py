"""Flow ``pipeline-health``: is every part of the pipeline up, and what happened since last time?

Checks every configured system concurrently (the Docker swarm manager of the CoursewareHub
block, Elasticsearch, Kibana, fluentd's forward port, the VCP API when a VCP block is named),
reads the store's and the live delivery's totals, compares them with the last run's (a state
file, see :mod:`cwh.health.state`), and then:

* publishes a table artifact (``pipeline-health``) in the chosen language;
* emits ``cwh.pipeline.unhealthy`` per failed check (a system down, the live delivery failing,
  the newest execution older than ``stale_after_minutes``, runs that crashed, of the
  ``crashed_runs_of`` deployments or of any) and
  ``cwh.deadletters.rising`` when the dead letters since the last run reach the threshold.
  The automations of ``cwh alerts apply`` turn them into notifications.

A system that is down is what this flow reports, so it still completes; it fails only on its
own misconfiguration (a named block that does not exist, a bad endpoint or limit).
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture

from blocks import CoursewareHub, ElasticsearchConnection, KibanaConnection, load_block
from blocks.vcp import VcpWorkerUnit
from cwh.enrich import DeliveryStats
from cwh.health import (
    CheckOutcome,
    HealthReport,
    StoreFigures,
    assess,
    health_limits,
    health_rows,
    health_summary,
    parse_host_port,
)
from cwh.setup import STATS_FILE_NAME
from tasks.health_events import emit_health_events
from tasks.health_runs import crashed_runs_since
from tasks.health_state import default_state_file, read_state, write_state
from tasks.health_store import read_delivery_figures, read_store_figures
from tasks.health_systems import (
    check_docker_health,
    check_elasticsearch_health,
    check_fluentd_port,
    check_kibana_health,
    check_vcp_health,
)
from tasks.language import flow_language
from tasks.store import StoreConfig

ARTIFACT_KEY = "pipeline-health"
FIRST_RUN_LOOKBACK_SECONDS = 3600.0
"""On the first run, runs that crashed within this last hour are reported."""


@flow(
    name="pipeline-health",
    description="Check every system of the pipeline, count dead letters, suspect records and "
    "throughput since the last run, and raise events for what is wrong.",
)
def pipeline_health(
    coursewarehub_block: str | None = None,
    elasticsearch_block: str | None = None,
    elasticsearch_url: str | None = None,
    database: str | None = None,
    index_prefix: str | None = None,
    kibana_block: str | None = None,
    vcp_block: str | None = None,
    fluentd: str | None = None,
    stats_file: str | None = None,
    state_file: str | None = None,
    dead_letter_threshold: int = 10,
    stale_after_minutes: float | None = None,
    crashed_runs_of: list[str] | None = None,
    language: str | None = None,
) -> HealthReport:
    # Settings first: any mistake here is the flow's own and fails the run.
    hub = load_block(CoursewareHub, coursewarehub_block) if coursewarehub_block else None
    lang = flow_language(language, hub)
    limits = health_limits(dead_letter_threshold, stale_after_minutes)
    store = StoreConfig(elasticsearch_block, elasticsearch_url, database, index_prefix)
    es: ElasticsearchConnection | None = None
    if elasticsearch_block:
        es = load_block(ElasticsearchConnection, elasticsearch_block)
    elif elasticsearch_url:
        es = ElasticsearchConnection(urls=[elasticsearch_url])
    kibana = load_block(KibanaConnection, kibana_block) if kibana_block else None
    vcp = load_block(VcpWorkerUnit, vcp_block) if vcp_block else None
    forward = parse_host_port(fluentd) if fluentd else None
    if forward is None and hub is not None:
        forward = (hub.manager_address, hub.fluentd_port)
    stats: Path | None = Path(stats_file) if stats_file else None
    if stats is None and hub is not None:
        stats = Path(hub.enrich_state_dir) / STATS_FILE_NAME
    state_path = Path(state_file) if state_file else default_state_file()

    previous = read_state(state_path)
    now = time.time()
    since = previous.checked_at if previous is not None else now - FIRST_RUN_LOOKBACK_SECONDS

    # Every check at once; none of them raises for a system that is down.
    systems: list[PrefectFuture[CheckOutcome]] = []
    if hub is not None:
        systems.append(check_docker_health.submit(hub))
    if es is not None:
        systems.append(check_elasticsearch_health.submit(es))
    if kibana is not None:
        systems.append(check_kibana_health.submit(kibana))
    if forward is not None:
        systems.append(check_fluentd_port.submit(*forward))
    if vcp is not None:
        systems.append(check_vcp_health.submit(vcp))
    figures_future = read_store_figures.submit(store)
    delivery_future = read_delivery_figures.submit(stats) if stats is not None else None
    crashed_future = crashed_runs_since.submit(since, crashed_runs_of)

    checks = [future.result() for future in systems]
    figures = figures_future.result()
    delivery = delivery_future.result() if delivery_future is not None else None
    crashed = crashed_future.result()
    for reading in (figures, delivery, crashed):
        if isinstance(reading, CheckOutcome):
            checks.append(reading)

    report = assess(
        now=now,
        previous=previous,
        checks=checks,
        store=figures if isinstance(figures, StoreFigures) else None,
        delivery=delivery if isinstance(delivery, DeliveryStats) else None,
        crashed=crashed if isinstance(crashed, list) else [],
        limits=limits,
    )
    emit_health_events(report.events)
    create_table_artifact(
        table=health_rows(report, lang),
        key=ARTIFACT_KEY,
        description=health_summary(report, lang),
    )
    write_state(state_path, report.state)
    return report
