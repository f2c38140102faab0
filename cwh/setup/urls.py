"""How a URL is shown in messages, logs and artifacts: without the secrets it may carry.

Operators paste URLs such as ``https://user:PW@es:9200`` or ``https://kibana?api_key=K``;
the user info, the query and the fragment can hold a password, a key or a token. Every
message that names a URL shows it through :func:`redact_url`, which works on the text
itself, so a URL too broken to parse is redacted just the same.
"""

from __future__ import annotations

__all__ = ["REDACTED", "redact_url"]

REDACTED = "***"


def redact_url(url: str) -> str:
    """``url`` with its user info, query and fragment replaced by :data:`REDACTED`.

    ``https://user:PW@es:9200/p?api_key=K#t`` is shown as ``https://***@es:9200/p?***#***``;
    a URL without any of them is returned unchanged. Text that would be secret under a
    looser reading is hidden too: everything up to the last ``@`` counts as user info (a
    password with an unescaped ``/`` in it stays hidden), and when a ``?`` or ``#`` comes
    before that ``@`` all but the scheme is hidden.
    """
    text = str(url)
    scheme_end = text.find("//")
    start = scheme_end + 2 if scheme_end >= 0 else 0
    prefix, rest = text[:start], text[start:]
    before_at, at, after_at = rest.rpartition("@")
    if at:
        if "?" in before_at or "#" in before_at:
            return prefix + REDACTED
        prefix, rest = prefix + REDACTED + "@", after_at
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    location, tail = rest[:cut], rest[cut:]
    query, hash_mark, _ = tail.partition("#")
    shown = prefix + location
    if query:
        shown += "?" + REDACTED
    if hash_mark:
        shown += "#" + REDACTED
    return shown
