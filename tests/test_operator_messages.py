"""What operators read from setup, textbook indexing, backfill, re-enrichment, culling and
the schedule preview, in Japanese and English.

Each renderer is run in both languages: the English text is the one the other tests compare,
the Japanese one carries the expected sentences and none of the English templates of its area.
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cwh.enrich import MemeIndex
from cwh.messages import Language, catalogue
from cwh.setup import (
    CullingSettings,
    SetupReport,
    culling_report,
    done_markdown,
    failed_checks_markdown,
    plan_markdown,
)
from cwh.textbook import IndexOptions, format_report, scan, summary_markdown, validate, write_index
from cwh.timetable import (
    STATIC_PROVIDER,
    parse_timetable,
    plan_on_paper,
    preview,
    render_plan_text,
    render_preview_markdown,
)
from tasks.backfill import BackfillConfig, BackfillResult
from tasks.backfill import summary_markdown as backfill_markdown
from tasks.reenrichment import Reenriched
from tasks.reenrichment import summary_markdown as reenrich_markdown
from tasks.store import WriteSummary
from tests.test_textbook_builders import code, lesson, meme, write_notebook

TOKYO = ZoneInfo("Asia/Tokyo")
OCS = {
    "default": {"node_count": 1, "max_node_count": 3, "down_type": "deleted", "drain_time": 60},
    "schedule": [{"node_count": 3, "period": {"begin": "9:00", "end": "16:00"}}],
}
WORKERS = ["10.6.0.1", "10.6.0.2", "10.6.0.3"]


def english_leaks(output: str, area: str) -> list[str]:
    """Literal parts (two or more English words) of the area's English templates that
    appear in ``output`` although the Japanese template does not hold them."""
    leaks = []
    for key, message in catalogue().items():
        if not key.startswith(f"{area}."):
            continue
        for literal, *_ in string.Formatter().parse(message.en):
            chunk = literal.strip(" :;,.()`*-|—\n")
            if len(re.findall(r"[A-Za-z]{2,}", chunk)) < 2 or chunk in message.ja:
                continue
            if chunk in output:
                leaks.append(f"{key}: {chunk!r}")
    return leaks


def _setup_report() -> SetupReport:
    report = SetupReport(dry_run=False, checks=["ok Kibana: 8.15.0"])
    report.dashboard_url = "http://kibana:5601/app/dashboards#/view/x"
    return report


def _setup_texts(language: Language) -> list[str]:
    report = _setup_report()
    return [
        failed_checks_markdown(report, language),
        plan_markdown(report, "", "--- a\n+++ b\n", language),
        done_markdown(
            report,
            view_id="lcwrapper",
            index_prefix="lcwrapper",
            referenced_views=["lcwrapper"],
            fluentd_diff="",
            language=language,
        ),
    ]


def test_setup_reports_in_both_languages() -> None:
    failed, plan, done = _setup_texts("en")
    assert failed.startswith("# setup-logging: checks failed, nothing was changed\n\n## Checks\n")
    assert "## Planned changes\n\n- nothing\n" in plan
    assert "(no change)" in done
    assert "- Data view `lcwrapper` (`lcwrapper-*` on `@timestamp`)" in done
    failed, plan, done = _setup_texts("ja")
    assert failed.startswith("# setup-logging：事前チェックに失敗しました（何も変更していません）")
    assert "## 予定している変更\n\n- なし\n" in plan
    assert "## JupyterHub 設定ファイルの差分" in plan
    assert "（変更なし）" in done
    assert "- ダッシュボード：[http://kibana:5601/app/dashboards#/view/x]" in done
    for rendered in (failed, plan, done):
        assert english_leaks(rendered, "setup") == []


def _textbook(tmp_path: Path) -> tuple[Path, Path]:
    root, output = tmp_path / "textbook", tmp_path / "index.csv"
    lesson(root, "c/a.ipynb", 1)
    write_notebook(root, "c/copy.ipynb", [code("x", meme(1001))], meme(90))
    return root, output


@pytest.mark.parametrize("language", ["en", "ja"])
def test_textbook_summary_and_report(tmp_path: Path, language: Language) -> None:
    root, output = _textbook(tmp_path)
    options = IndexOptions()
    found = scan(root, options, output)
    problems = validate(found, options)
    outcome = write_index(found, problems, options, output)
    summary = summary_markdown(outcome, str(root), ["c/a.ipynb"], language)
    report = format_report(problems, textbook_dir=root, language=language)
    if language == "en":
        assert summary.startswith("## Textbook index: index updated\n")
        assert "- Triggered by 1 changed path(s): `c/a.ipynb`" in summary
        assert report.startswith("Validation errors found: 1 problem(s) in 1 file(s)")
        assert "To fix these errors, run:" in report
        return
    assert summary.startswith("## 教材インデックス：インデックスを更新しました\n")
    assert "- 問題点：1 件" in summary
    assert "- きっかけとなった変更：1 件（`c/a.ipynb`）" in summary
    assert report.startswith(f"検証エラー：{root} 配下の 1 ファイルに 1 件の問題があります")
    assert "次のコマンドを実行すると修正できます：" in report
    duplicate = (
        f"lc_cell_meme の値が重複しています：{meme(1001)}"
        "（セル 1、最初の出現は c/a.ipynb のセル 3）"
    )
    assert duplicate in report and duplicate in summary
    assert "Duplicate" not in report + summary
    assert format_report([], textbook_dir=root, language="ja").endswith(
        "問題は見つかりませんでした。"
    )
    assert english_leaks(summary, "textbook") == []
    assert english_leaks(report, "textbook") == []


def test_backfill_and_reenrich_summaries(tmp_path: Path) -> None:
    config = BackfillConfig(homes_dir="/homes", index="meme.csv", passwd="passwd")
    counts = WriteSummary(indexed=5, already_present=2, dead_letters_by_reason={"unparsable": 1})
    result = BackfillResult(files=8, resumed_after=0, summary=counts, seconds=2.0, store="sqlite")
    english = backfill_markdown(result, config)
    assert english.startswith("## Backfill of lc_wrapper logs\n")
    assert "| dead-letter reason | documents |" in english
    japanese = backfill_markdown(result, config, "ja")
    assert japanese.startswith("## lc_wrapper ログの一括取り込み\n")
    assert (
        "- 新たに登録：**5** 件（リアルタイム経路で未登録だった実行）、登録済み：2 件" in japanese
    )
    assert "| 取り込めなかった理由 | 件数 |" in japanese
    assert "| unparsable | 1 |" in japanese

    root, output = _textbook(tmp_path)
    options = IndexOptions()
    found = scan(root, options, output)
    write_index(found, validate(found, options), options, output)
    meme_index = MemeIndex.from_csv_text(output.read_text(encoding="utf-8"))
    done = Reenriched(changed=3, store="sqlite")
    english = reenrich_markdown(str(output), meme_index, done, "en")
    assert english == (
        f"## Re-enrichment\n\n- Index: `{output}` ({len(meme_index)} questions, "
        f"{meme_index.notebook_count} notebooks)\n"
        "- Store: sqlite\n- Documents updated: **3**\n"
    )
    japanese = reenrich_markdown(str(output), meme_index, done, "ja")
    assert "- 更新したドキュメント：**3** 件" in japanese
    for rendered in (backfill_markdown(result, config, "ja"), japanese):
        assert english_leaks(rendered, "backfill") == []


def test_culling_report_in_both_languages() -> None:
    settings = CullingSettings(enabled=True, idle_timeout=600, max_age=0, every=0)
    english = culling_report("hub", settings, changed=True)
    assert english.startswith("# Idle-server culling\n\nService `hub` updated;")
    assert "| variable | value |" in english
    japanese = culling_report("hub", settings, changed=False, language="ja")
    assert japanese.startswith("# アイドル状態のサーバの自動停止\n\n")
    assert "サービス `hub` はすでにこの設定だったため、更新していません。" in japanese
    assert "| 環境変数 | 値 |" in japanese
    assert "| `CULL_SERVER` |" in japanese
    assert english_leaks(japanese, "culling") == []


def test_preview_table_and_plan_in_both_languages() -> None:
    timetable = parse_timetable(OCS, ips=WORKERS)
    start = datetime(2025, 4, 7, tzinfo=TOKYO)
    rows = preview(timetable, start, datetime(2025, 4, 8, tzinfo=TOKYO), provider=STATIC_PROVIDER)
    english = render_preview_markdown(rows, timetable)
    assert english.startswith(
        "| when (Asia/Tokyo) | phase | active | pause | power_down | deleted | actions |\n"
    )
    assert "| period-1 — 2 node(s) paused ahead of 'default' at 2025-04-07 16:00 |" in english
    japanese = render_preview_markdown(rows, timetable, "ja")
    assert japanese.startswith(
        "| 日時（Asia/Tokyo） | 時間帯 | 稼働 | 一時停止 | 電源オフ | 削除 | 操作 |\n"
    )
    assert "| 2025-04-07（月）09:00 | period-1 |" in japanese
    assert (
        "| period-1 — 「default」（2025-04-07 16:00 開始）に備えて 2 台を先に一時停止 |" in japanese
    )
    assert "| 可用性変更 一時停止 (10.6.0.2, 10.6.0.3) |" in japanese
    assert "| ドレイン (10.6.0.2, 10.6.0.3) |" in japanese
    assert english_leaks(japanese, "preview") == []
    for word in ("set_availability", "paused ahead", "Mon "):
        assert word not in japanese

    at = datetime(2025, 4, 7, 12, 0, tzinfo=TOKYO)
    plan = plan_on_paper(timetable, at, provider=STATIC_PROVIDER)
    assert render_plan_text(plan) == (
        "plan at 2025-04-07T12:00:00+09:00:\n"
        "  nothing to do: the pool already matches the timetable\n"
    )
    assert render_plan_text(plan, "ja") == (
        "2025-04-07T12:00:00+09:00 時点の計画：\n"
        "  操作は不要です：ワーカーはすでに時間割どおりの状態です\n"
    )
    busy = plan_on_paper(
        timetable, datetime(2025, 4, 7, 16, 0, tzinfo=TOKYO), provider=STATIC_PROVIDER
    )
    assert "  drain 10.6.0.2: " in render_plan_text(busy)
    assert "  ドレイン 10.6.0.2: " in render_plan_text(busy, "ja")


def _setup_lines(language: Language) -> list[str]:
    """Every line the setup steps contribute to the report, in ``language``."""
    from cwh.setup import IndexTemplate
    from tasks.checks import DockerSummary, FilesSummary, ServiceState
    from tasks.elasticsearch_setup import ClusterSummary, TemplateOutcome, TemplatePlan
    from tasks.fluentd import FileChange, FluentdOutcome, FluentdPlan
    from tasks.jupyterhub import JupyterHubPlan
    from tasks.kibana import DataViewPlan, DataViewSpec, ImportResult, KibanaStatus

    template = IndexTemplate("lcwrapper", {"index_patterns": ["lcwrapper-*"]})
    spec = DataViewSpec.for_prefix("lcwrapper", "lc_wrapper")
    services = (ServiceState("hub", 1, 1), ServiceState("fluentd", 2, None))
    config = FileChange("/etc/fluent/lc_wrapper.conf", exists=True, changed=True)
    env = FileChange("/etc/fluent/lc_wrapper.env", exists=False, changed=False)
    fluentd = FluentdPlan(config, env, None, "/usr/bin/fluentd", "reload")
    hub = JupyterHubPlan("/srv/lc_wrapper.py", "", False, True, True, "the file is new")
    differences = tuple(f"d{n}" for n in range(7))
    return [
        DockerSummary("unix:///var/run/docker.sock", "manager", services).report_line(language),
        FilesSummary(False, ()).report_line(language),
        ClusterSummary("http://es:9200", "docker", "green", ()).report_line(language),
        KibanaStatus("http://kibana:5601", "available", None).report_line(language),
        TemplatePlan(template, "create", overridden=("old",)).describe(language),
        TemplatePlan(template, "update", differences).describe(language),
        TemplatePlan(template, "unchanged").describe(language),
        *TemplateOutcome(changed=("lcwrapper",)).describe_changes(language),
        DataViewPlan("create", spec.view_id, spec).describe(language),
        DataViewPlan("unchanged", spec.view_id, spec, found_by="id").describe(language),
        *DataViewPlan("update", spec.view_id, spec, ("name",)).describe_result("v", language),
        ImportResult(5).describe(language),
        *fluentd.describe(language),
        *FluentdPlan(config, env, None, None, "restart").describe(language)[2:],
        *FluentdOutcome(("/etc/a",), "passed", "reload").describe_changes(language),
        *hub.describe(language),
    ]


def test_setup_step_lines_in_both_languages() -> None:
    assert _setup_lines("en") == [
        "unix:///var/run/docker.sock is a swarm manager (manager); hub 1/1, fluentd 2/global",
        "directories present; MEME index missing, will be built",
        "http://es:9200 cluster docker green, version unknown",
        "http://kibana:5601 available, version not reported (anonymous status)",
        "create index template `lcwrapper` for lcwrapper-* (overrides lower-priority old)",
        "update index template `lcwrapper`: d0; d1; d2; d3; d4 (and 2 more)",
        "index template `lcwrapper` (lcwrapper-*) unchanged",
        "index template `lcwrapper` installed",
        "create data view `lcwrapper-*` (id `cwh-lcwrapper`)",
        "data view `cwh-lcwrapper` already as wanted (found by id)",
        "data view `v` updated",
        "dashboard imported (5 saved objects, same ids)",
        "replace fluentd config `/etc/fluent/lc_wrapper.conf`",
        "environment file (secret, mode 0600) `/etc/fluent/lc_wrapper.env` unchanged",
        "check with `/usr/bin/fluentd --dry-run`, then reload fluentd",
        "fluentd is not installed here: no dry run, then restart fluentd",
        "wrote `/etc/a`",
        "fluentd dry run passed; fluentd reloaded",
        "create `/srv/lc_wrapper.py`",
        "restart the JupyterHub service: the file is new",
    ]
    japanese = _setup_lines("ja")
    assert japanese[1] == "ディレクトリあり。MEME インデックス：なし（これから作成します）"
    assert japanese[4] == (
        "インデックステンプレート `lcwrapper`（lcwrapper-*）を作成（優先度の低い old より優先）"
    )
    assert japanese[14] == "`/usr/bin/fluentd --dry-run` で確認してから fluentd をリロード"
    assert japanese[17] == "fluentd のドライラン：passed。fluentd をリロードしました"
    assert english_leaks("\n".join(japanese), "setup") == []


def test_a_refused_index_says_why_in_both_languages(tmp_path: Path) -> None:
    root, output = _textbook(tmp_path)
    options = IndexOptions(strict=True)
    found = scan(root, options, output)
    outcome = write_index(found, validate(found, options), options, output)
    assert outcome.refusal == (
        f"Validation failed in strict mode (1 problem(s)); index generation aborted and "
        f"{output} was left unchanged."
    )
    japanese = summary_markdown(outcome, str(root), None, "ja")
    assert japanese.startswith("## 教材インデックス：インデックスを書き込んでいません\n")
    assert (
        f"**strict モードで検証に失敗しました（問題 1 件）。インデックスは作成せず、"
        f"{output} は変更していません。**"
    ) in japanese
    assert english_leaks(japanese, "textbook") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["setup", "--dry-run"],
        ["backfill", "--homes-dir", "h", "--index", "i", "--passwd", "p"],
        ["textbook", "validate", "--textbook-dir", "t"],
        ["textbook", "index", "--textbook-dir", "t", "--output", "o"],
        ["schedule", "preview", "f"],
        ["schedule", "plan", "f"],
    ],
)
def test_every_command_takes_a_language(argv: list[str]) -> None:
    from deployments.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args([*argv, "--language", "ja"]).language == "ja"
    assert parser.parse_args(argv).language is None  # then CWH_LANGUAGE, else English
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--language", "fr"])
