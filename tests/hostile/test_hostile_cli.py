"""Hostile stored times, secret-bearing URLs, vanishing readers and stale PID files, run
through the ``cwh`` command line and the ``progress-report`` flow.

Every case runs in a fresh process and must end with its exit status and a specific
message, without a traceback, within :data:`WALL_LIMIT_S` seconds of wall time (10 s, set
``CWH_HOSTILE_WALL_LIMIT_S`` on a busy machine) and :data:`CPU_LIMIT_S` of CPU time, within
:data:`RSS_LIMIT_MB` of peak memory (measured with ``os.wait4``), and without any secret in
its output.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from cwh.enrich import DOC_ID, TARGET_INDEX
from cwh.setup import index_templates
from tasks.elasticsearch_store import ElasticsearchStore
from tasks.embedded_store import EmbeddedStore
from tests.hostile.measured import CWH, Measured, measure
from tests.test_textbook_builders import code, meme, write_notebook

CPU_LIMIT_S = 10.0
WALL_LIMIT_S = float(os.environ.get("CWH_HOSTILE_WALL_LIMIT_S", str(CPU_LIMIT_S)))
"""Wall time per command. A machine whose cores are busy with other jobs stretches the
wall time of the same work; such a machine may set more, the CPU time limit still holds."""
RSS_LIMIT_MB = 300.0
SECRET = "pW-7f3Kq9x"
KEY = "aPiK3y-Zt81"
TRACES = ("Traceback", "Exception ignored", "BrokenPipeError", "Broken pipe")
COURSE = "c1"


@dataclass(frozen=True)
class Outcome(Measured):
    """How one command ended and what it cost, with this file's checks."""

    def check(self, status: int, message: str | None = None) -> None:
        """The status, the message, no traceback, within time and memory."""
        described = f"exit {self.status}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n"
        described += self.stderr[-3000:]
        assert self.status == status, described
        if message is not None:
            assert message in self.output, described
        for trace in TRACES:
            assert trace not in self.output, described
        took = f"{self.seconds:.1f} s, {self.cpu_seconds:.1f} s CPU"
        assert self.seconds < WALL_LIMIT_S and self.cpu_seconds < CPU_LIMIT_S, took
        assert self.peak_rss_mb < RSS_LIMIT_MB, f"{self.peak_rss_mb:.0f} MB"
        assert SECRET not in self.output and KEY not in self.output, described


def run_measured(argv: Sequence[str], **options: Any) -> Outcome:
    return Outcome(**asdict(measure(argv, **options)))


def _meme_index(path: Path) -> Path:
    path.write_text(
        "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\n"
        f"01-000,問0,m0,n0,{COURSE}/nb.ipynb,{COURSE},x\n"
        f"01-001,問1,m1,n0,{COURSE}/nb.ipynb,{COURSE},x\n",
        encoding="utf-8",
    )
    return path


def _execution(number: int, start_time: object, status: str = "error") -> dict[str, object]:
    return {
        DOC_ID: f"hostile-{number}",
        TARGET_INDEX: "lcwrapper-2026.11.24",
        "user_name": f"student{number:02}x0a1b2c",
        "local_name": f"student{number:02}",
        "course_server": COURSE,
        "qno": "01-000",
        "execute_reply_status": status,
        "start_time": start_time,
    }


# ---------------------------------------------------------------- reports

NINE_NINES = 253402300799
"""9999-12-31 23:59:59 UTC: a kernel can claim any start time."""
YEAR_ONE = -62135596800
"""0001-01-01 00:00:00 UTC."""
EMBEDDED_TIMES: dict[object, str] = {
    NINE_NINES: f"invalid start_time {NINE_NINES}",
    YEAR_ONE: f"invalid start_time {YEAR_ONE}",
    2**62: f"invalid start_time {2**62}",
    -(2**62): f"invalid start_time {-(2**62)}",
    math.nan: "no start_time",
    "2026-11-24T09:00:00": "no start_time",
    -1: "student06",  # 1969-12-31 23:59:59 UTC: an odd time, shown as a clock
}
"""Stored start time -> what the HTML report must show for it (the embedded store keeps
whole numbers only: anything else is stored as no time)."""
ES_TIMES: dict[object, str] = {
    NINE_NINES: f"invalid start_time {NINE_NINES}",
    "9999-12-31T23:59:59Z": f"invalid start_time {NINE_NINES}",
    "0001-01-01T00:00:00Z": f"invalid start_time {YEAR_ONE}",
    10**12: f"invalid start_time {10**12}",
}


