"""Why a plan does or leaves something, in the catalogue's words, in either language.

The planner writes its reasons in English (:func:`plan_reason`): they travel in the plan, the
run's JSON report and its events, which code and logs read the same whatever the setting. A
page in Japanese recognises each English reason by its catalogue template and shows the
Japanese one with the same fields (:func:`reason_in`); a text no template matches (an error
reported by an outside system) is shown as it is. A run target's note is read the same way
(:func:`note_in`).

Reasons can carry names users chose (a server's name), so matching is bounded: a text longer
than any reason, or repeating a template's words more often than a real reason does, is not
matched against that template (a pattern of several fields could otherwise take very long).
"""

from __future__ import annotations

import re
import string
from functools import cache

from cwh.messages import Language, catalogue, text

_REASON = "reconcile.reason."
_SPAN = "reconcile.span."
_NOTE = "reconcile.note."
# Fields holding a reason, a time span or a count of nodes of their own, or a state word the
# catalogue names.
_NESTED = {"why": _REASON, "idle": _SPAN, "limit": _SPAN, "off": f"{_NOTE}off_"}
_COUNTS = frozenset({"requested", "wanted"})
_NUMBERS = frozenset({"count", "seconds", "minutes", "hours", "active", "pause"})
_WORDS = {
    "wanted": "preview.availability.",
    "current": "preview.availability.",
    "vm": "reconcile.vm.",
    "state": "reconcile.swarm.",
}
# Reasons are short; anything longer is shown as it is rather than matched.
_LONGEST = 1000
# A template's words (three characters or more) appear at most this often in a real reason.
_MOST_REPEATS = 2


def plan_reason(key: str, /, **fields: object) -> str:
    """The English reason ``reconcile.reason.<key>`` with ``fields`` filled in."""
    return text(f"reconcile.reason.{key}", "en", **fields)


def span_text(seconds: int) -> str:
    """``45 s``, ``12 min`` or ``3 h 5 min``: how long, in the reasons' words."""
    if seconds < 120:
        return text("reconcile.span.seconds", "en", seconds=seconds)
    if seconds < 2 * 3600:
        return text("reconcile.span.minutes", "en", minutes=seconds // 60)
    return text("reconcile.span.hours", "en", hours=seconds // 3600, minutes=seconds % 3600 // 60)


def reason_in(reason: str, language: Language) -> str:
    """``reason`` (a planner's or a run's English text) in ``language``."""
    return _translated(reason, language, _REASON)


def note_in(note: str, language: Language) -> str:
    """A run target's note (why the run aims for what it does) in ``language``."""
    return _translated(note, language, _NOTE)


def _translated(reason: str, language: Language, prefix: str) -> str:
    if language == "en" or len(reason) > _LONGEST:
        return reason
    for key, pattern, words in _patterns(prefix):
        if any(reason.count(word) > _MOST_REPEATS for word in words):
            continue
        found = pattern.fullmatch(reason)
        if found is not None:
            fields = {
                name: _field(name, value, language) for name, value in found.groupdict().items()
            }
            return text(key, language, **fields)
    return reason


def _field(name: str, value: str, language: Language) -> str:
    if name in _NESTED:
        return _translated(value, language, _NESTED[name])
    if name in _COUNTS and (counts := _translated(value, language, f"{_NOTE}counts")) != value:
        return counts
    prefix = _WORDS.get(name)
    if prefix is not None and f"{prefix}{value}" in catalogue():
        return text(f"{prefix}{value}", language)
    return value


@cache
def _patterns(prefix: str) -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    """The English templates of ``prefix`` as patterns with their words, those with the most
    fields first (a template that adds a part to another must be tried before it)."""
    found: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = []
    for key, message in catalogue().items():
        if not key.startswith(prefix):
            continue
        parts: list[str] = []
        words: list[str] = []
        for literal, field, _spec, _conversion in string.Formatter().parse(message.en):
            parts.append(re.escape(literal))
            if len(literal) >= 3:
                words.append(literal)
            if field is not None:
                parts.append(rf"(?P<{field}>\d+)" if field in _NUMBERS else f"(?P<{field}>.+?)")
        found.append((key, re.compile("".join(parts), re.DOTALL), tuple(words)))
    return tuple(sorted(found, key=lambda item: -item[1].groups))
