"""A reconcile run's words in Japanese and English: the summary, the per-node table, the
planner's reasons (recognised from their English text) and the plan on paper. English stays
exactly as it was; the Japanese carries no English sentence of the catalogue."""

from __future__ import annotations

import argparse
import string
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cwh.messages import Language, catalogue, text
from cwh.timetable import (
    Availability,
    HubServer,
    HubServers,
    NodeRole,
    NodeState,
    ObservedNode,
    ProviderCapabilities,
    RemovalPolicy,
    SwarmNode,
    SwarmNodeState,
    VmState,
    describe_node,
    node_table,
    node_table_markdown,
    plan_reason,
    plan_reconcile,
    reason_in,
    render_plan_text,
    servers_to_stop,
    summary_markdown,
)
from deployments.cli import reconcile as reconcile_cli

TOKYO = ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 30, 14, 0, tzinfo=TOKYO)


def _report(**overrides: Any) -> dict[str, Any]:
    busy_why = plan_reason("busy", count=2, why=plan_reason("paused_now"))
    report: dict[str, Any] = {
        "at": "2026-11-30T14:00:00+09:00",
        "timezone": "Asia/Tokyo",
        "phase": "off-hours",
        "target_source": "timetable",
        "note": "derived from the timetable",
        "provider": "vcp",
        "dry_run": False,
        "converged": False,
        "desired": {},
        "actions": [{}, {}],
        "nodes": [
            {
                "address": "10.0.0.2",
                "hostname": "w2",
                "wanted": "power_down",
                "before": "VM running · pause · 2 user server(s)",
                "after": "",
                "actions": "power_off 10.0.0.2",
                "status": "skipped",
                "seconds": 0.5,
                "note": plan_reason("skipped_down"),
            }
        ],
        "busy": [{"address": "10.0.0.3", "reason": busy_why}],
        "blocked": [{"address": "10.0.0.4", "reason": plan_reason("vm_pending", vm="booting")}],
        "failed": [
            {"address": "10.0.0.2", "error": plan_reason("skipped_down")},
            {"address": "10.0.0.5", "error": "VmProviderError: quota exceeded"},
        ],
        "untouched": [{"address": "10.0.0.1", "reason": plan_reason("untouched_manager")}],
        "stuck": [
            {
                "address": "10.0.0.3",
                "node": "w3",
                "servers": ["jupyter-a", "jupyter-b"],
                "since": "2026-11-30T13:00:00+09:00",
            }
        ],
        "servers_stopped": [
            {"address": "10.0.0.6", "reason": plan_reason("all_idle", limit="30 min")}
        ],
        "culling": {"service": "hub", "env": {"CULL_SERVER_IDLE_TIMEOUT": "900"}, "changed": True},
        "ledger": "/var/lib/cwh/ledger.jsonl",
        "durations": {"observe": 0.25, "plan": 0.01},
    }
    report.update(overrides)
    return report


ENGLISH_SUMMARY = """\
## Worker pool: NOT converged

- At: 2026-11-30T14:00:00+09:00 (Asia/Tokyo)
- Target: phase `off-hours` from the timetable: derived from the timetable
- Provider: vcp
- Actions: 2 planned
- Seconds: observe 0.25, plan 0.01
- Idle server stopped through JupyterHub on 10.0.0.6: every server on it is idle for more \
than 30 min (force_idle_after); stopped through JupyterHub
- Busy, retried next run: 10.0.0.3: 2 user server(s) still running; it stays paused until \
they end (it is paused now, so no new ones come)
- **Stuck** (paused since 2026-11-30T13:00:00+09:00, longer than drain_time): w3 (10.0.0.3), \
servers: jupyter-a, jupyter-b
- **Blocked**: 10.0.0.4: the VM is booting; the next run continues
- **Failed**: 10.0.0.2: not taken down because bringing other nodes up failed (capacity \
first); the next run retries
- **Failed**: 10.0.0.5: VmProviderError: quota exceeded
- Untouched: 10.0.0.1 (swarm manager)
- Culling on `hub` (updated): {'CULL_SERVER_IDLE_TIMEOUT': '900'}
- Node-hours ledger: `/var/lib/cwh/ledger.jsonl`
"""