@pytest.fixture
def embedded_course(tmp_path: Path) -> tuple[Path, Path]:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    documents = [_execution(n, t) for n, t in enumerate(EMBEDDED_TIMES)]
    documents.append(_execution(99, 1795355773, "ok"))
    store.write(documents)
    store.close()
    return _meme_index(tmp_path / "meme.csv"), tmp_path / "store.sqlite3"


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_a_report_shows_stored_times_beyond_the_calendar_as_invalid(
    embedded_course: tuple[Path, Path], tmp_path: Path, zone: str
) -> None:
    index, database = embedded_course
    outcome = run_measured(
        [*CWH, "report", "--index", str(index), "--database", str(database),
         "--output-dir", str(tmp_path / "out"), "--timezone", zone]
    )  # fmt: skip
    outcome.check(0, f"{COURSE}: {len(EMBEDDED_TIMES) + 1} students x 2 questions")
    page = (tmp_path / "out" / COURSE / "latest.html").read_text(encoding="utf-8")
    for shown in EMBEDDED_TIMES.values():
        assert shown in page


@pytest.mark.elasticsearch
def test_a_report_from_elasticsearch_shows_times_beyond_the_calendar_as_invalid(
    es_url: str, es_client: Elasticsearch, es_index_prefix: str, tmp_path: Path
) -> None:
    for template in index_templates(es_index_prefix):
        es_client.indices.put_index_template(name=template.name, **template.body)
    store = ElasticsearchStore(Elasticsearch(es_url), index_prefix=es_index_prefix)
    documents = [
        {**_execution(n, t), TARGET_INDEX: f"{es_index_prefix}-2026.11.24"}
        for n, t in enumerate(ES_TIMES)
    ]
    summary = store.write(documents)
    store.flush()
    store.close()
    assert summary.dead_letters == 0
    outcome = run_measured(
        [*CWH, "report", "--index", str(_meme_index(tmp_path / "meme.csv")),
         "--elasticsearch-url", es_url, "--index-prefix", es_index_prefix,
         "--output-dir", str(tmp_path / "out"), "--timezone", "Asia/Tokyo"]
    )  # fmt: skip
    outcome.check(0, f"{COURSE}: {len(ES_TIMES)} students x 2 questions")
    page = (tmp_path / "out" / COURSE / "latest.html").read_text(encoding="utf-8")
    for shown in ES_TIMES.values():
        assert shown in page


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (["--until", "9999-12-31T23:59:59-12:00"], "too close to the ends of the calendar"),
        (
            ["--since", "0001-01-01T00:00+09:00", "--timezone", "America/Los_Angeles"],
            "too close to the ends of the calendar",
        ),
        (["--last-minutes", str(10**14)], "reaches before year 1"),
    ],
)
def test_a_report_window_beyond_the_calendar_is_refused(
    embedded_course: tuple[Path, Path], tmp_path: Path, window: list[str], message: str
) -> None:
    index, database = embedded_course
    outcome = run_measured(
        [*CWH, "report", "--index", str(index), "--database", str(database),
         "--output-dir", str(tmp_path / "out"), *window]
    )  # fmt: skip
    outcome.check(2, message)


@pytest.mark.prefect
def test_the_progress_report_flow_finishes_with_a_time_beyond_the_calendar(
    embedded_course: tuple[Path, Path], tmp_path: Path, prefect_subprocess_env: dict[str, str]
) -> None:
    index, database = embedded_course
    script = textwrap.dedent(
        f"""
        import json
        from prefect.artifacts import Artifact
        from flows.progress_report import progress_report

        reports = progress_report(
            index={str(index)!r}, database={str(database)!r},
            output_dir={str(tmp_path / "out")!r}, timezone="Asia/Tokyo",
        )
        table = Artifact.get("progress-{COURSE}").data
        print(json.dumps({{"reports": reports, "table": table}}))
        """
    )
    outcome = run_measured([sys.executable, "-c", script], env=prefect_subprocess_env)
    outcome.check(0, f"invalid start_time {NINE_NINES}")
    result = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert [(r["course"], r["students"]) for r in result["reports"]] == [
        (COURSE, len(EMBEDDED_TIMES) + 1)
    ]


