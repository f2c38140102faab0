"""What operators and teachers read, in Japanese and English, from one catalogue.

Every text a person reads in an artifact, a report, a picture or a command's message is
looked up here by key, so a language is a setting rather than a code path. Each area keeps
its messages in its own module of this package (``cwh.messages.progress``, ...), a mapping
named ``MESSAGES`` from key to :class:`Message`; keys start with the module's name
(``progress.heatmap.legend``) so two areas can never claim the same key. The modules are
found by name at first use, so adding one needs no registration.

Placeholders use :meth:`str.format` fields (``{student}``); both languages of a message
carry exactly the same fields, which the test suite checks for every message.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Literal, NamedTuple, get_args

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_ENV",
    "Language",
    "Message",
    "UnknownLanguage",
    "catalogue",
    "language_setting",
    "parse_language",
    "text",
]

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"
LANGUAGE_ENV = "CWH_LANGUAGE"


class Message(NamedTuple):
    """One text in both languages."""

    en: str
    ja: str

    def in_language(self, language: Language) -> str:
        return self.ja if language == "ja" else self.en


class UnknownLanguage(ValueError):
    """A language setting that is neither ``ja`` nor ``en``."""


def parse_language(value: str | None) -> Language:
    """The language a setting names (``ja``, ``en``, case and ``ja_JP.UTF-8`` forms accepted).

    ``None`` or an empty setting means the default, English.
    """
    if value is None or not value.strip():
        return DEFAULT_LANGUAGE
    code = value.strip().lower().replace("-", "_").split(".", 1)[0].split("_", 1)[0]
    for language in LANGUAGES:
        if code == language:
            return language
    shown = value if len(value) <= 40 else value[:40] + "..."
    raise UnknownLanguage(f"unknown language {shown!r}: expected one of {', '.join(LANGUAGES)}")


def language_setting(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> Language:
    """The language to speak: an explicit setting (a flow parameter, ``--language``, a block's
    ``language`` field), else ``CWH_LANGUAGE`` from the environment, else English."""
    if explicit is not None and explicit.strip():
        return parse_language(explicit)
    return parse_language((os.environ if environ is None else environ).get(LANGUAGE_ENV))


@cache
def catalogue() -> Mapping[str, Message]:
    """Every message of every area module, by key."""
    merged: dict[str, Message] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        messages: Mapping[str, Message] = module.MESSAGES
        for key, message in messages.items():
            if not key.startswith(module_info.name + "."):
                raise RuntimeError(f"message key {key!r} must start with {module_info.name}.")
            merged[key] = message
    return merged


def text(key: str, language: Language, /, **fields: object) -> str:
    """The message ``key`` in ``language``, with ``fields`` filled in."""
    message = catalogue()[key]
    template = message.in_language(language)
    return template.format(**fields) if fields else template