JAPANESE_SUMMARY = """\
## ワーカーノード：未完了（想定の状態になっていません）

- 日時：2026-11-30T14:00:00+09:00（Asia/Tokyo）
- 目標：時間帯 `off-hours`（時間割による）：時間割から決定
- プロバイダ：vcp
- 操作：2 件を計画
- 所要秒数：observe 0.25, plan 0.01
- アイドル状態のサーバを JupyterHub 経由で停止（10.0.0.6）：すべてのサーバが 30 分 を超えて\
アイドル状態のため（force_idle_after）、JupyterHub 経由で停止します
- 使用中のため次回の実行で再試行：10.0.0.3：利用者のサーバが 2 台動いています。\
終了するまで一時停止のままにします（一時停止にしたので、新しいサーバは起動されません）
- **停滞**（2026-11-30T13:00:00+09:00 から一時停止中、drain_time を超過）：w3（10.0.0.3）、\
サーバ：jupyter-a, jupyter-b
- **保留**：10.0.0.4：VM は起動中です。次回の実行で続けます
- **失敗**：10.0.0.2：他のノードの起動に失敗したため停止しませんでした（台数の確保を優先）。\
次回の実行で再試行します
- **失敗**：10.0.0.5：VmProviderError: quota exceeded
- 変更しない：10.0.0.1（swarm のマネージャ）
- `hub` のカリング設定（更新しました）：{'CULL_SERVER_IDLE_TIMEOUT': '900'}
- ノード時間の台帳：`/var/lib/cwh/ledger.jsonl`
"""


def _english_sentences() -> list[str]:
    """Every run of words of the reconcile templates' English that their Japanese lacks."""
    found: list[str] = []
    for key, message in catalogue().items():
        if not key.startswith(("reconcile.", "preview.plan.")) or message.en == message.ja:
            continue
        for literal, *_ in string.Formatter().parse(message.en):
            chunk = literal.strip(" -*:;,.()#|`")
            if len(chunk) >= 6 and " " in chunk and chunk not in message.ja:
                found.append(chunk)
    return found


def _leaks(shown: str) -> list[str]:
    return [sentence for sentence in _english_sentences() if sentence in shown]


def test_the_english_summary_is_unchanged() -> None:
    assert summary_markdown(_report()) == ENGLISH_SUMMARY
    assert summary_markdown(_report(), "en") == ENGLISH_SUMMARY


def test_the_japanese_summary_has_every_line_in_japanese() -> None:
    shown = summary_markdown(_report(), "ja")
    assert shown == JAPANESE_SUMMARY
    assert _leaks(shown) == []


@pytest.mark.parametrize(
    ("overrides", "headline"),
    [
        ({"dry_run": True}, "## ワーカーノード：ドライラン（何も適用していません）"),
        (
            {"failed": [], "blocked": []},
            "## ワーカーノード：1 台のノードで利用者のサーバの終了待ち",
        ),
        (
            {"failed": [], "blocked": [], "busy": []},
            "## ワーカーノード：完了（時間割どおりの状態です）",
        ),
    ],
)
def test_the_japanese_headline_says_what_the_run_achieved(
    overrides: dict[str, Any], headline: str
) -> None:
    assert summary_markdown(_report(**overrides), "ja").splitlines()[0] == headline


def test_nodes_and_the_table_are_described_in_japanese() -> None:
    member = SwarmNode("n1", "w1", NodeRole.WORKER, Availability.PAUSE, SwarmNodeState.DOWN, {})
    node = ObservedNode("10.0.0.1", VmState.RUNNING, (member,), running_user_tasks=2)
    assert describe_node(node, True) == "VM running · pause (down) · 2 user server(s)"
    assert describe_node(node, True, "ja") == "VM 稼働中 · 一時停止 (停止) · 利用者のサーバ 2 台"
    assert describe_node(None, True, "ja") == "VMなし"
    assert describe_node(None, False, "ja") == "swarm未参加"

    rows = _report()["nodes"]
    assert node_table(rows) == [dict(row) for row in rows]
    (shown,) = node_table(rows, "ja")
    assert list(shown) == [
        "アドレス",
        "ホスト名",
        "目標",
        "実行前",
        "実行後",
        "操作",
        "状態",
        "秒",
        "備考",
    ]
    assert shown["目標"] == "電源オフ" and shown["状態"] == "スキップ"
    assert shown["備考"] == text("reconcile.reason.skipped_down", "ja")
    assert node_table_markdown(rows).splitlines()[0] == (
        "| address | wanted | before | after | actions | status | s |"
    )
    printed = node_table_markdown(rows, "ja").splitlines()
    assert printed[0] == "| アドレス | 目標 | 実行前 | 実行後 | 操作 | 状態 | 秒 |"
    assert printed[2].startswith("| 10.0.0.2 | 電源オフ | ") and "| スキップ | 0.5 |" in printed[2]