# ---------------------------------------------------------------- URLs with secrets


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"htps://user:{SECRET}@es.example.org?api_key={KEY}", "'htps://***@es.example.org?***'"),
        (f"https://es.example.org:9200/?api_key={KEY}", "must not have a query or fragment"),
    ],
)
def test_an_elasticsearch_url_given_to_cwh_is_never_echoed_with_its_secret(
    tmp_path: Path, url: str, message: str
) -> None:
    outcome = run_measured(
        [*CWH, "report", "--index", str(_meme_index(tmp_path / "meme.csv")),
         "--elasticsearch-url", url, "--output-dir", str(tmp_path / "out")]
    )  # fmt: skip
    outcome.check(2, message)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"htps://user:{SECRET}@es.example.org", "must start with http:// or https://"),
        (f"https://:{SECRET}@/?api_key={KEY}", "has no host"),
        (f"https://es.example.org/#{KEY}", "'https://es.example.org/#***'"),
        (f"https://es.example.org:9200/?api_key={KEY}", "'https://es.example.org:9200/?***'"),
    ],
)
def test_an_elasticsearch_block_url_is_never_echoed_with_its_secret(url: str, message: str) -> None:
    from pydantic import ValidationError

    from blocks.elasticsearch import ElasticsearchConnection

    with pytest.raises(ValidationError) as raised:
        ElasticsearchConnection(urls=["http://127.0.0.1:9200", url])
    text = str(raised.value)
    assert message in text
    assert SECRET not in text and KEY not in text


@pytest.mark.parametrize(
    "url",
    [
        f"htps://admin:{SECRET}@kibana.example.org?api_key={KEY}",
        f"https://admin:{SECRET}@/app?api_key={KEY}",
        f"ftp://kibana.example.org/?api_key={KEY}",
    ],
)
def test_a_kibana_url_is_never_echoed_with_its_secret(url: str) -> None:
    from pydantic import ValidationError

    from blocks.kibana import KibanaConnection

    with pytest.raises(ValidationError) as raised:
        KibanaConnection(url=url)
    text = str(raised.value)
    assert "Kibana URL" in text
    assert SECRET not in text and KEY not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://user:{SECRET}@es:9200/p?api_key={KEY}#{KEY}", "https://***@es:9200/p?***#***"),
        (f"https://user:pa/{SECRET}@es:9200", "https://***@es:9200"),
        (f"https://user:pa?{SECRET}@es:9200", "https://***"),
        (f"https://es:9200/x?token=a@{KEY}", "https://***"),
        (f"user:{SECRET}@es:9200", "***@es:9200"),
        (f"ssh://{KEY}@10.0.0.5", "ssh://***@10.0.0.5"),
        ("https://es.example.org:9243/prefix", "https://es.example.org:9243/prefix"),
    ],
)
def test_a_redacted_url_keeps_no_secret(url: str, shown: str) -> None:
    from cwh.setup import redact_url

    assert redact_url(url) == shown


# ---------------------------------------------------------------- readers that go away


@pytest.fixture(scope="module")
def noisy_textbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hundred notebooks repeating one notebook's memes: a report of 170 kB."""
    root = tmp_path_factory.mktemp("noisy") / "textbook"
    for number in range(300):
        cells = [code("x", meme(1001)), code("y", meme(1002))]
        write_notebook(root, f"c/n{number:03}.ipynb", cells, meme(2000 + number))
    return root


