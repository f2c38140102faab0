"""Textbook MEME index: scan, validate and (re)write the index that names every question.

The index turns "cell 1a339f04-..." into "question 01-003, 問1-3, python-basic/ex01.ipynb"
for every execution document, so it has to be right, current and stable:

* :func:`scan` finds and extracts the notebooks, reading only those that changed since
  the last build (the build cache lives next to the index);
* :func:`validate` lists what would make executions unattributable, each problem with
  the command that fixes it;
* :func:`write_index` numbers the notebooks (stable ledger by default, see
  :mod:`cwh.textbook.numbering`), renders the rows of the notebooks that changed (see
  :mod:`cwh.textbook.render`) and replaces the index atomically, only when its content
  changes. Strict mode, and an empty textbook about to replace a non-empty
  index (an unmounted share looks like that), leave the previous index untouched.

Files next to the index ``<name>``: ``<name>.ledger.json`` (notebook numbers; keep it
with the index), ``<name>.cache.json`` (build cache, disposable) and ``<name>.lock`` (serialises
concurrent builders, such as the flow and a teacher running ``cwh textbook index``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cwh.atomic_write import write_bytes_atomic
from cwh.messages import Language, text
from cwh.textbook.cache import ExtractionCache, WrittenIndex
from cwh.textbook.numbering import (
    NUMBERING_CHOICES,
    NotebookKey,
    Numbering,
    NumberingLedger,
    reference_numbers,
)
from cwh.textbook.paths import (
    DEFAULT_INCLUDE,
    INDEX_FILES,
    GlobPatternError,
    PathMatcher,
    course_server_of,
)
from cwh.textbook.render import (
    PreviousNotebook,
    RenderedIndex,
    RowOptions,
    changed_notebooks,
    previous_notebooks,
    render_index,
    valid_written_state,
)
from cwh.textbook.scanner import MAX_NOTEBOOK_BYTES, TextbookScan, notebook_rules, scan_textbook
from cwh.textbook.validation import Problem, validate_scan

DEFAULT_QNO_FORMAT = "{:02}-{:03}"
LOCK_TIMEOUT_SECONDS = 120.0

__all__ = [
    "DEFAULT_QNO_FORMAT",
    "IndexFiles",
    "IndexLockTimeout",
    "IndexOptions",
    "IndexOptionsError",
    "IndexOutcome",
    "NotebookSummary",
    "build_index",
    "scan",
    "validate",
    "write_index",
]


class IndexOptionsError(ValueError):
    """An option value that cannot work (bad regex, qno format, glob, numbering)."""


class IndexLockTimeout(TimeoutError):
    """Another build held the index lock for too long."""


@dataclass(frozen=True)
class IndexOptions:
    """How to build the index; checked on creation so mistakes surface before any work."""

    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    qlabel_pattern: str | None = None
    qno_format: str = DEFAULT_QNO_FORMAT
    numbering: Numbering = "stable"
    keep_branch_number: bool = False
    strict: bool = False
    allow_empty: bool = False
    allow_outside_links: bool = False
    """Read notebooks that are symbolic links leading out of the textbook directory."""
    max_notebook_bytes: int = MAX_NOTEBOOK_BYTES

    def __post_init__(self) -> None:
        if self.numbering not in NUMBERING_CHOICES:
            choices = ", ".join(NUMBERING_CHOICES)
            raise IndexOptionsError(
                f"unknown numbering {self.numbering!r}; choose one of {choices}"
            )
        self.matcher()
        self.compiled_qlabel()
        _check_qno_format(self.qno_format)
        if self.max_notebook_bytes < 1:
            raise IndexOptionsError("the notebook size limit must be at least one byte")

    def matcher(self) -> PathMatcher:
        try:
            return PathMatcher.compile(self.include, self.exclude)
        except GlobPatternError as exc:
            raise IndexOptionsError(str(exc)) from exc

    def compiled_qlabel(self) -> re.Pattern[str] | None:
        if not self.qlabel_pattern:
            return None
        try:
            return re.compile(self.qlabel_pattern, re.MULTILINE)
        except re.error as exc:
            raise IndexOptionsError(
                f"invalid qlabel pattern {self.qlabel_pattern!r}: {exc}"
            ) from exc


def _check_qno_format(qno_format: str) -> None:
    try:
        sample = qno_format.format(1, 2)
        same_notebook = qno_format.format(1, 3)
        same_cell = qno_format.format(2, 2)
    except (IndexError, KeyError, ValueError) as exc:
        raise IndexOptionsError(
            f"invalid qno format {qno_format!r}: {exc}; it receives the notebook number and"
            " the cell number, for example '{:02}-{:03}'"
        ) from exc
    if sample in (same_notebook, same_cell):
        raise IndexOptionsError(
            f"qno format {qno_format!r} must include both the notebook and the cell number"
        )


@dataclass(frozen=True)
class IndexFiles:
    """The index and the files kept beside it."""

    index: Path

    @property
    def ledger(self) -> Path:
        return self.index.with_name(self.index.name + ".ledger.json")

    @property
    def cache(self) -> Path:
        return self.index.with_name(self.index.name + ".cache.json")

    @property
    def lock(self) -> Path:
        return self.index.with_name(self.index.name + ".lock")


@dataclass(frozen=True)
class NotebookSummary:
    """One line of the per-notebook report."""

    number: int
    path: str
    course_server: str
    notebook_meme: str | None
    questions: int
    labelled: int
    problems: int
    status: Literal["ok", "unreadable"]


@dataclass(frozen=True)
class IndexOutcome:
    """What a build did, for the CLI report, the flow's artifacts and events."""

    status: Literal["written", "unchanged", "refused"]
    index: Path
    rows: int
    notebooks: tuple[NotebookSummary, ...]
    problems: tuple[Problem, ...]
    refusal: str | None
    changed_notebook_memes: tuple[str, ...]
    changed_textbook_paths: tuple[str, ...]
    ledger_changed: bool
    files_read: int
    fragments_reused: int = 0
    """Notebooks whose rows were copied from the previous index instead of rendered."""
    notes: tuple[str, ...] = ()
    refusal_japanese: str = field(default="", compare=False)
    """``refusal`` for a Japanese report."""

    @property
    def changed(self) -> bool:
        return self.status == "written"

    def refusal_in(self, language: Language) -> str | None:
        """Why the index was not written, in ``language`` (``None`` when it was)."""
        if language == "ja" and self.refusal_japanese:
            return self.refusal_japanese
        return self.refusal


