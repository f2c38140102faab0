"""The message catalogue: every text exists in both languages with the same placeholders."""

from __future__ import annotations

import string

import pytest

from cwh.messages import LANGUAGES, UnknownLanguage, catalogue, parse_language, text


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_message_has_both_languages_with_the_same_fields() -> None:
    messages = catalogue()
    assert messages
    for key, message in messages.items():
        assert message.en.strip() and message.ja.strip(), key
        assert _fields(message.en) == _fields(message.ja), key


def test_text_follows_the_language() -> None:
    assert text("common.yes", "en") == "yes"
    assert text("common.yes", "ja") == "はい"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, "en"), ("", "en"), ("ja", "ja"), ("JA", "ja"), ("ja_JP.UTF-8", "ja"), ("en-US", "en")],
)
def test_parse_language(setting: str | None, expected: str) -> None:
    assert parse_language(setting) == expected
    assert expected in LANGUAGES


def test_an_unknown_language_is_refused_clearly() -> None:
    with pytest.raises(UnknownLanguage, match="unknown language 'fr'"):
        parse_language("fr")


def test_the_language_setting_prefers_explicit_then_environment() -> None:
    from cwh.messages import language_setting

    assert language_setting("ja", {"CWH_LANGUAGE": "en"}) == "ja"
    assert language_setting(None, {"CWH_LANGUAGE": "ja"}) == "ja"
    assert language_setting("", {}) == "en"
