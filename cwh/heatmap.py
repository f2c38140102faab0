"""The progress heatmap: one row per student, one column per question, coloured by state.

Three colours, chosen to stay distinguishable for colour-blind readers and in greyscale:
light grey "not run", blue "ok" (the latest run succeeded) and orange "latest failed".
The number of runs is printed in each cell that was run, so repeated attempts show (up to
:data:`MAX_ANNOTATED_CELLS` cells; a whole-faculty matrix is colour only).

Rendering uses Matplotlib's object API on the Agg canvas (no pyplot state, no display),
so reports can be drawn from worker threads. Labels contain Japanese (``問1-3``, course
names): a CJK font is looked up among the usual Debian packages and used as a fallback
behind the default font; without one, Latin text still renders.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cwh.progress import CellState, ProgressMatrix

__all__ = ["STATE_COLOURS", "HeatmapImage", "cjk_font", "render_heatmap"]

STATE_COLOURS: dict[CellState, str] = {
    CellState.NOT_RUN: "#e3e3e3",
    CellState.OK: "#2c7bb6",
    CellState.FAILED: "#f28e2b",
}
_STATE_ORDER = (CellState.NOT_RUN, CellState.OK, CellState.FAILED)
CJK_FONTS = (
    "Noto Sans CJK JP",
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "TakaoGothic",
    "VL Gothic",
    "Droid Sans Fallback",
)
CELL_INCHES = 0.34
TOP_INCHES = 0.95
FULL_SIZE_CELLS = 60
MIN_CELL_INCHES = 0.12
MAX_ANNOTATED_CELLS = 2500
"""Above this many cells run counts are left out: they would cost seconds to draw."""
DPI = 100


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

    Matplotlib caches the list of system fonts; a font package installed after the cache
    was built is found by scanning the font directories once more and registering it.
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


def render_heatmap(matrix: ProgressMatrix, *, title: str | None = None) -> HeatmapImage:
    font = cjk_font()
    families = ["DejaVu Sans", font] if font else ["DejaVu Sans"]
    rows, columns = len(matrix.students), len(matrix.questions)
    row_labels = [matrix.label(u) for u in matrix.students]
    column_labels = [q.label for q in matrix.questions]
    cell_width, cell_height = _cell_inches(columns), _cell_inches(rows)
    label_size = 9 * min(1.0, min(cell_width, cell_height) / CELL_INCHES + 0.25)
    left = 0.6 + 0.0083 * label_size * max((len(label) for label in row_labels), default=4)
    bottom = 0.3 + 0.0078 * label_size * max((len(label) for label in column_labels), default=4)
    plot_width, plot_height = max(columns, 4) * cell_width, max(rows, 2) * cell_height
    width = left + plot_width + 0.5
    height = TOP_INCHES + bottom + plot_height
    with rc_context({"font.family": families, "font.size": label_size}):
        figure = Figure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_axes(
            (left / width, bottom / height, plot_width / width, plot_height / height)
        )
        figure.suptitle(
            title or f"Progress: {matrix.course}",
            x=0.1 / width,
            y=1 - 0.08 / height,
            ha="left",
            va="top",
            fontsize=11,
        )
        if rows and columns:
            _draw_cells(axes, matrix, row_labels, column_labels)
        else:
            axes.set_axis_off()
            missing = "students" if not rows else "questions"
            axes.text(0.5, 0.5, f"no {missing} to show", ha="center", va="center")
        figure.legend(
            handles=[
                Patch(facecolor=STATE_COLOURS[s], edgecolor="#888888", label=s.value)
                for s in _STATE_ORDER
            ],
            loc="upper left",
            ncols=3,
            frameon=False,
            bbox_to_anchor=(0.05 / width, 1 - 0.38 / height),
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        centres = _centres(axes, rows, columns, figure.bbox.height)
    png = buffer.getvalue()
    pixel_width, pixel_height = struct.unpack(">II", png[16:24])
    return HeatmapImage(png, pixel_width, pixel_height, centres, font)


def _cell_inches(count: int) -> float:
    """Full-size cells up to 60 per side, then smaller (down to 0.12 in) to stay readable."""
    if count <= FULL_SIZE_CELLS:
        return CELL_INCHES
    return max(MIN_CELL_INCHES, CELL_INCHES * FULL_SIZE_CELLS / count)


def _draw_cells(
    axes: Axes, matrix: ProgressMatrix, row_labels: Sequence[str], column_labels: Sequence[str]
) -> None:
    codes = [
        [_STATE_ORDER.index(matrix.state(user, q.qno)) for q in matrix.questions]
        for user in matrix.students
    ]
    colours = ListedColormap([STATE_COLOURS[s] for s in _STATE_ORDER])
    axes.imshow(codes, cmap=colours, vmin=0, vmax=2, aspect="auto", interpolation="none")
    # Labels as plain texts next to the axes: tick objects cost several artists each,
    # which dominates drawing a class of hundreds of students.
    axes.set_xticks([])
    axes.set_yticks([])
    below = axes.get_xaxis_transform()
    for column, label in enumerate(column_labels):
        axes.text(column, -0.004, label, transform=below, rotation=90, ha="center", va="top")
    beside = axes.get_yaxis_transform()
    for row, label in enumerate(row_labels):
        axes.text(-0.006, row, label, transform=beside, ha="right", va="center")
    # Cell borders as two line collections: minor ticks would cost a Tick object each.
    axes.hlines(
        [y - 0.5 for y in range(1, len(row_labels))], -0.5, len(column_labels) - 0.5,
        colors="white", linewidth=1.5,
    )  # fmt: skip
    axes.vlines(
        [x - 0.5 for x in range(1, len(column_labels))], -0.5, len(row_labels) - 0.5,
        colors="white", linewidth=1.5,
    )  # fmt: skip
    for spine in axes.spines.values():
        spine.set_visible(False)
    if len(matrix.students) * len(matrix.questions) > MAX_ANNOTATED_CELLS:
        return
    for row, user in enumerate(matrix.students):
        for column, question in enumerate(matrix.questions):
            cell = matrix.cell(user, question.qno)
            if cell is not None:
                axes.text(
                    column, row, str(cell.runs), ha="center", va="center",
                    fontsize=7, color="white",
                )  # fmt: skip


def _centres(
    axes: Axes, rows: int, columns: int, pixel_height: float
) -> tuple[tuple[tuple[int, int], ...], ...]:
    transform = axes.transData
    result = []
    for row in range(rows):
        line = []
        for column in range(columns):
            x, y = transform.transform((column, row))
            line.append((int(float(x)), int(pixel_height - float(y))))
        result.append(tuple(line))
    return tuple(result)
