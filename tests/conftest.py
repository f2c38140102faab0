"""Shared pytest configuration: real services are provided by the plugins below."""

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.services.elasticsearch_service",
    "tests.services.fluentd_service",
    "tests.services.jupyterhub_service",
    "tests.services.prefect_service",
    "tests.services.swarm_service",
]

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
FIXTURE_DIR = SHARED_DIR / "fixtures" / "lcwrapper-sample"


def pytest_report_header() -> str:
    from cwh.enrich import hot_path_state

    return f"cwh hot path: {hot_path_state().describe()}"


@pytest.fixture(scope="session")
def lcwrapper_sample() -> Path:
    """The real lc_wrapper sample shipped beside the repository in ``../shared``."""
    if not FIXTURE_DIR.is_dir():
        pytest.fail(f"lc_wrapper fixture directory missing: {FIXTURE_DIR}")
    return FIXTURE_DIR
