"""configure-culling: validation of the four settings, then the flow on a real swarm service."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from cwh.setup import CullingConfigError, CullingSettings, culling_report, parse_culling_settings
from flows.configure_culling import configure_culling
from tests.services.local_swarm import IDLE_COMMAND, TEST_IMAGE, LocalSwarm, wait_running_tasks

# Until tests/conftest.py registers these plugins, the modules that need them do.

# --------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("switch", "enabled"),
    [
        ("yes", True),
        ("YES", True),
        (" true ", True),
        ("1", True),
        (1, True),
        (True, True),
        ("no", False),
        ("False", False),
        ("0", False),
        (0, False),
        (False, False),
    ],
)
def test_every_documented_switch_spelling_is_accepted(switch: object, enabled: bool) -> None:
    settings = parse_culling_settings(switch, idle_timeout="900", max_age=3600, every=" 60 ")
    assert settings == CullingSettings(enabled=enabled, idle_timeout=900, max_age=3600, every=60)
    assert settings.as_env()["CULL_SERVER"] == ("yes" if enabled else "no")


def test_defaults_match_the_reference() -> None:
    assert parse_culling_settings("no").as_env() == {
        "CULL_SERVER": "no",
        "CULL_SERVER_IDLE_TIMEOUT": "600",
        "CULL_SERVER_MAX_AGE": "0",
        "CULL_SERVER_EVERY": "0",
    }


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(CullingConfigError) as caught:
        parse_culling_settings("maybe", idle_timeout=-1, max_age="1h", every=True)
    message = str(caught.value)
    assert "CULL_SERVER must be one of yes/no/1/0/true/false, got 'maybe'" in message
    assert (
        "CULL_SERVER_IDLE_TIMEOUT must be a non-negative whole number of seconds, got -1" in message
    )
    assert "CULL_SERVER_MAX_AGE must be a non-negative whole number of seconds, got '1h'" in message
    assert "CULL_SERVER_EVERY must be a non-negative whole number of seconds, got True" in message


@pytest.mark.parametrize("value", [1.0, 1.5, None, "", " ", "+5", "-3", "1e3", "0x10", "６０"])
def test_durations_that_only_look_valid_are_refused(value: object) -> None:
    with pytest.raises(CullingConfigError, match="CULL_SERVER_IDLE_TIMEOUT must be"):
        parse_culling_settings("yes", idle_timeout=value)


@pytest.mark.parametrize("value", [2, -1, "2", "on", "y", None, 1.0])
def test_switch_values_outside_the_documented_ones_are_refused(value: object) -> None:
    with pytest.raises(CullingConfigError, match="CULL_SERVER must be one of"):
        parse_culling_settings(value)


def test_zero_idle_timeout_is_refused_only_when_culling_is_on() -> None:
    assert parse_culling_settings("no", idle_timeout=0).idle_timeout == 0
    with pytest.raises(CullingConfigError, match="greater than 0 when culling is on"):
        parse_culling_settings("yes", idle_timeout=0)
    with pytest.raises(CullingConfigError, match="at most 2147483647"):
        parse_culling_settings("yes", idle_timeout=2**31)


def test_report_says_whether_the_service_changed() -> None:
    settings = parse_culling_settings("yes", 300)
    changed = culling_report("hub", settings, changed=True)
    assert "updated" in changed and "| `CULL_SERVER_IDLE_TIMEOUT` | `300` |" in changed
    assert "was not updated" in culling_report("hub", settings, changed=False)


# --------------------------------------------------------------------- the flow


@pytest.fixture
def hub_service(local_swarm: LocalSwarm) -> Iterator[str]:
    """A stand-in JupyterHub service with other variables that must survive."""
    client = local_swarm.docker_client(local_swarm.manager)
    name = f"cwh_hub_{secrets.token_hex(3)}"
    service = client.services.create(
        TEST_IMAGE,
        list(IDLE_COMMAND),
        name=name,
        env=["HUB_SECRET_FILE=/run/secrets/x", "CULL_SERVER=no"],
        constraints=["node.role==worker"],
        stop_grace_period=2 * 10**9,
    )
    _wait_running(local_swarm, name)
    yield name
    service.remove()


def _wait_running(lab: LocalSwarm, name: str) -> dict[str, Any]:
    (task,) = wait_running_tasks(lab.docker_client(lab.manager), name, 1)
    return task


def _version(lab: LocalSwarm, name: str) -> int:
    client = lab.docker_client(lab.manager)
    return int(client.api.inspect_service(name)["Version"]["Index"])


@pytest.mark.prefect
@pytest.mark.swarm
def test_flow_applies_settings_once_and_publishes_a_report(
    prefect_api: str, local_swarm: LocalSwarm, hub_service: str
) -> None:
    url = local_swarm.manager.docker_url
    state = configure_culling(
        cull_server="yes",
        idle_timeout=300,
        every="60",
        service=hub_service,
        docker_host=url,
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    assert result["changed"] is True
    task = _wait_running(local_swarm, hub_service)
    assert task["Spec"]["ContainerSpec"]["Env"] == [
        "HUB_SECRET_FILE=/run/secrets/x",
        "CULL_SERVER=yes",
        "CULL_SERVER_IDLE_TIMEOUT=300",
        "CULL_SERVER_MAX_AGE=0",
        "CULL_SERVER_EVERY=60",
    ]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert [a.key for a in artifacts] == ["configure-culling"]
    assert "CULL_SERVER_IDLE_TIMEOUT` | `300`" in str(artifacts[0].data)

    version = _version(local_swarm, hub_service)
    again = configure_culling(
        cull_server="1", idle_timeout="300", every=60, service=hub_service, docker_host=url
    )
    assert again["changed"] is False
    assert _version(local_swarm, hub_service) == version
    assert _wait_running(local_swarm, hub_service)["ID"] == task["ID"]


@pytest.mark.prefect
@pytest.mark.swarm
def test_flow_rejects_bad_settings_before_touching_the_service(
    prefect_api: str, local_swarm: LocalSwarm, hub_service: str
) -> None:
    version = _version(local_swarm, hub_service)
    state = configure_culling(
        cull_server="sometimes",
        idle_timeout=300,
        service=hub_service,
        docker_host=local_swarm.manager.docker_url,
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(CullingConfigError, match="got 'sometimes'"):
        state.result()
    assert _version(local_swarm, hub_service) == version
