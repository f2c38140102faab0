"""Reading files that people hand us (notebooks, timetables, ledgers), safely and boundedly.

Teachers, students and operators write these files; some are broken, some are hostile. Every
reader of such a file goes through this module, which makes the same promises everywhere:

* only a regular file is read: a FIFO, device, socket or directory is refused before it can
  block or stream forever (the file is opened non-blocking and checked with ``fstat``);
* with a ``root``, the path is resolved (symbolic links included) and must stay inside it,
  unless the caller allows links that leave it; the final open refuses a symbolic link and
  the opened file is checked again, so a link swapped in meanwhile is caught too;
* at most ``max_bytes`` are read (``max_bytes + 1`` to tell "too large"; the size the file
  system reports is checked too, but never trusted alone);
* text must be UTF-8; a decoding error names the byte offset, never the bytes;
* JSON nesting depth and value count are checked by a linear scan before the parser runs, so
  the parser never recurses deeper than allowed; YAML is composed with the same depth limit
  and an alias expansion budget (a "billion laughs" document is refused after a few
  hundred bytes of work) and with YAML 1.2 booleans (only ``true``/``false``: ``on``, ``off``,
  ``yes`` and ``no`` stay text).

Every refusal is an :class:`InputRefused` carrying the file's name (control characters
escaped) and the reason, which never quotes the file's content.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MAX_DEPTH = 64
"""Deepest nesting of JSON or YAML collections accepted by default."""
DEFAULT_MAX_VALUES = 1_000_000
"""Most JSON or YAML values (after alias expansion) one document may hold by default."""
_CHUNK = 1 << 20


class InputRefused(ValueError):
    """A user-supplied file that was not read or not parsed, and why.

    ``name`` is the file's name as shown to people (control characters escaped); ``reason``
    says what is wrong without quoting the file's content.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = printable(name)
        self.reason = reason
        super().__init__(f"{self.name}: {reason}")


_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str | os.PathLike[str], *, keep_newlines: bool = False) -> str:
    """``text`` safe to print on a terminal or in a log: control characters escaped.

    C0 and C1 controls, DEL, bidirectional overrides and line separators become ``\\xNN`` or
    ``\\uNNNN``; a byte that was not valid UTF-8 in a file name (kept as a lone surrogate by
    ``os.fsdecode``) becomes ``\\xNN`` of that byte. With ``keep_newlines``, ``\\n`` stays a
    line break (for multi-line messages).
    """
    value = os.fspath(text)
    if not _UNPRINTABLE.search(value):
        return value
    if keep_newlines:
        return "\n".join(_UNPRINTABLE.sub(_escape, line) for line in value.split("\n"))
    return _UNPRINTABLE.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


