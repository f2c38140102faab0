"""Flow ``cwh-demo``: the whole progress pipeline on a generated course, as flow runs.

Generates (or reuses) a demo course, then runs the real flows one after another as
sub-flow runs visible in the Prefect UI: ``index-textbook`` -> ``backfill-logs`` (into the
embedded store) -> ``progress-report``. Everything lives under one work directory, so a
second run reuses the course, finds every document already stored and only renders a
fresh report. Run by anyone but root, the generated homes cannot belong to their students,
so every execution is suspect: the report then counts them and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from prefect import flow

from flows.backfill_logs import backfill_logs
from flows.index_textbook import index_textbook
from flows.progress_report import progress_report
from tasks.backfill import BackfillCounts
from tasks.demo_course import generate, students_own_their_files
from tasks.progress_reports import CourseSummary

QLABEL_PATTERN = r"問\s*\d+-\d+"


class DemoResult(TypedDict):
    """Where the course is, what the backfill stored and each course's report."""

    course: str
    backfill: BackfillCounts
    reports: list[CourseSummary]


@flow(name="cwh-demo", description="Demo: index a generated course, backfill it, report.")
def demo(workdir: str, students: int = 30) -> DemoResult:
    course = generate(workdir, students)
    database = str(Path(workdir) / "executions.sqlite3")
    index_textbook(
        textbook_dir=str(course.textbook_dir),
        output=str(course.index),
        qlabel_pattern=QLABEL_PATTERN,
    )
    backfill = backfill_logs(
        homes_dir=str(course.homes_dir),
        index=str(course.index),
        passwd=str(course.passwd),
        database=database,
        checkpoint=str(Path(workdir) / "backfill.checkpoint.json"),
    )
    reports = progress_report(
        index=str(course.index),
        roster=str(course.passwd),
        database=database,
        output_dir=str(Path(workdir) / "reports"),
        include_suspect=not students_own_their_files(course),
    )
    return {"course": str(course.root), "backfill": backfill, "reports": reports}
