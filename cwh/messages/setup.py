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
    # What each check found.
    "setup.check.swarm": Message(
        "{endpoint} is a swarm manager ({node}); {services}",
        "{endpoint} は swarm マネージャです（{node}）。{services}",
    ),
    "setup.check.global": Message("global", "global"),
    "setup.check.files_found": Message(
        "directories present; MEME index {index}", "ディレクトリあり。MEME インデックス：{index}"
    ),
    "setup.check.index_present": Message("present", "あり"),
    "setup.check.index_missing": Message("missing, will be built", "なし（これから作成します）"),
    "setup.check.elasticsearch": Message(
        "{endpoint} cluster {cluster} {health}, version {versions}",
        "{endpoint} クラスタ {cluster} は {health}、バージョン {versions}",
    ),
    "setup.check.unknown": Message("unknown", "不明"),
    "setup.check.kibana": Message(
        "{url} {level}, version {version}", "{url} は {level}、バージョン {version}"
    ),
    "setup.check.kibana_anonymous": Message(
        "not reported (anonymous status)", "不明（匿名での状態取得のため）"
    ),
    # Planned and done steps: index templates, the data view, the dashboard.
    "setup.template.unchanged": Message(
        "index template `{name}` ({patterns}) unchanged",
        "インデックステンプレート `{name}`（{patterns}）は変更なし",
    ),
    "setup.template.create": Message(
        "create index template `{name}` for {patterns}",
        "インデックステンプレート `{name}`（{patterns}）を作成",
    ),
    "setup.template.update": Message(
        "update index template `{name}`: {differences}",
        "インデックステンプレート `{name}` を更新：{differences}",
    ),
    "setup.template.more": Message(" (and {count} more)", "（ほか {count} 件）"),
    "setup.template.overrides": Message(
        " (overrides lower-priority {templates})", "（優先度の低い {templates} より優先）"
    ),
    "setup.template.installed": Message(
        "index template `{name}` installed", "インデックステンプレート `{name}` を登録しました"
    ),
    "setup.view.create": Message(
        "create data view `{title}` (id `{view_id}`)",
        "データビュー `{title}`（id `{view_id}`）を作成",
    ),
    "setup.view.update": Message(
        "update data view `{view_id}`: {changes}", "データビュー `{view_id}` を更新：{changes}"
    ),
    "setup.view.unchanged": Message(
        "data view `{view_id}` already as wanted (found by {found_by})",
        "データビュー `{view_id}` はすでに期待どおり（{found_by} で検出）",
    ),
    "setup.view.created": Message(
        "data view `{view_id}` created", "データビュー `{view_id}` を作成しました"
    ),
    "setup.view.updated": Message(
        "data view `{view_id}` updated", "データビュー `{view_id}` を更新しました"
    ),
    "setup.dashboard.import": Message(
        "import {count} saved objects (Lens panels and dashboard, overwrite by id) into space "
        "`{space}`, pointed at data view `{view_id}`",
        "保存オブジェクト {count} 件（Lens パネルとダッシュボード、id で上書き）をスペース "
        "`{space}` にインポートし、データビュー `{view_id}` を参照させる",
    ),
    "setup.dashboard.imported": Message(
        "dashboard imported ({count} saved objects, same ids)",
        "ダッシュボードをインポートしました（保存オブジェクト {count} 件、id は同じ）",
    ),
    # Planned and done steps: files, fluentd and JupyterHub.
    "setup.file.unchanged": Message("{label} `{path}` unchanged", "{label} `{path}` は変更なし"),
    "setup.file.create": Message("create {label} `{path}`", "{label} `{path}` を作成"),
    "setup.file.replace": Message("replace {label} `{path}`", "{label} `{path}` を置き換え"),
    "setup.fluentd.config": Message("fluentd config", "fluentd 設定ファイル"),
    "setup.fluentd.env": Message(
        "environment file (secret, mode 0600)", "環境変数ファイル（秘密情報、モード 0600）"
    ),
    "setup.fluentd.dropin": Message("systemd drop-in", "systemd ドロップイン"),
    "setup.fluentd.check": Message(
        "check with `{binary} --dry-run`, then {action} fluentd",
        "`{binary} --dry-run` で確認してから fluentd を{action}",
    ),
    "setup.fluentd.no_check": Message(
        "fluentd is not installed here: no dry run, then {action} fluentd",
        "この環境に fluentd がないためドライランせずに fluentd を{action}",
    ),
    "setup.fluentd.reload": Message("reload", "リロード"),
    "setup.fluentd.restart": Message("restart", "再起動"),
    "setup.fluentd.done": Message(
        "fluentd dry run {dry_run}; fluentd {action}ed",
        "fluentd のドライラン：{dry_run}。fluentd を{action}しました",
    ),
    "setup.jupyterhub.create": Message("create `{path}`", "`{path}` を作成"),
    "setup.jupyterhub.replace": Message("replace `{path}`", "`{path}` を置き換え"),
    "setup.jupyterhub.unchanged": Message("`{path}` unchanged", "`{path}` は変更なし"),
    "setup.jupyterhub.restart": Message(
        "restart the JupyterHub service: {reason}", "JupyterHub サービスを再起動：{reason}"
    ),
    "setup.jupyterhub.no_restart": Message(
        "restart not needed: {reason}", "再起動は不要：{reason}"
    ),
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
