"""Rows of named tuples stored as columns in the report caches' JSON files.

A cache holds tens of thousands of rows: as one list per column they are decoded several
times faster than as one list per row, and rebuilt straight from C (``tuple.__new__``; a
named tuple's own ``__new__`` is a Python function and would cost more than the rest).
Every value's type is checked on the way back: a cache file is only ever trusted as far as
its types go.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, TypeVar

__all__ = ["MAYBE_NUMBER", "NUMBER", "TEXT", "columns_of", "rows_of"]

_Row = TypeVar("_Row", bound=tuple[Any, ...])

TEXT: frozenset[type] = frozenset({str})
NUMBER: frozenset[type] = frozenset({int})
MAYBE_NUMBER: frozenset[type] = frozenset({int, type(None)})


def columns_of(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` (each ``width`` long) as ``width`` columns."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def rows_of(columns: Any, types: tuple[frozenset[type], ...], kind: type[_Row]) -> tuple[_Row, ...]:
    """The rows of :func:`columns_of`'s ``columns``; ``ValueError`` unless there is one
    column per entry of ``types``, all of one length, each value of its column's types."""
    if not isinstance(columns, list) or len(columns) != len(types):
        raise ValueError(f"{kind.__name__} columns are not {len(types)} lists")
    for column, allowed in zip(columns, types, strict=True):
        if not isinstance(column, list) or len(column) != len(columns[0]):
            raise ValueError(f"{kind.__name__} columns differ in length")
        if set(map(type, column)) - allowed:
            raise ValueError(f"a {kind.__name__} column holds a value of another type")
    return tuple(map(tuple.__new__, repeat(kind), zip(*columns, strict=True)))
