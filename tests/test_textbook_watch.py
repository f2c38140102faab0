"""The textbook watcher: real file events, debouncing, disappearing directories, Prefect.

The first tests run the watcher on a temporary directory with a recording sender; the
last one is the end-to-end check against a real Prefect server: watcher process +
served deployment with the event trigger, a burst of copied notebooks, one flow run,
a changed index.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cwh.textbook import ChangeBatch, IndexOptions, build_index, parse_csv
from deployments.textbook_watch import EventNotSent, TextbookWatcher, WatchConfig
from tests.test_textbook_builders import lesson

REPO_ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 30.0


class Recorder:
    """A sender that records batches; it can fail the first ``failures`` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[ChangeBatch] = []
        self.failures = failures
        self.attempts = 0
        self._changed = threading.Condition()

    def __call__(self, batch: ChangeBatch) -> str:
        with self._changed:
            self.attempts += 1
            if self.failures:
                self.failures -= 1
                raise EventNotSent("Prefect API not reachable (test)")
            self.batches.append(batch)
            self._changed.notify_all()
            return f"event-{len(self.batches)}"

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[ChangeBatch]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.batches) >= count, timeout=timeout)
            assert len(self.batches) >= count, f"expected {count} batch(es), got {self.batches}"
            return list(self.batches)


@contextlib.contextmanager
def running_watcher(
    root: Path, recorder: Recorder, **settings: object
) -> Iterator[TextbookWatcher]:
    config = WatchConfig(
        textbook_dir=root,
        quiet_seconds=float(settings.pop("quiet_seconds", 0.6)),  # type: ignore[arg-type]
        max_wait_seconds=float(settings.pop("max_wait_seconds", 30.0)),  # type: ignore[arg-type]
        announce_start=bool(settings.pop("announce_start", False)),
        tick_seconds=0.1,
        missing_dir_check_seconds=0.2,
        **settings,  # type: ignore[arg-type]
    )
    watcher = TextbookWatcher(config, recorder)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(0.5)  # let the watch start before the test touches files
    try:
        yield watcher
    finally:
        stop.set()
        thread.join(timeout=WAIT_SECONDS)
        assert not thread.is_alive()


