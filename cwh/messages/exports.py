"""Texts of the progress exports (csv, xlsx, Moodle gradebook, attempts) and their pseudonym
keys."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "exports.format.unknown": Message(
        "unknown export format {name}: expected {known}",
        "エクスポート形式 {name} は使えません。{known} のいずれかを指定してください",
    ),
    "exports.key.missing": Message(
        "pseudonymising needs a key: give a key file (--pseudonym-key-file, flow parameter "
        "pseudonym_key_file) or a CoursewareHub block whose pseudonym_key is set",
        "仮名化には鍵が必要です。鍵ファイル (--pseudonym-key-file、フロー引数 "
        "pseudonym_key_file) か、pseudonym_key を設定した CoursewareHub ブロックを指定してください",
    ),
    "exports.key.both": Message(
        "give either a pseudonym key file or a CoursewareHub block, not both",
        "仮名化の鍵は、鍵ファイルか CoursewareHub ブロックのどちらか一方だけを指定してください",
    ),
    "exports.key.too_short": Message(
        "the pseudonym key from {source} is {length} bytes long; at least {minimum} bytes "
        "are needed (e.g. head -c 32 /dev/urandom > KEYFILE)",
        "{source} の仮名化の鍵は {length} バイトしかありません。{minimum} バイト以上必要です"
        " (例: head -c 32 /dev/urandom > KEYFILE)",
    ),
    "exports.key.world_readable": Message(
        "the pseudonym key file {path} can be read or changed by every user of this host; "
        "restrict it first (chmod 600 {path})",
        "仮名化の鍵ファイル {path} はこのホストの全ユーザーが読み書きできます。"
        "先に権限を絞ってください (chmod 600 {path})",
    ),
    "exports.key.no_file": Message(
        "the pseudonym key file {path} does not exist",
        "仮名化の鍵ファイル {path} がありません",
    ),
    "exports.key.unreadable": Message(
        "the pseudonym key file {path} cannot be used: {reason}",
        "仮名化の鍵ファイル {path} を使えません: {reason}",
    ),
    "exports.key.no_block_key": Message(
        "the CoursewareHub block {block} has no pseudonym_key; set it in the Prefect UI",
        "CoursewareHub ブロック {block} に pseudonym_key が設定されていません。"
        "Prefect の UI で設定してください",
    ),
    "exports.pseudonymize.no_format": Message(
        "pseudonymising applies to exports: add --format csv, xlsx, moodle or attempts (flow "
        "parameter formats)",
        "仮名化はエクスポートに適用されます。--format に csv、xlsx、moodle、attempts のいずれかを"
        "指定してください (フロー引数 formats)",
    ),
    "exports.file.csv": Message("csv", "CSV"),
    "exports.file.xlsx": Message("xlsx", "Excel (xlsx)"),
    "exports.file.moodle": Message("Moodle gradebook", "Moodle 評定インポート用 CSV"),
    "exports.file.attempts": Message("attempts", "実行履歴 CSV"),
    "exports.cli.line": Message("  {label}: {path}", "  {label}: {path}"),
    "exports.cli.pseudonymized": Message(
        "  exports are pseudonymised (user and local names replaced by keyed pseudonyms)",
        "  エクスポートは仮名化済みです (ユーザー名とローカル名を鍵付きの仮名に置き換えています)",
    ),
    "exports.cli.free_text_left_out": Message(
        "  the attempts export leaves out code, output and error messages (they can carry "
        "names); --keep-free-text keeps them",
        "  実行履歴 CSV では、名前を含みうるコード・出力・エラーメッセージを空にしています。"
        "残すには --keep-free-text を指定してください",
    ),
    "exports.artifact.heading": Message("Exports", "エクスポート"),
    "exports.artifact.link": Message(
        "{label} export of {course}", "{course} の {label} エクスポート"
    ),
    "exports.artifact.pseudonymized": Message(
        "pseudonymised: user and local names are keyed pseudonyms",
        "仮名化済み: ユーザー名とローカル名は鍵付きの仮名です",
    ),
    "exports.artifact.free_text_left_out": Message(
        "the attempts export leaves out code, output and error messages, which can carry "
        "names (flow parameter keep_free_text keeps them)",
        "実行履歴 CSV では、名前を含みうるコード・出力・エラーメッセージを空にしています"
        " (残すにはフロー引数 keep_free_text を指定してください)",
    ),
}