def scan(textbook_dir: Path, options: IndexOptions, index: Path | None = None) -> TextbookScan:
    """Scan the textbook; with ``index`` the extraction cache beside it is used."""
    cache = IndexFiles(Path(index)).cache if index is not None else None
    rules = notebook_rules(
        Path(textbook_dir),
        max_bytes=options.max_notebook_bytes,
        allow_outside_links=options.allow_outside_links,
    )
    return scan_textbook(Path(textbook_dir), options.matcher(), cache, rules)


def validate(textbook_scan: TextbookScan, options: IndexOptions) -> list[Problem]:
    return validate_scan(textbook_scan, keep_branch_number=options.keep_branch_number)


def build_index(textbook_dir: Path, index: Path, options: IndexOptions) -> IndexOutcome:
    """Scan, validate and write in one call (what ``cwh textbook index`` does)."""
    textbook_scan = scan(textbook_dir, options, index)
    return write_index(textbook_scan, validate(textbook_scan, options), options, index)


def write_index(
    textbook_scan: TextbookScan,
    problems: Sequence[Problem],
    options: IndexOptions,
    index: Path,
    *,
    now: datetime | None = None,
) -> IndexOutcome:
    """Number the notebooks and replace the index (and ledger) if anything changed.

    Runs under an exclusive lock next to the index, so two builders never interleave
    their ledger updates. Refusals (strict mode with problems, empty textbook over a
    non-empty index) leave both the index and the ledger exactly as they were. The
    build cache (the scan's extractions and the fragments just written) is saved last.
    """
    files = IndexFiles(Path(index))
    keys = [
        NotebookKey(nb.path, nb.notebook_meme, nb.mtime_ns, nb.ctime_ns)
        for nb in textbook_scan.notebooks
    ]
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    with _exclusive_lock(files.lock):
        ledger: NumberingLedger | None = None
        updated_ledger: NumberingLedger | None = None
        if options.numbering == "stable":
            ledger = NumberingLedger.load(files.ledger)
            numbers, updated_ledger = ledger.assign(keys, stamp)
        else:
            numbers = reference_numbers(keys, options.numbering)
        previous = _read_bytes(files.index)
        written = valid_written_state(previous, textbook_scan.written)
        rendered = render_index(
            textbook_scan.notebooks,
            numbers,
            RowOptions(options.qno_format, options.compiled_qlabel(), options.keep_branch_number),
            previous,
            written,
        )
        identical = previous == rendered.content
        earlier = None if previous is None or identical else previous_notebooks(previous, written)
        refusals = _refusal(options, problems, rendered.rows, previous, identical, earlier, index)
        refusal = refusals[0] if refusals is not None else None
        notes = list(textbook_scan.notes)

        def outcome(
            status: Literal["written", "unchanged", "refused"], ledger_changed: bool
        ) -> IndexOutcome:
            memes: tuple[str, ...] = ()
            paths: tuple[str, ...] = ()
            if status == "written":
                memes, paths = changed_notebooks(rendered.fragments, earlier)
            return IndexOutcome(
                status=status,
                index=files.index,
                rows=rendered.rows,
                notebooks=_summaries(textbook_scan, numbers, rendered, problems),
                problems=tuple(problems),
                refusal=refusal,
                changed_notebook_memes=memes,
                changed_textbook_paths=paths,
                ledger_changed=ledger_changed,
                files_read=textbook_scan.files_read,
                fragments_reused=sum(1 for f in rendered.fragments if f.reused),
                notes=tuple(notes),
                refusal_japanese=refusals[1] if refusals is not None else "",
            )

        if refusal is not None:
            _save_cache(files.cache, textbook_scan, textbook_scan.written, notes)
            return outcome("refused", False)
        ledger_changed = False
        if updated_ledger is not None and (ledger != updated_ledger or not files.ledger.exists()):
            ledger_changed = write_bytes_atomic(files.ledger, updated_ledger.to_json_bytes())
        changed = write_bytes_atomic(files.index, rendered.content)
        _save_cache(files.cache, textbook_scan, rendered.written(), notes)
        return outcome("written" if changed else "unchanged", ledger_changed)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return INDEX_FILES.read_bytes(path).data
    except FileNotFoundError:
        return None


