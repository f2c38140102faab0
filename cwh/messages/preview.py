"""Texts of ``cwh schedule preview`` and ``cwh schedule plan``: the preview table's headers,
the words of its action column and the frame of a plan on paper. The day lines come from
the ``schedule.*`` messages."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # The preview table.
    "preview.column.when": Message("when ({zone})", "日時（{zone}）"),
    "preview.column.phase": Message("phase", "時間帯"),
    "preview.column.active": Message("active", "稼働"),
    "preview.column.pause": Message("pause", "一時停止"),
    "preview.column.power_down": Message("power_down", "電源オフ"),
    "preview.column.deleted": Message("deleted", "削除"),
    "preview.column.actions": Message("actions", "操作"),
    "preview.no_active_worker": Message(
        "no active worker: a reconcile refuses this unless allowed",
        "稼働ワーカーなし：許可しない限り reconcile はこの状態を拒否します",
    ),
    "preview.paused_ahead": Message(
        "{nodes} node(s) paused ahead of '{phase}' at {boundary}",
        "「{phase}」（{boundary} 開始）に備えて {nodes} 台を先に一時停止",
    ),
    "preview.week_picture": Message("week picture: {path} ({size})", "週の図：{path}（{size}）"),
    # Steps of a plan, as the action column and the plan text name them.
    "preview.action.create_vm": Message("create_vm", "VM作成"),
    "preview.action.power_on": Message("power_on", "電源オン"),
    "preview.action.join": Message("join", "swarm参加"),
    "preview.action.label": Message("label", "ラベル設定"),
    "preview.action.set_availability": Message("set_availability", "可用性変更"),
    "preview.action.stop_server": Message("stop_server", "サーバ停止（JupyterHub経由）"),
    "preview.action.drain": Message("drain", "ドレイン"),
    "preview.action.remove_from_swarm": Message("remove_from_swarm", "swarmから削除"),
    "preview.action.delete_vm": Message("delete_vm", "VM削除"),
    "preview.action.power_off": Message("power_off", "電源オフ"),
    "preview.availability.active": Message("active", "稼働"),
    "preview.availability.pause": Message("pause", "一時停止"),
    "preview.availability.drain": Message("drain", "ドレイン"),
    # A plan on paper.
    "preview.plan.at": Message("plan at {at}:", "{at} 時点の計画："),
    "preview.plan.nothing": Message(
        "nothing to do: the pool already matches the timetable",
        "操作は不要です：ワーカーはすでに時間割どおりの状態です",
    ),
    "preview.plan.blocked": Message("blocked {address}: {reason}", "保留 {address}：{reason}"),
    "preview.plan.untouched": Message(
        "untouched {address}: {reason}", "変更しない {address}：{reason}"
    ),
}
