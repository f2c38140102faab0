"""Export throughput: csv, Moodle, xlsx, attempts and pseudonymised csv of a large course.

Usage: ``uv run python bench/exports.py [--students 400] [--questions 120]``

A synthetic course (every student ran two thirds of the questions, the drill-down shows
three attempts of a few hundred characters of code and output per run cell) is exported in
every format; each figure is the median of 3 runs, printed beside a baseline measured in the same
run: writing the same rows with the standard ``csv`` module. Ratios are what matter on a noisy
machine.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from cwh.progress import (
    EXPORT_COLUMNS,
    Attempt,
    ProgressCell,
    ProgressMatrix,
    Pseudonymizer,
    Question,
    build_matrix,
    render_attempts,
    render_csv,
    render_moodle,
    render_xlsx,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def course(students: int, questions: int) -> ProgressMatrix:
    listed = [Question(f"01-{n:03}", f"問{n}", "c/nb.ipynb", "c") for n in range(questions)]
    users = [f"student{n:04}x{n:06x}" for n in range(students)]
    cells = [
        ProgressCell(user, q.qno, 1 + n % 3, n % 2, "ok" if n % 2 else "error", 1795355773 + n)
        for s, user in enumerate(users)
        for n, q in enumerate(listed)
        if (s + n) % 3
    ]
    return build_matrix("c", listed, cells, users)


def attempts_of(matrix: ProgressMatrix) -> dict[tuple[str, str], tuple[Attempt, ...]]:
    """Three attempts per run cell, newest first, with code and output of a real size."""
    code = "for i in range(10):\n    print(f'line {i}', i * i)\n" * 4
    output = "".join(f"line {i} {i * i}\n" for i in range(10)) * 2
    return {
        (user, qno): tuple(
            Attempt(user, qno, cell.last_time - n, cell.last_time - n + 1,
                    "ok" if n else "error", code, output, "ValueError" if n else "",
                    "bad value" if n else "", f"{user}{qno}{n}")
            for n in range(3)
        )
        for (user, qno), cell in matrix.cells.items()
    }  # fmt: skip


def median_seconds(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def baseline(matrix: ProgressMatrix) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for user in matrix.students:
        for question in matrix.questions:
            cell = matrix.cell(user, question.qno)
            writer.writerow(
                [matrix.course, user, user, question.qno, question.qlabel]
                + ([cell.runs, cell.ok_runs, cell.last_status, cell.last_time] if cell else [])
            )
    return buffer.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--questions", type=int, default=120)
    args = parser.parse_args()
    matrix = course(args.students, args.questions)
    pseudonyms = Pseudonymizer(b"b" * 32).names
    attempts = attempts_of(matrix)
    rows = len(matrix.students) * len(matrix.questions)
    base = median_seconds(lambda: baseline(matrix))
    print(f"{args.students} students x {args.questions} questions = {rows} rows")
    print(f"baseline (csv module, same rows): {base:.3f} s")
    for name, run in (
        ("csv", lambda: render_csv(matrix, TOKYO)),
        ("csv pseudonymised", lambda: render_csv(matrix, TOKYO, pseudonyms)),
        ("moodle", lambda: render_moodle(matrix)),
        ("xlsx", lambda: render_xlsx([matrix], TOKYO)),
        (f"attempts ({sum(map(len, attempts.values()))})", lambda: render_attempts(
            matrix, attempts, TOKYO)),
        ("attempts pseudonymised", lambda: render_attempts(
            matrix, attempts, TOKYO, pseudonyms, free_text=False)),
    ):  # fmt: skip
        seconds = median_seconds(run)
        print(f"{name:>24}: {seconds:.3f} s ({seconds / base:.1f} x baseline)")


if __name__ == "__main__":
    main()
