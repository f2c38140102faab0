"""The heatmap PNG, looked at pixel by pixel: one row per student, one column per question."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from cwh.progress import (
    STATE_COLOURS,
    CellState,
    ProgressCell,
    Question,
    build_matrix,
    cjk_font,
    render_heatmap,
)

QUESTIONS = [
    Question("01-000", None, "python-basic/01.ipynb", "python-basic"),
    Question("01-001", "問1-1", "python-basic/01.ipynb", "python-basic"),
    Question("01-002", "問1-2", "python-basic/01.ipynb", "python-basic"),
    Question("02-000", "問 2-1", "python-basic/02.ipynb", "python-basic"),
]
CELLS = [
    ProgressCell("annx01", "01-000", 1, 1, "ok", 10),
    ProgressCell("annx01", "01-002", 3, 1, "error", 20),
    ProgressCell("bobx02", "02-000", 2, 2, "ok", 30),
    ProgressCell("satox03", "01-001", 1, 0, "error", 40),
]


def _pixels(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_every_cell_has_the_colour_of_its_state() -> None:
    matrix = build_matrix("python-basic", QUESTIONS, CELLS, roster=["emptyx04"])
    image = render_heatmap(matrix)
    pixels = _pixels(image.png)
    assert pixels.shape[:2] == (image.height, image.width)
    assert len(image.cell_centres) == len(matrix.students) == 4
    assert all(len(row) == len(QUESTIONS) for row in image.cell_centres)
    xs = [x for x, _ in image.cell_centres[0]]
    ys = [row[0][1] for row in image.cell_centres]
    assert xs == sorted(set(xs)) and ys == sorted(set(ys))
    step = xs[1] - xs[0]
    assert step >= 20, "cells too small to read"
    for row, user in enumerate(matrix.students):
        for column, question in enumerate(matrix.questions):
            x, y = image.cell_centres[row][column]
            # Off-centre: the run count is printed in the middle of run cells.
            sample = pixels[y, x - step // 3, :3]
            expected = np.array(to_rgb(STATE_COLOURS[matrix.state(user, question.qno)]))
            assert np.abs(sample - expected).max() < 0.02, (user, question.qno)


def test_size_follows_the_matrix_and_japanese_labels_have_a_font() -> None:
    small = render_heatmap(build_matrix("python-basic", QUESTIONS[:2], CELLS, roster=[]))
    large = render_heatmap(build_matrix("python-basic", QUESTIONS, CELLS, roster=["x" * 12]))
    assert large.width > small.width and large.height > small.height
    assert cjk_font() is not None, "install fonts-ipafont-gothic (or fonts-noto-cjk)"
    assert large.font == cjk_font()


@pytest.mark.parametrize(("students", "questions"), [([], QUESTIONS), (["annx01"], [])])
def test_empty_matrices_still_render(students: list[str], questions: list[Question]) -> None:
    image = render_heatmap(build_matrix("python-basic", questions, [], roster=students))
    assert image.png.startswith(b"\x89PNG")
    assert image.cell_centres == () or all(len(r) == 0 for r in image.cell_centres)
    assert _pixels(image.png).shape[:2] == (image.height, image.width)


def test_states_have_distinct_colours() -> None:
    colours = {STATE_COLOURS[state] for state in CellState}
    assert len(colours) == 3
