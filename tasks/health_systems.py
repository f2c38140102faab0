"""Is each system the pipeline needs answering? One task per system, for the health check.

Each task reuses the connectivity check setup already runs against that system (the Docker
swarm manager and its stack, Elasticsearch's cluster health, Kibana's status API, the VCP
unit listing) and turns its outcome into a :class:`cwh.health.CheckOutcome`: a system that is
down is what the health check reports, so these tasks never fail for it. A check is tried
twice, a few seconds apart, so that one lost packet does not page anyone.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from prefect import task

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from blocks.kibana import KibanaConnection
from blocks.vcp import VcpWorkerUnit
from cwh.health import CheckOutcome
from tasks.common import NOT_CACHED, run_logger

ATTEMPTS = 2
PAUSE_SECONDS = 3.0
CONNECT_TIMEOUT_SECONDS = 5.0
_MAX_DETAIL = 300


def _describe(error: BaseException) -> str:
    """One line about a failure; the project's errors already name the endpoint safely."""
    message = " ".join(str(error).split()) or type(error).__name__
    if len(message) > _MAX_DETAIL:
        message = message[:_MAX_DETAIL] + "..."
    return message


def _attempt(name: str, probe: Callable[[], str]) -> CheckOutcome:
    """Run ``probe`` (which returns a one-line summary) up to :data:`ATTEMPTS` times."""
    error: BaseException | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(PAUSE_SECONDS)
        try:
            outcome = CheckOutcome(name, True, probe())
        except Exception as exc:
            error = exc
            continue
        run_logger(__name__).info("health %s: ok, %s", name, outcome.detail)
        return outcome
    assert error is not None
    detail = _describe(error)
    run_logger(__name__).warning("health %s: FAILED, %s", name, detail)
    return CheckOutcome(name, False, detail)


@task(name="health-docker", **NOT_CACHED)
def check_docker_health(hub: CoursewareHub) -> CheckOutcome:
    from tasks.checks import docker_summary

    return _attempt("docker", lambda: docker_summary(hub).report_line())


@task(name="health-elasticsearch", **NOT_CACHED)
def check_elasticsearch_health(block: ElasticsearchConnection) -> CheckOutcome:
    from tasks.elasticsearch_setup import cluster_summary

    return _attempt("elasticsearch", lambda: cluster_summary(block).report_line())


@task(name="health-kibana", **NOT_CACHED)
def check_kibana_health(block: KibanaConnection) -> CheckOutcome:
    from tasks.kibana import kibana_api

    def probe() -> str:
        with kibana_api(block) as api:
            return api.status().report_line()

    return _attempt("kibana", probe)


def tcp_probe(host: str, port: int) -> str:
    """Open and close a TCP connection (what a kernel's fluent sender does first)."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
        pass
    return f"{host}:{port} accepts connections ({(time.monotonic() - started) * 1000:.0f} ms)"


@task(name="health-fluentd", **NOT_CACHED)
def check_fluentd_port(host: str, port: int) -> CheckOutcome:
    def probe() -> str:
        try:
            return tcp_probe(host, port)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConnectionError(f"fluentd {host}:{port}: {reason}") from None

    return _attempt("fluentd", probe)


@task(name="health-vcp", **NOT_CACHED)
def check_vcp_health(unit: VcpWorkerUnit) -> CheckOutcome:
    from tasks.vm_providers import vcp_provider

    def probe() -> str:
        machines = vcp_provider(unit).list_vms()
        return f"unit {unit.ugroup}/{unit.unit}: {len(machines)} VM(s)"

    return _attempt("vcp", probe)