def _save_cache(
    path: Path, textbook_scan: TextbookScan, written: WrittenIndex | None, notes: list[str]
) -> None:
    """Persist the build cache; failing to is worth a note, never a failed build."""
    try:
        ExtractionCache(entries=dict(textbook_scan.cache_entries), written=written).save(path)
    except OSError as exc:
        notes.append(f"could not save build cache {path}: {exc.strerror}")


def _refusal(
    options: IndexOptions,
    problems: Sequence[Problem],
    rows: int,
    previous: bytes | None,
    identical: bool,
    earlier: dict[str, PreviousNotebook] | None,
    index: Path,
) -> tuple[str, str] | None:
    """Why the index must not be written, in English and Japanese; ``None`` to write it."""
    if options.strict and problems:
        return _both("textbook.refusal.strict", count=len(problems), index=index)
    if rows or options.allow_empty or previous is None or identical:
        return None
    held = sum(p.rows for p in earlier.values()) if earlier is not None else None
    if held == 0:
        return None
    en, ja = (
        _both("textbook.refusal.unreadable")
        if held is None
        else _both("textbook.refusal.questions", count=held)
    )
    english = text("textbook.refusal.empty", "en", index=index, what=en)
    return english, text("textbook.refusal.empty", "ja", index=index, what=ja)


def _both(key: str, **fields: object) -> tuple[str, str]:
    return text(key, "en", **fields), text(key, "ja", **fields)


def _summaries(
    textbook_scan: TextbookScan,
    numbers: dict[str, int],
    rendered: RenderedIndex,
    problems: Sequence[Problem],
) -> tuple[NotebookSummary, ...]:
    fragments = {fragment.path: fragment for fragment in rendered.fragments}
    problem_count: dict[str, int] = defaultdict(int)
    for problem in problems:
        problem_count[problem.path] += 1
    summaries = [
        NotebookSummary(
            number=numbers[nb.path],
            path=nb.path,
            course_server=course_server_of(nb.path),
            notebook_meme=nb.notebook_meme,
            questions=len(nb.content.questions) if nb.content else 0,
            labelled=fragments[nb.path].labelled if nb.path in fragments else 0,
            problems=problem_count[nb.path],
            status="ok" if nb.content else "unreadable",
        )
        for nb in textbook_scan.notebooks
    ]
    return tuple(sorted(summaries, key=lambda s: (s.number, s.path)))


@contextlib.contextmanager
def _exclusive_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise IndexLockTimeout(
                        f"another index build held {path} for more than {timeout:.0f} s"
                    ) from exc
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
