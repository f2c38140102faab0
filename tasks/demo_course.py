"""The demo course on disk: a textbook, users' homes with lc_wrapper logs, a passwd file."""

from __future__ import annotations

import os
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


def students_own_their_files(course: DemoCourse) -> bool:
    """Whether the first student owns their logs, as on a manager node.

    Only a generator running as root can give the files away; otherwise every execution's
    uid differs from its files' owner, all are suspect, and the demo's reports count them
    (saying so) rather than showing an empty course.
    """
    student = course.students[0]
    for log in (course.homes_dir / student.user_name).rglob("*.log"):
        if not log.is_symlink():
            return os.lstat(log).st_uid == student.uid
    return True