def _sample(field: str) -> str:
    samples = {
        "why": plan_reason("drained_waits"),
        "idle": "5 min",
        "limit": "2 h 5 min",
        "wanted": "active",
        "current": "pause",
        "vm": "booting",
        "state": "down",
        "count": "3",
    }
    return samples.get(field, f"<{field}>")


def test_every_reason_is_recognised_from_its_english_text() -> None:
    for key, message in catalogue().items():
        if not key.startswith("reconcile.reason."):
            continue
        fields = {f: _sample(f) for _, f, *_ in string.Formatter().parse(message.en) if f}
        english = text(key, "en", **fields)
        assert reason_in(english, "en") == english
        shown = reason_in(english, "ja")
        assert shown != english, key
        assert _leaks(shown) == [], key
    assert reason_in(plan_reason("availability", current="pause", wanted="active"), "ja") == (
        "現在は一時停止、目標は稼働"
    )
    recent = plan_reason("recently_used", server="alice", idle="5 min", limit="2 h 5 min")
    assert reason_in(recent, "ja") == (
        "alice は 5 分 前に使われています（force_idle_after の 2 時間 5 分 以内）"
    )


def test_a_text_no_template_matches_is_shown_as_it_is() -> None:
    assert reason_in("VmProviderError: quota exceeded", "ja") == "VmProviderError: quota exceeded"
    hostile = "the VM is " + "x" * 100_000 + "; the next run continues"
    assert reason_in(hostile, "ja") == hostile


def _worker(address: str, availability: Availability, tasks: int = 0) -> ObservedNode:
    member = SwarmNode(
        f"id-{address}", f"host-{address}", NodeRole.WORKER, availability, SwarmNodeState.READY, {}
    )
    return ObservedNode(address, VmState.RUNNING, (member,), running_user_tasks=tasks)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_plan_on_paper_gives_its_reasons_in_the_language(language: Language) -> None:
    manager = SwarmNode("m", "mgr", NodeRole.MANAGER, Availability.ACTIVE, SwarmNodeState.READY, {})
    observed = {
        "10.0.0.1": _worker("10.0.0.1", Availability.ACTIVE),
        "10.0.0.2": _worker("10.0.0.2", Availability.ACTIVE, tasks=1),
        "10.0.0.3": _worker("10.0.0.3", Availability.ACTIVE),
        "10.0.0.9": ObservedNode("10.0.0.9", VmState.RUNNING, (manager,)),
    }
    desired = {
        "10.0.0.1": NodeState.ACTIVE,
        "10.0.0.2": NodeState.POWER_DOWN,
        "10.0.0.3": NodeState.POWER_DOWN,
    }
    capabilities = ProviderCapabilities("vcp", power_control=True)
    policy = RemovalPolicy(grace=timedelta(minutes=30))
    plan = plan_reconcile(desired, observed, at=AT, provider=capabilities, policy=policy)
    shown = render_plan_text(plan, language)
    if language == "en":
        assert "  set_availability pause 10.0.0.2: no new servers before it leaves" in shown
        assert "  untouched 10.0.0.9: swarm manager" in shown
        return
    assert "  可用性変更 一時停止 10.0.0.2: 外す前に新しいサーバを受け付けないようにします" in shown
    assert "  ドレイン 10.0.0.3: 利用者のサーバは動いていません" in shown
    assert "  電源オフ 10.0.0.3: 時間割ではこの VM は電源オフです" in shown
    assert (
        "  保留 10.0.0.2：利用者のサーバが 1 台動いています。終了するまで一時停止のままにします"
        "（一時停止にしたので、新しいサーバは起動されません）"
    ) in shown
    assert "  変更しない 10.0.0.9：swarm のマネージャ" in shown
    assert _leaks(shown) == []