@dataclass(frozen=True)
class ReadFile:
    """The bytes of a file and the ``fstat`` of the very file they were read from."""

    data: bytes
    status: os.stat_result


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class InputRules:
    """Where a user-supplied file may be and how much of it is read.

    ``root`` (resolved once) confines every path: after resolving symbolic links it must lie
    inside the root unless ``allow_outside`` is set. ``root_label`` names the root in messages
    ("the textbook directory").
    """

    max_bytes: int
    root: Path | None = None
    root_label: str = "the configured directory"
    allow_outside: bool = False

    @classmethod
    def confined(
        cls, root: Path, max_bytes: int, *, label: str, allow_outside: bool = False
    ) -> InputRules:
        return cls(max_bytes, Path(os.path.realpath(root)), label, allow_outside)

    @property
    def _confining(self) -> bool:
        return self.root is not None and not self.allow_outside

    def check(self, path: Path, name: str | None = None) -> os.stat_result:
        """Where ``path`` leads and what it is, without opening it.

        Raises :class:`InputRefused` for a link leaving the root, a link to nothing, anything
        but a regular file or a file over the size limit; ``FileNotFoundError`` when the name
        itself is gone.
        """
        return self._checked(path, name if name is not None else os.fspath(path))[1]

    def read_bytes(self, path: Path, name: str | None = None) -> ReadFile:
        """The file's bytes, after every check of :meth:`check`, repeated on the opened file."""
        shown = name if name is not None else os.fspath(path)
        target, _status = self._checked(path, shown)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        if self._confining:
            flags |= os.O_NOFOLLOW
        try:
            descriptor = os.open(target, flags)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise InputRefused(shown, f"cannot be opened: {exc.strerror}") from None
        try:
            status = os.fstat(descriptor)
            self._check_status(status, shown)
            if self._confining:
                self._check_opened(descriptor, shown)
            data = _read_at_most(descriptor, self.max_bytes + 1, shown)
        finally:
            os.close(descriptor)
        if len(data) > self.max_bytes:
            raise InputRefused(shown, f"is larger than the limit of {_size(self.max_bytes)}")
        return ReadFile(data, status)

    def read_text(self, path: Path, name: str | None = None) -> str:
        """The file as UTF-8 text (a byte-order mark is dropped)."""
        shown = name if name is not None else os.fspath(path)
        return decode_utf8(self.read_bytes(path, shown).data, shown)

    def _checked(self, path: Path, shown: str) -> tuple[str, os.stat_result]:
        target = self._target(path, shown)
        try:
            status = os.stat(target)
        except FileNotFoundError:
            if os.path.islink(path):
                message = "is a symbolic link to nothing (its target is missing)"
                raise InputRefused(shown, message) from None
            raise
        except OSError as exc:
            raise InputRefused(shown, f"cannot be read: {exc.strerror}") from None
        self._check_status(status, shown)
        return target, status

    def _target(self, path: Path, shown: str) -> str:
        if self.root is None:
            return os.fspath(path)
        real = os.path.realpath(path)
        if not self.allow_outside and not _inside(real, self.root):
            raise InputRefused(
                shown,
                f"is a symbolic link leading outside {self.root_label} (to {printable(real)});"
                " only files inside it are read",
            )
        return real

    def _check_status(self, status: os.stat_result, shown: str) -> None:
        for test, kind in _KINDS:
            if test(status.st_mode):
                raise InputRefused(shown, f"is {kind}, not a regular file")
        if not stat.S_ISREG(status.st_mode):
            raise InputRefused(shown, "is not a regular file")
        if status.st_size > self.max_bytes:
            raise InputRefused(shown, f"is larger than the limit of {_size(self.max_bytes)}")

    def _check_opened(self, descriptor: int, shown: str) -> None:
        """The file actually opened lies inside the root (a directory swapped for a link
        between resolving and opening is caught here); skipped where ``/proc`` is missing."""
        try:
            opened = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            return
        if self.root is not None and not _inside(opened, self.root):
            raise InputRefused(shown, f"was moved outside {self.root_label} while being opened")


def _inside(path: str, root: Path) -> bool:
    base = os.fspath(root)
    return path == base or path.startswith(base.rstrip("/") + "/")


def _read_at_most(descriptor: int, limit: int, shown: str) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        try:
            chunk = os.read(descriptor, min(_CHUNK, remaining))
        except OSError as exc:
            raise InputRefused(shown, f"cannot be read: {exc.strerror}") from None
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text without a leading byte-order mark; the error names the offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        raise InputRefused(name, f"is not UTF-8 text (invalid byte at offset {offset})") from None


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_STRUCTURE = re.compile(r"[^\[\]{},]+")
_STEPS = {"[": 1, "{": 1, "]": -1, "}": -1}


def check_json_shape(text: str, name: str, *, max_depth: int, max_values: int) -> None:
    """Refuse JSON nested deeper than ``max_depth`` or holding more than about ``max_values``
    values, by a linear scan that skips strings (the parser is then safe to run)."""
    openers = text.count("[") + text.count("{")
    if openers <= max_depth and len(text) <= max_values:
        return
    structure = _NOT_STRUCTURE.sub("", _JSON_STRING.sub("", text))
    brackets = structure.replace(",", "")
    if brackets and max(accumulate(map(_STEPS.__getitem__, brackets))) > max_depth:
        raise InputRefused(name, f"is JSON nested deeper than {max_depth} levels")
    values = len(structure) - len(brackets) + structure.count("[") + structure.count("{") + 1
    if values > max_values:
        raise InputRefused(name, f"holds more than {max_values:,} JSON values")


