"""Load student-written pickles as plain data, and turn the data into JSON values.

lc_wrapper stores each cell's execute_result / display_data / error message as a
pickle in the student's home.  The student controls those bytes, so the default
unpickler (which imports and calls whatever the pickle names) would run their code
in the collector.  ``safe_loads`` reconstructs only builtin containers and scalars:

1. A pre-scan steps over every opcode without building anything.  It refuses what
   the C unpickler would trust blindly: memo indices that jump ahead (an 8-byte file
   could make it allocate a 16 GiB memo table), counted lengths larger than the data,
   extension codes (``EXT1/2/4`` are answered from copyreg's process-wide cache
   without asking ``find_class``), integers wider than ``MAX_INT_BITS``, numbers
   crafted to share one hash value and more than ``MAX_TUPLES`` tuples (both would
   make dict/set insertion quadratic).  It also refuses a memory bomb before it is
   built: a one-byte opcode can build a 216-byte empty set or push a pointer, so more
   than ``max_objects`` values pushed (each object built or referenced again, hence
   also every container element), more than ``max_objects`` memo entries or marks
   open more than ``max_depth`` deep are refused.
2. The C unpickler then loads the stream, with ``find_class`` refusing every global
   (``GLOBAL``, ``STACK_GLOBAL``, ``INST``; hence also anything ``REDUCE``, ``NEWOBJ``,
   ``OBJ`` or ``BUILD`` could call) and naming the refused ``module.name``; persistent
   ids are refused and no out-of-band buffers are supplied.
3. The loaded graph is walked: nesting deeper than ``max_depth`` (which is also how
   a reference cycle shows) and more than ``max_items`` items counted along every path
   (so a few kilobytes of shared references cannot expand into billions of nodes) are
   refused.  A refused graph (which may hold reference cycles) is taken apart before the
   error is raised, so reference counting frees it at once.

Nothing in the pickle is ever executed: no callable can be obtained without a global.
The C unpickler does the building, so a typical lc_wrapper result loads in about ten
microseconds.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import math
import pickle
import pickletools
import re
import struct
from collections.abc import Iterable
from itertools import chain
from typing import Any, NoReturn, cast

import orjson

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_OBJECTS",
    "MAX_INT_BITS",
    "MAX_SAME_HASH",
    "MAX_TUPLES",
    "UnsafePickleError",
    "safe_loads",
    "to_json_value",
]

DEFAULT_MAX_DEPTH = 100
# Items counted along every path of the loaded graph (what a JSON conversion would build).
DEFAULT_MAX_ITEMS = 250_000
# Values pushed while loading: objects built plus references to them. A result lc_wrapper
# writes (a Jupyter message holding a few strings) needs tens; the cap bounds what a
# hostile file can make the unpickler allocate to about 25 MB.
DEFAULT_MAX_OBJECTS = 100_000
# Wider integers cannot be rendered as decimal text by default (sys.int_info limits).
MAX_INT_BITS = 4096
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SCALAR_TYPES = frozenset({str, bytes, bytearray, int, float, bool, type(None)})
_CONTAINER_TYPES = frozenset({dict, list, tuple, set, frozenset})
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsafePickleError(ValueError):
    """The bytes are not a pickle of plain data (refused construct, corrupt, or too big)."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """A C unpickler that can build no object other than builtin containers and scalars."""

    def find_class(self, module: str, name: str) -> NoReturn:
        raise UnsafePickleError(
            f"refused global {_bounded(module, 100)}.{_bounded(name, 100)}: "
            "only plain data is accepted"
        )

    def persistent_load(self, pid: Any) -> NoReturn:
        raise UnsafePickleError("refused persistent id: only plain data is accepted")


def safe_loads(
    data: bytes,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> object:
    """Unpickle ``data`` if it holds nothing but builtin containers and scalars.

    Raises ``UnsafePickleError`` with the reason otherwise (the refused global, a
    corrupt or truncated stream, excessive nesting or size).  Python 2 era pickles
    (protocols 0-2) spell ``set`` and ``bytes`` as calls to globals and are refused like
    any other global; lc_wrapper writes protocol 4.  The error carries no reference to
    anything that was built (no cause, no context), so keeping it keeps nothing alive.
    """
    return _load_counted(data, max_depth, max_items, max_objects)[0]


def _load_counted(
    data: bytes,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> tuple[object, int]:
    """``safe_loads``, also returning the items counted along every path of the value."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UnsafePickleError(f"pickle data must be bytes, not {type(data).__name__}")
    if max_depth < 1 or max_items < 1 or max_objects < 1:
        raise ValueError("max_depth, max_items and max_objects must be positive")
    payload = bytes(data)
    _prescan(payload, max_depth, max_objects)
    reason = None
    unpickler = _DataOnlyUnpickler(io.BytesIO(payload), encoding="utf-8", errors="strict")
    try:
        obj = unpickler.load()
    except UnsafePickleError as exc:
        reason = str(exc)
    except RecursionError:
        reason = "refused pickle: structure too deeply nested"
    except MemoryError:
        reason = "refused pickle: it needs more memory than available"
    except Exception as exc:
        reason = f"not a valid pickle: {type(exc).__name__}: {exc}"
    if reason is not None:
        # Only the memo can lead back into a cycle (DUP, the other way, is refused).
        with contextlib.suppress(Exception):
            _dismantle(unpickler.memo.copy().values())
        del unpickler
        raise UnsafePickleError(_bounded(reason))
    del unpickler
    reason, items = _shape_problem(obj, max_depth, max_items)
    if reason is not None:
        _dismantle((obj,))
        del obj
        raise UnsafePickleError(reason)
    return obj, items


