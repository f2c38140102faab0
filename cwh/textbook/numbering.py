"""Notebook numbers: the first half of every question number (``qno``).

Question numbers end up in every enriched execution document and in teachers' reports,
so renumbering a lesson silently relabels its history. Numbering notebooks by their
position in a sorted list lets one re-released or newly added notebook shift every later
number, so the default is a *ledger*:

* a notebook is identified by its notebook MEME, or by its path when it has none;
* the first time a notebook is seen it gets the next free number; a first build
  therefore numbers notebooks in path order, exactly like ``name`` ordering;
* a renamed or moved notebook keeps its number (same MEME);
* a notebook re-released at the same path with a new MEME (``new-root-meme``) keeps its
  number (path fallback for a number whose MEME is gone);
* a removed notebook keeps its number reserved, so it is never given to another one.

The sort orderings (``name``, ``mtime``, ``ctime``: position in the ascending sort, ties
broken by path) remain available for installations whose numbers came from them. In every
ordering a notebook that could not be read still takes its place. Excluded notebooks are
not part of the textbook and take no place, so excluding a draft leaves no gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from cwh.safe_input import InputRefused
from cwh.textbook.paths import INDEX_FILES, path_sort_key

Numbering = Literal["stable", "name", "mtime", "ctime"]
NUMBERING_CHOICES: tuple[str, ...] = get_args(Numbering)
LEDGER_FORMAT = "cwh-textbook-numbering-ledger"
LEDGER_VERSION = 1


class LedgerError(ValueError):
    """The ledger exists but cannot be trusted; numbering must not silently restart."""


@dataclass(frozen=True)
class NotebookKey:
    """What numbering needs to know about a notebook."""

    path: str
    notebook_meme: str | None
    mtime_ns: int = 0
    ctime_ns: int = 0


@dataclass(frozen=True)
class LedgerEntry:
    number: int
    notebook_meme: str | None
    path: str
    assigned_at: str


@dataclass(frozen=True)
class NumberingLedger:
    """Numbers handed out so far. Entries are never removed."""

    entries: tuple[LedgerEntry, ...] = ()
    next_number: int = 0

    @classmethod
    def load(cls, path: Path) -> NumberingLedger:
        """Read the ledger; a missing file is an empty ledger, a damaged one an error."""
        try:
            raw = INDEX_FILES.read_bytes(path).data
        except FileNotFoundError:
            return cls()
        except InputRefused as exc:
            raise LedgerError(f"numbering ledger {exc}") from None
        try:
            return cls.from_json(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise LedgerError(
                f"numbering ledger {path} is damaged ({exc}); restore it from a backup,"
                " or delete it to renumber every notebook from scratch"
            ) from exc

    @classmethod
    def from_json(cls, document: Any) -> NumberingLedger:
        if not isinstance(document, dict) or document.get("format") != LEDGER_FORMAT:
            raise ValueError("not a numbering ledger")
        if document.get("version") != LEDGER_VERSION:
            raise ValueError(f"unsupported ledger version {document.get('version')!r}")
        entries = tuple(
            LedgerEntry(
                number=_non_negative_int(item["number"]),
                notebook_meme=_optional_str(item.get("notebook_meme")),
                path=_required_str(item["path"]),
                assigned_at=str(item.get("assigned_at", "")),
            )
            for item in document["notebooks"]
        )
        numbers = [entry.number for entry in entries]
        if len(numbers) != len(set(numbers)):
            raise ValueError("a notebook number appears twice")
        memes = [entry.notebook_meme for entry in entries if entry.notebook_meme]
        if len(memes) != len(set(memes)):
            raise ValueError("a notebook MEME appears twice")
        next_number = max([_non_negative_int(document["next_number"]), *(n + 1 for n in numbers)])
        return cls(entries=entries, next_number=next_number)

    def to_json_bytes(self) -> bytes:
        document = {
            "format": LEDGER_FORMAT,
            "version": LEDGER_VERSION,
            "next_number": self.next_number,
            "notebooks": [
                {
                    "number": entry.number,
                    "notebook_meme": entry.notebook_meme,
                    "path": entry.path,
                    "assigned_at": entry.assigned_at,
                }
                for entry in sorted(self.entries, key=lambda e: e.number)
            ],
        }
        return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"

    def assign(
        self, notebooks: Sequence[NotebookKey], assigned_at: str
    ) -> tuple[dict[str, int], NumberingLedger]:
        """Number ``notebooks`` (by path) and return the updated ledger.

        Passes, each in path order and only over numbers not yet claimed:

        1. same MEME at the same path (the usual case);
        2. same MEME elsewhere (a rename or move), unless the entry's path now holds
           a notebook with an unknown or no MEME: that one is a re-release, or a file
           caught mid-copy, and keeps the number (pass 3) even if a copy of the old
           notebook carries the old MEME;
        3. same path (a re-release with new MEMEs; a notebook that cannot be read);
           when several reserved numbers once had the path, the oldest (lowest) one;
        4. a new number.
        """
        ordered = sorted(notebooks, key=lambda nb: path_sort_key(nb.path))
        entries = {entry.number: entry for entry in self.entries}
        by_meme = {e.notebook_meme: e.number for e in self.entries if e.notebook_meme}
        by_path = {e.path: e.number for e in sorted(self.entries, key=lambda e: -e.number)}
        occupant = {notebook.path: notebook for notebook in ordered}
        numbers: dict[str, int] = {}
        claimed: set[int] = set()
        by_meme_claim: set[str] = set()

        def claim(notebook: NotebookKey, number: int | None) -> bool:
            if number is None or number in claimed or notebook.path in numbers:
                return False
            numbers[notebook.path] = number
            claimed.add(number)
            return True

        def held_by_rerelease(number: int) -> bool:
            entry = entries[number]
            holder = occupant.get(entry.path)
            return holder is not None and (
                holder.notebook_meme is None or holder.notebook_meme not in by_meme
            )

        for notebook in ordered:
            number = by_meme.get(notebook.notebook_meme) if notebook.notebook_meme else None
            same_place = number is not None and entries[number].path == notebook.path
            if same_place and claim(notebook, number):
                by_meme_claim.add(notebook.path)
        for notebook in ordered:
            number = by_meme.get(notebook.notebook_meme) if notebook.notebook_meme else None
            movable = number is not None and not held_by_rerelease(number)
            if movable and claim(notebook, number):
                by_meme_claim.add(notebook.path)
        for notebook in ordered:
            claim(notebook, by_path.get(notebook.path))
        next_number = self.next_number
        for notebook in ordered:
            if notebook.path not in numbers:
                entries[next_number] = LedgerEntry(next_number, None, notebook.path, assigned_at)
                claim(notebook, next_number)
                next_number += 1

        memes = _settle_memes(entries, ordered, numbers, by_meme_claim)
        for notebook in ordered:
            number = numbers[notebook.path]
            entries[number] = replace(entries[number], path=notebook.path)
        for number, meme in memes.items():
            entries[number] = replace(entries[number], notebook_meme=meme)
        ledger = NumberingLedger(
            entries=tuple(entries[n] for n in sorted(entries)), next_number=next_number
        )
        return numbers, ledger


def _settle_memes(
    entries: dict[int, LedgerEntry],
    ordered: Sequence[NotebookKey],
    numbers: dict[str, int],
    by_meme_claim: set[str],
) -> dict[int, str | None]:
    """The MEME each entry records afterwards; a MEME is recorded on one entry only.

    Priority: numbers claimed through their MEME; then MEMEs kept by entries whose
    notebook has none now (unreadable) or is gone (reserved); then, in path order, the
    MEMEs of notebooks numbered by path or newly (a copy does not take its original's).
    """
    taken: dict[str, int] = {}
    result: dict[int, str | None] = {}
    with_meme = {numbers[nb.path]: nb for nb in ordered if nb.notebook_meme}
    for notebook in ordered:
        if notebook.path in by_meme_claim and notebook.notebook_meme:
            taken[notebook.notebook_meme] = numbers[notebook.path]
            result[numbers[notebook.path]] = notebook.notebook_meme
    for number, entry in sorted(entries.items()):
        if number in with_meme:
            continue
        old = entry.notebook_meme
        keep = old is not None and taken.setdefault(old, number) == number
        result[number] = old if keep else None
    for notebook in ordered:
        number = numbers[notebook.path]
        if number in result or notebook.notebook_meme is None:
            continue
        if taken.setdefault(notebook.notebook_meme, number) == number:
            result[number] = notebook.notebook_meme
        else:
            old = entries[number].notebook_meme
            keep = old is not None and taken.setdefault(old, number) == number
            result[number] = old if keep else None
    return result


def reference_numbers(notebooks: Sequence[NotebookKey], order: Numbering) -> dict[str, int]:
    """Numbers by position in the ascending sort by ``order`` (ties broken by path)."""
    if order == "name":
        ordered = sorted(notebooks, key=lambda nb: path_sort_key(nb.path))
    elif order == "mtime":
        ordered = sorted(notebooks, key=lambda nb: (nb.mtime_ns, path_sort_key(nb.path)))
    elif order == "ctime":
        ordered = sorted(notebooks, key=lambda nb: (nb.ctime_ns, path_sort_key(nb.path)))
    else:
        raise ValueError(f"{order!r} is not a reference ordering (name, mtime, ctime)")
    return {notebook.path: index for index, notebook in enumerate(ordered)}


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _required_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    return _required_str(value)
