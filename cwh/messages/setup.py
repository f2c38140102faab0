"""Texts of the ``setup-logging`` flow and ``cwh setup``: the report's titles and headings,
and the lines the flow itself adds about the MEME index, fluentd, JupyterHub and the hub."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # Titles of the three artifacts.
    "setup.title.failed": Message(
        "setup-logging: checks failed, nothing was changed",
        "setup-logging：事前チェックに失敗しました（何も変更していません）",
    ),
    "setup.title.plan": Message(
        "setup-logging: plan (dry run, nothing changed)",
        "setup-logging：変更計画（ドライラン、何も変更していません）",
    ),
    "setup.title.done": Message("setup-logging: done", "setup-logging：完了"),
    # Section headings.
    "setup.section.checks": Message("Checks", "事前チェック"),
    "setup.section.planned": Message("Planned changes", "予定している変更"),
    "setup.section.changes": Message("Changes", "実施した変更"),
    "setup.section.kibana": Message("Kibana", "Kibana"),
    "setup.section.fluentd_diff": Message("fluentd config diff", "fluentd 設定ファイルの差分"),
    "setup.section.jupyterhub_diff": Message(
        "JupyterHub config diff", "JupyterHub 設定ファイルの差分"
    ),
    "setup.nothing": Message("nothing", "なし"),
    "setup.no_change": Message("(no change)", "（変更なし）"),
    "setup.kibana.dashboard": Message(
        "Dashboard: [{link}]({link})", "ダッシュボード：[{link}]({link})"
    ),
    "setup.kibana.data_view": Message(
        "Data view `{view_id}` (`{pattern}` on `@timestamp`), shipped objects referenced `{views}`",
        "データビュー `{view_id}`（`{pattern}`、時刻フィールド `@timestamp`）。"
        "同梱オブジェクトが参照していたデータビュー：`{views}`",
    ),
    # One line per check, and the names of the checks.
    "setup.check.ok": Message("ok {name}: {detail}", "OK {name}：{detail}"),
    "setup.check.failed": Message("FAILED {name}: {detail}", "失敗 {name}：{detail}"),
    "setup.check.docker": Message("Docker swarm", "Docker swarm"),
    "setup.check.files": Message("Manager files", "マネージャのファイル"),
    # Lines the flow adds to the plan and the changes.
    "setup.plan.meme_index": Message(
        "build the MEME index {path} (index-textbook)",
        "MEME インデックス {path} を作成する（index-textbook）",
    ),
    "setup.plan.fluentd": Message("fluentd: {line}", "fluentd：{line}"),
    "setup.plan.jupyterhub": Message("JupyterHub: {line}", "JupyterHub：{line}"),
    "setup.done.meme_index": Message(
        "built the MEME index {path}", "MEME インデックス {path} を作成しました"
    ),
    "setup.done.wrote": Message("wrote `{path}`", "`{path}` を書き込みました"),
    "setup.done.restarted": Message(
        "restarted `{service}` (version {before} -> {after}, {seconds} s)",
        "`{service}` を再起動しました（バージョン {before} → {after}、{seconds} 秒）",
    ),
    # Artifact descriptions and the failure raised when a check fails.
    "setup.artifact.failed": Message("Failed checks", "失敗した事前チェック"),
    "setup.artifact.plan": Message("Planned changes", "予定している変更"),
    "setup.artifact.done": Message("What setup did", "セットアップで実施した内容"),
    "setup.error.checks_failed": Message(
        "setup checks failed, nothing was changed:\n{failures}",
        "事前チェックに失敗したため、何も変更していません：\n{failures}",
    ),
}
