"""Texts of the pipeline-health check, its artifact, the shipped alerts and ``cwh alerts``.

Alert bodies hold Prefect template expressions (``{{ event.resource.id }}``), which the
server fills in when it sends the notification; they are looked up without fields, so the
doubled braces reach Prefect as written.
"""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # The table artifact.
    "health.artifact.description": Message("Pipeline health", "パイプライン稼働状況"),
    "health.column.item": Message("item", "項目"),
    "health.column.status": Message("status", "状態"),
    "health.column.detail": Message("detail", "詳細"),
    "health.status.ok": Message("ok", "正常"),
    "health.status.failed": Message("FAILED", "異常"),
    "health.status.info": Message("-", "-"),
    "health.status.alarm": Message("ALERT", "警告"),
    "health.check.docker": Message("Docker swarm manager", "Docker Swarm マネージャ"),
    "health.check.elasticsearch": Message("Elasticsearch", "Elasticsearch"),
    "health.check.kibana": Message("Kibana", "Kibana"),
    "health.check.fluentd": Message("fluentd forward port", "fluentd 受信ポート (forward)"),
    "health.check.vcp": Message("VCP API", "VCP API"),
    "health.check.store": Message("execution store", "実行記録ストア"),
    "health.check.live-delivery": Message("live delivery (cwh enrich)", "ライブ配送 (cwh enrich)"),
    "health.check.newest-document": Message("newest execution", "最新の実行記録"),
    "health.check.crashed-runs": Message("crashed runs", "クラッシュしたフロー実行"),
    "health.count.first_run": Message(
        "first run: totals recorded, counts since the last run start with the next run",
        "初回実行のため合計値を記録しました。前回からの件数は次回から集計します",
    ),
    "health.count.dead_letters": Message(
        "dead letters since the last run", "前回以降のデッドレター件数"
    ),
    "health.count.dead_letters.detail": Message(
        "{count} ({reasons}); threshold {threshold}",
        "{count} 件 ({reasons})、しきい値 {threshold} 件",
    ),
    "health.count.no_reasons": Message("none", "なし"),
    "health.count.suspect": Message(
        "suspect records since the last run", "前回以降の不審な記録 (suspect) 件数"
    ),
    "health.count.executions": Message(
        "executions stored since the last run", "前回以降に保存された実行記録"
    ),
    "health.count.throughput": Message(
        "{count} in {minutes} min ({rate} per minute)",
        "{minutes} 分間で {count} 件 (毎分 {rate} 件)",
    ),
    "health.count.delivered": Message(
        "documents delivered live since the last run", "前回以降にライブ配送された文書"
    ),
    "health.count.newest_age": Message("newest execution's age", "最新の実行記録の経過時間"),
    "health.count.minutes": Message("{minutes} min", "{minutes} 分"),
    "health.count.unknown": Message("unknown", "不明"),
    "health.count.empty_store": Message(
        "the store holds no execution", "ストアに実行記録がありません"
    ),
    "health.summary.healthy": Message(
        "All {checks} checks passed.", "{checks} 項目のチェックはすべて正常です。"
    ),
    "health.summary.unhealthy": Message(
        "{failed} of {checks} checks failed; {events} event(s) emitted.",
        "{checks} 項目中 {failed} 項目が異常です。イベントを {events} 件送信しました。",
    ),
    "health.state.damaged": Message(
        "the state file {path} was damaged and is started over: {error}",
        "状態ファイル {path} が壊れていたため作り直します: {error}",
    ),
    # The shipped automations.
    "health.alert.unhealthy.description": Message(
        "A pipeline-health check failed (system down, live delivery failing, newest execution "
        "too old, runs crashed).",
        "パイプライン稼働チェックで異常を検出しました (システム停止、ライブ配送の失敗、"
        "最新の実行記録が古い、フロー実行のクラッシュ)。",
    ),
    "health.alert.unhealthy.subject": Message(
        "[cwh] pipeline unhealthy: {{ event.resource.id }}",
        "[cwh] パイプライン異常: {{ event.resource.id }}",
    ),
    "health.alert.unhealthy.body": Message(
        "Check {{ event.payload.check }} failed: {{ event.payload.detail }}",
        "チェック {{ event.payload.check }} が異常です: {{ event.payload.detail }}",
    ),
    "health.alert.deadletters.description": Message(
        "Dead letters since the last health check reached the threshold.",
        "前回の稼働チェック以降のデッドレター件数がしきい値に達しました。",
    ),
    "health.alert.deadletters.subject": Message(
        "[cwh] dead letters: {{ event.payload.since_last_run }} since the last check",
        "[cwh] デッドレター: 前回のチェック以降 {{ event.payload.since_last_run }} 件",
    ),
    "health.alert.deadletters.body": Message(
        "By reason: {{ event.payload.by_reason }} (previous interval: "
        "{{ event.payload.previous }}). Records that could not be stored are kept in the "
        "dead-letter index.",
        "理由別: {{ event.payload.by_reason }} (前回の区間: {{ event.payload.previous }} 件)。"
        "保存できなかった記録はデッドレター用インデックスに残っています。",
    ),
    "health.alert.stuck.description": Message(
        "A reconcile run left worker nodes stuck.",
        "ワーカーノードの調整 (reconcile) 後もノードが想定の状態になっていません。",
    ),
    "health.alert.stuck.subject": Message(
        "[cwh] worker node stuck: {{ event.resource.id }}",
        "[cwh] ワーカーノード停滞: {{ event.resource.id }}",
    ),
    "health.alert.stuck.body": Message(
        "Node {{ event.payload.node }} is stuck since {{ event.payload.since }} with "
        "{{ event.payload.servers }} server(s).",
        "ノード {{ event.payload.node }} が {{ event.payload.since }} から停滞しています "
        "(サーバ {{ event.payload.servers }} 台)。",
    ),
    "health.alert.drift.description": Message(
        "A deployment's schedules differ from the timetable.",
        "デプロイメントのスケジュールが時間割と一致していません。",
    ),
    "health.alert.drift.subject": Message(
        "[cwh] schedule drift: {{ event.resource.id }}",
        "[cwh] スケジュールのずれ: {{ event.resource.id }}",
    ),
    "health.alert.drift.body": Message(
        "Difference: {{ event.payload }}", "差分: {{ event.payload }}"
    ),
    "health.alert.failed.description": Message(
        "A run of a cwh deployment failed or crashed.",
        "cwh のデプロイメントのフロー実行が失敗またはクラッシュしました。",
    ),
    "health.alert.failed.subject": Message(
        "[cwh] run {{ event.resource.name }}: {{ event.event }}",
        "[cwh] フロー実行 {{ event.resource.name }}: {{ event.event }}",
    ),
    "health.alert.failed.body": Message(
        "{{ event.resource['prefect.state-name'] }}: {{ event.resource['prefect.state-message'] }}",
        "{{ event.resource['prefect.state-name'] }}: {{ event.resource['prefect.state-message'] }}",
    ),
    "health.alert.stale.description": Message(
        "A run of a deployment sent no heartbeat for {seconds} s: it is marked crashed.",
        "デプロイメントのフロー実行から {seconds} 秒間ハートビートが届かないため、"
        "クラッシュとして扱います。",
    ),
    "health.alert.stale.crash": Message(
        "No heartbeat for {seconds} s: the process running this flow run is gone.",
        "{seconds} 秒間ハートビートがありません。このフロー実行を動かしていたプロセスは"
        "停止しています。",
    ),
    # cwh alerts.
    "health.cli.created": Message("created {name}", "{name} を作成しました"),
    "health.cli.updated": Message("updated {name}", "{name} を更新しました"),
    "health.cli.unchanged": Message("unchanged {name}", "{name} は変更ありません"),
    "health.cli.no_block": Message(
        "notification block {block!r} not found: save one first (Blocks page of the UI), "
        "e.g. a Slack Webhook named 'ops', and pass --notify-block slack-webhook/ops",
        "通知ブロック {block!r} が見つかりません。先に UI の Blocks ページで保存してください "
        "(例: Slack Webhook を 'ops' という名前で保存し、--notify-block slack-webhook/ops を指定)",
    ),
    "health.cli.bad_block": Message(
        "{block!r} is not a notification block (it has no notify method)",
        "{block!r} は通知ブロックではありません (notify がありません)",
    ),
    "health.cli.block_format": Message(
        "--notify-block must be <block type slug>/<name>, e.g. slack-webhook/ops",
        "--notify-block は <ブロック種別のスラッグ>/<名前> の形で指定してください "
        "(例: slack-webhook/ops)",
    ),
    "health.cli.prefect_yaml": Message(
        "cannot read the deployments of {path}: {error}",
        "{path} のデプロイメントを読めません: {error}",
    ),
    "health.cli.api": Message(
        "the Prefect server did not answer: {error}",
        "Prefect サーバが応答しません: {error}",
    ),
}
