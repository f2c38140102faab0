"""Texts of ``cwh schedule`` and the worker timetable: why a day is off, the week picture,
the node-hours forecast."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # Why a day is (not) a class day: preview text and the week picture.
    "schedule.day.teaching": Message("timetable as usual", "通常どおり（時間割に従う）"),
    "schedule.day.teaching_term": Message(
        "timetable as usual ({term})", "通常どおり（{term}、時間割に従う）"
    ),
    "schedule.day.holiday": Message("off: holiday, {name}", "休み：祝日（{name}）"),
    "schedule.day.outside_term": Message("off: outside every term", "休み：授業期間外"),
    "schedule.day.exception": Message(
        "off: listed under exceptions", "休み：休講日（exceptions で指定）"
    ),
    "schedule.day.exception_reason": Message(
        "off: listed under exceptions ({reason})", "休み：休講日（{reason}）"
    ),
    "schedule.day.makeup": Message(
        "makeup class day (the timetable applies)", "補講日（時間割どおり）"
    ),
    "schedule.day.makeup_reason": Message(
        "makeup class day ({reason}; the timetable applies)", "補講日（{reason}。時間割どおり）"
    ),
    "schedule.day.makeup_holiday": Message(
        "makeup class day: the timetable applies despite the holiday {name}",
        "補講日：祝日（{name}）ですが時間割どおり授業を行います",
    ),
    "schedule.day.makeup_outside_term": Message(
        "makeup class day: the timetable applies although outside every term",
        "補講日：授業期間外ですが時間割どおり授業を行います",
    ),
    "schedule.preview.days": Message(
        "Days ({zone}): off days keep the off-hours state all day",
        "日ごとの授業日・休み（{zone}）：休みの日は一日中、授業時間外の台数のままです",
    ),
    "schedule.weekdays": Message("Mon Tue Wed Thu Fri Sat Sun", "月 火 水 木 金 土 日"),
    # Short labels of the week picture.
    "schedule.week.title": Message(
        "Worker nodes, {first} to {last} ({zone})",
        "ワーカーノードの一週間 {first}〜{last}（{zone}）",
    ),
    "schedule.week.active": Message("active (takes new servers)", "稼働（新しいサーバを受付）"),
    "schedule.week.pause": Message("paused (keeps its servers)", "一時停止（既存サーバのみ）"),
    "schedule.week.power_down": Message("powered off", "電源オフ"),
    "schedule.week.deleted": Message("no VM (deleted)", "VMなし（削除）"),
    "schedule.week.off_day": Message("off day (no classes)", "休み（授業なし）"),
    "schedule.week.makeup_day": Message("makeup class day", "補講日"),
    "schedule.week.now": Message("now", "現在"),
    "schedule.week.hour": Message("hour of day", "時刻"),
    "schedule.week.short_holiday": Message("holiday", "祝日"),
    "schedule.week.short_outside_term": Message("outside term", "授業期間外"),
    "schedule.week.short_exception": Message("cancelled", "休講"),
    "schedule.week.short_makeup": Message("makeup", "補講日"),
    "schedule.week.artifact": Message(
        "Worker pool for the coming week ({first} to {last}, {zone})",
        "今後一週間のワーカー台数（{first}〜{last}、{zone}）",
    ),
    "schedule.week.artifact_too_large": Message(
        "The week picture is too large to show inline ({size} bytes); "
        "draw it with `cwh schedule preview --png FILE`.",
        "週の図が大きすぎて表示できません（{size} バイト）。"
        "`cwh schedule preview --png FILE` で描画してください。",
    ),
    # The node-hours forecast of ``cwh schedule savings --forecast``.
    "schedule.forecast.heading": Message(
        "Node-hours planned by the timetable, {first} to {last} ({zone}, {workers} workers)",
        "時間割による計画ノード時間 {first}〜{last}（{zone}、ワーカー {workers} 台）",
    ),
    "schedule.forecast.columns": Message(
        "week|from|days off|planned node-hours|of which paused|always on|saved|"
        "actual (ledger)|ledger hours",
        "週|開始日|休みの日数|計画ノード時間|うち一時停止|常時稼働|削減|実績（台帳）|台帳の記録時間",
    ),
    "schedule.forecast.total": Message("total", "合計"),
    "schedule.forecast.no_ledger": Message(
        "No ledger given (--ledger): actual hours are not shown.",
        "台帳（--ledger）の指定がないため、実績は表示しません。",
    ),
    "schedule.forecast.off_days": Message("Off days: {days}", "休みの日：{days}"),
}