def test_hub_decisions_read_in_japanese() -> None:
    now = AT
    server = HubServer("alice", "", "jupyter-alice", now - timedelta(minutes=5))
    hub = HubServers(now=now, servers=(server,))
    decision = servers_to_stop(["jupyter-alice"], 1, hub, timedelta(minutes=30))
    assert decision.stop == ()
    assert decision.reason == "alice was used 5 min ago, within force_idle_after 30 min"
    assert reason_in(decision.reason, "ja") == (
        "alice は 5 分 前に使われています（force_idle_after の 30 分 以内）"
    )


def test_cwh_reconcile_takes_a_language() -> None:
    parser = argparse.ArgumentParser(prog="cwh")
    reconcile_cli.register(parser.add_subparsers(dest="command", required=True))
    assert parser.parse_args(["reconcile", "t.yaml"]).language is None
    assert parser.parse_args(["reconcile", "t.yaml", "--language", "ja"]).language == "ja"
    with pytest.raises(SystemExit):
        parser.parse_args(["reconcile", "t.yaml", "--language", "fr"])


def test_the_targets_note_reads_in_japanese() -> None:
    from cwh.timetable import load_timetable, note_in

    table = load_timetable(Path(__file__).resolve().parents[1] / "examples" / "timetable.yaml")
    holiday = datetime(2027, 1, 11, 14, 0, tzinfo=TOKYO)
    target = table.resolve_run_target(holiday, active=2, pause=3, drain=0, phase="after-class")
    assert target.note == (
        "schedule 'after-class' asked for active 2, pause 3 but the timetable wants active 1, "
        "pause 0 (off-hours); 2027-01-11 is a holiday (Coming of Age Day); "
        "following the timetable"
    )
    assert note_in(target.note, "ja") == (
        "スケジュール「after-class」の指定は 稼働 2・一時停止 3 ですが、時間割では 稼働 1・"
        "一時停止 0（off-hours）です。2027-01-11 は祝日です（Coming of Age Day）。"
        "時間割に従います"
    )
    plain = table.resolve_run_target(AT)
    assert plain.note == "derived from the timetable"
    assert note_in(plain.note, "ja") == "時間割から決定"
    shown = summary_markdown(_report(note=target.note), "ja")
    assert "- 目標：時間帯 `off-hours`（時間割による）：スケジュール「after-class」" in shown


def test_why_a_run_failed_reads_in_japanese() -> None:
    from cwh.timetable import failure_message

    report: Any = _report()
    assert failure_message(report) == (
        "the worker pool did not converge (10.0.0.2: not taken down because bringing other "
        "nodes up failed (capacity first); the next run retries; 10.0.0.5: VmProviderError: "
        "quota exceeded; 10.0.0.4: the VM is booting; the next run continues); the next run "
        "retries"
    )
    assert failure_message(report, "ja") == (
        "ワーカーノードが想定の状態になりませんでした（10.0.0.2: 他のノードの起動に失敗したため"
        "停止しませんでした（台数の確保を優先）。次回の実行で再試行します; 10.0.0.5: "
        "VmProviderError: quota exceeded; 10.0.0.4: VM は起動中です。次回の実行で続けます）。"
        "次回の実行で再試行します"
    )


def test_cwh_reconcile_says_a_wrong_time_in_the_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="cwh")
    reconcile_cli.register(parser.add_subparsers(dest="command", required=True))
    for language, said in (
        ("ja", "cwh reconcile: --at 'tomorrow' は ISO 形式の日時ではありません"),
        ("en", "cwh reconcile: --at 'tomorrow' is not an ISO date-time"),
    ):
        args = parser.parse_args(
            ["reconcile", "t.yaml", "--at", "tomorrow", "--language", language]
        )
        assert reconcile_cli.run(args) == 1
        assert capsys.readouterr().err.strip() == said


def test_a_server_name_made_to_look_like_a_reason_is_shown_quickly_as_it_is() -> None:
    name = " was used 5 min ago, within force_idle_after" * 20
    crafted = plan_reason("recently_used", server=name, idle="5 min", limit="30 min")
    assert len(crafted) < 1000
    assert reason_in(crafted, "ja") == crafted
    honest = plan_reason("unknown_servers", servers="alice, bob")
    assert (
        reason_in(honest, "ja")
        == "JupyterHub に alice, bob の起動済みサーバがないため、どのサーバも停止しません"
    )
