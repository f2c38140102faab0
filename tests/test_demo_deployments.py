"""The deployments ``cwh demo`` serves: prefect.yaml's, pointed at the demo's own data; the
``demo`` worker provider that only plans; the block types and their demo documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks import CoursewareHub
from blocks.registry import BLOCK_TYPES, demo_blocks
from deployments.demo_deployments import DEMO_TIMETABLE, demo_specs
from deployments.demo_server import server_environment
from deployments.serve import read_specs, to_deployment
from tasks.demo_pool import DemoProvider
from tasks.vm_providers import VmProviderError, VmState
from tasks.worker_pool import resolve_provider
from tests.enrich_support import ROOT


def test_every_deployment_is_served_on_the_demo_data(tmp_path: Path) -> None:
    specs = read_specs(ROOT / "prefect.yaml")
    demo = {spec.name: spec for spec in demo_specs(specs, tmp_path, "demo")}
    assert set(demo) == {spec.name for spec in specs}

    report = demo["progress-report"].parameters
    assert report["index"] == str(tmp_path / "course" / "meme.csv")
    assert report["roster"] == str(tmp_path / "course" / "passwd")
    assert report["elasticsearch_block"] is None
    assert report["database"] == str(tmp_path / "executions.sqlite3")
    assert report["output_dir"] == str(tmp_path / "reports")

    backfill = demo["backfill-logs"].parameters
    assert backfill["homes_dir"] == str(tmp_path / "course" / "homes")
    assert backfill["elasticsearch_block"] is None

    reconcile = demo["reconcile-workers"].parameters
    assert reconcile["provider"] == "demo" and reconcile["dry_run"] is True
    assert reconcile["timetable"] == str(DEMO_TIMETABLE)
    assert reconcile["vcp_block"] is None and reconcile["ledger"] is None

    setup = demo["setup-logging"].parameters
    assert setup["elasticsearch_block"] == "demo" and setup["dry_run"] is True

    (trigger,) = demo["index-textbook"].raw["triggers"]
    assert trigger["match"]["cwh.textbook.dir"] == str((tmp_path / "course/textbook").resolve())

    deployment = to_deployment(demo["progress-report"])
    assert {s.schedule.timezone for s in deployment.schedules} == {"Asia/Tokyo"}
    assert len(deployment.schedules) == 3
    assert len(to_deployment(demo["reenrich"]).triggers) == 1


def test_the_ui_is_told_the_api_of_the_port_really_used(tmp_path: Path) -> None:
    env = server_environment(tmp_path, "127.0.0.1", 32907)
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:32907/api"
    assert env["PREFECT_SERVER_API_PORT"] == "32907"


def test_the_demo_provider_only_plans() -> None:
    provider, capabilities = resolve_provider("demo", ["192.0.2.11", "192.0.2.12"])
    assert isinstance(provider, DemoProvider) and capabilities.name == "demo"
    assert provider.list_vms() == {"192.0.2.11": VmState.RUNNING, "192.0.2.12": VmState.RUNNING}
    nodes = provider.observe_swarm()
    assert [n.role for n in nodes] == ["manager", "worker", "worker"]
    with pytest.raises(VmProviderError, match="only plans"):
        provider.power_off(["192.0.2.11"])
    provider.create([])


def test_the_demo_blocks_hold_no_real_secret_and_the_hub_block_has_a_language() -> None:
    blocks = demo_blocks("ja")
    assert {type(b) for b in blocks} == set(BLOCK_TYPES)
    (hub,) = [b for b in blocks if isinstance(b, CoursewareHub)]
    assert hub.language == "ja" and hub.manager_address.startswith("192.0.2.")
    assert CoursewareHub(manager_address="10.0.0.1").language == "en"
    with pytest.raises(ValueError, match="language"):
        CoursewareHub(manager_address="10.0.0.1", language="fr")
    for block in blocks:
        assert "demo" in repr(block) or "127.0.0.1" in repr(block) or "192.0.2." in repr(block)
