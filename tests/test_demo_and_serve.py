"""The README's main-job command, ``cwh demo``, in a fresh temporary HOME; and the
deployments ``cwh serve`` builds from ``prefect.yaml``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import matplotlib.image
import pytest

from deployments.serve import read_specs, to_deployment, watched_textbook
from tests.enrich_support import ROOT

CWH = [sys.executable, "-m", "deployments.cli.main"]


def _demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CWH_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [*CWH, "demo", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.prefect
def test_cwh_demo_runs_on_a_fresh_home_and_reuses_everything_the_second_time(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    try:
        first = _demo(home)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "starting a local Prefect server" in first.stdout
        assert (
            "backfill: 2" in first.stdout and " indexed, 0 already present, 0 dead" in first.stdout
        )
        url = re.search(
            r"Prefect UI: (http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]+)", first.stdout
        )
        assert url is not None, first.stdout
        heatmaps = re.findall(r"heatmap: (\S+\.png)", first.stdout)
        assert len(heatmaps) == 2
        for heatmap in heatmaps:
            path = Path(heatmap)
            assert path.is_relative_to(home / ".cwh" / "demo")
            assert matplotlib.image.imread(path).shape[0] > 300
        assert "python-basic: 30 students x 12 questions" in first.stdout

        served = len(read_specs(ROOT / "prefect.yaml"))
        assert f"deployments: {served} served (" in first.stdout
        assert re.search(
            r"browser: http://127\.0\.0\.1:\d+/python-basic/latest\.html", first.stdout
        )

        second = _demo(home, "--language", "ja")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert "起動済みのローカル Prefect サーバー" in second.stdout
        assert re.search(
            r"バックフィル: 新規登録 0 件、登録済み \d+ 件、デッドレター 0 件", second.stdout
        )
        assert f"デプロイメント: {served} 件" in second.stdout
    finally:
        stopped = _demo(home, "--stop-server")
    assert stopped.returncode == 0
    assert "demo Prefect server stopped" in stopped.stdout
    assert not (home / ".cwh" / "prefect" / "cwh-demo-server.json").exists()
    assert not _processes_with(str(home / ".cwh" / "prefect")), "the demo left processes"


def _processes_with(argument: str) -> list[int]:
    """PIDs whose command line mentions ``argument`` (the demo's background process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if argument in cmdline.split("\0"):
                found.append(int(entry.name))
    return found


def test_every_deployment_of_prefect_yaml_can_be_served() -> None:
    specs = read_specs(ROOT / "prefect.yaml")
    deployments = {spec.name: to_deployment(spec) for spec in specs}
    assert {"progress-report", "backfill-logs", "reenrich"} <= set(deployments)

    report = deployments["progress-report"]
    crons = {schedule.schedule.cron for schedule in report.schedules}
    assert "*/5 9-17 * * 1-5" in crons
    assert {schedule.schedule.timezone for schedule in report.schedules} == {"Asia/Tokyo"}

    (trigger,) = deployments["reenrich"].triggers
    assert trigger.expect == {"cwh.textbook.indexed"}
    assert trigger.within == timedelta(0)
    assert trigger.parameters == {"index": "{{ event.payload.index }}"}
    assert watched_textbook(specs) == Path("/jupyter/admin/textbook")
