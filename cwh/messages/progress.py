"""The progress report's words: artifact, HTML page, heatmap and ``cwh report``."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "progress.title": Message("Progress: {course}", "進捗: {course}"),
    "progress.heatmap.title": Message("Progress: {course} ({time})", "進捗: {course}（{time}）"),
    "progress.heatmap.alt": Message(
        "Heatmap of {course}: one row per student, one column per question",
        "{course} のヒートマップ: 行が学生、列が問題",
    ),
    "progress.heatmap.no_students": Message("no students to show", "表示する学生がいません"),
    "progress.heatmap.no_questions": Message("no questions to show", "表示する問題がありません"),
    "progress.state.not_run": Message("not run", "未実行"),
    "progress.state.ok": Message("ok", "成功"),
    "progress.state.failed": Message("latest failed", "最新が失敗"),
    "progress.generated": Message(
        "Generated {time}; window: {window}; {students} students, {questions} questions.",
        "作成日時 {time}、対象期間: {window}、学生 {students} 人、問題 {questions} 問。",
    ),
    "progress.html_link": Message("Full report with heatmap:", "ヒートマップ付きの詳しいレポート:"),
    "progress.suspect.left_out": Message(
        "{runs} left out: their record does not match the log file or the owner on disk "
        "(see suspect_reason in the store); cwh report --include-suspect, or the flow "
        "parameter include_suspect, counts them.",
        "{runs}を除外しました。記録がディスク上のログファイルまたは所有者と一致しません"
        "（ストアの suspect_reason を参照）。cwh report --include-suspect またはフローの"
        "パラメータ include_suspect を指定すると集計に含めます。",
    ),
    "progress.suspect.included": Message(
        "The counts include {runs}: their record does not match the log file or the owner "
        "on disk (see suspect_reason in the store).",
        "集計には{runs}が含まれています。記録がディスク上のログファイルまたは所有者と"
        "一致しません（ストアの suspect_reason を参照）。",
    ),
    "progress.suspect.one": Message("{count} suspect execution", "疑わしい実行 {count} 件"),
    "progress.suspect.many": Message("{count} suspect executions", "疑わしい実行 {count} 件"),
    "progress.others.left_out": Message(
        "{count} user(s) outside the student group left out (teachers, assistants); "
        "cwh report --include-teachers, or the flow parameter include_teachers, shows them.",
        "学生グループ外の利用者 {count} 人（教員・TA など）を除外しました。"
        "cwh report --include-teachers またはフローのパラメータ include_teachers を指定すると"
        "表示します。",
    ),
    "progress.stuck.heading": Message("Latest run failed", "最新の実行が失敗"),
    "progress.stuck.heading_count": Message(
        "Latest run failed ({count})", "最新の実行が失敗 ({count})"
    ),
    "progress.stuck.nobody": Message(
        "Nobody: every student's latest run of every question succeeded.",
        "該当者なし: 全員、すべての問題で最新の実行が成功しています。",
    ),
    "progress.stuck.nobody_short": Message("Nobody is stuck.", "つまずいている学生はいません。"),
    "progress.per_student": Message("Completion per student", "学生ごとの達成状況"),
    "progress.per_question": Message("Completion per question", "問題ごとの達成状況"),
    "progress.col.student": Message("student", "学生"),
    "progress.col.question": Message("question", "問題"),
    "progress.col.status": Message("status", "状態"),
    "progress.col.failed_runs": Message("failed runs / runs", "失敗回数 / 実行回数"),
    "progress.col.last_run": Message("last run", "最終実行"),
    "progress.col.completion": Message("completion", "達成率"),
    "progress.col.done": Message("done", "完了"),
    "progress.col.students_done": Message("students done", "完了した学生"),
    "progress.col.tried": Message("tried", "挑戦"),
    "progress.col.failing": Message("failing", "失敗中"),
    "progress.outside_textbook": Message(
        "{runs} run(s) name question numbers that the current index does not list; run "
        "the {flow} flow after a textbook release.",
        "{runs} 件の実行が現在の索引にない問題番号を指しています。教材を公開した後に "
        "{flow} フローを実行してください。",
    ),
    "progress.matrix.heading": Message(
        "Students × questions (successful runs / runs)", "学生 × 問題（成功回数 / 実行回数）"
    ),
    "progress.matrix.cell": Message(
        "{ok} of {runs} run(s) ok; last {status} at {time}",
        "{runs} 回中 {ok} 回成功、最終 {status}（{time}）",
    ),
    "progress.analytics.heading": Message("Where the class is stuck", "クラスがつまずいている問題"),
    "progress.analytics.none": Message(
        "No question has been tried yet.", "まだどの問題にも取り組まれていません。"
    ),
    "progress.analytics.col.tried": Message("tried", "挑戦した学生"),
    "progress.analytics.col.succeeded": Message("succeeded", "成功した学生"),
    "progress.analytics.col.latest_failed": Message("latest failed", "最新が失敗"),
    "progress.analytics.col.attempts": Message(
        "median attempts to success", "成功までの実行回数（中央値）"
    ),
    "progress.analytics.col.time": Message("median time to success", "成功までの時間（中央値）"),
    "progress.analytics.col.errors": Message("most common errors", "多いエラー"),
    "progress.analytics.error": Message(
        "{error} ({runs} runs, {students} students)", "{error}（{runs} 回、{students} 人）"
    ),
    "progress.analytics.affected": Message("students: {names}", "該当する学生: {names}"),
    "progress.duration.seconds": Message("{seconds} s", "{seconds} 秒"),
    "progress.duration.minutes": Message("{minutes} min {seconds} s", "{minutes} 分 {seconds} 秒"),
    "progress.duration.hours": Message("{hours} h {minutes} min", "{hours} 時間 {minutes} 分"),
    "progress.drill.heading": Message(
        "Attempts per student and question", "学生・問題ごとの実行履歴"
    ),
    "progress.drill.hint": Message(
        "Select a cell of the table to see that student's latest {count} attempts at that "
        "question.",
        "表のセルを選ぶと、その学生がその問題で行った最新 {count} 件の実行を表示します。",
    ),
    "progress.drill.cell": Message(
        "{student} — {question}: latest {shown} of {runs} run(s)",
        "{student} — {question}: {runs} 回中 最新 {shown} 件",
    ),
    "progress.drill.started": Message("started", "開始"),
    "progress.drill.code": Message("code", "コード"),
    "progress.drill.output": Message("output", "出力"),
    "progress.drill.error": Message("error", "エラー"),
    "progress.drill.back": Message("back to the table", "表に戻る"),
    "progress.artifact.table": Message(
        "Students x questions of {course}: successful runs/runs, latest status and time per cell",
        "{course} の学生 × 問題: セルごとに成功回数/実行回数、最新の状態と時刻",
    ),
    "progress.artifact.summary": Message("Progress summary of {course}", "{course} の進捗のまとめ"),
    "progress.artifact.link": Message(
        "Progress report of {course} (HTML)", "{course} の進捗レポート（HTML）"
    ),
    "progress.artifact.files": Message(
        "HTML report: {html} (newest always at {latest}); heatmap: {png}",
        "HTML レポート: {html}（最新版は常に {latest}）、ヒートマップ: {png}",
    ),
    "progress.cli.course": Message(
        "{course}: {students} students x {questions} questions, {stuck} latest run(s) failed",
        "{course}: 学生 {students} 人 × 問題 {questions} 問、最新の実行が失敗 {stuck} 件",
    ),
    "progress.cli.heatmap": Message("heatmap: {path}", "ヒートマップ: {path}"),
    "progress.cli.html": Message("html:    {path}", "HTML:    {path}"),
}
