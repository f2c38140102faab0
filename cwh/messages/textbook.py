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
