"""Run a command in a fresh process and measure it: exit status, output, wall and CPU time,
peak RSS.

The command is started by a small launcher that forks it and reads its resources with
``wait4``. A process forked straight from pytest would report pytest's own memory as its
peak (Linux keeps the high-water mark of the image ``exec`` replaced), and late in a full
run pytest holds more than the limit the tests check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CWH = (sys.executable, "-m", "deployments.cli.main")

LAUNCHER = textwrap.dedent(
    """
    import os, signal, sys
    pid = os.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    # Signals sent to the whole group are for the command; the launcher stays to report.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, status, usage = os.wait4(pid, 0)
    with open(sys.argv[1], "w") as report:
        cpu = usage.ru_utime + usage.ru_stime
        report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {cpu}")
    """
)


@dataclass(frozen=True)
class Measured:
    """How one command ended and what it cost."""

    status: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class MeasuredProcess:
    """A command started under the launcher; :meth:`finish` waits and measures it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
    ) -> None:
        self._scratch = tempfile.TemporaryDirectory()
        self._report = Path(self._scratch.name) / "measured"
        self.started = time.monotonic()
        self.argv = list(argv)
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(self._report), *argv],
            cwd=ROOT,
            env=dict(env if env is not None else os.environ),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    def signal(self, number: int) -> None:
        os.killpg(self.process.pid, number)

    def finish(self, timeout: float) -> tuple[int, float, float]:
        """(exit status, peak RSS in MB, CPU seconds); kills the group past ``timeout``."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self._scratch.cleanup()
            pytest.fail(f"{self.argv} still running after its time limit")
        status, peak_kb, cpu = self._report.read_text(encoding="ascii").split()
        self._scratch.cleanup()
        return int(status), int(peak_kb) / 1024, float(cpu)


def measure(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    reader: str = "all",
    timeout: float = 120.0,
) -> Measured:
    """Run ``argv`` in a fresh process; its status, output, wall and CPU time, peak RSS.

    ``reader`` is what reads standard output: ``all`` of it, the ``first-line`` then
    nothing more (``| head -1``), or ``none`` at all (``| true``: gone before any output).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        read_end, write_end = os.pipe() if reader != "all" else (-1, -1)
        measured = MeasuredProcess(
            argv,
            env=env,
            stdout=out.fileno() if reader == "all" else write_end,
            stderr=err.fileno(),
        )
        head = b""
        if reader != "all":
            os.close(write_end)
            if reader == "first-line":
                while b"\n" not in head:
                    chunk = os.read(read_end, 65536)
                    if not chunk:
                        break
                    head += chunk
            os.close(read_end)
        status, peak_mb, cpu = measured.finish(timeout)
        seconds = time.monotonic() - measured.started
        out.seek(0)
        err.seek(0)
        written = out.read(4 << 20) if reader == "all" else head.partition(b"\n")[0]
        errors = err.read(4 << 20)
    return Measured(
        status,
        written.decode("utf-8", "replace"),
        errors.decode("utf-8", "replace"),
        seconds,
        peak_mb,
        cpu,
    )