def parse_json(
    text: str,
    name: str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int = DEFAULT_MAX_VALUES,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse JSON text within the shape limits; errors say where, never what."""
    check_json_shape(text, name, max_depth=max_depth, max_values=max_values)
    try:
        document = json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InputRefused(name, f"is not valid JSON: {exc.msg} ({where})") from None
    except (ValueError, RecursionError) as exc:
        raise InputRefused(name, f"is not valid JSON: {_first_line(exc)}") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(text):
        raise InputRefused(name, _LONE_SURROGATE)
    return document


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE = (
    "holds a \\uD800-\\uDFFF escape that is not part of a surrogate pair (not a character)"
)


def _has_lone_surrogate(text: str) -> bool:
    """True when a JSON string escape encodes half of a UTF-16 surrogate pair alone."""
    awaiting = -1
    for match in _ESCAPE.finditer(text):
        code = int(match.group(1), 16) if match.group(1) else -1
        if awaiting >= 0:
            if match.start() != awaiting or not 0xDC00 <= code <= 0xDFFF:
                return True
            awaiting = -1
        elif 0xD800 <= code <= 0xDBFF:
            awaiting = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            return True
    return awaiting >= 0


class YamlLimitError(yaml.YAMLError):
    """The document goes beyond the depth or alias expansion limit of its loader."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounded nesting and alias expansion, and YAML 1.2 booleans.

    While composing, every node's size counts an alias as the whole node it stands for, so a
    document whose aliases would expand beyond ``max_values`` values is refused without
    expanding anything; an alias to a node that contains it is refused too. Composing is the
    only recursive step, so the depth limit also keeps the parser far from Python's
    recursion limit. Set the limits on an instance or a subclass.
    """

    max_depth: int = DEFAULT_MAX_DEPTH
    max_values: int = DEFAULT_MAX_VALUES

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self._next_mark()
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self._sizes:
                raise YamlLimitError(_at("an alias refers to a node that contains it", mark))
            return node
        self._depth += 1
        if self._depth > self.max_depth:
            message = f"nested deeper than {self.max_depth} levels"
            raise YamlLimitError(_at(message, self._next_mark()))
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is None:
            return None
        size = 1 + sum(self._sizes[id(child)] for child in _children(node))
        if size > self.max_values:
            raise YamlLimitError(
                _at(
                    f"holds more than {self.max_values:,} values once its aliases are expanded"
                    " (too many or too deeply repeated aliases)",
                    node.start_mark,
                )
            )
        self._sizes[id(node)] = size
        return node

    def _next_mark(self) -> Any:
        event: yaml.Event | None = self.peek_event()  # type: ignore[no-untyped-call]
        return event.start_mark if event is not None else None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value the constructor cannot build (a date like 2025-02-30, an integer of
        thousands of digits) is an error of the document, with its position."""
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {_first_line(exc)}", node.start_mark
            ) from None
        if isinstance(value, str) and _SURROGATE.search(value):
            raise yaml.constructor.ConstructorError(None, None, _LONE_SURROGATE, node.start_mark)
        return value


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_BOOL_TAG = "tag:yaml.org,2002:bool"
BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
BoundedLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(
    text: str,
    name: str,
    *,
    loader: type[BoundedLoader] = BoundedLoader,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int = DEFAULT_MAX_VALUES,
) -> Any:
    """Parse one YAML document within the limits; errors give the line, never the text."""
    instance: BoundedLoader | None = None
    try:
        instance = loader(text)
        instance.max_depth, instance.max_values = max_depth, max_values
        return instance.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise InputRefused(name, f"is not valid YAML: {_describe_yaml(exc)}") from None
    except yaml.YAMLError as exc:
        raise InputRefused(name, f"is not valid YAML: {_first_line(exc)}") from None
    finally:
        if instance is not None:
            instance.dispose()


def _describe_yaml(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's message without its quoted snippet of the document."""
    parts = [part for part in (exc.context, exc.problem) if part]
    text = "; ".join(parts) or "unreadable document"
    mark = exc.problem_mark or exc.context_mark
    return _at(text, mark)


def _at(text: str, mark: Any) -> str:
    if mark is None:
        return text
    return f"{text} (line {mark.line + 1}, column {mark.column + 1})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_VALUES",
    "BoundedLoader",
    "InputRefused",
    "InputRules",
    "ReadFile",
    "YamlLimitError",
    "check_json_shape",
    "decode_utf8",
    "parse_json",
    "parse_yaml",
    "printable",
]
