"""The progress heatmap: one row per student, one column per question, coloured by state.

Three colours, chosen to stay distinguishable for colour-blind readers and in greyscale:
light grey "not run", blue "ok" (the latest run succeeded) and orange "latest failed".
The number of runs is printed in each cell that was run, so repeated attempts show (up to
:data:`MAX_ANNOTATED_CELLS` cells; a whole-faculty matrix is colour only).

The picture is a grid, so it is drawn as one: the cells are a NumPy array of colour codes
scaled up to pixels, and Pillow writes the labels with FreeType. A plotting library would
build an artist per label and per cell and spend seconds laying out a class of hundreds of
students; this takes a small fraction of that and draws the same geometry. Nothing here
holds global state, so reports can be drawn from worker threads.

Labels contain Japanese (``問1-3``, course names): a CJK font is looked up among the usual
Debian packages and used for any group of labels that is not plain ASCII; without one,
Latin text still renders.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

from cwh.messages import Language
from cwh.messages import text as message_text
from cwh.progress.matrix import CellState, ProgressMatrix
from cwh.safe_input import printable

__all__ = ["STATE_COLOURS", "HeatmapImage", "cjk_font", "render_heatmap", "state_name"]

STATE_COLOURS: dict[CellState, str] = {
    CellState.NOT_RUN: "#e3e3e3",
    CellState.OK: "#2c7bb6",
    CellState.FAILED: "#f28e2b",
}
_STATE_ORDER = (CellState.NOT_RUN, CellState.OK, CellState.FAILED)
_STATE_MESSAGES = {
    CellState.NOT_RUN: "progress.state.not_run",
    CellState.OK: "progress.state.ok",
    CellState.FAILED: "progress.state.failed",
}


def state_name(state: CellState, language: Language) -> str:
    """What a legend calls ``state`` in ``language``."""
    return message_text(_STATE_MESSAGES[state], language)


CJK_FONTS = (
    "Noto Sans CJK JP",
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "TakaoGothic",
    "VL Gothic",
    "Droid Sans Fallback",
)
LATIN_FONT = "DejaVu Sans"
CELL_PIXELS = 34
FULL_SIZE_CELLS = 60
MIN_CELL_PIXELS = 12
MAX_ANNOTATED_CELLS = 2500
"""Above this many cells run counts are left out: digits in cells that small are noise."""
LABEL_PIXELS = 12.5
TITLE_PIXELS = 15
MARGIN = 10
LABEL_GAP = 5
TOP_PIXELS = 62
"""Title and legend above the grid."""
RIGHT_PIXELS = 50


@dataclass(frozen=True)
class HeatmapImage:
    """The PNG and where each cell landed (pixels, origin top-left), for checks and links."""

    png: bytes
    width: int
    height: int
    cell_centres: tuple[tuple[tuple[int, int], ...], ...]
    """``cell_centres[row][column]`` = (x, y) of that student's and question's cell."""
    font: str | None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed font family that has Japanese glyphs, if any.

    Matplotlib's font manager is used only as a font catalogue (it caches the list of
    system fonts); a font package installed after that cache was built is found by
    scanning the font directories once more and registering it.
    """
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is not None:
        return found
    for path in font_manager.findSystemFonts():
        try:
            name = font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
        if name in CJK_FONTS:
            font_manager.fontManager.addfont(path)
            installed.add(name)
    return next((name for name in CJK_FONTS if name in installed), None)


@lru_cache(maxsize=16)
def _font_file(family: str) -> str:
    return str(
        font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=True)
    )


@lru_cache(maxsize=64)
def _font(family: str, pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_file(family), pixels)


def _family_for(texts: Sequence[str]) -> str:
    """The CJK font for a group of labels with any non-ASCII text, else the Latin one.

    A whole group (all row labels, all column labels) shares one font so that
    neighbouring labels look alike.
    """
    if all(text.isascii() for text in texts):
        return LATIN_FONT
    return cjk_font() or LATIN_FONT


