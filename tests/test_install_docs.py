"""The README's "Install on a CoursewareHub manager", run: its ``uv run`` commands against a
real Prefect server, and the systemd units it installs checked by ``systemd-analyze verify``.

The commands are read from the README section itself, so the documentation cannot drift from
what works. ``/opt/cwh-flows`` stands for this checkout; ``uv run`` runs the program from this
environment. ``cwh serve`` runs until stopped: it must register every deployment of
``prefect.yaml`` and answer on its report port, then it is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deployments.serve import read_specs
from tests.enrich_support import ROOT

SECTION = "## Install on a CoursewareHub manager"
INSTALL_ROOT = "/opt/cwh-flows"
UNITS = ROOT / "deployments" / "systemd"
BIN = Path(sys.executable).parent
SERVE_TIMEOUT_SECONDS = 180.0


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.index("\n## ", start + len(SECTION))
    return readme[start:end]


def documented_commands() -> list[str]:
    """Every line of the section's bash blocks that runs something with ``uv run``."""
    blocks = re.findall(r"```bash\n(.*?)```", _section(), flags=re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if re.match(r"^(\w+=\S+\s+)*uv run ", line)]


def _argv(command: str, env: dict[str, str]) -> list[str]:
    """``command`` as an argv for this checkout, its ``NAME=value`` prefixes put into ``env``."""
    words = shlex.split(command.replace(INSTALL_ROOT, str(ROOT)))
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[:2] == ["uv", "run"], command
    words = words[2:]
    while words[0].startswith("--"):
        words.pop(0)
    return [str(BIN / words[0]), *words[1:]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_section_documents_the_whole_route() -> None:
    commands = documented_commands()
    joined = "\n".join(commands)
    for needed in ("cwh blocks register", "cwh serve", "work-pool create", "deploy --all"):
        assert needed in joined, needed
    section = _section()
    for unit in sorted(UNITS.glob("*.service")):
        assert unit.name in section or "cwh-*.service" in section
    assert "vcpsdk" in section and "PyPI" in section
    assert "### CoursewareHub マネージャーへのインストール" in section


@pytest.mark.prefect
def test_the_documented_commands_work_against_a_real_server(
    prefect_subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    reports_port = _free_port()
    base = {
        **prefect_subprocess_env,
        "CWH_HOME": str(tmp_path / "cwh"),
        "CWH_REPORTS_PORT": str(reports_port),
    }
    _start_from_a_fresh_server()
    for command in documented_commands():
        env = dict(base)
        argv = _argv(command, env)
        if argv[1:] == ["serve"]:
            _serve_until_ready(argv, env, reports_port)
            continue
        done = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        if "block type ls" in command:
            for slug in ("coursewarehub", "cwh-elasticsearch", "vcp-worker-unit"):
                assert slug in done.stdout, done.stdout


def _start_from_a_fresh_server() -> None:
    """The section starts from a new server: deployments of the same names that other tests
    left on the shared one (some bound to a work pool) are removed first."""
    from prefect.client.orchestration import get_client

    wanted = {spec.name for spec in read_specs()}
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if deployment.name in wanted:
                client.delete_deployment(deployment.id)


def _serve_until_ready(argv: list[str], env: dict[str, str], reports_port: int) -> None:
    from prefect.client.orchestration import get_client

    wanted = {spec.name for spec in read_specs()}
    (Path(env["CWH_HOME"]) / "reports" / "c").mkdir(parents=True)
    (Path(env["CWH_HOME"]) / "reports" / "c" / "latest.html").write_text("<p>ok</p>")
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
        served: set[str] = set()
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline and process.poll() is None:
                found = client.read_deployments()
                served = {d.name for d in found if d.work_pool_name is None} & wanted
                if served == wanted:
                    break
                time.sleep(1)
        assert served == wanted, f"serving {sorted(served)} of {sorted(wanted)}"
        page = httpx.get(f"http://127.0.0.1:{reports_port}/c/latest.html", timeout=10)
        assert page.text == "<p>ok</p>"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=30)
    assert b"Traceback" not in output, output.decode(errors="replace")[-3000:]


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """The shipped units, with this checkout's paths, pass ``systemd-analyze verify``."""
    analyze = shutil.which("systemd-analyze")
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    units = sorted(UNITS.glob("*.service"))
    assert {u.name for u in units} >= {
        "cwh-server.service",
        "cwh-serve.service",
        "cwh-worker.service",
        "cwh-textbook-watch.service",
    }
    for unit in units:
        text = unit.read_text(encoding="utf-8")
        assert "ExecStart=/usr/local/bin/uv run --frozen --no-sync " in text, unit.name
        assert "EnvironmentFile=/etc/cwh-flows/cwh.env" in text, unit.name
        local = (
            text.replace("/usr/local/bin/uv", uv)
            .replace(INSTALL_ROOT, str(ROOT))
            .replace("/etc/cwh-flows/cwh.env", str(UNITS / "cwh.env.example"))
            .replace("User=cwh", "User=root")
            .replace("Group=cwh", "Group=root")
        )
        (tmp_path / unit.name).write_text(local, encoding="utf-8")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (Debian: systemd)", pytrace=False)
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / u.name) for u in units)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
