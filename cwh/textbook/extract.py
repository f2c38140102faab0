"""Read one textbook notebook and keep what the MEME index needs from it.

The rules keep question numbers in line with indexes that existing data refers to:

* a cell whose source is empty is skipped entirely: it neither counts nor resets the
  remembered markdown;
* a markdown cell becomes the "preceding markdown";
* a code cell with ``metadata.lc_cell_meme.current`` is a question cell, numbered in
  notebook order; a code cell without a MEME is recorded (validation reports it) but
  not numbered; either kind of code cell resets the preceding markdown;
* raw cells change nothing.

The result keeps the raw MEME and the preceding markdown text rather than a finished
``qlabel``, so a cached extraction stays valid whatever label pattern or branch
handling a later build asks for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from cwh.safe_input import DEFAULT_MAX_VALUES, InputRefused, decode_utf8, parse_json

SUPPORTED_NBFORMAT = 4
MAX_REASON_LENGTH = 300
MAX_NOTEBOOK_DEPTH = 64
"""Deepest JSON nesting read in a notebook; nbformat's own checks recurse through it."""
MAX_NOTEBOOK_VALUES = DEFAULT_MAX_VALUES
"""Most JSON values a notebook may hold; bounds the memory a parsed notebook takes."""


class UnreadableNotebook(ValueError):
    """The file is not a usable nbformat 4 notebook; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QuestionCell:
    """A numbered code cell: its raw MEME, its code and the markdown before it."""

    position: int
    cell_meme: str
    code: str
    preceding_markdown: str | None


@dataclass(frozen=True)
class NotebookContent:
    """What a notebook contributes to the index and to validation."""

    notebook_meme: str | None
    questions: tuple[QuestionCell, ...]
    memeless_code_cells: tuple[int, ...]
    """0-based positions (in the notebook's cell list) of non-empty code cells without a MEME."""


def read_notebook(data: bytes, name: str = "notebook") -> NotebookContent:
    """Parse and validate notebook bytes with nbformat, then extract the question cells.

    Raises :class:`UnreadableNotebook` for anything that is not a valid nbformat 4
    notebook (any minor version) so the caller can report it and carry on. The JSON is
    checked by :mod:`cwh.safe_input` first (UTF-8, nesting depth, size), so nbformat never
    recurses deeper than :data:`MAX_NOTEBOOK_DEPTH`; ``name`` is used in its messages only.
    """
    import nbformat

    try:
        text = decode_utf8(data, name)
        if not text.strip():
            raise UnreadableNotebook("the file is empty")
        document = parse_json(
            text, name, max_depth=MAX_NOTEBOOK_DEPTH, max_values=MAX_NOTEBOOK_VALUES
        )
    except InputRefused as exc:
        raise UnreadableNotebook(f"the file {exc.reason}") from None
    if not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else "a single value"
        raise UnreadableNotebook(f"the file is not a notebook: its JSON is {kind}, not an object")
    major = document.get("nbformat")
    if major != SUPPORTED_NBFORMAT:
        shown = major if isinstance(major, int) and not isinstance(major, bool) else "(missing)"
        raise UnreadableNotebook(
            f"nbformat {shown} is not supported (nbformat 4 is required; "
            "open and save it with a current Jupyter to convert it)"
        )
    try:
        notebook = nbformat.v4.to_notebook_json(document)  # type: ignore[no-untyped-call]
    except (AttributeError, KeyError) as exc:
        raise UnreadableNotebook(f"invalid nbformat 4 notebook: missing the key {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise UnreadableNotebook(f"the file is not a notebook: {_first_line(str(exc))}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise UnreadableNotebook(f"invalid nbformat 4 notebook: {_describe(exc)}") from exc
    return extract_content(notebook)


def extract_content(notebook: dict[str, Any]) -> NotebookContent:
    """Apply the cell-walk rules to an already validated notebook."""
    notebook_meme = current_meme(notebook.get("metadata"), "lc_notebook_meme")
    questions: list[QuestionCell] = []
    memeless: list[int] = []
    preceding_markdown: str | None = None
    for position, cell in enumerate(notebook.get("cells", [])):
        source = _source_text(cell.get("source", ""))
        if not source:
            continue
        cell_type = cell.get("cell_type")
        if cell_type == "markdown":
            preceding_markdown = source
        elif cell_type == "code":
            cell_meme = current_meme(cell.get("metadata"), "lc_cell_meme")
            if cell_meme is None:
                memeless.append(position)
            else:
                questions.append(QuestionCell(position, cell_meme, source, preceding_markdown))
            preceding_markdown = None
    return NotebookContent(notebook_meme, tuple(questions), tuple(memeless))


def current_meme(metadata: Any, key: str) -> str | None:
    """``metadata[key]["current"]`` when it is a non-blank string, else ``None``."""
    if not isinstance(metadata, dict):
        return None
    entry = metadata.get(key)
    if not isinstance(entry, dict):
        return None
    value = entry.get("current")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _source_text(source: Any) -> str:
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def _describe(exc: Exception) -> str:
    path = getattr(exc, "path", None) or getattr(exc, "absolute_path", None)
    message = getattr(exc, "message", None) or str(exc)
    where = "/".join(str(part) for part in path) if path else ""
    text = _first_line(str(message))
    return f"{text} (at {where})" if where else text


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    if len(line) > MAX_REASON_LENGTH:
        return line[: MAX_REASON_LENGTH - 1] + "…"
    return line
