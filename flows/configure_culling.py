"""Flow ``configure-culling``: idle-server culling settings on the JupyterHub swarm service.

The settings (:func:`cwh.setup.parse_culling_settings`) are validated first, so nothing is
touched when any value is wrong, and merged into the service's environment, leaving every
other variable as it is. When the service already has these values nothing is sent, so the
hub is not restarted needlessly; otherwise the hub's task is rolled and the flow returns once
it runs with the new settings.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from cwh.defaults import DEFAULT_DOCKER_HOST
from cwh.messages import language_setting, text
from cwh.setup import CullingApplied, culling_report, parse_culling_settings
from tasks.swarm import docker_target, update_service_env

DEFAULT_SERVICE = "coursewarehub_jupyterhub"


@flow(name="configure-culling", log_prints=False)
def configure_culling(
    cull_server: str | bool | int = "no",
    idle_timeout: int | str = 600,
    max_age: int | str = 0,
    every: int | str = 0,
    service: str = DEFAULT_SERVICE,
    docker_host: str = DEFAULT_DOCKER_HOST,
    docker_host_block: str | None = None,
    wait_timeout_s: float = 300.0,
    language: str | None = None,
) -> CullingApplied:
    """Apply culling settings to the JupyterHub service; returns what was set and whether
    the service changed.

    ``docker_host_block`` names a saved ``DockerHost`` block to use instead of the
    ``docker_host`` URL (for a manager reached over ssh or TLS). ``language`` (``ja``/``en``)
    is the artifact's; unset, ``CWH_LANGUAGE`` decides.
    """
    lang = language_setting(language)
    settings = parse_culling_settings(cull_server, idle_timeout, max_age, every)
    target = docker_target(docker_host, docker_host_block)
    env = settings.as_env()
    changed = update_service_env(target, service, env, wait=True, timeout=wait_timeout_s)
    create_markdown_artifact(
        key="configure-culling",
        markdown=culling_report(service, settings, changed, lang),
        description=text("culling.artifact", lang, service=service),
    )
    return {"service": service, "changed": changed, "env": env}