@pytest.mark.parametrize(
    ("argv", "reader"),
    [
        # A fixed year inside the example's terms: 350 kB of JSON, far beyond a pipe's buffer.
        (["schedule", "preview", "examples/timetable.yaml", "--json", "--days", "365",
          "--from", "2026-04-01"], "first-line"),
        (["schedule", "preview", "examples/timetable.yaml", "--days", "3"], "none"),
        (["textbook", "validate", "--textbook-dir", "{textbook}"], "first-line"),
        (["report", "--index", "{index}", "--database", "{database}", "--output-dir", "{out}"],
         "none"),
        (["schedule", "plan", "examples/timetable.yaml"], "none"),
    ],
    ids=["preview-json-head", "preview-true", "validate-head", "report-true", "plan-true"],
)  # fmt: skip
def test_a_command_whose_reader_goes_away_exits_quietly(
    argv: list[str],
    reader: str,
    noisy_textbook: Path,
    embedded_course: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    index, database = embedded_course
    values = {
        "textbook": str(noisy_textbook), "index": str(index), "database": str(database),
        "out": str(tmp_path / "out"),
    }  # fmt: skip
    outcome = run_measured([*CWH, *(part.format(**values) for part in argv)], reader=reader)
    outcome.check(141)
    assert outcome.stderr == ""


# ---------------------------------------------------------------- stale PID files


@pytest.fixture
def demo_home(tmp_path: Path) -> Path:
    (tmp_path / "prefect").mkdir()
    return tmp_path


@pytest.fixture
def bystanders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Unrelated processes, each leading its own process group as the demo server does."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _bystander(started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """A ``sleep`` in a session of its own, returned once it runs as ``sleep``."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    started.append(process)
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(b"sleep\0"):
        assert time.monotonic() < deadline, "sleep did not start"
        time.sleep(0.01)
    return process


def _identity(pid: int) -> dict[str, object]:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rpartition(")")[2].split()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    return {"start_ticks": int(stat[19]), "boot_id": boot_id, "cmdline": cmdline}


def _stop_server(home: Path, state: object) -> Outcome:
    state_file = home / "prefect" / "cwh-demo-server.json"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CWH_"))}
    return run_measured([*CWH, "demo", "--stop-server"], env={**env, "CWH_HOME": str(home)})


def test_a_pid_file_without_a_start_time_stops_nothing(
    demo_home: Path, bystanders: list[subprocess.Popen[bytes]]
) -> None:
    bystander = _bystander(bystanders)
    outcome = _stop_server(demo_home, {"pid": bystander.pid, "port": 4200})
    outcome.check(1, "cannot be checked to be the demo's Prefect server; not stopping it")
    time.sleep(0.3)
    assert bystander.poll() is None, "an unrelated process was signalled"


def test_a_pid_now_held_by_another_process_is_refused_and_the_recorded_one_stopped(
    demo_home: Path, bystanders: list[subprocess.Popen[bytes]]
) -> None:
    unrelated = _bystander(bystanders)
    time.sleep(0.05)  # a later clock tick: the same command line, another start time
    recorded = _bystander(bystanders)
    state = {"pid": unrelated.pid, "port": 4200, **_identity(recorded.pid)}
    outcome = _stop_server(demo_home, state)
    outcome.check(1, f"PID {unrelated.pid} is no longer the demo's Prefect server")
    assert "Removed the stale state file" in outcome.stderr
    assert not (demo_home / "prefect" / "cwh-demo-server.json").exists()
    time.sleep(0.3)
    assert unrelated.poll() is None, "an unrelated process was signalled"

    outcome = _stop_server(demo_home, {**state, "pid": recorded.pid})
    outcome.check(0, "demo Prefect server stopped")
    assert recorded.wait(timeout=5) == -signal.SIGTERM
    assert unrelated.poll() is None


def test_a_pid_file_of_an_exited_process_is_removed(demo_home: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    outcome = _stop_server(demo_home, {"pid": gone.pid, "port": 4200, **_identity(os.getpid())})
    outcome.check(0, f"PID {gone.pid} has exited; removed the stale state file")
    assert not (demo_home / "prefect" / "cwh-demo-server.json").exists()


@pytest.mark.parametrize("pid", [0, -5, "abc"])
def test_a_pid_that_names_no_single_process_is_refused(demo_home: Path, pid: object) -> None:
    outcome = _stop_server(demo_home, {"pid": pid, "port": 4200})
    outcome.check(1, "is not a process id); not stopping anything")
