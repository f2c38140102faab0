"""Words shared by several areas: languages, yes and no."""

from __future__ import annotations

from cwh.messages import Message

MESSAGES: dict[str, Message] = {
    "common.language.en": Message("English", "英語"),
    "common.language.ja": Message("Japanese", "日本語"),
    "common.yes": Message("yes", "はい"),
    "common.no": Message("no", "いいえ"),
}