def _bounded(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters: reasons may quote names taken from the pickle."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _dismantle(roots: Iterable[object]) -> None:
    """Empty every mutable container reachable from ``roots``, breaking reference cycles.

    A refused graph may be cyclic (a list holding itself); emptied, it is freed by
    reference counting as soon as the last outside reference goes, instead of waiting
    for the cyclic garbage collector. Each container is visited once.
    """
    pending = list(roots)
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind not in _CONTAINER_TYPES or id(item) in seen:
            continue
        seen.add(id(item))
        if kind is dict:
            mapping = cast("dict[object, object]", item)
            pending.extend(mapping.keys())
            pending.extend(mapping.values())
            mapping.clear()
        else:
            pending.extend(cast("Iterable[object]", item))
            if kind is list or kind is set:
                cast("list[object] | set[object]", item).clear()


# How each opcode's argument is laid out, from the stdlib's own opcode table.
_NO_ARG, _FIXED_ARG, _COUNTED_ARG, _LINE_ARG = range(4)
_COUNT_WIDTH = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
# Opcodes the pre-scan looks into; everything else is only stepped over.
_WATCHED = frozenset(
    {
        "STOP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "INT", "LONG", "LONG1", "LONG4",
        "FLOAT", "BINFLOAT", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "FROZENSET",
        "EXT1", "EXT2", "EXT4", "FRAME", "MARK", "DUP",
    }
)  # fmt: skip
# Opcodes that change a value already on the stack instead of pushing one.
_MODIFIERS = frozenset(
    {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD", "READONLY_BUFFER", "MEMOIZE"}
)
# The pre-scan's name for an opcode that closes the innermost mark and is otherwise only
# stepped over (LIST, DICT, APPENDS, SETITEMS, ...).
_CLOSES_MARK = "closes mark"


def _pushes(op: pickletools.OpcodeInfo) -> bool:
    """Whether ``op`` puts a new value on the stack: an object built, or one referenced again."""
    after = op.stack_after
    return bool(after) and after[-1] is not pickletools.markobject and op.name not in _MODIFIERS


def _opcode_layouts() -> dict[int, tuple[int, int, bool, str | None, bool]]:
    layouts: dict[int, tuple[int, int, bool, str | None, bool]] = {}
    for op in pickletools.opcodes:
        watched = op.name if op.name in _WATCHED else None
        if watched is None and pickletools.markobject in op.stack_before:
            watched = _CLOSES_MARK
        arg = op.arg
        if arg is None:
            layout = (_NO_ARG, 0, False)
        elif arg.n >= 0:
            layout = (_FIXED_ARG, arg.n, False)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            # GLOBAL and INST carry two newline-terminated lines (module, name).
            layout = (_LINE_ARG, 2 if arg.name == "stringnl_noescape_pair" else 1, False)
        else:
            width, signed = _COUNT_WIDTH[arg.n]
            layout = (_COUNTED_ARG, width, signed)
        layouts[ord(op.code.encode("latin-1"))] = (*layout, watched, _pushes(op))
    return layouts


_LAYOUTS = _opcode_layouts()
# Fast paths for the opcodes that make up nearly all of a real result pickle: ones that
# are only stepped over and have no argument or a fixed one (total size by opcode byte),
# split by whether they push a value, and the short strings (which all push one) whose
# one-byte count follows the opcode.
_PLAIN_STEP = {
    code: 1 + width
    for code, (shape, width, _, watched, pushes) in _LAYOUTS.items()
    if watched is None and shape in (_NO_ARG, _FIXED_ARG) and not pushes
}
_PUSHING_STEP = {
    code: 1 + width
    for code, (shape, width, _, watched, pushes) in _LAYOUTS.items()
    if watched is None and shape in (_NO_ARG, _FIXED_ARG) and pushes
}
_SHORT_COUNTED = frozenset(
    code
    for code, (shape, width, _, watched, pushes) in _LAYOUTS.items()
    if watched is None and shape == _COUNTED_ARG and width == 1 and pushes
)
_MEMOIZE = pickle.MEMOIZE[0]
# A crafted pickle can fill a dict or set with distinct numbers (or tuples of them) that
# share one hash value, making each insertion scan all previous ones: quadratic time in
# C code that no signal interrupts.  Strings and bytes have randomized hashes; numbers and
# tuples do not, so the pre-scan bounds them.
MAX_SAME_HASH = 64
MAX_TUPLES = 4096
_DECIMAL_DIGITS_LIMIT = MAX_INT_BITS * 30103 // 100000 + 2


def _prescan(data: bytes, max_depth: int, max_objects: int) -> None:
    """Step over every opcode before the C unpickler sees the stream.

    The C unpickler trusts three things a hostile pickle controls: explicit memo indices
    (``LONG_BINPUT 0x7fffffff`` makes it allocate and zero a 16 GiB memo table from an
    8-byte file), extension codes (answered from copyreg's process-wide cache without
    asking ``find_class``) and the hash values of numbers (see ``MAX_SAME_HASH``).  The
    scan also checks every counted argument against the bytes actually present, so a
    forged length never reaches an allocation, and bounds what the stream would build:
    values pushed and memo entries (``max_objects``), marks open at once (``max_depth``).
    """
    size = len(data)
    pos = 0
    memo_entries = 0
    tuples = 0
    objects = 0
    marks = 0
    first_by_hash: dict[int, int | float] = {}
    collisions: dict[int, list[int | float]] = {}
    while pos < size:
        code = data[pos]
        step = _PLAIN_STEP.get(code)
        if step is not None:
            pos += step
            continue
        step = _PUSHING_STEP.get(code)
        if step is None and code in _SHORT_COUNTED:
            if pos + 1 >= size:
                break
            step = 2 + data[pos + 1]
        if step is not None:
            pos += step
            objects += 1
            if objects > max_objects:
                raise _too_many_objects(max_objects)
            continue
        if code == _MEMOIZE:
            memo_entries += 1
            if memo_entries > max_objects:
                raise _too_many_memo_entries(max_objects)
            pos += 1
            continue
        start = pos
        layout = _LAYOUTS.get(code)
        if layout is None:
            raise UnsafePickleError(f"not a valid pickle: unknown opcode {code:#04x} at byte {pos}")
        shape, width, signed, watched, pushes = layout
        pos += 1
        arg_start = pos
        if shape == _FIXED_ARG:
            pos += width
        elif shape == _COUNTED_ARG:
            length = int.from_bytes(data[pos : pos + width], "little", signed=signed)
            if length < 0:
                raise UnsafePickleError(f"not a valid pickle: negative length at byte {start}")
            pos += width
            arg_start = pos
            pos += length
        elif shape == _LINE_ARG:
            for _ in range(width):
                newline = data.find(b"\n", pos)
                if newline < 0:
                    pos = size + 1
                    break
                pos = newline + 1
        if pos > size:
            raise UnsafePickleError(f"not a valid pickle: truncated at byte {start}")
        if pushes:
            objects += 1
            if objects > max_objects:
                raise _too_many_objects(max_objects)
        if watched is None:
            continue
        if watched == "MARK":
            marks += 1
            if marks > max_depth:
                raise UnsafePickleError(
                    f"refused pickle: more than {max_depth} marks open at once "
                    f"(nested deeper than {max_depth} levels)"
                )
            continue
        if watched == _CLOSES_MARK or watched == "TUPLE" or watched == "FROZENSET":
            marks -= 1
            if watched == _CLOSES_MARK:
                continue
        if watched == "STOP":
            return
        if watched == "DUP":
            # Python's pickler never writes DUP; it is a way to build a cycle without the memo.
            raise UnsafePickleError(f"refused pickle: DUP opcode at byte {start}")
        arg = data[arg_start:pos]
        if watched == "FRAME":
            if int.from_bytes(arg, "little") > size - pos:
                raise UnsafePickleError(f"not a valid pickle: frame at byte {start} is truncated")
            continue
        if watched in ("PUT", "BINPUT", "LONG_BINPUT"):
            index = _decimal(arg, start) if watched == "PUT" else int.from_bytes(arg, "little")
            if index > memo_entries:
                raise UnsafePickleError(
                    f"refused pickle: memo index {index} at byte {start} skips ahead of the "
                    f"{memo_entries} entries stored so far"
                )
            memo_entries += 1
            if memo_entries > max_objects:
                raise _too_many_memo_entries(max_objects)
            continue
        if watched.startswith("EXT"):
            code = int.from_bytes(arg, "little", signed=watched == "EXT4")
            module, name = getattr(copyreg, "_inverted_registry", {}).get(
                code, ("<unregistered>", f"extension{code}")
            )
            raise UnsafePickleError(
                f"refused global {module}.{name} (extension code {code}): "
                "only plain data is accepted"
            )
        if watched.startswith("TUPLE") or watched == "FROZENSET":
            tuples += 1
            if tuples > MAX_TUPLES:
                raise UnsafePickleError(f"refused pickle: more than {MAX_TUPLES} tuples/frozensets")
            continue
        number = _number(watched, arg, start)
        digest = hash(number)
        first = first_by_hash.setdefault(digest, number)
        if first is number or first == number:
            continue
        bucket = collisions.setdefault(digest, [first])
        if number not in bucket:
            bucket.append(number)
            if len(bucket) > MAX_SAME_HASH:
                raise UnsafePickleError(
                    f"refused pickle: more than {MAX_SAME_HASH} distinct numbers share one "
                    "hash value (a hash-collision attack)"
                )
    raise UnsafePickleError("not a valid pickle: truncated (no STOP opcode)")


def _too_many_objects(max_objects: int) -> UnsafePickleError:
    return UnsafePickleError(
        f"refused pickle: it would build or reference more than {max_objects} values "
        "(a memory bomb)"
    )


def _too_many_memo_entries(max_objects: int) -> UnsafePickleError:
    return UnsafePickleError(f"refused pickle: more than {max_objects} memo entries")


def _number(kind: str, arg: bytes, start: int) -> int | float:
    try:
        if kind in ("LONG1", "LONG4"):
            value: int | float = int.from_bytes(arg, "little", signed=True)
        elif kind == "BINFLOAT":
            value = struct.unpack(">d", arg)[0]
        elif kind == "FLOAT":
            value = float(arg)
        else:
            value = _decimal(arg.rstrip(b"\nL"), start)
    except UnsafePickleError:
        raise
    except ValueError as exc:
        raise UnsafePickleError(f"not a valid pickle: bad number at byte {start}") from exc
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise UnsafePickleError(f"refused pickle: integer wider than {MAX_INT_BITS} bits")
    return value


def _decimal(text: bytes, start: int) -> int:
    digits = text.strip()
    if len(digits) > _DECIMAL_DIGITS_LIMIT:
        raise UnsafePickleError(f"refused pickle: integer wider than {MAX_INT_BITS} bits")
    try:
        return int(digits)
    except ValueError as exc:
        raise UnsafePickleError(f"not a valid pickle: bad number at byte {start}") from exc


def _shape_problem(root: object, max_depth: int, max_items: int) -> tuple[str | None, int]:
    """(Why the loaded graph is refused (foreign type, too deep, too big) or None, items).

    The graph is walked level by level. Items are counted along every path (a shared
    list counts each time it is reached), which is what a JSON conversion would produce;
    a reference cycle therefore shows up as unbounded nesting.
    """
    if not _plain_type(root):
        return _foreign_type(root), 1
    items = 1
    depth = 1
    level = [root] if type(root) in _CONTAINER_TYPES else []
    while level:
        if depth > max_depth:
            return (
                f"refused pickle: nested deeper than {max_depth} levels (or self-referencing)",
                items,
            )
        below: list[object] = []
        for container in level:
            members: Iterable[object]
            if isinstance(container, dict):
                items += 2 * len(container)
                members = chain.from_iterable(container.items())
            else:
                members = cast("list[object]", container)
                items += len(members)
            if items > max_items:
                return f"refused pickle: more than {max_items} items", items
            for member in members:
                kind = type(member)
                if kind in _CONTAINER_TYPES:
                    below.append(member)
                elif kind not in _SCALAR_TYPES:
                    return _foreign_type(member), items
        level = below
        depth += 1
    return None, items


def _plain_type(obj: object) -> bool:
    kind = type(obj)
    return kind in _SCALAR_TYPES or kind in _CONTAINER_TYPES


def _foreign_type(obj: object) -> str:
    # Unreachable without a global; kept so that no future opcode can slip through.
    return f"refused object of type {type(obj).__qualname__}"


def to_json_value(obj: object, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Convert unpickled plain data into a value ``orjson``/``json`` can serialize.

    Choices (all lossless for what lc_wrapper writes: dicts of str, lists, ints):

    * tuple and list -> list; set and frozenset -> list sorted by each element's JSON
      text, so the output does not depend on the process's hash seed;
    * bytes and bytearray -> str decoded as UTF-8 with U+FFFD for invalid bytes.  The
      result is for reading and searching (a text/plain payload that arrived as bytes
      stays readable in Kibana); base64 would be lossless but unreadable;
    * str with lone surrogates -> the surrogates become U+FFFD (JSON encoders refuse
      them);
    * dict keys -> str: bool -> "true"/"false", None -> "null", numbers -> their
      JSON text, bytes decoded as above, tuples/frozensets -> their JSON text.  When
      two keys map to the same string the first one wins;
    * NaN and +/-infinity -> None (JSON has no such numbers; Elasticsearch rejects them);
    * integers outside the signed 64-bit range -> their decimal text (Elasticsearch
      ``long`` and orjson stop at 64 bits).

    Raises ``ValueError`` for types other than the builtin containers and scalars and
    for nesting deeper than ``max_depth`` (which also stops reference cycles).
    """
    try:
        return _convert(obj, max_depth)
    except RecursionError as exc:
        raise ValueError("value nested too deeply for JSON conversion") from exc


def _convert(obj: object, depth_left: int) -> Any:
    if isinstance(obj, str):
        return _clean_str(obj)
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return _int_value(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).decode("utf-8", errors="replace")
    if depth_left <= 0:
        raise ValueError("value nested too deeply (or self-referencing) for JSON conversion")
    if isinstance(obj, dict):
        converted: dict[str, Any] = {}
        for key, value in obj.items():
            name = _key_text(key, depth_left - 1)
            if name not in converted:
                converted[name] = _convert(value, depth_left - 1)
        return converted
    if isinstance(obj, list | tuple):
        return [_convert(item, depth_left - 1) for item in obj]
    if isinstance(obj, set | frozenset):
        return sorted((_convert(item, depth_left - 1) for item in obj), key=_json_text)
    raise ValueError(f"{type(obj).__qualname__} is not plain data and has no JSON form")


def _clean_str(text: str) -> str:
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _int_value(number: int) -> int | str:
    if _INT64_MIN <= number <= _INT64_MAX:
        return number
    if number.bit_length() > MAX_INT_BITS:
        raise ValueError(f"integer wider than {MAX_INT_BITS} bits has no JSON form")
    return str(number)


def _key_text(key: object, depth_left: int) -> str:
    if isinstance(key, str):
        return _clean_str(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    value = _convert(key, depth_left)
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")
