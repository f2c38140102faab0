"""What ``cwh demo`` and ``cwh serve`` tell the person at the terminal."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "cli.demo.starting": Message(
        "starting a local Prefect server (first start takes ~10-20 s)...",
        "ローカルの Prefect サーバーを起動しています (初回は 10〜20 秒ほどかかります)...",
    ),
    "cli.demo.reusing": Message(
        "reusing the local Prefect server at {url}",
        "起動済みのローカル Prefect サーバー ({url}) を使います",
    ),
    "cli.demo.backfill": Message(
        "backfill: {indexed} indexed, {present} already present, {dead} dead letters",
        "バックフィル: 新規登録 {indexed} 件、登録済み {present} 件、デッドレター {dead} 件",
    ),
    "cli.demo.course": Message(
        "{course}: {students} students x {questions} questions, {stuck} stuck",
        "{course}: 受講者 {students} 名 × 問題 {questions} 問、つまずき {stuck} 名",
    ),
    "cli.demo.heatmap": Message("  heatmap: {path}", "  ヒートマップ: {path}"),
    "cli.demo.html": Message("  html:    {path}", "  HTML:         {path}"),
    "cli.demo.report_url": Message("  browser: {url}", "  ブラウザー:   {url}"),
    "cli.demo.ui": Message("Prefect UI: {url}", "Prefect UI: {url}"),
    "cli.demo.deployments": Message(
        "deployments: {count} served ({names}); press Run on any of them at {url}",
        "デプロイメント: {count} 件を登録し実行を受け付けています ({names})。"
        "{url} で各デプロイメントの「Run」を押すと実行できます",
    ),
    "cli.demo.deployments_missing": Message(
        "deployments not registered yet: {names} (see {log})",
        "まだ登録されていないデプロイメント: {names} (ログ: {log})",
    ),
    "cli.demo.blocks": Message(
        "blocks: {url} (block types registered; demo documents are named 'demo')",
        "ブロック: {url} (ブロック型を登録済み。デモ用ドキュメントの名前は 'demo' です)",
    ),
    "cli.demo.done": Message(
        "done in {seconds} s; stop the server with: cwh demo --stop-server",
        "{seconds} 秒で完了しました。サーバーを止めるには: cwh demo --stop-server",
    ),
    "cli.demo.students_range": Message(
        "--students must be between 1 and 1000",
        "--students には 1 から 1000 までの数を指定してください",
    ),
    "cli.demo.port_in_use": Message(
        "port {port} is in use; choose another with --port",
        "ポート {port} は使用中です。--port で別のポートを指定してください",
    ),
    "cli.demo.server_exited": Message(
        "the demo's Prefect server exited with {code}:\n{log}",
        "デモ用 Prefect サーバーが終了コード {code} で終了しました:\n{log}",
    ),
    "cli.demo.server_unhealthy": Message(
        "the demo's Prefect server is not healthy after {seconds} s:\n{log}",
        "デモ用 Prefect サーバーが {seconds} 秒たっても応答しません:\n{log}",
    ),
    "cli.demo.stopped": Message(
        "demo Prefect server stopped", "デモ用 Prefect サーバーを停止しました"
    ),
    "cli.demo.not_running": Message(
        "no demo Prefect server was running", "デモ用 Prefect サーバーは動いていませんでした"
    ),
    "cli.demo.stale_state": Message(
        "no demo Prefect server was running (PID {pid} has exited; removed the stale state "
        "file {state})",
        "デモ用 Prefect サーバーは動いていませんでした (PID {pid} は終了済みのため、"
        "古い状態ファイル {state} を削除しました)",
    ),
    "cli.demo.unreadable_state": Message(
        "the state file {state} cannot be read ({error}); not stopping anything. Remove the "
        "file once no demo server runs.",
        "状態ファイル {state} を読めません ({error})。何も停止しません。"
        "デモ用サーバーが動いていないことを確かめてから、このファイルを削除してください。",
    ),
    "cli.demo.unverifiable": Message(
        "the state file {state} does not record when PID {pid} started, so it cannot be "
        "checked to be the demo's Prefect server; not stopping it. If it is, stop it with: "
        "kill -TERM -- -{pid}",
        "状態ファイル {state} に PID {pid} の起動時刻が記録されていないため、デモ用 Prefect "
        "サーバーかどうか確かめられません。停止しません。デモ用サーバーであれば次のコマンドで"
        "止めてください: kill -TERM -- -{pid}",
    ),
    "cli.demo.not_ours": Message(
        "PID {pid} is no longer the demo's Prefect server (another process started since); "
        "not stopping it. Removed the stale state file {state}.",
        "PID {pid} はもうデモ用 Prefect サーバーではありません (その後に別のプロセスが"
        "起動しています)。停止しません。古い状態ファイル {state} を削除しました。",
    ),
    "cli.serve.reports": Message(
        "progress reports served at {url} (directory {directory})",
        "進捗レポートを {url} で公開しています (ディレクトリ {directory})",
    ),
    "cli.serve.serving": Message(
        "serving {count} deployment(s): {names}",
        "{count} 件のデプロイメントの実行を受け付けています: {names}",
    ),
    "cli.blocks.registered": Message(
        "registered block types: {types}",
        "ブロック型を登録しました: {types}",
    ),
}
