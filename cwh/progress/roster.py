"""Who should appear in a progress report, even before running anything.

Two formats are accepted, told apart by their lines:

* a passwd file (``name:x:uid:gid:gecos:home:shell``), the same file ``cwh enrich`` reads:
  every account whose uid is in the student range (system accounts such as ``root`` and
  ``nobody`` stay out) is a student of every course; with a student group (a gid), only
  the accounts of that primary group are, so teachers' and assistants' accounts stay out;
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
    student_group: str | None = None,
) -> Roster:
    lines = [line for line in text.splitlines() if line.strip() and not _comment(line)]
    if lines and all(line.count(":") == _PASSWD_COLONS for line in lines):
        table = PasswdTable.from_text(text)
        groups = _primary_groups(lines)
        wanted = _group_id(student_group, source)
        users: dict[str, frozenset[str]] = {
            name: frozenset()
            for uid, name in table.users.items()
            if min_uid <= uid <= max_uid and (wanted is None or groups.get(name) == wanted)
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
    path: Path,
    *,
    min_uid: int = DEFAULT_MIN_UID,
    max_uid: int = DEFAULT_MAX_UID,
    student_group: str | None = None,
) -> Roster:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RosterError(f"roster file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise RosterError(f"roster file {path} is not UTF-8 text: {exc}") from None
    return parse_roster(
        text, min_uid=min_uid, max_uid=max_uid, source=str(path), student_group=student_group
    )


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _primary_groups(lines: list[str]) -> dict[str, str]:
    """Each passwd account's primary gid, as text (the first line of a name wins)."""
    groups: dict[str, str] = {}
    for line in lines:
        fields = line.split(":")
        gid = fields[3].strip()
        groups.setdefault(fields[0].strip(), str(int(gid)) if gid.isdigit() else gid)
    return groups


def _group_id(student_group: str | None, source: str) -> str | None:
    """The student group setting as a gid; only passwd rosters use it."""
    if student_group is None or not student_group.strip():
        return None
    gid = student_group.strip()
    if not gid.isdigit():
        raise RosterError(
            f"{source}: student group {student_group!r} must be a numeric gid "
            "(the primary group of the students' accounts in the passwd file)"
        )
    return str(int(gid))
