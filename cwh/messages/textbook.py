"""Texts of the ``index-textbook`` flow's summary and of ``cwh textbook index|validate``."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    # The summary artifact of an index build.
    "textbook.summary.title": Message("Textbook index: {headline}", "教材インデックス：{headline}"),
    "textbook.summary.written": Message("index updated", "インデックスを更新しました"),
    "textbook.summary.unchanged": Message(
        "index already up to date", "インデックスはすでに最新です"
    ),
    "textbook.summary.refused": Message("index NOT written", "インデックスを書き込んでいません"),
    "textbook.summary.textbook": Message("Textbook: {path}", "教材：{path}"),
    "textbook.summary.index": Message("Index: {path}", "インデックス：{path}"),
    "textbook.summary.questions": Message(
        "Questions: {rows} from {notebooks} notebook(s)"
        " ({read} notebook file(s) read, the rest from the cache)",
        "問題数：{rows}（ノートブック {notebooks} 件から。"
        "うち {read} 件を読み込み、残りはキャッシュを使用）",
    ),
    "textbook.summary.problems": Message("Problems: {count}", "問題点：{count} 件"),
    "textbook.summary.triggered": Message(
        "Triggered by {count} changed path(s): {paths}{more}",
        "きっかけとなった変更：{count} 件（{paths}{more}）",
    ),
    "textbook.summary.changed": Message(
        "Notebooks whose questions changed: {paths}", "問題が変わったノートブック：{paths}"
    ),
    "textbook.summary.problems_heading": Message("Problems", "問題点"),
    "textbook.summary.problem": Message(
        "{path}: {message} To fix: {fix}", "{path}：{message} 対処：{fix}"
    ),
    "textbook.more": Message(" and {count} more", " ほか {count} 件"),
    "textbook.artifact.notebooks": Message(
        "Notebooks of {textbook} in {index}", "{index} に載せた {textbook} のノートブック"
    ),
    "textbook.artifact.summary": Message("Textbook index {index}", "教材インデックス {index}"),
    # ``cwh textbook index`` and ``validate``.
    "textbook.cli.written": Message(
        "wrote {index}: {rows} question(s) from {notebooks} notebook(s);"
        " {read} notebook file(s) read",
        "{index} を書き込みました：問題 {rows} 件（ノートブック {notebooks} 件、"
        "うち {read} 件を読み込み）",
    ),
    "textbook.cli.unchanged": Message(
        "unchanged: {index}: {rows} question(s) from {notebooks} notebook(s);"
        " {read} notebook file(s) read",
        "変更なし：{index}：問題 {rows} 件"
        "（ノートブック {notebooks} 件、うち {read} 件を読み込み）",
    ),
    "textbook.cli.validated": Message(
        "{notebooks} notebook(s), {questions} question cell(s).",
        "ノートブック {notebooks} 件、問題セル {questions} 件。",
    ),
    "textbook.cli.note": Message("note: {note}", "注意：{note}"),
    # Why an index was not written.
    "textbook.refusal.strict": Message(
        "Validation failed in strict mode ({count} problem(s)); index generation"
        " aborted and {index} was left unchanged.",
        "strict モードで検証に失敗しました（問題 {count} 件）。"
        "インデックスは作成せず、{index} は変更していません。",
    ),
    "textbook.refusal.empty": Message(
        "The textbook yields no questions but {index} holds {what}; refusing to replace"
        " it (is the textbook share mounted?). Use --allow-empty to really empty it.",
        "教材から問題が一つも見つかりませんが、{index} には{what}があるため置き換えません"
        "（教材の共有ディレクトリはマウントされていますか？）。"
        "本当に空にするには --allow-empty を指定してください。",
    ),
    "textbook.refusal.unreadable": Message("an unreadable index", "読み取れない内容"),
    "textbook.refusal.questions": Message("{count} questions", "問題 {count} 件"),
    # Validation problems, one per notebook and kind; their hints.
    "textbook.problem.unlisted": Message(
        "Not indexed: {reason}.", "インデックス対象外：{reason}。"
    ),
    "textbook.problem.unreadable": Message(
        "Notebook skipped: {error}.", "ノートブックを読み飛ばしました：{error}。"
    ),
    "textbook.problem.missing_notebook_meme": Message(
        "Missing lc_notebook_meme value (metadata.lc_notebook_meme.current),"
        " so executions cannot be traced to this notebook.",
        "lc_notebook_meme の値（metadata.lc_notebook_meme.current）がないため、"
        "実行記録をこのノートブックに結び付けられません。",
    ),
    "textbook.problem.missing_cell_meme": Message(
        "Missing lc_cell_meme value in {count} code cell(s) ({cells});"
        " these cells get no question number.",
        "コードセル {count} 個（{cells}）に lc_cell_meme の値がないため、"
        "これらのセルには問題番号が付きません。",
    ),
    "textbook.problem.cell": Message("cell {cells}", "セル {cells}"),
    "textbook.problem.cells": Message("cells {cells}", "セル {cells}"),
    "textbook.problem.duplicate_cell": Message(
        "Duplicate lc_cell_meme value: {meme} (cell {position}, first in {origin})",
        "lc_cell_meme の値が重複しています：{meme}（セル {position}、最初の出現は {origin}）",
    ),
    "textbook.problem.origin": Message("{path} cell {position}", "{path} のセル {position}"),
    "textbook.problem.duplicate_cell_more": Message("; and {count} more", "。ほか {count} 件"),
    "textbook.problem.duplicate_cell_end": Message(
        "{shown}. Executions of these cells cannot be told apart"
        " (if this notebook holds the originals, renew the other notebook instead).",
        "{shown}。これらのセルの実行記録を区別できません"
        "（このノートブックが元の場合は、もう一方のノートブックの MEME を更新してください）。",
    ),
    "textbook.problem.duplicate_notebook": Message(
        "Different textbook_path has same lc_notebook_meme value {meme}:"
        " {path} and {first} (a copied notebook; if {path} is the original,"
        " renew {first} instead).",
        "異なる textbook_path が同じ lc_notebook_meme の値 {meme} を持っています："
        "{path} と {first}（コピーしたノートブックです。{path} が元の場合は、"
        "{first} の MEME を更新してください）。",
    ),
    "textbook.hint.permissions": Message(
        "check the name and permissions, then rebuild the index.",
        "名前と権限を確認してから、インデックスを作り直してください。",
    ),
    "textbook.hint.resave": Message(
        "open it in Jupyter and save it again (or restore the released copy),"
        " then rebuild the index.",
        "Jupyter で開いて保存し直して（または公開版のコピーに戻して）から、"
        "インデックスを作り直してください。",
    ),
    "textbook.hint.replace_file": Message(
        "put the notebook file itself there (a regular file inside the textbook directory,"
        " within the size limit) or leave it out with --exclude, then rebuild the index.",
        "ノートブックのファイルそのもの（教材ディレクトリ内の通常ファイルで、サイズ上限以内）を"
        "置くか、--exclude で対象外にしてから、インデックスを作り直してください。",
    ),
    # The validation report.
    "textbook.report.clean": Message(
        "No problems found in {textbook}.", "{textbook} に問題は見つかりませんでした。"
    ),
    "textbook.report.found": Message(
        "Validation errors found: {problems} problem(s) in {files} file(s) under {textbook}",
        "検証エラー：{textbook} 配下の {files} ファイルに {problems} 件の問題があります",
    ),
    "textbook.report.run": Message(
        "To fix these errors, run:", "次のコマンドを実行すると修正できます："
    ),
    "textbook.report.fix": Message("To fix: {hint}", "対処：{hint}"),
}
