"""The real fluentd test service: ``--dry-run`` of the config the setup flow renders, records
sent as lc_wrapper sends them arriving, and file buffers surviving ``kill -9``."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from cwh.setup import FluentdSettings, render_lc_wrapper_conf
from tests.services.fluentd_sender import ForwardSender
from tests.services.fluentd_service import REPO_ROOT, FluentdError, FluentdService
from tests.test_fluentd_config import _api_key_settings, _basic_auth_settings

pytestmark = pytest.mark.fluentd

Factory = Callable[..., FluentdService]
TAG = "smoke.lc_wrapper"
DELIVERY_TIMEOUT_S = 90.0


# ---------------------------------------------------------------- dry run of the rendered config


def _local_settings(settings: FluentdSettings, root: Path, port: int) -> FluentdSettings:
    """The golden-file settings with every path and the address pointed at this test's own."""
    for name in ("meme.csv", "passwd", "ca.pem"):
        (root / name).write_text("", encoding="utf-8")
    (root / "users").mkdir(exist_ok=True)
    enrich = dataclasses.replace(
        settings.enrich,
        python=sys.executable,
        index=str(root / "meme.csv"),
        passwd=str(root / "passwd"),
        homes_dir=str(root / "users"),
    )
    output = settings.elasticsearch
    if output.ca_file is not None:
        output = dataclasses.replace(output, ca_file=str(root / "ca.pem"))
    return dataclasses.replace(
        settings,
        bind_address="127.0.0.1",
        port=port,
        enrich=enrich,
        elasticsearch=output,
        buffer_dir=str(root / "buffer"),
    )


@pytest.mark.parametrize("settings", [_basic_auth_settings, _api_key_settings])
def test_dry_run_accepts_the_rendered_config(
    settings: Callable[[], FluentdSettings], fluentd_factory: Factory, tmp_path: Path
) -> None:
    fluentd = fluentd_factory(env={"CWH_ES_PASSWORD": "secret", "CWH_ES_API_KEY": "key"})
    config = render_lc_wrapper_conf(_local_settings(settings(), tmp_path, fluentd.port))
    ok, output = fluentd.dry_run(config)
    assert ok, output
    assert "finished dry run mode" in output
    assert "secret" not in output


def test_dry_run_rejects_a_broken_config_with_fluentds_message(
    fluentd_factory: Factory, tmp_path: Path
) -> None:
    fluentd = fluentd_factory()
    config = render_lc_wrapper_conf(_local_settings(_basic_auth_settings(), tmp_path, fluentd.port))

    unknown_plugin = config + "<match cwh.other>\n  @type cwh_no_such_output\n</match>\n"
    ok, output = fluentd.dry_run(unknown_plugin)
    assert not ok
    assert "Unknown output plugin 'cwh_no_such_output'" in output

    truncated = config[: config.rindex("</match>")]
    ok, output = fluentd.dry_run(truncated)
    assert not ok
    assert "expected end tag '</match>'" in output


# ---------------------------------------------------------------- end to end


def _exec_output_config(fluentd: FluentdService, delivered: Path, gate: Path) -> str:
    """in_forward -> out_exec behind a file buffer; the command appends a chunk to
    ``delivered`` only while ``gate`` exists and fails otherwise, so fluentd keeps retrying.
    A long-running ``sleep`` child (in_exec) stands for exec_filter's ``cwh enrich``."""
    deliver = fluentd.workdir / "deliver.sh"
    deliver.write_text(f'[ -e "{gate}" ] || exit 1\ncat "$1" >> "{delivered}"\n', encoding="utf-8")
    return textwrap.dedent(
        f"""\
        <source>
          @type forward
          bind 127.0.0.1
          port {fluentd.port}
        </source>
        <source>
          @type exec
          tag child.sleep
          command sleep 600
          <parse>
            @type none
          </parse>
        </source>
        <match {TAG}>
          @type exec
          command /bin/sh {deliver}
          <format>
            @type json
          </format>
          <buffer>
            @type file
            path {fluentd.workdir / "buffer"}
            flush_mode interval
            flush_interval 0.2s
            retry_type periodic
            retry_wait 0.5s
            retry_forever true
          </buffer>
        </match>
        """
    )


