"""uid -> user name lookup from passwd-format text, and the ``local_name`` rule.

The enrichment engine turns the integer ``uid`` of an lc_wrapper record into the
student's login name.  The table comes from an ``/etc/passwd``-style file that the
operator keeps in sync with JupyterHub.  Each line stands on its own: a malformed
line (a stray quote character, say) is skipped and described in ``problems`` while
every other user keeps resolving.

Problem descriptions never quote the raw line: the second passwd field may hold a
password hash on some systems, and problems end up in logs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

__all__ = ["PasswdError", "PasswdTable", "local_name"]

_FIELD_COUNT = 7
# uid_t is 32 bits wide and (uid_t)-1 means "no change" to chown(2), so it is never a user.
_MAX_UID = 2**32 - 2


class PasswdError(ValueError):
    """A passwd table cannot be built at all (for example the text is not a str)."""


@dataclass(frozen=True)
class PasswdTable:
    """Immutable uid -> name table; ``problems`` lists every line that was skipped."""

    users: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[str, ...] = ()

    EMPTY: ClassVar[PasswdTable]

    @classmethod
    def from_text(cls, text: str, *, complete: bool = False) -> PasswdTable:
        """Parse passwd lines (``name:passwd:uid:gid:gecos:home:shell``).

        Blank lines and ``#`` comments are ignored.  A line with the wrong number of
        fields, an empty name, a NIS compat entry (``+``/``-``) or a uid that is not a
        plain decimal number is skipped and reported.  When two lines claim the same
        uid the first one wins, as it does for getpwuid(3).

        With ``complete``, the text must be a whole passwd file, as a table that replaces
        a loaded one must be: ``PasswdError`` is raised when it is empty, does not end
        with a newline (cut short, or still being written) or has a malformed line (wrong
        number of fields, empty name, bad uid: damage, or not a passwd file at all).  NIS
        entries and repeated uids, which real passwd files hold, are still only reported.
        """
        if not isinstance(text, str):
            raise PasswdError(f"passwd text must be str, not {type(text).__name__}")
        if complete:
            if not text.strip():
                raise PasswdError("the file is empty")
            if not text.endswith("\n"):
                raise PasswdError(
                    "the last line is not terminated by a newline: the file is truncated "
                    "or still being written"
                )
        users: dict[int, str] = {}
        first_line: dict[int, int] = {}
        problems: list[str] = []
        for line_no, raw in enumerate(text.split("\n"), start=1):
            line = raw.removesuffix("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split(":")
            if len(fields) != _FIELD_COUNT:
                problem = (
                    f"line {line_no}: expected {_FIELD_COUNT} ':'-separated fields, "
                    f"found {len(fields)}"
                )
                if complete:
                    raise PasswdError(problem)
                problems.append(f"{problem}; line skipped")
                continue
            name, uid_text = fields[0], fields[2]
            if not name:
                if complete:
                    raise PasswdError(f"line {line_no}: empty user name")
                problems.append(f"line {line_no}: empty user name; line skipped")
                continue
            if name[0] in "+-":
                problems.append(
                    f"line {line_no}: NIS compat entry {name!r} is not supported; skipped"
                )
                continue
            uid = _parse_uid(uid_text)
            if uid is None:
                problem = (
                    f"line {line_no}: uid {uid_text!r} of {name!r} is not a decimal number "
                    f"between 0 and {_MAX_UID}"
                )
                if complete:
                    raise PasswdError(problem)
                problems.append(f"{problem}; line skipped")
                continue
            if uid in users:
                problems.append(
                    f"line {line_no}: uid {uid} of {name!r} already belongs to "
                    f"{users[uid]!r} (line {first_line[uid]}); first entry kept"
                )
                continue
            users[uid] = name
            first_line[uid] = line_no
        return cls(MappingProxyType(users), tuple(problems))

    def uids(self) -> Collection[int]:
        """Every uid the table knows."""
        return self.users.keys()

    def user_name(self, uid: int) -> str | None:
        """The login name owning ``uid``, or None when the table does not know it."""
        return self.users.get(uid)

    def __len__(self) -> int:
        return len(self.users)


PasswdTable.EMPTY = PasswdTable()


def _parse_uid(text: str) -> int | None:
    # int() would also accept " 12", "+12", "1_000" and non-ASCII digits; passwd does not.
    if not text or not text.isascii() or not text.isdigit():
        return None
    uid = int(text)
    return uid if uid <= _MAX_UID else None


def local_name(user_name: str) -> str:
    """The part of a CoursewareHub login name before its LAST ``x``.

    CoursewareHub builds login names as ``<local part>x<hex suffix>`` (``alexx1f2e3d``
    -> ``alex``).  A name without any ``x`` is returned whole, instead of the empty
    string a plain ``rpartition`` would give.
    """
    head, sep, _ = user_name.rpartition("x")
    return head if sep else user_name
