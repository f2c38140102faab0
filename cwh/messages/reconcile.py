"""Texts of a reconcile run: the summary artifact and ``cwh reconcile``'s report, the per-node
table's headers and cells, and the artifacts' descriptions. The steps' names come from the
``preview.action.*`` messages, so a plan and a run name a step alike."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # The summary's headline.
    "reconcile.headline.dry_run": Message(
        "dry run (nothing applied)", "ドライラン（何も適用していません）"
    ),
    "reconcile.headline.not_converged": Message(
        "NOT converged", "未完了（想定の状態になっていません）"
    ),
    "reconcile.headline.waiting": Message(
        "waiting for user servers on {count} node(s)",
        "{count} 台のノードで利用者のサーバの終了待ち",
    ),
    "reconcile.headline.converged": Message("converged", "完了（時間割どおりの状態です）"),
    "reconcile.summary.title": Message(
        "## Worker pool: {headline}", "## ワーカーノード：{headline}"
    ),
    "reconcile.summary.at": Message("- At: {at} ({zone})", "- 日時：{at}（{zone}）"),
    "reconcile.summary.target": Message(
        "- Target: phase `{phase}` from the {source}: {note}",
        "- 目標：時間帯 `{phase}`（{source}による）：{note}",
    ),
    "reconcile.summary.provider": Message("- Provider: {provider}", "- プロバイダ：{provider}"),
    "reconcile.summary.actions": Message("- Actions: {count} planned", "- 操作：{count} 件を計画"),
    "reconcile.summary.seconds": Message("- Seconds: {steps}", "- 所要秒数：{steps}"),
    "reconcile.summary.server_stopped": Message(
        "- Idle server stopped through JupyterHub on {address}: {reason}",
        "- アイドル状態のサーバを JupyterHub 経由で停止（{address}）：{reason}",
    ),
    "reconcile.summary.busy": Message(
        "- Busy, retried next run: {address}: {reason}",
        "- 使用中のため次回の実行で再試行：{address}：{reason}",
    ),
    "reconcile.summary.stuck": Message(
        "- **Stuck** (paused since {since}, longer than drain_time): "
        "{node} ({address}), servers: {servers}",
        "- **停滞**（{since} から一時停止中、drain_time を超過）："
        "{node}（{address}）、サーバ：{servers}",
    ),
    "reconcile.summary.blocked": Message(
        "- **Blocked**: {address}: {reason}", "- **保留**：{address}：{reason}"
    ),
    "reconcile.summary.failed": Message(
        "- **Failed**: {address}: {error}", "- **失敗**：{address}：{error}"
    ),
    "reconcile.summary.untouched": Message(
        "- Untouched: {address} ({reason})", "- 変更しない：{address}（{reason}）"
    ),
    "reconcile.summary.culling_updated": Message("updated", "更新しました"),
    "reconcile.summary.culling_kept": Message("already set", "設定済み"),
    "reconcile.summary.culling": Message(
        "- Culling on `{service}` ({state}): {env}",
        "- `{service}` のカリング設定（{state}）：{env}",
    ),
    "reconcile.summary.ledger": Message(
        "- Node-hours ledger: `{path}`", "- ノード時間の台帳：`{path}`"
    ),
    # The per-node table of ``cwh reconcile``.
    "reconcile.table.header": Message(
        "| address | wanted | before | after | actions | status | s |",
        "| アドレス | 目標 | 実行前 | 実行後 | 操作 | 状態 | 秒 |",
    ),
    # A node's state in the table.
    "reconcile.node.no_vm": Message("no VM", "VMなし"),
    "reconcile.node.vm": Message("VM {state}", "VM {state}"),
    "reconcile.node.not_in_swarm": Message("not in the swarm", "swarm未参加"),
    "reconcile.node.user_servers": Message("{count} user server(s)", "利用者のサーバ {count} 台"),
    "reconcile.status.unchanged": Message("unchanged", "変更なし"),
    "reconcile.status.planned": Message("planned", "計画済み"),
    "reconcile.status.done": Message("done", "完了"),
    "reconcile.status.busy": Message("busy", "使用中"),
    "reconcile.status.blocked": Message("blocked", "保留"),
    "reconcile.status.skipped": Message("skipped", "スキップ"),
    "reconcile.status.failed": Message("failed", "失敗"),
    "reconcile.wanted.active": Message("active", "稼働"),
    "reconcile.wanted.pause": Message("pause", "一時停止"),
    "reconcile.wanted.drain": Message("drain", "ドレイン"),
    "reconcile.wanted.power_down": Message("power_down", "電源オフ"),
    "reconcile.wanted.deleted": Message("deleted", "削除"),
    "reconcile.vm.running": Message("running", "稼働中"),
    "reconcile.vm.powered_off": Message("powered_off", "電源オフ"),
    "reconcile.vm.absent": Message("absent", "なし"),
    "reconcile.vm.booting": Message("booting", "起動中"),
    "reconcile.vm.error": Message("error", "エラー"),
    "reconcile.vm.unknown": Message("unknown", "不明"),
    "reconcile.swarm.ready": Message("ready", "正常"),
    "reconcile.swarm.down": Message("down", "停止"),
    "reconcile.swarm.unknown": Message("unknown", "不明"),
    "reconcile.swarm.disconnected": Message("disconnected", "切断"),
    # The per-node table artifact's column headers (the run's returned rows keep their keys).
    "reconcile.column.address": Message("address", "アドレス"),
    "reconcile.column.hostname": Message("hostname", "ホスト名"),
    "reconcile.column.wanted": Message("wanted", "目標"),
    "reconcile.column.before": Message("before", "実行前"),
    "reconcile.column.after": Message("after", "実行後"),
    "reconcile.column.actions": Message("actions", "操作"),
    "reconcile.column.status": Message("status", "状態"),
    "reconcile.column.seconds": Message("seconds", "秒"),
    "reconcile.column.note": Message("note", "備考"),
    # Why the planner does or leaves something. The plan and the run's data keep the English
    # text; a Japanese page recognises it and shows this one (cwh.timetable.reason_text).
    "reconcile.reason.manager": Message(
        "is a swarm manager; managers are never changed by the schedule",
        "swarm のマネージャです。マネージャは時間割では変更しません",
    ),
    "reconcile.reason.vm_error": Message(
        "the provider reports the VM in ERROR; repair or delete it",
        "プロバイダが VM のエラー（ERROR）を報告しています。修復するか削除してください",
    ),
    "reconcile.reason.vm_pending": Message(
        "the VM is {vm}; the next run continues", "VM は{vm}です。次回の実行で続けます"
    ),
    "reconcile.reason.vm_missing_swarm_ready": Message(
        "provider reports no VM while its swarm node is ready",
        "swarm ノードは正常なのに、プロバイダは VM がないと報告しています",
    ),
    "reconcile.reason.cannot_create": Message(
        "no VM, and provider '{provider}' cannot make one",
        "VM がなく、プロバイダ「{provider}」は VM を作成できません",
    ),
    "reconcile.reason.create": Message(
        "wanted up but no VM exists", "稼働させる必要がありますが VM がありません"
    ),
    "reconcile.reason.off_swarm_ready": Message(
        "VM reported off while its swarm node is ready; waiting",
        "swarm ノードは正常なのに VM は電源オフと報告されています。様子を見ます",
    ),
    "reconcile.reason.cannot_power_on": Message(
        "VM is off and '{provider}' cannot power on",
        "VM は電源オフで、プロバイダ「{provider}」は電源を入れられません",
    ),
    "reconcile.reason.power_on": Message(
        "wanted up but switched off", "稼働させる必要がありますが電源オフです"
    ),
    "reconcile.reason.join": Message("VM is not a swarm member", "VM が swarm に参加していません"),
    "reconcile.reason.newly_joined": Message(
        "newly joined node must be {wanted}", "新たに参加したノードを{wanted}にします"
    ),
    "reconcile.reason.availability": Message(
        "is {current}, wanted {wanted}", "現在は{current}、目標は{wanted}"
    ),
    "reconcile.reason.cannot_power_off": Message(
        "provider '{provider}' cannot power VMs off; set down_type: deleted in the timetable",
        "プロバイダ「{provider}」は VM の電源を切れません。"
        "時間割で down_type: deleted を指定してください",
    ),
    "reconcile.reason.vm_pending_down": Message(
        "the VM is {vm}; it is taken down by a later run",
        "VM は{vm}です。以降の実行で停止します",
    ),
    "reconcile.reason.drained_waits": Message(
        "it is drained and waits for them", "ドレイン済みで、終了を待っています"
    ),
    "reconcile.reason.leaves": Message("node leaves the pool", "ノードをワーカーから外します"),
    "reconcile.reason.pause_first": Message(
        "no new servers before it leaves", "外す前に新しいサーバを受け付けないようにします"
    ),
    "reconcile.reason.paused_now": Message(
        "it is paused now, so no new ones come",
        "一時停止にしたので、新しいサーバは起動されません",
    ),
    "reconcile.reason.idle_stopped_first": Message(
        "its idle user servers are stopped first",
        "アイドル状態の利用者のサーバを先に停止します",
    ),
    "reconcile.reason.no_user_server": Message(
        "no user server runs on it", "利用者のサーバは動いていません"
    ),
    "reconcile.reason.busy": Message(
        "{count} user server(s) still running; it stays paused until they end ({why})",
        "利用者のサーバが {count} 台動いています。終了するまで一時停止のままにします（{why}）",
    ),
    "reconcile.reason.delete_vm": Message(
        "timetable wants no VM here", "時間割ではこの VM は不要です"
    ),
    "reconcile.reason.power_off": Message(
        "timetable wants the VM off", "時間割ではこの VM は電源オフです"
    ),
    "reconcile.reason.vm_error_down": Message(
        "the provider reports the VM in ERROR; it cannot be powered off",
        "プロバイダが VM のエラー（ERROR）を報告しているため、電源を切れません",
    ),
    "reconcile.reason.stale": Message(
        "stale swarm entry {hostname} ({state}) left by an earlier join",
        "以前の参加で残った古い swarm エントリ {hostname}（{state}）",
    ),
    "reconcile.reason.labels": Message("worker labels", "ワーカーのラベル"),
    "reconcile.reason.untouched_manager": Message("swarm manager", "swarm のマネージャ"),
    "reconcile.reason.untouched_foreign": Message(
        "address is not in the worker list", "ワーカーの一覧にないアドレス"
    ),
    "reconcile.reason.force_unset": Message(
        "force_idle_after is not set, so they are never stopped",
        "force_idle_after が未設定のため、サーバは停止しません",
    ),
    "reconcile.reason.hub_not_asked": Message(
        "JupyterHub was not asked, so none is stopped",
        "JupyterHub に問い合わせていないため、どのサーバも停止しません",
    ),
    "reconcile.reason.hub_error": Message(
        "JupyterHub could not tell which are idle ({error}); none is stopped",
        "JupyterHub からアイドル状態のサーバを確認できませんでした（{error}）。"
        "どのサーバも停止しません",
    ),
    "reconcile.reason.unnamed": Message(
        "its user servers could not all be named; none is stopped",
        "利用者のサーバをすべては特定できなかったため、どのサーバも停止しません",
    ),
    "reconcile.reason.unknown_servers": Message(
        "JupyterHub reports no ready server for {servers}; none is stopped",
        "JupyterHub に {servers} の起動済みサーバがないため、どのサーバも停止しません",
    ),
    "reconcile.reason.no_activity": Message(
        "JupyterHub does not know when {server} was last used",
        "{server} の最終利用時刻が JupyterHub でわかりません",
    ),
    "reconcile.reason.recently_used": Message(
        "{server} was used {idle} ago, within force_idle_after {limit}",
        "{server} は {idle} 前に使われています（force_idle_after の {limit} 以内）",
    ),
    "reconcile.reason.all_idle": Message(
        "every server on it is idle for more than {limit} (force_idle_after); "
        "stopped through JupyterHub",
        "すべてのサーバが {limit} を超えてアイドル状態のため（force_idle_after）、"
        "JupyterHub 経由で停止します",
    ),
    "reconcile.reason.started_on_it": Message(
        "{count} user server(s) started on it ({servers}); "
        "it stays paused and the next run retries",
        "利用者のサーバが {count} 台起動されました（{servers}）。"
        "一時停止のまま、次回の実行で再試行します",
    ),
    "reconcile.reason.skipped_down": Message(
        "not taken down because bringing other nodes up failed (capacity first); "
        "the next run retries",
        "他のノードの起動に失敗したため停止しませんでした（台数の確保を優先）。"
        "次回の実行で再試行します",
    ),
    "reconcile.reason.still_to_do": Message(
        "still to do after this run: {action}", "この実行の後も未完了：{action}"
    ),
    "reconcile.source.timetable": Message("timetable", "時間割"),
    "reconcile.source.parameters": Message("parameters", "実行パラメータ"),
    # Why a run aims for what it does (the report's "Target" line).
    "reconcile.note.derived": Message("derived from the timetable", "時間割から決定"),
    "reconcile.note.derived_off": Message(
        "derived from the timetable; {day} {off}", "時間割から決定。{day} {off}"
    ),
    "reconcile.note.explicit": Message(
        "counts given explicitly by the run", "実行時に台数が明示的に指定されました"
    ),
    "reconcile.note.agrees": Message(
        "schedule '{phase}' agrees with the timetable",
        "スケジュール「{phase}」は時間割と一致しています",
    ),
    "reconcile.note.disagrees": Message(
        "schedule '{phase}' asked for {requested} but the timetable wants {wanted} "
        "({timetable_phase}); following the timetable",
        "スケジュール「{phase}」の指定は {requested} ですが、時間割では {wanted}"
        "（{timetable_phase}）のため、時間割に従います",
    ),
    "reconcile.note.disagrees_off": Message(
        "schedule '{phase}' asked for {requested} but the timetable wants {wanted} "
        "({timetable_phase}); {day} {off}; following the timetable",
        "スケジュール「{phase}」の指定は {requested} ですが、時間割では {wanted}"
        "（{timetable_phase}）です。{day} {off}。時間割に従います",
    ),
    "reconcile.note.off_holiday": Message("is a holiday", "は祝日です"),
    "reconcile.note.off_holiday_named": Message("is a holiday ({name})", "は祝日です（{name}）"),
    "reconcile.note.off_outside_term": Message("is outside every term", "は学期の期間外です"),
    "reconcile.note.off_exception": Message("is an exception date", "は休講日です"),
    "reconcile.note.off_exception_named": Message(
        "is an exception date ({name})", "は休講日です（{name}）"
    ),
    "reconcile.note.counts": Message(
        "active {active}, pause {pause}", "稼働 {active}・一時停止 {pause}"
    ),
    "reconcile.span.seconds": Message("{seconds} s", "{seconds} 秒"),
    "reconcile.span.minutes": Message("{minutes} min", "{minutes} 分"),
    "reconcile.span.hours": Message("{hours} h {minutes} min", "{hours} 時間 {minutes} 分"),
    "reconcile.failure": Message(
        "the worker pool did not converge ({problems}); the next run retries",
        "ワーカーノードが想定の状態になりませんでした（{problems}）。次回の実行で再試行します",
    ),
    # What ``cwh reconcile`` says when it cannot show a report.
    "reconcile.cli.bad_at": Message(
        "--at {at} is not an ISO date-time", "--at {at} は ISO 形式の日時ではありません"
    ),
    "reconcile.cli.ended": Message(
        "the run ended {state}: {error}", "実行は {state} で終了しました：{error}"
    ),
    # The artifacts' descriptions.
    "reconcile.artifact.nodes": Message(
        "Worker nodes at {at}: before -> after", "{at} のワーカーノード：実行前 → 実行後"
    ),
    "reconcile.artifact.summary": Message(
        "Worker pool reconcile at {at}", "{at} のワーカーノード調整（reconcile）"
    ),
}