def _delivered_ids(delivered: Path) -> list[int]:
    if not delivered.exists():
        return []
    lines = delivered.read_text(encoding="utf-8").splitlines()
    return [int(json.loads(line)["n"]) for line in lines if line]


def _wait_delivered(delivered: Path, count: int, fluentd: FluentdService) -> list[int]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        ids = _delivered_ids(delivered)
        if len(ids) >= count:
            return ids
        time.sleep(0.1)
    pytest.fail(
        f"{len(_delivered_ids(delivered))} of {count} records delivered after"
        f" {DELIVERY_TIMEOUT_S:.0f} s; fluentd log:\n{fluentd.log_tail()}"
    )


def _record(n: int) -> dict[str, object]:
    return {"n": n, "log": f"----\nprint({n})\n----\npath: /home/s/.log/{n}.log\n"}


def test_records_sent_like_lc_wrapper_arrive(fluentd_factory: Factory, tmp_path: Path) -> None:
    fluentd = fluentd_factory()
    delivered, gate = tmp_path / "delivered.jsonl", tmp_path / "gate"
    gate.touch()
    fluentd.start(_exec_output_config(fluentd, delivered, gate))

    with ForwardSender(fluentd.port, TAG) as kernel:
        for n in range(5):
            assert kernel.send(_record(n)), kernel.last_error
    with ForwardSender(fluentd.port, TAG, require_ack_response=True) as acked:
        assert acked.send(_record(5)), acked.last_error
        assert acked.send_burst([_record(n) for n in range(6, 56)]), acked.last_error
        assert acked.send_burst([_record(n) for n in range(56, 66)], one_message=True)

    assert sorted(_wait_delivered(delivered, 66, fluentd)) == list(range(66))


def test_file_buffer_survives_kill_hard_and_restart(
    fluentd_factory: Factory, tmp_path: Path
) -> None:
    fluentd = fluentd_factory()
    delivered, gate = tmp_path / "delivered.jsonl", tmp_path / "gate"
    fluentd.start(_exec_output_config(fluentd, delivered, gate))
    with ForwardSender(fluentd.port, TAG, require_ack_response=True) as acked:
        for n in range(20):
            assert acked.send(_record(n)), acked.last_error
    fluentd.wait_for_log("command exits with error code")

    processes = [psutil.Process(pid) for pid in fluentd.pids()]
    names = {" ".join(p.cmdline()) for p in processes}
    assert len(processes) >= 3 and any(name.startswith("sleep 600") for name in names), names
    fluentd.kill_hard()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)
    assert not fluentd.running and fluentd.pids() == []
    assert delivered.exists() is False

    gate.touch()
    fluentd.start()
    assert sorted(_wait_delivered(delivered, 20, fluentd)) == list(range(20))
    time.sleep(1.0)
    assert sorted(_delivered_ids(delivered)) == list(range(20)), "a record arrived twice"


# ---------------------------------------------------------------- failures and clean-up


def test_a_fluentd_that_cannot_start_is_reported_with_its_log(fluentd_factory: Factory) -> None:
    fluentd = fluentd_factory()
    config = f"<source>\n  @type cwh_no_such_input\n  port {fluentd.port}\n</source>\n"
    with pytest.raises(FluentdError, match="exited with code") as caught:
        fluentd.start(config, timeout_s=60)
    assert "Unknown input plugin 'cwh_no_such_input'" in str(caught.value)
    assert fluentd.pids() == []


def test_nothing_outlives_the_process_that_started_fluentd(tmp_path: Path) -> None:
    """A test process that exits without stopping its fluentd leaves no process behind."""
    script = textwrap.dedent(
        f"""\
        import json
        from pathlib import Path
        from tests.services.fluentd_service import FluentdService

        service = FluentdService(Path({str(tmp_path / "fluentd")!r}))
        service.start(
            "<source>\\n  @type forward\\n  bind 127.0.0.1\\n"
            f"  port {{service.port}}\\n</source>\\n"
        )
        print(json.dumps(service.pids()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pids = json.loads(done.stdout.splitlines()[-1])
    assert len(pids) >= 2
    survivors = [pid for pid in pids if psutil.pid_exists(pid) and _not_zombie(pid)]
    assert survivors == []


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
