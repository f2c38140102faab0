"""Render the index content notebook by notebook, reusing the bytes of unchanged notebooks.

Rows are written in notebook-number order, so each notebook's rows form one contiguous
byte range (a *fragment*) of the index. A fragment depends only on the notebook's bytes
and its *render key* (its number and the options that shape rows). When the index on
disk is exactly the one the cache describes, a notebook whose bytes and render key are
unchanged takes its fragment from that file instead of being rendered again; a rebuild
after one release therefore renders one notebook, not the whole textbook. The same
fragments tell which notebooks' rows changed, without parsing the previous index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cwh.textbook.cache import WrittenFragment, WrittenIndex
from cwh.textbook.rows import IndexRow, build_rows, parse_csv, render_csv
from cwh.textbook.scanner import ScannedNotebook

HEADER = render_csv(())
"""The header line alone; fragments follow it."""


@dataclass(frozen=True)
class RowOptions:
    """The options that shape rows (part of every render key)."""

    qno_format: str
    qlabel_pattern: re.Pattern[str] | None
    keep_branch_number: bool

    def render_key(self, number: int) -> str:
        pattern = self.qlabel_pattern.pattern if self.qlabel_pattern is not None else ""
        return "\x1f".join((str(number), self.qno_format, pattern, str(self.keep_branch_number)))


@dataclass(frozen=True)
class Fragment:
    """One notebook's rows in the new index."""

    path: str
    notebook_meme: str
    number: int
    content_sha256: str
    render_key: str
    data: bytes
    rows: int
    labelled: int
    reused: bool


@dataclass(frozen=True)
class RenderedIndex:
    content: bytes
    fragments: tuple[Fragment, ...]

    @property
    def rows(self) -> int:
        return sum(fragment.rows for fragment in self.fragments)

    def written(self) -> WrittenIndex:
        """The cache record of this content, once it is on disk."""
        offset = len(HEADER)
        records: list[WrittenFragment] = []
        for fragment in self.fragments:
            records.append(
                WrittenFragment(
                    fragment.path,
                    fragment.notebook_meme,
                    fragment.content_sha256,
                    fragment.render_key,
                    offset,
                    len(fragment.data),
                    fragment.rows,
                    fragment.labelled,
                )
            )
            offset += len(fragment.data)
        return WrittenIndex(hashlib.sha256(self.content).hexdigest(), tuple(records))


def valid_written_state(
    previous: bytes | None, written: WrittenIndex | None
) -> WrittenIndex | None:
    """The cache's record of the previous index, if that index is still on disk unchanged."""
    if previous is None or written is None:
        return None
    if hashlib.sha256(previous).hexdigest() != written.index_sha256:
        return None
    return written


def render_index(
    notebooks: Iterable[ScannedNotebook],
    numbers: Mapping[str, int],
    options: RowOptions,
    previous: bytes | None,
    written: WrittenIndex | None,
) -> RenderedIndex:
    """Render every readable notebook, reusing fragments of ``previous`` where allowed.

    ``written`` must come from :func:`valid_written_state` for ``previous``.
    """
    reusable = {fragment.path: fragment for fragment in written.fragments} if written else {}
    fragments: list[Fragment] = []
    for notebook in sorted(notebooks, key=lambda nb: (numbers[nb.path], nb.path)):
        if notebook.content is None:
            continue
        number = numbers[notebook.path]
        key = options.render_key(number)
        old = reusable.get(notebook.path)
        if (
            previous is not None
            and old is not None
            and notebook.sha256
            and old.content_sha256 == notebook.sha256
            and old.render_key == key
        ):
            data = previous[old.offset : old.offset + old.length]
            fragments.append(
                Fragment(
                    notebook.path,
                    old.notebook_meme,
                    number,
                    notebook.sha256,
                    key,
                    data,
                    old.rows,
                    old.labelled,
                    reused=True,
                )
            )
            continue
        rows = build_rows(
            [notebook],
            numbers,
            qno_format=options.qno_format,
            qlabel_pattern=options.qlabel_pattern,
            keep_branch_number=options.keep_branch_number,
        )
        fragments.append(
            Fragment(
                notebook.path,
                notebook.content.notebook_meme or "",
                number,
                notebook.sha256,
                key,
                render_csv(rows)[len(HEADER) :],
                len(rows),
                sum(1 for row in rows if row.qlabel),
                reused=False,
            )
        )
    content = HEADER + b"".join(fragment.data for fragment in fragments)
    return RenderedIndex(content, tuple(fragments))


@dataclass(frozen=True)
class PreviousNotebook:
    notebook_meme: str
    data: bytes
    rows: int


def previous_notebooks(
    previous: bytes, written: WrittenIndex | None
) -> dict[str, PreviousNotebook] | None:
    """Each notebook's rows in the previous index; ``None`` if it is not a readable index.

    From the cache's byte ranges when valid, otherwise by parsing the file (an index
    written by another tool, or edited by hand) and re-rendering each notebook's rows.
    """
    if written is not None:
        return {
            f.path: PreviousNotebook(
                f.notebook_meme, previous[f.offset : f.offset + f.length], f.rows
            )
            for f in written.fragments
            if f.rows
        }
    try:
        rows = parse_csv(previous)
    except (ValueError, UnicodeDecodeError):
        return None
    grouped: dict[str, list[IndexRow]] = {}
    for row in rows:
        grouped.setdefault(row.textbook_path, []).append(row)
    return {
        path: PreviousNotebook(
            group[0].lc_notebook_meme, render_csv(group)[len(HEADER) :], len(group)
        )
        for path, group in grouped.items()
    }


def changed_notebooks(
    fragments: Sequence[Fragment], previous: Mapping[str, PreviousNotebook] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Notebook MEMEs and paths whose rows were added, removed or changed."""
    current = {f.path: f for f in fragments if f.rows}
    if previous is None:
        paths = set(current)
        memes = {f.notebook_meme for f in current.values()}
    else:
        paths = {
            path
            for path in set(current) | set(previous)
            if path not in current
            or path not in previous
            or current[path].data != previous[path].data
        }
        memes = {current[p].notebook_meme for p in paths if p in current}
        memes |= {previous[p].notebook_meme for p in paths if p in previous}
    return tuple(sorted(m for m in memes if m)), tuple(sorted(paths))
