"""``cwh enrich`` as a filter, end to end on real lc_wrapper logs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cwh.enrich import EnrichOptions, build_enricher
from tests.enrich_support import (
    ROOT,
    assert_matches_expected,
    build_index,
    dated_log_files,
    enrich_command,
    expected_documents,
    forward_records,
    record_with_result,
)


@pytest.fixture(scope="module")
def fixture_index(lcwrapper_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index") / "meme.csv"
    return build_index(lcwrapper_sample / "textbook", out)


def _enrich_lines(command: list[str], lines: list[bytes]) -> list[dict[str, Any]]:
    done = subprocess.run(
        command, input=b"".join(lines), capture_output=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode().splitlines()
    assert len(out) == len(lines), done.stderr.decode()
    return [json.loads(line) for line in out]


def test_forward_records_enrich_to_expected_documents(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    records = forward_records(lcwrapper_sample)
    lines = [json.dumps(r["record"]).encode() + b"\n" for r in records]
    command = enrich_command(fixture_index, lcwrapper_sample / "passwd", lcwrapper_sample / "users")
    documents = _enrich_lines(command, lines)
    expected = expected_documents(lcwrapper_sample)
    assert len(documents) == len(expected) == 14
    for document, want in zip(documents, expected, strict=True):
        assert_matches_expected(document, want)
        assert document["target_index"] == "lcwrapper-2026.11.22"
        assert document["@timestamp"].startswith("2026-11-22T")
    assert len({d["doc_id"] for d in documents}) == 14


def test_log_files_read_directly_give_the_same_documents_and_ids(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    enricher = build_enricher(
        EnrichOptions(
            index=fixture_index,
            passwd=lcwrapper_sample / "passwd",
            homes_dir=lcwrapper_sample / "users",
        )
    )
    live = {
        doc["path"]: doc
        for doc in (
            enricher.enrich_record(record["record"]) for record in forward_records(lcwrapper_sample)
        )
    }
    expected = {doc["path"]: doc for doc in expected_documents(lcwrapper_sample)}
    files = list(dated_log_files(lcwrapper_sample / "users"))
    assert len(files) == 14
    for path in files:
        document = enricher.enrich_text(path.read_text(encoding="utf-8"))
        assert_matches_expected(document, expected[document["path"]])
        assert document["doc_id"] == live[document["path"]]["doc_id"]


def test_broken_lines_become_dead_letters_in_order(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"]).encode()
    lines = [
        b"not json at all\n",
        good + b"\n",
        b'{"log": 42}\n',
        b"[1, 2, 3]\n",
        b'{"log": "no separators here"}\n',
        b"\n",
        b"\xff\xfe binary\n",
        good + b"\n",
    ]
    command = enrich_command(fixture_index, lcwrapper_sample / "passwd", lcwrapper_sample / "users")
    documents = _enrich_lines(command, lines)
    kinds = [doc.get("error_type", "ok") for doc in documents]
    assert kinds == [
        "InvalidJSON",
        "ok",
        "InvalidRecord",
        "InvalidRecord",
        "LogParseError",
        "InvalidJSON",
        "InvalidJSON",
        "ok",
    ]
    for doc in documents:
        if "error_type" in doc:
            assert doc["target_index"].startswith("lcwrapper-deadletter-")
            assert "raw" in doc and doc["error_message"]
    assert documents[1]["doc_id"] == documents[7]["doc_id"]


def test_sigterm_answers_everything_read_then_exits(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    command = enrich_command(fixture_index, lcwrapper_sample / "passwd", lcwrapper_sample / "users")
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert process.stdin is not None and process.stdout is not None
    record = json.dumps(forward_records(lcwrapper_sample)[2]["record"]).encode()
    process.stdin.write(record + b"\n")
    process.stdin.flush()
    first = json.loads(process.stdout.readline())
    assert first["qno"] == "01-002"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    process.stdin.close()
    process.stdout.close()
    assert process.stderr is not None
    process.stderr.close()


def _copy_home(sample: Path, tmp_path: Path) -> Path:
    homes = tmp_path / "homes"
    shutil.copytree(sample / "users", homes, symlinks=True)
    for path in [homes / "student09x0c0ffee", *(homes / "student09x0c0ffee").rglob("*")]:
        os.lchown(path, 2009, 100)
    return homes


def test_owner_mismatch_is_flagged_and_owned_files_are_not(
    lcwrapper_sample: Path, fixture_index: Path, tmp_path: Path
) -> None:
    homes = _copy_home(lcwrapper_sample, tmp_path)
    records = forward_records(lcwrapper_sample)
    expected = expected_documents(lcwrapper_sample)
    with_result = next(i for i, doc in enumerate(expected) if "result" in doc)
    result_local = homes / expected[with_result]["result"].removeprefix("/home/")
    os.chown(result_local, 2010, 100)
    lines = [json.dumps(r["record"]).encode() + b"\n" for r in records]
    documents = _enrich_lines(
        enrich_command(fixture_index, lcwrapper_sample / "passwd", homes), lines
    )
    flagged = [i for i, doc in enumerate(documents) if doc.get("suspect")]
    assert flagged == [with_result]
    reason = documents[with_result]["suspect_reason"]
    assert "2009" in reason and "2010" in reason
    for document, want in zip(documents, expected, strict=True):
        assert_matches_expected(document, want)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_hostile_result_files_are_refused_and_never_executed(
    lcwrapper_sample: Path, fixture_index: Path, tmp_path: Path
) -> None:
    homes = _copy_home(lcwrapper_sample, tmp_path)
    user_log = homes / "student09x0c0ffee" / "python-basic" / ".log" / "20261122"
    marker = tmp_path / "pwned"
    (user_log / "evil.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    os.chown(user_log / "evil.pkl", 2009, 100)
    outside = tmp_path / "secret.pkl"
    outside.write_bytes(pickle.dumps({"secret": "other user's data"}))
    (user_log / "link.pkl").symlink_to(outside)
    base = "/home/student09x0c0ffee/python-basic/.log/20261122"
    hostile = [
        f"{base}/evil.pkl",
        f"{base}/../../../../../etc/passwd",
        "/etc/passwd",
        f"{base}/link.pkl",
    ]
    lines = [record_with_result(lcwrapper_sample, path) for path in hostile]
    documents = _enrich_lines(
        enrich_command(fixture_index, lcwrapper_sample / "passwd", homes), lines
    )
    assert not marker.exists()
    for path, document in zip(hostile, documents, strict=True):
        assert "result_json" not in document, path
        assert document["result_error"], path
        assert document["qno"] == "01-002"
    assert "os" in documents[0]["result_error"] or "system" in documents[0]["result_error"]


def test_invalid_configuration_is_rejected_before_reading(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    command = enrich_command(
        fixture_index,
        lcwrapper_sample / "passwd",
        lcwrapper_sample / "users",
        "--zone",
        "JST=banana",
    )
    done = subprocess.run(command, input=b"", capture_output=True, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert b"JST=banana" in done.stderr


def test_hostile_receive_times_never_end_the_filter(
    lcwrapper_sample: Path, fixture_index: Path
) -> None:
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"]).encode()
    times = [b"1e12", b"-1e20", b"1e308", b"18446744073709551615", b"-9223372036854775808"]
    lines = []
    for stamp in times:
        lines += [
            b'{"time": ' + stamp + b"}\n",
            b'{"time": ' + stamp + b', "log": 42}\n',
            b'{"time": ' + stamp + b', "log": "not a log"}\n',
            b'{"time": NaN, "log": "x"}\n',
            good[:-1] + b', "time": ' + stamp + b"}\n",
        ]
    # Records nested too deeply to be rendered again by repr or orjson.
    deep = [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000]
    lines += [line + b"\n" for line in deep]
    command = enrich_command(fixture_index, lcwrapper_sample / "passwd", lcwrapper_sample / "users")
    documents = _enrich_lines(command, lines)
    kinds = [doc.get("error_type", "ok") for doc in documents]
    assert kinds == [
        *(["InvalidRecord", "InvalidRecord", "LogParseError", "InvalidJSON", "ok"] * 5),
        "InvalidRecord",
        "InvalidRecord",
    ]
    assert [doc["raw"].encode() for doc in documents[-2:]] == deep
    for doc in documents:
        if "error_type" in doc:
            # An impossible receive time is ignored: the dead letter is stamped now.
            assert doc["@timestamp"][:2] == "20"
            assert doc["target_index"].startswith("lcwrapper-deadletter-20")


def test_a_line_without_end_is_answered_once_and_never_held_whole(
    lcwrapper_sample: Path, fixture_index: Path, tmp_path: Path
) -> None:
    """A sender that never ends its line (here 80 MiB, over the 64 MiB limit) gets one
    LineTooLong dead letter; memory stays bounded and the next line is enriched."""
    good = json.dumps(forward_records(lcwrapper_sample)[0]["record"]).encode() + b"\n"
    source = tmp_path / "input.jsonl"
    with source.open("wb") as out:
        out.write(b'{"log": "')
        block = b"x" * (1 << 20)
        for _ in range(80):
            out.write(block)
        out.write(b'"}\n')
        out.write(good)
        out.write(b"y" * (3 << 20))  # an unterminated last line, under the limit
    command = enrich_command(fixture_index, lcwrapper_sample / "passwd", lcwrapper_sample / "users")
    probe = (
        "import resource, subprocess, sys\n"
        "with open(sys.argv[1], 'rb') as stdin:\n"
        "    done = subprocess.run(sys.argv[2:], stdin=stdin, capture_output=True)\n"
        "sys.stdout.buffer.write(done.stdout)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stderr.write(f'{done.returncode} {peak}\\n')\n"
    )
    done = subprocess.run(
        [command[0], "-c", probe, str(source), *command],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    status, peak_kb = done.stderr.decode().split()[-2:]
    documents = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert status == "0"
    assert [doc.get("error_type", "ok") for doc in documents] == [
        "LineTooLong",
        "ok",
        "InvalidJSON",
    ]
    assert "at least" in documents[0]["error_message"]
    assert len(documents[0]["raw"]) == 64 * 1024
    assert int(peak_kb) < 200 * 1024, f"peak RSS {int(peak_kb) // 1024} MiB"
