"""Keyed pseudonyms for research exports: the same student, the same pseudonym, no name.

A pseudonym is HMAC-SHA256 of the name under a secret key, so exports made with one key can
be joined across runs and terms, while without the key a pseudonym cannot be tied back to a
name (a plain hash could: anyone holding the roster can hash every name and compare). User
names and local names are keyed in separate domains, so a user name's pseudonym never equals
a local name's. The key must be at least :data:`MIN_KEY_BYTES` long; a key file that every
user of the host can read is refused. The key itself never reaches a message, an exception
or a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

from cwh.defaults import MIN_PSEUDONYM_KEY_BYTES
from cwh.enrich import local_name
from cwh.messages import Language, text
from cwh.safe_input import InputRefused, InputRules, printable

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "MIN_KEY_BYTES",
    "PseudonymKeyError",
    "Pseudonymizer",
    "key_from_file",
    "key_from_secret",
]

MIN_KEY_BYTES = MIN_PSEUDONYM_KEY_BYTES
MAX_KEY_FILE_BYTES = 4096
_DIGITS = 20
"""Hex digits kept (80 bits): no two students of a university collide in practice."""
_USER_DOMAIN = b"cwh.pseudonym.user_name\x00"
_LOCAL_DOMAIN = b"cwh.pseudonym.local_name\x00"


class PseudonymKeyError(ValueError):
    """A pseudonym key that cannot be used (missing, too short, readable by everyone)."""

    permanent = True
    """Retrying cannot help (read by the tasks' retry condition)."""


class Pseudonymizer:
    """Turns user names and local names into keyed pseudonyms (``u-…`` and ``l-…``)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes, *, source: str = "the key", language: Language = "en") -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                text(
                    "exports.key.too_short",
                    language,
                    source=source,
                    length=len(key),
                    minimum=MIN_KEY_BYTES,
                )
            )
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<hidden>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Pseudonymizer holds a secret key and is never pickled")

    def _digest(self, domain: bytes, name: str) -> str:
        data = domain + name.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:_DIGITS]

    def user(self, user_name: str) -> str:
        return "u-" + self._digest(_USER_DOMAIN, user_name)

    def local(self, name: str) -> str:
        return "l-" + self._digest(_LOCAL_DOMAIN, name)

    def names(self, user_name: str) -> tuple[str, str]:
        """The pseudonyms standing for ``user_name`` and its local name."""
        return self.user(user_name), self.local(local_name(user_name))


def key_from_secret(value: str, *, source: str, language: Language = "en") -> Pseudonymizer:
    """A pseudonymizer keyed by a secret's text (its UTF-8 bytes)."""
    return Pseudonymizer(value.encode("utf-8"), source=source, language=language)


def key_from_file(path: Path, *, language: Language = "en") -> Pseudonymizer:
    """A pseudonymizer keyed by a file's bytes (one trailing line break dropped).

    The file must be a regular file of at most :data:`MAX_KEY_FILE_BYTES` that other users
    cannot read (checked on the opened file, so a swap after the check is caught too).
    """
    shown = printable(path)
    try:
        read = InputRules(MAX_KEY_FILE_BYTES).read_bytes(path, shown)
    except FileNotFoundError:
        raise PseudonymKeyError(text("exports.key.no_file", language, path=shown)) from None
    except InputRefused as exc:
        raise PseudonymKeyError(
            text("exports.key.unreadable", language, path=shown, reason=exc.reason)
        ) from None
    except OSError as exc:
        raise PseudonymKeyError(
            text("exports.key.unreadable", language, path=shown, reason=exc.strerror or "error")
        ) from None
    if read.status.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise PseudonymKeyError(text("exports.key.world_readable", language, path=shown))
    key = read.data
    if key.endswith(b"\r\n"):
        key = key[:-2]
    elif key.endswith(b"\n"):
        key = key[:-1]
    return Pseudonymizer(key, source=shown, language=language)
