"""Texts of the ``backfill-logs`` and ``reenrich`` flows' artifacts and of ``cwh backfill``."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # The backfill summary artifact.
    "backfill.summary.title": Message(
        "Backfill of lc_wrapper logs", "lc_wrapper ログの一括取り込み"
    ),
    "backfill.summary.homes": Message(
        "Homes: `{homes}`; store: {store}", "ホーム：`{homes}`、保存先：{store}"
    ),
    "backfill.summary.files": Message(
        "Log files: {files} ({resumed} done by an earlier, interrupted run)",
        "ログファイル：{files} 件（うち {resumed} 件は中断した前回の実行で処理済み）",
    ),
    "backfill.summary.indexed": Message(
        "Newly indexed: **{indexed}** (executions the live path had not stored); "
        "already present: {present}",
        "新たに登録：**{indexed}** 件（リアルタイム経路で未登録だった実行）、"
        "登録済み：{present} 件",
    ),
    "backfill.summary.dead_letters": Message(
        "Dead letters: {count}", "取り込めなかった記録（dead letter）：{count} 件"
    ),
    "backfill.summary.time": Message(
        "Time: {seconds} s ({rate} files/s)", "所要時間：{seconds} 秒（毎秒 {rate} ファイル）"
    ),
    "backfill.summary.reason_column": Message("dead-letter reason", "取り込めなかった理由"),
    "backfill.summary.documents_column": Message("documents", "件数"),
    "backfill.artifact.summary": Message("Backfill of {homes}", "{homes} の一括取り込み"),
    "backfill.artifact.progress": Message("Backfill of {homes}", "{homes} の一括取り込み"),
    # ``cwh backfill`` on a terminal.
    "backfill.cli.progress": Message(
        "{done}/{total} files {percent} | {indexed} new, {present} already present, "
        "{dead_letters} dead letters | {rate}/s",
        "{done}/{total} ファイル {percent} | 新規 {indexed} 件、登録済み {present} 件、"
        "取り込めず {dead_letters} 件 | 毎秒 {rate}",
    ),
    "backfill.cli.done": Message(
        "{files} log files: {indexed} indexed, {present} already present, "
        "{dead_letters} dead letters ({seconds} s) into {store}",
        "ログファイル {files} 件：登録 {indexed} 件、登録済み {present} 件、"
        "取り込めず {dead_letters} 件（{seconds} 秒）保存先 {store}",
    ),
    "backfill.cli.reason": Message(
        "  dead letters {reason}: {count}", "  取り込めなかった理由 {reason}：{count} 件"
    ),
    "backfill.cli.interrupted": Message(
        "cwh backfill: interrupted; run again to resume",
        "cwh backfill：中断しました。もう一度実行すると続きから再開します",
    ),
    # The reenrich summary artifact.
    "backfill.reenrich.title": Message("Re-enrichment", "再付与（教材インデックスの変更反映）"),
    "backfill.reenrich.index": Message(
        "Index: `{index}` ({questions} questions, {notebooks} notebooks)",
        "インデックス：`{index}`（問題 {questions} 件、ノートブック {notebooks} 件）",
    ),
    "backfill.reenrich.store": Message("Store: {store}", "保存先：{store}"),
    "backfill.reenrich.changed": Message(
        "Documents updated: **{changed}**", "更新したドキュメント：**{changed}** 件"
    ),
    "backfill.reenrich.artifact": Message(
        "Re-enrichment after {index} changed", "{index} の変更に伴う再付与"
    ),
}