def _eventually(check: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_burst_becomes_one_batch_without_noise(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    root.mkdir()
    source = tmp_path / "release"
    for serial in range(1, 21):
        lesson(source, f"course/week{serial % 4}/lesson{serial:02}.ipynb", serial)
    recorder = Recorder()
    with running_watcher(root, recorder):
        shutil.copytree(source / "course", root / "course")
        checkpoints = root / "course" / ".ipynb_checkpoints"
        checkpoints.mkdir()
        (checkpoints / "lesson01-checkpoint.ipynb").write_text("{}", encoding="utf-8")
        (root / "course" / ".~lesson01.ipynb").write_text("{}", encoding="utf-8")
        (root / "course" / "notes.txt").write_text("x", encoding="utf-8")
        [batch] = recorder.wait_for(1)
        time.sleep(1.5)
        assert len(recorder.batches) == 1
    expected = {f"course/week{s % 4}/lesson{s:02}.ipynb" for s in range(1, 21)}
    assert set(batch.changes) == expected
    assert set(batch.changes.values()) <= {"added", "modified"}
    assert batch.reasons == ("changes",)


def test_modify_delete_and_move(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    first = lesson(root, "c/a.ipynb", 1)
    lesson(root, "c/b.ipynb", 2)
    recorder = Recorder()
    with running_watcher(root, recorder):
        lesson(root, "c/a.ipynb", 1, questions=3)
        recorder.wait_for(1)
        (root / "c/b.ipynb").unlink()
        recorder.wait_for(2)
        os.rename(first, root / "c/renamed.ipynb")
        batches = recorder.wait_for(3)
    assert batches[0].changes.get("c/a.ipynb") in ("added", "modified")
    assert batches[1].changes == {"c/b.ipynb": "deleted"}
    assert set(batches[2].changes) == {"c/a.ipynb", "c/renamed.ipynb"}


def test_start_up_asks_for_one_reindex(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    root.mkdir()
    recorder = Recorder()
    with running_watcher(root, recorder, announce_start=True):
        [batch] = recorder.wait_for(1)
    assert batch == ChangeBatch({}, ("watcher-started",))


def test_directory_disappears_and_comes_back(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    lesson(root, "c/a.ipynb", 1)
    recorder = Recorder()
    with running_watcher(root, recorder) as watcher:
        shutil.rmtree(root)
        time.sleep(1.0)  # the watcher notices, and holds the deletions while it is gone
        assert recorder.batches == []
        lesson(root, "c/a.ipynb", 1)
        [batch] = recorder.wait_for(1)
        assert "directory-reappeared" in batch.reasons
        _eventually(lambda: not watcher._debouncer.pending)
        lesson(root, "c/new.ipynb", 5)  # the new directory is watched too
        batches = recorder.wait_for(2)
    assert "c/new.ipynb" in batches[1].changes


def test_unsent_changes_are_retried(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    root.mkdir()
    recorder = Recorder(failures=1)
    with running_watcher(root, recorder):
        lesson(root, "c/a.ipynb", 1)
        [batch] = recorder.wait_for(1)
    assert recorder.attempts == 2
    assert "c/a.ipynb" in batch.changes


def test_stop_sends_pending_changes(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    root.mkdir()
    recorder = Recorder()
    with running_watcher(root, recorder, quiet_seconds=60.0, max_wait_seconds=60.0) as watcher:
        lesson(root, "c/a.ipynb", 1)
        _eventually(lambda: watcher._debouncer.pending)
    assert [set(b.changes) for b in recorder.batches] == [{"c/a.ipynb"}]


def test_continuous_writes_are_announced_at_the_ceiling(tmp_path: Path) -> None:
    root = tmp_path / "textbook"
    root.mkdir()
    recorder = Recorder()
    with running_watcher(root, recorder, quiet_seconds=1.0, max_wait_seconds=2.0):
        deadline = time.monotonic() + 5.0
        serial = 0
        while time.monotonic() < deadline:
            serial += 1
            lesson(root, "c/busy.ipynb", 1, questions=serial % 5 + 1)
            time.sleep(0.2)
        assert len(recorder.batches) >= 1  # announced while the writes were still going on


def test_sender_reports_an_unreachable_api(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.textbook_watch import prefect_event_sender

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        send = prefect_event_sender(tmp_path)
        with pytest.raises(EventNotSent, match="Prefect API not reachable"):
            send(ChangeBatch({"a.ipynb": "added"}, ("changes",)))


# --- end to end against a real Prefect server ------------------------------------------

SERVE_SCRIPT = textwrap.dedent(
    """
    import sys
    from prefect import serve
    from flows.index_textbook import index_textbook
    from deployments.textbook_watch import changed_event_trigger

    textbook_dir, output, name = sys.argv[1:4]
    deployment = index_textbook.to_deployment(
        name=name,
        parameters={"textbook_dir": textbook_dir, "output": output,
                    "qlabel_pattern": r"問\\s*\\d+-\\d+"},
        triggers=[changed_event_trigger(textbook_dir)],
    )
    serve(deployment, limit=2)
    """
)

WATCH_SCRIPT = textwrap.dedent(
    """
    import argparse, sys
    from deployments.cli import textbook
    parser = argparse.ArgumentParser(prog="cwh")
    textbook.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(sys.argv[1:])
    sys.exit(args.handler(args))
    """
)


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def _flow_runs(deployment_id: object) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
        )


@pytest.mark.prefect
def test_copy_into_textbook_triggers_one_index_run(
    tmp_path: Path, prefect_subprocess_env: dict[str, str]
) -> None:
    from prefect.client.orchestration import get_client

    root = (tmp_path / "textbook").resolve()
    output = tmp_path / "index" / "meme.csv"
    output.parent.mkdir()
    lesson(root, "python-basic/01_intro.ipynb", 1)
    build_index(root, output, IndexOptions(qlabel_pattern=r"問\s*\d+-\d+"))
    index_before = output.read_bytes()
    release = tmp_path / "release"
    released = [f"data-science/week{n % 5}/lesson{n:02}.ipynb" for n in range(2, 52)]
    for serial, relative in enumerate(released, start=2):
        lesson(release, relative, serial)
    env = dict(prefect_subprocess_env, PREFECT_RUNNER_POLL_FREQUENCY="2")
    name = f"index-textbook-e2e-{os.getpid()}"

    with _process(
        [sys.executable, "-c", SERVE_SCRIPT, str(root), str(output), name],
        env,
        tmp_path / "serve.log",
    ) as server_process:
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 90
            deployment = None
            while deployment is None:
                assert server_process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                with contextlib.suppress(Exception):
                    deployment = client.read_deployment_by_name(f"index-textbook/{name}")
                time.sleep(0.5)
            _eventually(
                lambda: bool(
                    client.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
                ),
                timeout=60,
            )
        time.sleep(2.0)  # let the server's trigger evaluator load the new automation

        with _process(
            [
                sys.executable,
                "-c",
                WATCH_SCRIPT,
                "textbook",
                "watch",
                "--textbook-dir",
                str(root),
                "--quiet-seconds",
                "2",
                "--no-initial-event",
            ],
            env,
            tmp_path / "watch.log",
        ) as watcher_process:
            _eventually(lambda: "watching" in (tmp_path / "watch.log").read_text(), timeout=60)
            time.sleep(1.0)
            lesson(root, "python-basic/01_intro.ipynb", 1, questions=3)  # a fix to a lesson
            shutil.copytree(release / "data-science", root / "data-science")  # cp -r of 50

            deadline = time.monotonic() + 120
            while True:
                runs = _flow_runs(deployment.id)
                finished = [r for r in runs if r.state and r.state.is_final()]  # type: ignore[attr-defined]
                if finished:
                    break
                assert time.monotonic() < deadline, (
                    f"no finished run; watcher log:\n{(tmp_path / 'watch.log').read_text()}\n"
                    f"serve log:\n{(tmp_path / 'serve.log').read_text()}"
                )
                time.sleep(1.0)
            time.sleep(6.0)  # a second event would have produced a second run by now
            runs = _flow_runs(deployment.id)
            watcher_process.send_signal(signal.SIGTERM)
            watcher_process.wait(timeout=30)
            watch_log = (tmp_path / "watch.log").read_text()

    assert len(runs) == 1, [(r.name, r.parameters) for r in runs]  # type: ignore[attr-defined]
    [run] = runs
    assert run.state.is_completed(), run.state  # type: ignore[attr-defined]
    assert sorted(run.parameters["changed_paths"]) == sorted(  # type: ignore[attr-defined]
        ["python-basic/01_intro.ipynb", *released]
    )
    assert output.read_bytes() != index_before
    rows = parse_csv(output.read_bytes())
    assert len(rows) == 3 + 50 * 2
    assert {row.qlabel for row in rows if row.textbook_path == released[-1]} == {"問51-1", "問51-2"}
    assert [row.qno for row in rows if row.textbook_path == "python-basic/01_intro.ipynb"] == [
        "00-000",
        "00-001",
        "00-002",
    ]
    assert watch_log.count("sent cwh.textbook.changed") == 1
    assert watcher_process.returncode == 0
