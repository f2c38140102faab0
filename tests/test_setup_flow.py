"""The ``setup-logging`` flow end to end: real Prefect server, real Elasticsearch node, real
local swarm with a stand-in ``coursewarehub_jupyterhub`` service, and the contract-checking
Kibana stand-in. Covers dry run, a first run, an idempotent second run, the CLI, secrets, and
each bad input (one clear error, nothing changed)."""

from __future__ import annotations

import base64
import logging
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from prefect_docker import DockerHost

from blocks import CoursewareHub, ElasticsearchConnection, KibanaConnection
from flows.setup_logging import PLAN_ARTIFACT_KEY, REPORT_ARTIFACT_KEY, setup_logging
from tests.kibana_contract import ElasticsearchWithSecurity, FakeKibana
from tests.services.local_swarm import IDLE_COMMAND, TEST_IMAGE, LocalSwarm

pytestmark = [pytest.mark.prefect, pytest.mark.swarm, pytest.mark.elasticsearch]

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "coursewarehub_jupyterhub"
ES_PASSWORD = "es-S3cret-4711!"
KIBANA_PASSWORD = "kb-S3cret-0815?"
KIBANA_AUTH = "Basic " + base64.b64encode(f"cwh:{KIBANA_PASSWORD}".encode()).decode()