def _cell_pixels(count: int) -> int:
    """Full-size cells up to 60 per side, then smaller (down to 12 px) to stay readable."""
    if count <= FULL_SIZE_CELLS:
        return CELL_PIXELS
    return max(MIN_CELL_PIXELS, CELL_PIXELS * FULL_SIZE_CELLS // count)


def _rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


# The picture is drawn as palette indices: a few flat colours plus anti-aliasing ramps for
# black text on white and white digits on the two run colours. An indexed PNG of a class of
# hundreds of students encodes several times faster (and smaller) than the same RGB picture.
_BACKGROUND, _EDGE = 0, 4
_STATE_INDEX = {state: number for number, state in enumerate(_STATE_ORDER, start=1)}
_LEVELS = 16
"""Anti-aliasing steps per ramp: more are invisible at label sizes."""
_TEXT_RAMP = 5
_DIGIT_RAMPS = {
    _STATE_INDEX[CellState.OK]: _TEXT_RAMP + _LEVELS,
    _STATE_INDEX[CellState.FAILED]: _TEXT_RAMP + 2 * _LEVELS,
}


def _blend(back: tuple[int, int, int], front: tuple[int, int, int], level: int) -> list[int]:
    share = level / (_LEVELS - 1)
    return [round(b + (f - b) * share) for b, f in zip(back, front, strict=True)]


def _palette() -> list[int]:
    white, black = (255, 255, 255), (0, 0, 0)
    colours = [list(white)]
    colours += [list(_rgb(STATE_COLOURS[state])) for state in _STATE_ORDER]
    colours.append([136, 136, 136])
    colours += [_blend(white, black, level) for level in range(_LEVELS)]
    for state in (CellState.OK, CellState.FAILED):
        colours += [_blend(_rgb(STATE_COLOURS[state]), white, lv) for lv in range(_LEVELS)]
    return [channel for colour in colours for channel in colour]


_PALETTE = _palette()


@dataclass(frozen=True)
class _Layout:
    """Where everything goes, in pixels."""

    width: int
    height: int
    left: int
    cell_width: int
    cell_height: int
    plot_width: int
    plot_height: int
    label_pixels: int
    column_label_length: int


def render_heatmap(
    matrix: ProgressMatrix, *, title: str | None = None, language: Language = "en"
) -> HeatmapImage:
    rows, columns = len(matrix.students), len(matrix.questions)
    # Names are untrusted: a line break or control character must not break the layout.
    row_labels = [printable(matrix.label(u)) for u in matrix.students]
    column_labels = [printable(q.label) for q in matrix.questions]
    title_text = printable(title or message_text("progress.title", language, course=matrix.course))
    legend = [state_name(state, language) for state in _STATE_ORDER]
    legend_font_family = _family_for(legend)
    layout = _layout(rows, columns, row_labels, column_labels, title_text, legend)
    size = layout.label_pixels
    text = Image.new("L", (layout.width, layout.height), 0)
    draw = ImageDraw.Draw(text)
    draw.text(
        (MARGIN, 8), title_text, font=_font(_family_for([title_text]), TITLE_PIXELS), fill=255
    )
    indices = np.zeros((layout.height, layout.width), dtype=np.uint8)
    _draw_legend(draw, indices, _font(legend_font_family, size), size, MARGIN, 36, legend)
    top, left = TOP_PIXELS, layout.left
    if rows and columns:
        grid = _grid_indices(matrix, layout.cell_width, layout.cell_height)
        indices[top : top + grid.shape[0], left : left + grid.shape[1]] = grid
        row_font = _font(_family_for(row_labels), size)
        for row, label in enumerate(row_labels):
            y = top + row * layout.cell_height + layout.cell_height // 2
            draw.text((left - LABEL_GAP, y), label, font=row_font, fill=255, anchor="rm")
        _draw_column_labels(text, column_labels, _font(_family_for(column_labels), size), layout)
    else:
        missing = message_text(
            "progress.heatmap.no_students" if not rows else "progress.heatmap.no_questions",
            language,
        )
        draw.text(
            (left + layout.plot_width // 2, top + layout.plot_height // 2),
            missing,
            font=_font(_family_for([missing]), size),
            fill=255,
            anchor="mm",
        )
    levels = np.asarray(text) >> 4
    indices = np.where(levels > 0, levels + _TEXT_RAMP, indices).astype(np.uint8)
    if rows and columns and rows * columns <= MAX_ANNOTATED_CELLS:
        _draw_run_counts(indices, matrix, layout)
    image = Image.fromarray(indices, "P")
    image.putpalette(_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    xs = [left + column * layout.cell_width + layout.cell_width // 2 for column in range(columns)]
    centres = tuple(
        tuple(zip(xs, [y] * columns, strict=True))
        for y in (top + row * layout.cell_height + layout.cell_height // 2 for row in range(rows))
    )
    font = _shown_font(row_labels)
    return HeatmapImage(buffer.getvalue(), layout.width, layout.height, centres, font)


def _layout(
    rows: int,
    columns: int,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str,
    legend: Sequence[str],
) -> _Layout:
    cell_width, cell_height = _cell_pixels(columns), _cell_pixels(rows)
    scale = min(1.0, min(cell_width, cell_height) / CELL_PIXELS + 0.25)
    size = max(7, round(LABEL_PIXELS * scale))
    row_font = _font(_family_for(row_labels), size)
    column_font = _font(_family_for(column_labels), size)
    row_label_width = max((row_font.getlength(label) for label in row_labels), default=0.0)
    column_length = int(max((column_font.getlength(lb) for lb in column_labels), default=0.0)) + 2
    left = MARGIN + int(row_label_width) + LABEL_GAP + 1
    plot_width = max(columns, 4) * cell_width
    plot_height = max(rows, 2) * cell_height
    width = max(
        left + plot_width + RIGHT_PIXELS,
        MARGIN * 2 + int(_font(_family_for([title]), TITLE_PIXELS).getlength(title)),
        MARGIN * 2 + _legend_width(_font(_family_for(legend), size), size, legend),
    )
    height = TOP_PIXELS + plot_height + LABEL_GAP + column_length + MARGIN
    return _Layout(
        width, height, left, cell_width, cell_height, plot_width, plot_height, size, column_length
    )


def _shown_font(row_labels: Sequence[str]) -> str | None:
    """The CJK family labels use when one is installed (what a reader's Japanese needs)."""
    return cjk_font() or (LATIN_FONT if all(label.isascii() for label in row_labels) else None)


def _state_codes(matrix: ProgressMatrix) -> np.ndarray:
    """Students x questions of palette indices of the cells' states."""
    codes = np.full(
        (len(matrix.students), len(matrix.questions)),
        _STATE_INDEX[CellState.NOT_RUN],
        dtype=np.uint8,
    )
    column_of = {q.qno: column for column, q in enumerate(matrix.questions)}
    row_of = {user: row for row, user in enumerate(matrix.students)}
    ok, failed = _STATE_INDEX[CellState.OK], _STATE_INDEX[CellState.FAILED]
    for (user, qno), cell in matrix.cells.items():
        row, column = row_of.get(user), column_of.get(qno)
        if row is not None and column is not None:
            codes[row, column] = failed if cell.latest_failed else ok
    return codes


def _grid_indices(matrix: ProgressMatrix, cell_width: int, cell_height: int) -> np.ndarray:
    """The cells scaled up to pixels, with white lines between cells."""
    codes = _state_codes(matrix)
    pixels = codes.repeat(cell_height, axis=0).repeat(cell_width, axis=1)
    line = 2 if min(cell_width, cell_height) >= 20 else 1
    pixels[_between_cells(len(matrix.students), cell_height, line)] = _BACKGROUND
    pixels[:, _between_cells(len(matrix.questions), cell_width, line)] = _BACKGROUND
    return pixels


def _between_cells(count: int, size: int, line: int) -> np.ndarray:
    """Which pixels along one axis belong to the lines between cells (not the outer edge)."""
    within = np.arange(count * size) % size
    after, before = line - line // 2, line // 2
    mask = (within < after) | (within >= size - before)
    mask[:after] = False
    if before:
        mask[-before:] = False
    return mask


def _draw_run_counts(indices: np.ndarray, matrix: ProgressMatrix, layout: _Layout) -> None:
    """White run counts in the middle of every cell that was run."""
    height, width = len(matrix.students) * layout.cell_height, layout.plot_width
    digits = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(digits)
    font = _font(LATIN_FONT, max(7, min(10, layout.cell_height // 3)))
    for row, user in enumerate(matrix.students):
        y = row * layout.cell_height + layout.cell_height // 2
        for column, question in enumerate(matrix.questions):
            cell = matrix.cell(user, question.qno)
            if cell is not None:
                x = column * layout.cell_width + layout.cell_width // 2
                draw.text((x, y), str(cell.runs), font=font, fill=255, anchor="mm")
    levels = np.asarray(digits) >> 4
    top, left = TOP_PIXELS, layout.left
    plot = indices[top : top + height, left : left + width]
    for state, ramp in _DIGIT_RAMPS.items():
        on_state = (levels > 0) & (plot == state)
        plot[on_state] = levels[on_state] + ramp


def _draw_column_labels(
    text: Image.Image, labels: Sequence[str], font: ImageFont.FreeTypeFont, layout: _Layout
) -> None:
    """Labels read bottom to top, ending just below their column.

    They are written horizontally into one strip (right-aligned, one label per column
    pitch) and the strip is turned a quarter counter-clockwise, which costs one rotation
    instead of one per label.
    """
    length, pitch = layout.column_label_length, layout.cell_width
    strip = Image.new("L", (length, len(labels) * pitch), 0)
    draw = ImageDraw.Draw(strip)
    for column, label in enumerate(labels):
        draw.text((length, column * pitch + pitch // 2), label, font=font, fill=255, anchor="rm")
    turned = strip.transpose(Image.Transpose.ROTATE_90)
    text.paste(turned, (layout.left, TOP_PIXELS + layout.plot_height + LABEL_GAP))


def _legend_width(font: ImageFont.FreeTypeFont, size: int, names: Sequence[str]) -> int:
    return sum(size + 4 + int(font.getlength(name)) + 14 for name in names)


def _draw_legend(
    draw: ImageDraw.ImageDraw,
    indices: np.ndarray,
    font: ImageFont.FreeTypeFont,
    size: int,
    x: int,
    y: int,
    names: Sequence[str],
) -> None:
    """A swatch and a name per state; swatches go into the index picture, names as text."""
    for state, name in zip(_STATE_ORDER, names, strict=True):
        indices[y : y + size + 1, x : x + size + 1] = _EDGE
        indices[y + 1 : y + size, x + 1 : x + size] = _STATE_INDEX[state]
        draw.text((x + size + 4, y + size // 2), name, font=font, fill=255, anchor="lm")
        x += size + 4 + int(font.getlength(name)) + 14
