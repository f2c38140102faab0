"""Hostile textbook notebooks and timetables (see ``make_corpus``), run through the ``cwh``
command line and the ``index-textbook`` and ``reconcile-workers`` flows.

Every run is a fresh process waited for with ``os.wait4``, so its peak memory is its own. Each
must end with its exit status and a specific message, without a traceback, within
:data:`WALL_LIMIT_S` seconds and :data:`RSS_LIMIT_MB` of peak memory, without the content of
the file outside the textbook and without raw terminal control characters; the good notebooks
beside the bad ones are still indexed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cwh.safe_input import printable
from tests.hostile.make_corpus import (
    CONTROL_NAME,
    GOOD_MEMES,
    OUTSIDE_SECRET,
    TEXTBOOK_CASES,
    Corpus,
    TimetableCase,
    make_corpus,
    make_timetables,
)
from tests.hostile.measured import CWH, Measured, MeasuredProcess, measure

WALL_LIMIT_S = 10.0
RSS_LIMIT_MB = 300.0
TRACES = ("Traceback", "RecursionError", "MemoryError", "Exception ignored")
RAW_CONTROLS = ("\x1b", "\x07")
SCHEDULE_COMMANDS = ("validate", "preview", "plan", "to-prefect")
WATCH_OPTIONS = ("--poll", "--poll-interval", "0.1", "--quiet-seconds", "30", "--no-initial-event")


@dataclass(frozen=True)
class Outcome(Measured):
    """How one process ended and what it cost, with this file's checks."""

    def check(self, status: int, *messages: str) -> None:
        """Exit status, messages, and the promises every run keeps."""
        described = (
            f"exit {self.status}, {self.seconds:.1f} s, {self.peak_rss_mb:.0f} MB\n--- stdout\n"
            f"{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )
        assert self.status == status, described
        for message in messages:
            assert message in self.output, f"{message!r} missing\n{described}"
        for trace in TRACES:
            assert trace not in self.output, described
        for control in RAW_CONTROLS:
            assert control not in self.output, described
        assert OUTSIDE_SECRET not in self.output, described
        shadow = _first_line_of("/etc/shadow")
        assert shadow is None or shadow not in self.output, described
        assert self.seconds < WALL_LIMIT_S, described
        assert self.peak_rss_mb < RSS_LIMIT_MB, described


def _first_line_of(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            line = handle.readline().strip()
    except OSError:
        return None
    return line or None


def run_measured(argv: Sequence[str], **options: Any) -> Outcome:
    return Outcome(**asdict(measure(argv, **options)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("hostile"))


def _indexed_paths(index: Path) -> dict[str, int]:
    """Questions per textbook path in an index file."""
    rows = csv.DictReader(io.StringIO(index.read_text(encoding="utf-8")))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["textbook_path"]] = counts.get(row["textbook_path"], 0) + 1
    return counts


def _good_questions(paths: Sequence[str]) -> dict[str, int]:
    return {path: GOOD_MEMES[path][1] for path in paths}


def _reported(outcome: Outcome, path: str, reason: str) -> None:
    """The report names ``path`` (escaped) and gives ``reason`` right under it."""
    block = outcome.output.partition(f"\n{printable(path)}\n")[2].partition("\n\n")[0]
    assert block.startswith("  - Notebook skipped: the file "), outcome.output
    assert reason in block, outcome.output


@pytest.mark.parametrize("case", sorted(TEXTBOOK_CASES))
def test_each_hostile_notebook_is_reported_and_the_good_ones_indexed(
    corpus: Corpus, case: str, tmp_path: Path
) -> None:
    """One hostile notebook beside the good ones (selected with --include from the corpus),
    through ``cwh textbook index``: scan, validation report and index."""
    reason = TEXTBOOK_CASES[case]
    selection: tuple[str, ...] = (
        "--textbook-dir",
        str(corpus.textbook),
        "--include",
        "course/good-*.ipynb",
    )
    selection += ("--include", case)
    index = tmp_path / "meme.csv"
    built = run_measured([*CWH, "textbook", "index", *selection, "--output", str(index)])
    built.check(1, "Validation errors found: 1 problem(s) in 1 file(s)", "3 question(s) from 3")
    _reported(built, case, reason)
    good = ["course/good-01.ipynb", "course/good-02.ipynb"]
    assert _indexed_paths(index) == _good_questions(good)


@pytest.mark.parametrize("command", ["validate", "index"])
def test_the_whole_corpus_in_one_textbook(corpus: Corpus, command: str, tmp_path: Path) -> None:
    """Every hostile notebook at once: each reported, the good ones (one with terminal control
    characters in its name, printed escaped) indexed, the run finished."""
    extra = ("--output", str(tmp_path / "meme.csv")) if command == "index" else ()
    outcome = run_measured(
        [*CWH, "textbook", command, "--textbook-dir", str(corpus.textbook), *extra]
    )
    count = len(TEXTBOOK_CASES)
    outcome.check(1, f"Validation errors found: {count} problem(s) in {count} file(s)")
    for case, reason in TEXTBOOK_CASES.items():
        _reported(outcome, case, reason)
    if command == "index":
        assert _indexed_paths(tmp_path / "meme.csv") == _good_questions(sorted(GOOD_MEMES))
        assert "4 question(s) from" in outcome.stdout


def test_watch_prints_hostile_names_escaped(corpus: Corpus, tmp_path: Path) -> None:
    """``cwh textbook watch`` logs a changed notebook's name with its control characters
    escaped and stops promptly (no Prefect server here: the event cannot be sent)."""
    textbook = tmp_path / "textbook"
    textbook.mkdir()
    log = tmp_path / "watch.log"
    environment = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    with log.open("wb") as sink:
        watch = MeasuredProcess(
            [*CWH, "textbook", "watch", "--textbook-dir", str(textbook), *WATCH_OPTIONS],
            env=environment,
            stdout=sink.fileno(),
            stderr=sink.fileno(),
        )
        try:
            _wait_for(log, "watching")
            for attempt in range(40):  # until the watch has taken its first snapshot
                (textbook / CONTROL_NAME).write_text(f'{{"n": {attempt}}}', encoding="utf-8")
                if _logged(log, "notebook changes detected", timeout=0.5):
                    break
        finally:
            stopping = time.monotonic()
            watch.signal(signal.SIGTERM)
            status, peak_mb, cpu = watch.finish(30)
    text = log.read_text(encoding="utf-8", errors="replace")
    outcome = Outcome(status, text, "", time.monotonic() - stopping, peak_mb, cpu)
    assert printable(CONTROL_NAME) in text
    outcome.check(0, "stopped watching")


def _logged(log: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(encoding="utf-8", errors="replace"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _wait_for(log: Path, text: str, timeout: float = 20.0) -> None:
    if not _logged(log, text, timeout):
        pytest.fail(f"{text!r} not logged:\n{log.read_text(errors='replace')}")


def _case(corpus: Corpus, name: str) -> TimetableCase:
    return next(case for case in corpus.timetables if case.name == name)


def _schedule_runs() -> list[tuple[str, str]]:
    """Refused cases through two commands (every command loads the file the same way first),
    usable ones through all four."""
    with tempfile.TemporaryDirectory() as scratch:
        cases = make_timetables(Path(scratch), Path(scratch) / "secret")
    return [
        (case.name, command)
        for case in cases
        for command in (SCHEDULE_COMMANDS if case.status == 0 else ("validate", "preview"))
    ]


@pytest.mark.parametrize(("name", "command"), _schedule_runs())
def test_each_timetable_case_through_the_schedule_commands(
    corpus: Corpus, name: str, command: str
) -> None:
    case = _case(corpus, name)
    argv = [*CWH, "schedule", command, str(case.path)]
    messages = case.messages
    if case.status == 0:
        if command == "preview":
            argv += ["--from", case.preview_from or "2025-04-07", "--days", "2"]
            messages = case.preview_messages
        elif command == "plan":
            argv += ["--at", case.plan_at or "2025-04-07T08:30"]
            messages = case.plan_messages
        elif command == "to-prefect":
            messages = ("schedules:",)
    else:
        messages = (printable(str(case.path)), *messages)
    run_measured(argv).check(case.status, *messages)


def test_hostile_ledger_lines_are_skipped_and_the_rest_counted(tmp_path: Path) -> None:
    good = '{"v":1,"at":"2025-04-07T00:00:00+09:00","workers":2,"running":["a"]}\n'
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(
        good.encode()
        + b"[" * 100_000
        + b"\n"
        + b'{"v":1,"at":"9999-12-31T23:59:59+00:00","workers":2,"running":["a"]}\n'
        + b'{"v":1,"at":"2025-04-07T12:00:00+09:00","workers":2,"running":["caf\xe9"]}\n'
        + good.replace("00:00:00", "06:00:00").encode()
    )
    outcome = run_measured(
        [*CWH, "schedule", "savings", "--ledger", str(ledger), "--until", "2025-04-08T00:00"]
    )
    outcome.check(
        0,
        "line 2: skipped: the line is JSON nested deeper than 8 levels",
        "line 3: skipped: ledger times must lie in the years 2000 to 2100",
        "line 4: skipped: the line is not UTF-8 text (invalid byte at offset 67)",
        "| 2025-W15 |",
    )
    fifo = tmp_path / "ledger.fifo"
    os.mkfifo(fifo)
    run_measured([*CWH, "schedule", "savings", "--ledger", str(fifo)]).check(
        1, "is a FIFO (named pipe), not a regular file"
    )


def test_hostile_observation_files_are_refused(corpus: Corpus, tmp_path: Path) -> None:
    timetable = _case(corpus, "on-off.yaml").path
    deep = tmp_path / "observed.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    plan = [*CWH, "schedule", "plan", str(timetable), "--at", "2025-04-07T08:30", "--observed"]
    run_measured([*plan, str(deep)]).check(1, "is JSON nested deeper than 64 levels")
    run_measured([*plan, "/dev/zero"]).check(1, "is a character device, not a regular file")


_INDEX_FLOW = textwrap.dedent(
    """
    import json, sys, time
    from flows.index_textbook import index_textbook
    started = time.monotonic()
    state = index_textbook(textbook_dir=sys.argv[1], output=sys.argv[2], return_state=True)
    seconds = time.monotonic() - started
    outcome = state.result()
    print(json.dumps({
        "state": state.name,
        "seconds": seconds,
        "rows": outcome.rows,
        "problems": {p.path: p.message for p in outcome.problems},
    }))
    """
)


@pytest.mark.prefect
def test_index_textbook_flow_over_the_whole_corpus(
    corpus: Corpus, prefect_subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """The flow run (timed inside its process, without Prefect's start-up) completes: every
    hostile notebook is a problem, the good ones are indexed."""
    index = tmp_path / "meme.csv"
    outcome = run_measured(
        [sys.executable, "-c", _INDEX_FLOW, str(corpus.textbook), str(index)],
        env=prefect_subprocess_env,
    )
    result = json.loads(outcome.stdout.strip().splitlines()[-1])
    flow_run = replace(outcome, seconds=result["seconds"])
    flow_run.check(0, "Completed")
    assert (result["state"], result["rows"]) == ("Completed", 4)
    assert set(result["problems"]) == set(TEXTBOOK_CASES)
    for case, reason in TEXTBOOK_CASES.items():
        assert reason in result["problems"][case]
    assert _indexed_paths(index) == _good_questions(sorted(GOOD_MEMES))


_RECONCILE_FLOW = textwrap.dedent(
    """
    import json, sys, time
    from flows.reconcile_workers import reconcile_workers
    for path in sys.argv[1:]:
        started = time.monotonic()
        state = reconcile_workers(timetable=path, provider="static", return_state=True)
        print(json.dumps({
            "path": path,
            "state": state.name,
            "message": state.message,
            "seconds": time.monotonic() - started,
        }), flush=True)
    """
)


@pytest.mark.prefect
def test_reconcile_workers_flow_refuses_every_hostile_timetable(
    corpus: Corpus, prefect_subprocess_env: dict[str, str]
) -> None:
    """One process runs the flow for every refused case: each run (timed inside the process)
    fails with the file's problems, and the process's peak memory covers them all."""
    refused = [case for case in corpus.timetables if case.status]
    outcome = run_measured(
        [sys.executable, "-c", _RECONCILE_FLOW, *(str(case.path) for case in refused)],
        env=prefect_subprocess_env,
        timeout=120.0,
    )
    runs = [json.loads(line) for line in outcome.stdout.splitlines() if line.startswith("{")]
    assert [run["path"] for run in runs] == [str(case.path) for case in refused], outcome
    for case, run in zip(refused, runs, strict=True):
        assert run["state"] == "Failed", run
        for message in case.messages:
            assert message in run["message"], run
        assert run["seconds"] < WALL_LIMIT_S, run
    slowest = max(run["seconds"] for run in runs)
    replace(outcome, seconds=slowest).check(0)