def _wait_running(client: Any, name: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = client.api.tasks(filters={"service": name, "desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        if running and len(running) == len(tasks):
            return running
        time.sleep(0.2)
    raise AssertionError(f"{name} never ran")


@pytest.fixture(scope="module")
def hub_service(local_swarm: LocalSwarm) -> Iterator[Any]:
    """The stand-in hub: a one-replica busybox service named like CoursewareHub's."""
    client = local_swarm.docker_client(local_swarm.manager)
    for leftover in client.services.list(filters={"name": SERVICE}):
        leftover.remove()
    service = client.services.create(
        TEST_IMAGE,
        list(IDLE_COMMAND),
        name=SERVICE,
        labels={"com.docker.stack.namespace": "coursewarehub"},
        constraints=["node.role==worker"],
        stop_grace_period=2 * 10**9,
    )
    _wait_running(client, SERVICE)
    yield client
    service.remove()


def _service_state(client: Any) -> tuple[int, list[str]]:
    inspected = client.api.inspect_service(SERVICE)
    tasks = _wait_running(client, SERVICE)
    return int(inspected["Version"]["Index"]), sorted(t["ID"] for t in tasks)


@dataclass
class Installation:
    root: Path
    hub: CoursewareHub
    names: dict[str, str]
    commands: Path

    def files(self) -> dict[str, bytes | None]:
        paths = [
            self.hub.fluentd_config_path,
            self.hub.fluentd_env_file,
            self.hub.fluentd_systemd_dropin or "",
            str(Path(self.hub.jupyterhub_config_dir) / "lc_wrapper.py"),
            self.hub.meme_index_path,
        ]
        return {p: Path(p).read_bytes() if Path(p).exists() else None for p in paths}

    def commands_run(self) -> list[str]:
        return self.commands.read_text().split() if self.commands.exists() else []


def _recorder(log: Path, word: str) -> list[str]:
    code = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    return [sys.executable, "-c", code, str(log), word]


def _install(
    tmp_path: Path,
    sample: Path,
    *,
    docker_url: str,
    es_url: str,
    es_prefix: str,
    kibana_url: str,
) -> Installation:
    """Directories of a manager under ``tmp_path`` and the three blocks, saved on the server."""
    etc = tmp_path / "etc"
    (etc / "jupyterhub" / "jupyterhub_config.d").mkdir(parents=True)
    (etc / "fluentd" / "config.d").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    commands = tmp_path / "commands.log"
    hub = CoursewareHub(
        manager_address="10.99.0.10",
        docker=DockerHost(base_url=docker_url),
        jupyterhub_config_dir=str(etc / "jupyterhub" / "jupyterhub_config.d"),
        textbook_dir=str(sample / "textbook"),
        homes_dir=str(sample / "users"),
        passwd_path=str(sample / "passwd"),
        meme_index_path=str(tmp_path / "lib" / "meme.csv"),
        qlabel_pattern=r"問\s*\d+-\d+",
        fluentd_config_path=str(etc / "fluentd" / "config.d" / "lc_wrapper.conf"),
        fluentd_env_file=str(etc / "fluentd" / "cwh-lc-wrapper.env"),
        fluentd_systemd_dropin=str(etc / "systemd" / "fluentd.service.d" / "cwh.conf"),
        fluentd_buffer_dir=str(tmp_path / "buffer"),
        fluentd_binary=str(tmp_path / "fluentd-not-installed"),
        fluentd_reload_command=_recorder(commands, "reload"),
        fluentd_restart_command=_recorder(commands, "restart"),
        systemd_reload_command=_recorder(commands, "daemon-reload"),
    )
    suffix = uuid.uuid4().hex[:8]
    names = {
        "coursewarehub": f"hub-{suffix}",
        "elasticsearch": f"es-{suffix}",
        "kibana": f"kb-{suffix}",
    }
    hub.save(names["coursewarehub"], overwrite=True)
    ElasticsearchConnection(
        urls=[es_url], username="fluentd", password=ES_PASSWORD, index_prefix=es_prefix
    ).save(names["elasticsearch"], overwrite=True)
    KibanaConnection(url=kibana_url, username="cwh", password=KIBANA_PASSWORD).save(
        names["kibana"], overwrite=True
    )
    return Installation(root=tmp_path, hub=hub, names=names, commands=commands)


@dataclass
class Site:
    """The services every test here runs against, and a scratch manager under ``tmp_path``."""

    es_url: str
    es_client: Elasticsearch
    es_index_prefix: str
    swarm: LocalSwarm
    hub_service: Any
    sample: Path
    tmp_path: Path

    def install(
        self, kibana_url: str, *, docker_url: str | None = None, es_url: str | None = None
    ) -> Installation:
        return _install(
            self.tmp_path,
            self.sample,
            docker_url=docker_url or self.swarm.manager.docker_url,
            es_url=es_url or self.es_url,
            es_prefix=self.es_index_prefix,
            kibana_url=kibana_url,
        )

    def templates(self) -> dict[str, Any]:
        return _templates(self.es_client, self.es_index_prefix)


@pytest.fixture
def site(
    prefect_api: str,
    es_url: str,
    es_client: Elasticsearch,
    es_index_prefix: str,
    local_swarm: LocalSwarm,
    hub_service: Any,
    lcwrapper_sample: Path,
    tmp_path: Path,
) -> Site:
    return Site(
        es_url, es_client, es_index_prefix, local_swarm, hub_service, lcwrapper_sample, tmp_path
    )


def _run(installation: Installation, dry_run: bool = False) -> Any:
    names = installation.names
    return setup_logging(
        coursewarehub_block=names["coursewarehub"],
        elasticsearch_block=names["elasticsearch"],
        kibana_block=names["kibana"],
        dry_run=dry_run,
        return_state=True,
    )


def _api_texts(flow_run_id: uuid.UUID) -> tuple[list[str], dict[str, str]]:
    """Log messages and markdown artifacts the server stored for a flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return [log.message for log in logs], {a.key or "": str(a.data) for a in artifacts}


def _templates(es_client: Elasticsearch, prefix: str) -> dict[str, Any]:
    found = es_client.options(ignore_status=404).indices.get_index_template(name=f"{prefix}-*")
    return {t["name"]: t["index_template"] for t in found.get("index_templates", [])}


def test_dry_run_then_setup_then_nothing_to_do(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    es_index_prefix, hub_service = site.es_index_prefix, site.hub_service
    with FakeKibana(credentials=KIBANA_AUTH) as kibana:
        installation = site.install(kibana.url)
        version_0, tasks_0 = _service_state(hub_service)

        # dry run: a plan artifact, and nothing anywhere changes
        state = _run(installation, dry_run=True)
        assert state.is_completed(), state.message
        plan = state.result()
        assert plan.dry_run and plan.changed == []
        assert any("build the MEME index" in item for item in plan.planned)
        assert any("create index template" in item for item in plan.planned)
        assert any("create data view" in item for item in plan.planned)
        assert any("restart the JupyterHub service" in item for item in plan.planned)
        logs, artifacts = _api_texts(state.state_details.flow_run_id)
        assert "create index template" in artifacts[PLAN_ARTIFACT_KEY]
        assert site.templates() == {}
        assert kibana.write_requests() == []
        assert all(content is None for content in installation.files().values())
        assert installation.commands_run() == []
        assert _service_state(hub_service) == (version_0, tasks_0)
        texts = [*logs, *artifacts.values()]

        # first run: everything is set up
        state = _run(installation)
        assert state.is_completed(), state.message
        report = state.result()
        templates = site.templates()
        assert set(templates) == {f"{es_index_prefix}-executions", f"{es_index_prefix}-deadletter"}
        views = kibana.data_views()
        assert list(views) == [f"cwh-{es_index_prefix}"]
        assert views[f"cwh-{es_index_prefix}"]["title"] == f"{es_index_prefix}-*"
        objects = kibana.saved_objects()
        assert ("dashboard", "cwh-lcwrapper-progress") in objects
        assert all(
            ref["id"] == f"cwh-{es_index_prefix}"
            for obj in objects.values()
            for ref in obj["references"]
            if ref["type"] == "index-pattern"
        )
        files = installation.files()
        assert all(content is not None for content in files.values())
        config = files[installation.hub.fluentd_config_path] or b""
        assert ES_PASSWORD.encode() not in config
        assert f"bind {installation.hub.manager_address}".encode() in config
        assert ES_PASSWORD.encode() in (files[installation.hub.fluentd_env_file] or b"")
        env_mode = Path(installation.hub.fluentd_env_file).stat().st_mode
        assert stat.S_IMODE(env_mode) == 0o600
        hub_config = files[str(Path(installation.hub.jupyterhub_config_dir) / "lc_wrapper.py")]
        assert b'"lc_wrapper_fluentd_host": "10.99.0.10"' in (hub_config or b"")
        assert installation.commands_run() == ["daemon-reload", "restart"]
        version_1, tasks_1 = _service_state(hub_service)
        assert version_1 > version_0 and set(tasks_1).isdisjoint(tasks_0)
        assert report.dashboard_url == f"{kibana.url}/app/dashboards#/view/cwh-lcwrapper-progress"
        logs, artifacts = _api_texts(state.state_details.flow_run_id)
        assert report.dashboard_url in artifacts[REPORT_ARTIFACT_KEY]
        texts += [*logs, *artifacts.values()]

        # second run: nothing to do, nothing touched
        writes_before = len(kibana.write_requests())
        state = _run(installation)
        assert state.is_completed(), state.message
        again = state.result()
        assert site.templates() == templates
        assert installation.files() == files
        assert installation.commands_run() == ["daemon-reload", "restart"]
        assert _service_state(hub_service) == (version_1, tasks_1)
        assert kibana.data_views() == views
        new_writes = kibana.write_requests()[writes_before:]
        assert [r.api_path for r in new_writes] == ["/api/saved_objects/_import"]
        assert not any("template" in item and "installed" in item for item in again.changed)
        assert any("unchanged" in item for item in again.planned)
        logs, artifacts = _api_texts(state.state_details.flow_run_id)
        texts += [*logs, *artifacts.values(), caplog.text, report.markdown, again.markdown]
        assert kibana.violations == []

    for secret in (ES_PASSWORD, KIBANA_PASSWORD):
        assert not any(secret in text for text in texts), "a secret reached logs or artifacts"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("case", ["non-manager", "unreachable-es", "es-401", "no-data-views"])
def test_bad_input_is_one_clear_error_and_changes_nothing(
    case: str, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub_service = site.hub_service
    docker_url = site.swarm.manager.docker_url
    target_es = site.es_url
    expected: str
    with (
        ElasticsearchWithSecurity() as secured,
        FakeKibana(credentials=KIBANA_AUTH, data_views_api=case != "no-data-views") as kibana,
    ):
        if case == "non-manager":
            docker_url = site.swarm.node("w1").docker_url
            expected = f"Docker swarm: Docker {docker_url}: is not a swarm manager"
        elif case == "unreachable-es":
            target_es = f"http://127.0.0.1:{_closed_port()}"
            expected = f"Elasticsearch: Elasticsearch {target_es}: unreachable"
        elif case == "es-401":
            target_es = secured.url
            expected = f"Elasticsearch: Elasticsearch {secured.url}: rejected the credentials"
        else:
            expected = f"Kibana: Kibana GET {kibana.url}/api/data_views: this Kibana has no data"
        installation = site.install(kibana.url, docker_url=docker_url, es_url=target_es)
        before = _service_state(hub_service)
        state = _run(installation)
        assert state.is_failed()
        message = state.message or ""
        failures = [line for line in message.splitlines()[1:] if line.strip()]
        assert len(failures) == 1, message
        assert failures[0].startswith(expected), message
        assert site.templates() == {}
        assert kibana.write_requests() == []
        assert kibana.violations == []
        assert all(content is None for content in installation.files().values())
        assert installation.commands_run() == []
        assert _service_state(hub_service) == before
        logs, artifacts = _api_texts(state.state_details.flow_run_id)
    for text in [*logs, *artifacts.values(), caplog.text, message]:
        assert ES_PASSWORD not in text and KIBANA_PASSWORD not in text


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployments.cli.main", "setup", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_dry_run_runs_the_same_flow(site: Site, prefect_subprocess_env: dict[str, str]) -> None:
    es_index_prefix = site.es_index_prefix
    with FakeKibana(credentials=KIBANA_AUTH) as kibana:
        installation = site.install(kibana.url)
        names = installation.names
        done = _cli(
            prefect_subprocess_env,
            "--dry-run",
            "--coursewarehub",
            names["coursewarehub"],
            "--elasticsearch",
            names["elasticsearch"],
            "--kibana",
            names["kibana"],
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "plan (dry run, nothing changed)" in done.stdout
        assert f"create index template `{es_index_prefix}-executions`" in done.stdout
        assert kibana.write_requests() == []
        missing = _cli(prefect_subprocess_env, "--coursewarehub", "nope")
    assert missing.returncode == 2
    assert "CoursewareHub block 'nope' cannot be loaded" in missing.stderr
    assert site.templates() == {}
    assert all(content is None for content in installation.files().values())
    assert ES_PASSWORD not in done.stdout + done.stderr
