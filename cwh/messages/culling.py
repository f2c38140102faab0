"""Texts of the ``configure-culling`` flow's artifact."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "culling.title": Message("Idle-server culling", "アイドル状態のサーバの自動停止"),
    "culling.updated": Message(
        "Service `{service}` updated; its tasks were restarted with the new settings.",
        "サービス `{service}` を更新しました。タスクは新しい設定で再起動済みです。",
    ),
    "culling.unchanged": Message(
        "Service `{service}` already had these settings; it was not updated.",
        "サービス `{service}` はすでにこの設定だったため、更新していません。",
    ),
    "culling.column.variable": Message("variable", "環境変数"),
    "culling.column.value": Message("value", "値"),
    "culling.artifact": Message(
        "culling settings of {service}", "{service} の自動停止（culling）設定"
    ),
}
