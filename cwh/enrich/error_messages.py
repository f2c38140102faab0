"""An error message with its varying parts replaced, so that errors of one kind group.

``KeyError: '年齢'`` and ``KeyError: 'age'`` are the same mistake; so are ``name 'df' is not
defined`` and ``name 'df2' is not defined``. The enricher stores each failed run's
pattern (``error_pattern``) beside its exception name, so the stores group failed runs by
(name, pattern) without reading messages; the report groups the same way.
"""

from __future__ import annotations

import re

__all__ = ["PATTERN_INPUT_LIMIT", "PATTERN_LIMIT", "error_pattern", "normalise_error"]

PATTERN_INPUT_LIMIT = 1000
"""Characters of a message a pattern is made from (messages are student-controlled and
can be megabytes long)."""
PATTERN_LIMIT = 200
"""Characters of a pattern kept: below the keyword field's ``ignore_above`` (256)."""

_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-~]+){2,}[\\/]?|(?<![\w/])[\w.\-~]+[\\/][\w.\-~/]+")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w>])")
_SPACE = re.compile(r"\s+")


def normalise_error(message: str) -> str:
    """The message with its varying parts replaced: ``'…'``/``"…"`` by ``<str>``, hex
    addresses by ``<addr>``, paths by ``<path>``, numbers by ``<num>``; spaces collapsed."""
    text = _QUOTED.sub("<str>", message)
    text = _ADDRESS.sub("<addr>", text)
    text = _PATH.sub("<path>", text)
    text = _NUMBER.sub("<num>", text)
    return _SPACE.sub(" ", text).strip()


def error_pattern(result_json: object) -> str | None:
    """The pattern of a result's error message (``content.evalue``), or None when the
    result carries no message."""
    if not isinstance(result_json, dict):
        return None
    content = result_json.get("content")
    evalue = content.get("evalue") if isinstance(content, dict) else None
    if not isinstance(evalue, str):
        return None
    return normalise_error(evalue[:PATTERN_INPUT_LIMIT])[:PATTERN_LIMIT]
