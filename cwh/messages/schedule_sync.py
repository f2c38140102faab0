"""Messages of ``cwh schedule apply`` and of the schedule drift check."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "schedule_sync.add": Message(
        "+ {slug}: {cron} ({timezone}) {parameters}",
        "+ {slug}: {cron} ({timezone}) {parameters}",
    ),
    "schedule_sync.update": Message("~ {slug}: {changes}", "~ {slug}: {changes}"),
    "schedule_sync.change": Message("{field} {deployed} -> {file}", "{field} {deployed} → {file}"),
    "schedule_sync.remove": Message(
        "- {slug}: its phase is no longer in the timetable",
        "- {slug}: このフェーズは時間割から削除されています",
    ),
    "schedule_sync.prune": Message(
        "- {slug}: not generated from the timetable, removed (--prune)",
        "- {slug}: 時間割から生成されたスケジュールではないため削除します (--prune)",
    ),
    "schedule_sync.unowned": Message(
        "? {slug}: not generated from the timetable; left as it is (--prune removes it)",
        "? {slug}: 時間割から生成されたスケジュールではないため、そのままにします"
        " (--prune で削除できます)",
    ),
    "schedule_sync.note": Message("note: {note}", "注意: {note}"),
    "schedule_sync.summary": Message(
        "{deployment}: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged",
        "{deployment}: 追加 {added} 件、更新 {updated} 件、削除 {removed} 件、"
        "変更なし {unchanged} 件",
    ),
    "schedule_sync.in_sync": Message(
        "{deployment} already has the schedules of {file}: nothing to change ({count} schedules)",
        "{deployment} のスケジュールは {file} と一致しています。変更はありません"
        " (スケジュール {count} 件)",
    ),
    "schedule_sync.dry_run": Message(
        "dry run: nothing was changed on the Prefect server",
        "ドライランのため、Prefect サーバーには何も変更していません",
    ),
    "schedule_sync.no_server": Message(
        "no Prefect server is configured: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)",
        "Prefect サーバーが設定されていません。PREFECT_API_URL を設定してください"
        " (例: http://127.0.0.1:4200/api)",
    ),
    "schedule_sync.unreachable": Message(
        "the Prefect server at {url} cannot be reached ({reason})",
        "Prefect サーバー {url} に接続できません ({reason})",
    ),
    "schedule_sync.refused": Message(
        "the Prefect server at {url} refused the request ({reason})",
        "Prefect サーバー {url} がリクエストを拒否しました ({reason})",
    ),
    "schedule_sync.no_deployment": Message(
        "the Prefect server has no deployment named {name}; nothing was changed",
        "Prefect サーバーに {name} という名前のデプロイメントはありません。何も変更していません",
    ),
    "schedule_sync.ambiguous": Message(
        "several deployments are named {name} ({choices}): give it as FLOW/DEPLOYMENT",
        "{name} という名前のデプロイメントが複数あります ({choices})。FLOW/DEPLOYMENT の形で"
        "指定してください",
    ),
    "schedule_sync.drift": Message(
        "the schedules of {deployment} differ from the timetable: {added} missing, {changed}"
        " changed, {removed} no longer in the timetable, {unowned} not from the timetable"
        " (cwh schedule apply brings them back)",
        "{deployment} のスケジュールが時間割と一致しません: 不足 {added} 件、変更 {changed} 件、"
        "時間割にないもの {removed} 件、時間割由来でないもの {unowned} 件"
        " (cwh schedule apply で時間割に合わせられます)",
    ),
    "schedule_sync.drift_unchecked": Message(
        "the schedules of {deployment} could not be compared with the timetable: {reason}",
        "{deployment} のスケジュールを時間割と比較できませんでした: {reason}",
    ),
}
