"""Who should appear in a progress report, even before running anything.

Two formats are accepted, told apart by their lines:

* a passwd file (``name:x:uid:gid:gecos:home:shell``), the same file ``cwh enrich`` reads:
  every account whose uid is in the student range (system accounts such as ``root`` and
  ``nobody`` stay out) is a student of every course;
* a roster list: one login name per line, optionally followed by the courses the student
  takes (``alicex1f2e3d, python-basic, data-science``); ``#`` starts a comment. A student
  listed without courses takes every course.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cwh.enrich import PasswdTable

__all__ = ["Roster", "RosterError", "load_roster", "parse_roster"]

DEFAULT_MIN_UID = 1000
DEFAULT_MAX_UID = 60000
_PASSWD_COLONS = 6


class RosterError(ValueError):
    """A roster that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Roster:
    """Students, each with the courses they take (empty: every course)."""

    courses: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))

    def students(self, course: str | None = None) -> list[str]:
        return sorted(
            user
            for user, taken in self.courses.items()
            if course is None or not taken or course in taken
        )

    def __len__(self) -> int:
        return len(self.courses)


def parse_roster(
    text: str,
    *,
    min_uid: int = DEFAULT_MIN_UID,
    max_uid: int = DEFAULT_MAX_UID,
    source: str = "roster",
) -> Roster:
    lines = [line for line in text.splitlines() if line.strip() and not _comment(line)]
    if lines and all(line.count(":") == _PASSWD_COLONS for line in lines):
        table = PasswdTable.from_text(text)
        users: dict[str, frozenset[str]] = {
            name: frozenset() for uid, name in table.users.items() if min_uid <= uid <= max_uid
        }
        return Roster(MappingProxyType(users))
    courses: dict[str, frozenset[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [part.strip() for part in line.replace("\t", ",").split(",")]
        user, taken = parts[0], frozenset(p for p in parts[1:] if p)
        if not user or any(ch.isspace() or ch == ":" for ch in user):
            raise RosterError(
                f"{source} line {number}: {user!r} is not a login name; expected "
                "'name[, course ...]' or passwd lines"
            )
        courses[user] = courses.get(user, frozenset()) | taken
    return Roster(MappingProxyType(courses))


def load_roster(
    path: Path, *, min_uid: int = DEFAULT_MIN_UID, max_uid: int = DEFAULT_MAX_UID
) -> Roster:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError(f"roster file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise RosterError(f"roster file {path} is not UTF-8 text: {exc}") from None
    return parse_roster(text, min_uid=min_uid, max_uid=max_uid, source=str(path))


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")
