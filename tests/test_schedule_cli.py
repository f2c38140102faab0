"""``cwh schedule``: every subcommand end to end, through argparse, on files in a temp dir."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from deployments.cli import schedule

ROOT = Path(__file__).resolve().parents[1]
TIMETABLE = """\
timezone: Asia/Tokyo
ip_addresses: [10.6.0.1, 10.6.0.2, 10.6.0.3]
down_type: deleted
class_days: [mon, 木曜日]
phases:
  - {name: class, start: 8:30, active: 3, pause: 0, drain: 0}
  - {name: after-class, start: 11:00, active: 1, pause: 2, drain: 0}
  - {name: off-hours, start: 13:00, active: 1, pause: 0, drain: 2}
exceptions:
  - 2025-04-10
"""
OCS = {
    "default": {"node_count": 1, "max_node_count": 3, "down_type": "power_down", "drain_time": 60},
    "schedule": [{"node_count": 3, "period": {"begin": "9:00", "end": "16:00"}}],
}


def cwh(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cwh")
    schedule.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["schedule", *argv])
    code = args.handler(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def timetable(tmp_path: Path) -> Path:
    path = tmp_path / "timetable.yaml"
    path.write_text(TIMETABLE, encoding="utf-8")
    return path


def test_validate_summarises_a_good_file(
    timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cwh("validate", str(timetable), capsys=capsys)
    assert (code, err) == (0, "")
    assert f"{timetable}: valid (cwh form)" in out
    assert "default    : 'off-hours' -> active 1, deleted 2" in out
    assert "exceptions : 2025-04-10" in out


def test_validate_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        TIMETABLE.replace("[mon, 木曜日]", "[mon, thursdya]").replace("drain: 2", "drain: 3")
    )
    code, out, err = cwh("validate", str(path), capsys=capsys)
    assert (code, out) == (1, "")
    assert "2 problems to fix" in err
    assert "class_days[1]: 'thursdya' is not a weekday (did you mean 'thursday'?)" in err
    assert "phases[2]: active 1 + pause 0 + drain 3 = 4 nodes" in err


def test_ocs_document_needs_and_takes_ips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(OCS), encoding="utf-8")
    code, _out, err = cwh("validate", str(path), capsys=capsys)
    assert code == 1 and "pass --ips a,b,c" in err
    code, out, _err = cwh(
        "validate", str(path), "--ips", "10.6.0.1, 10.6.0.2,10.6.0.3", capsys=capsys
    )
    assert code == 0 and "valid (ocs form)" in out


def test_preview_json_has_one_object_per_transition(
    timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = cwh(
        "preview", str(timetable), "--from", "2025-04-06", "--days", "7", "--json", capsys=capsys
    )
    assert code == 0
    rows = json.loads(out)
    assert [row["at"] for row in rows] == [
        "2025-04-06T00:00:00+09:00",
        "2025-04-07T08:30:00+09:00",
        "2025-04-07T11:00:00+09:00",
        "2025-04-07T13:00:00+09:00",
    ]
    assert rows[0]["actions"] == []
    assert rows[1]["nodes"] == dict.fromkeys(["10.6.0.1", "10.6.0.2", "10.6.0.3"], "active")
    assert {action["action"] for action in rows[1]["actions"]} == {
        "create_vm",
        "join",
        "set_availability",
    }
    assert rows[3]["nodes"]["10.6.0.3"] == "deleted"
    assert {"at", "nodes", "actions"} <= set(rows[2])


def test_preview_table(timetable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = cwh(
        "preview", str(timetable), "--from", "2025-04-07", "--days", "1", capsys=capsys
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "| when (Asia/Tokyo) | phase | active | pause | power_down | deleted |"
    )
    assert "| Mon 2025-04-07 11:00 | after-class | 10.6.0.1 | 10.6.0.2 10.6.0.3 |" in out
    assert "set_availability pause (10.6.0.2, 10.6.0.3)" in out


def test_preview_and_plan_follow_the_language(
    timetable: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    preview = ["preview", str(timetable), "--from", "2025-04-07", "--days", "1"]
    code, out, _err = cwh(*preview, "--language", "ja", capsys=capsys)
    assert code == 0
    assert out.startswith(
        "| 日時（Asia/Tokyo） | 時間帯 | 稼働 | 一時停止 | 電源オフ | 削除 | 操作 |"
    )
    assert "| 2025-04-07（月）11:00 | after-class |" in out
    assert "日ごとの授業日・休み（Asia/Tokyo）" in out
    monkeypatch.setenv("CWH_LANGUAGE", "ja")
    code, out, _err = cwh("plan", str(timetable), "--at", "2025-04-07T14:00+09:00", capsys=capsys)
    assert "操作は不要です" in out
    code, out, _err = cwh(*preview, "--language", "en", capsys=capsys)
    assert out.startswith("| when (Asia/Tokyo) | phase |")


def test_plan_at_a_transition(timetable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = cwh(
        "plan", str(timetable), "--at", "2025-04-07T13:00", "--json", capsys=capsys
    )
    assert code == 0
    plan = json.loads(out)
    assert plan["at"] == "2025-04-07T13:00:00+09:00"
    assert plan["nodes"] == {"10.6.0.1": "active", "10.6.0.2": "deleted", "10.6.0.3": "deleted"}
    assert [(a["action"], a["address"]) for a in plan["actions"]][:3] == [
        ("drain", "10.6.0.2"),
        ("remove_from_swarm", "10.6.0.2"),
        ("delete_vm", "10.6.0.2"),
    ]
    code, out, _err = cwh("plan", str(timetable), "--at", "2025-04-07T14:00+09:00", capsys=capsys)
    assert "nothing to do" in out


def test_plan_from_an_observation(
    timetable: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = tmp_path / "observed.json"
    swarm = [{"node_id": "n2", "hostname": "w2", "availability": "pause", "state": "ready"}]
    observed.write_text(
        json.dumps(
            [
                {
                    "address": "10.6.0.1",
                    "vm": "running",
                    "swarm": [{"node_id": "n1", "availability": "active"}],
                },
                {"address": "10.6.0.2", "vm": "running", "swarm": swarm, "running_user_tasks": 1},
                {"address": "10.6.0.3", "vm": "absent"},
            ]
        ),
        encoding="utf-8",
    )
    code, out, _err = cwh(
        "plan",
        str(timetable),
        "--at",
        "2025-04-07T13:05",
        "--observed",
        str(observed),
        "--json",
        capsys=capsys,
    )
    assert code == 0
    plan = json.loads(out)
    assert plan["actions"] == []
    assert plan["blocked"][0]["address"] == "10.6.0.2"
    assert "force_idle_after is not set" in plan["blocked"][0]["reason"]
    observed.write_text("[{}]", encoding="utf-8")
    code, _out, err = cwh("plan", str(timetable), "--observed", str(observed), capsys=capsys)
    assert code == 1 and "needs at least 'address' and 'vm'" in err


def test_plan_refuses_zero_active(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "night.yaml"
    path.write_text(
        "ip_addresses: [10.6.0.1]\ndefault: 1\nperiods:\n"
        "  - {begin: '0:00', end: '6:00', node_count: 0}\n",
        encoding="utf-8",
    )
    code, _out, err = cwh("plan", str(path), "--at", "2025-04-07T00:00", capsys=capsys)
    assert code == 1 and "plan refused" in err and "allow_zero_active" in err
    code, out, _err = cwh(
        "plan", str(path), "--at", "2025-04-07T00:00", "--allow-zero-active", capsys=capsys
    )
    assert code == 0 and "delete_vm 10.6.0.1" in out


def test_bad_time_values_are_explained(timetable: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cwh("plan", str(timetable), "--at", "monday", capsys=capsys)
    assert code == 1 and "'monday' is not an ISO date-time" in err


def test_to_prefect_prints_a_pasteable_block(
    timetable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = cwh("to-prefect", str(timetable), capsys=capsys)
    assert code == 0
    items = yaml.safe_load(textwrap.dedent(out))["schedules"]
    assert [item["slug"] for item in items] == ["class", "after-class", "off-hours", "safety-net"]
    assert items[0] == {
        "cron": "30 8 * * 1,4",
        "timezone": "Asia/Tokyo",
        "slug": "class",
        "parameters": {"phase": "class", "active": 3, "pause": 0, "drain": 0},
    }
    assert out.startswith("    # Paste under the reconcile-workers deployment")


def test_savings_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        '{"v":1,"at":"2025-04-07T00:00:00+09:00","workers":3,"running":["a"]}\n'
        '{"v":1,"at":"2025-04-07T08:30:00+09:00","workers":3,"running":["a","b","c"]}\n'
        "not json\n"
        '{"v":1,"at":"2025-04-07T13:00:00+09:00","workers":3,"running":["a"]}\n',
        encoding="utf-8",
    )
    code, out, err = cwh(
        "savings", "--ledger", str(ledger), "--until", "2025-04-08T00:00", "--json", capsys=capsys
    )
    assert code == 0
    assert "line 3: skipped" in err
    (week,) = json.loads(out)
    assert week["used_node_hours"] == pytest.approx(8.5 + 4.5 * 3 + 11)
    assert week["always_on_node_hours"] == pytest.approx(72)
    code, out, _err = cwh(
        "savings", "--ledger", str(ledger), "--until", "2025-04-08T00:00", capsys=capsys
    )
    assert "| 2025-W15 | 2025-04-07 | 24.0 | 33.0 |" in out
    code, _out, err = cwh("savings", "--ledger", str(tmp_path / "missing.jsonl"), capsys=capsys)
    assert code == 1 and "cannot read the ledger" in err


def test_module_top_imports_only_the_standard_library_and_the_defaults() -> None:
    """The defaults module is plain constants: the parser shows them without loading cwh."""
    probe = (
        "import sys, deployments.cli.schedule; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'cwh', 'yaml', 'prefect'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "['cwh', 'cwh.defaults']"
