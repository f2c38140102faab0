"""The demo course on disk: a textbook, users' homes with lc_wrapper logs, a passwd file."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from cwh.progress import DemoCourse, generate_demo_course
from tasks.common import NOT_CACHED, run_logger


@task(name="generate-demo-course", **NOT_CACHED)
def generate(workdir: str, students: int) -> DemoCourse:
    """Generate the course under ``<workdir>/course``, or reuse the one already there."""
    course = generate_demo_course(Path(workdir) / "course", students=students)
    run_logger("cwh.demo").info(
        "demo course in %s: %d students, %d executions", course.root, students, course.executions
    )
    return course
