"""The progress report builder: per course, the students x questions matrix from the store,
its summary, heatmap and HTML page, the files on disk and the Prefect artifacts.

The store aggregates (one query per course, no documents fetched), so a report costs the
same with a hundred executions or a million. Executions the enricher flagged ``suspect``
are left out unless asked for, and every report says how many there are. ``cwh report``
calls :func:`run_report`; the ``progress-report`` flow calls :func:`build_reports` and
:func:`publish`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TypedDict

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from cwh.defaults import DEFAULT_TIMEZONE
from cwh.progress import (
    Completion,
    HeatmapImage,
    ProgressMatrix,
    Question,
    ReportConfigError,
    Roster,
    build_matrix,
    completion,
    courses_of,
    describe_window,
    load_roster,
    parse_zone,
    questions_from_index_text,
    render_heatmap,
    render_html,
    render_markdown,
)
from tasks.common import NOT_CACHED, retrying, run_logger
from tasks.report_exports import (
    ExportFiles,
    ExportRequest,
    export_names,
    exports_markdown,
    publish_export_links,
    write_exports,
)
from tasks.report_files import ReportFiles, course_slug, default_report_dir, write_report_files
from tasks.report_links import report_url
from tasks.store import ProgressQuery, Store, StoreConfig
from tasks.stores import open_store

INLINE_IMAGE_LIMIT = 256 * 1024
REPORTS_AT_ONCE = 2
"""Courses reported at the same time (see :func:`course_reports`)."""


@dataclass(frozen=True)
class ReportConfig:
    """What to report on (index, roster, courses, window, students), from which store, where."""

    index: str
    store: StoreConfig = field(default_factory=StoreConfig)
    roster: str | None = None
    courses: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    students: tuple[str, ...] | None = None
    output_dir: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    include_suspect: bool = False
    """Count suspect executions too (by default they are left out, and counted apart)."""
    exports: ExportRequest = field(default_factory=ExportRequest)
    """csv / xlsx / Moodle files to write beside the HTML, with names or pseudonyms."""

    def zone(self) -> tzinfo:
        return parse_zone(self.timezone)

    def window(self) -> str:
        return describe_window(self.since, self.until, self.zone(), self.timezone)

    def report_dir(self) -> Path:
        return Path(self.output_dir).expanduser() if self.output_dir else default_report_dir()


class CourseSummary(TypedDict):
    """One course's report as plain data: what the flow returns per course."""

    course: str
    students: int
    questions: int
    stuck: int
    suspect_left_out: int
    png: str | None
    html: str | None
    latest_html: str | None
    query_seconds: float
    exports: dict[str, str]
    """Export files by format (csv, xlsx, moodle)."""


@dataclass(frozen=True)
class CourseReport:
    """One course's report: its matrix, summary and renderings, and the files once written."""

    matrix: ProgressMatrix
    summary: Completion
    markdown: str
    html: str
    heatmap: HeatmapImage
    files: ReportFiles | None = None
    query_seconds: float = 0.0
    exports: ExportFiles | None = None

    def to_dict(self) -> CourseSummary:
        return {
            "course": self.matrix.course,
            "students": len(self.matrix.students),
            "questions": len(self.matrix.questions),
            "stuck": len(self.summary.stuck),
            "suspect_left_out": 0 if self.matrix.suspect_included else self.matrix.suspect_runs,
            "png": str(self.files.png) if self.files else None,
            "html": str(self.files.html) if self.files else None,
            "latest_html": str(self.files.latest_html) if self.files else None,
            "query_seconds": round(self.query_seconds, 3),
            "exports": {
                name: str(path) for name, path in (self.exports or ExportFiles()).paths().items()
            },
        }


def load_inputs(config: ReportConfig) -> tuple[list[Question], Roster, list[str]]:
    """The textbook's questions, the roster and the courses to report on."""
    index = Path(config.index)
    try:
        questions = questions_from_index_text(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportConfigError(
            f"MEME index {index} does not exist; build it with 'cwh textbook index'"
        ) from None
    roster = load_roster(Path(config.roster)) if config.roster else Roster()
    known = courses_of(questions)
    if config.courses:
        unknown = [c for c in config.courses if c not in known]
        if unknown:
            raise ReportConfigError(
                f"course(s) {', '.join(unknown)} not in the index (known: {', '.join(known)})"
            )
        return questions, roster, list(config.courses)
    return questions, roster, known


def course_report(
    store: Store,
    config: ReportConfig,
    questions: list[Question],
    roster: Roster,
    course: str,
    generated_at: datetime,
) -> CourseReport:
    """Query, lay out and render one course (files are written by the caller)."""
    zone = config.zone()
    started = time.perf_counter()
    cells = store.progress_rows(
        course,
        config.since,
        config.until,
        config.students,
        include_suspect=config.include_suspect,
    )
    suspect = store.suspect_count(
        ProgressQuery(course, config.since, config.until, config.students)
    )
    elapsed = time.perf_counter() - started
    matrix = replace(
        build_matrix(course, questions, cells, roster.students(course), config.students),
        suspect_runs=suspect,
        suspect_included=config.include_suspect,
    )
    summary = completion(matrix)
    window = config.window()
    heatmap = render_heatmap(
        matrix, title=f"Progress: {course} ({generated_at.astimezone(zone):%Y-%m-%d %H:%M %Z})"
    )
    markdown = render_markdown(matrix, summary, generated_at=generated_at, window=window, tz=zone)
    page = render_html(matrix, summary, heatmap, generated_at=generated_at, window=window, tz=zone)
    return CourseReport(matrix, summary, markdown, page, heatmap, query_seconds=elapsed)


def course_reports(
    store: Store,
    config: ReportConfig,
    questions: list[Question],
    roster: Roster,
    courses: Sequence[str],
    generated_at: datetime,
) -> list[CourseReport]:
    """The reports of ``courses``, in order, :data:`REPORTS_AT_ONCE` at a time.

    One course's matrix, heatmap and HTML are built in Python while the store counts the
    next course's executions, so the two overlap instead of queueing.
    """
    if len(courses) <= 1:
        return [course_report(store, config, questions, roster, c, generated_at) for c in courses]
    with ThreadPoolExecutor(REPORTS_AT_ONCE) as pool:
        return list(
            pool.map(
                lambda course: course_report(
                    store, config, questions, roster, course, generated_at
                ),
                courses,
            )
        )


def run_report(
    config: ReportConfig, *, store: Store | None = None, now: datetime | None = None
) -> list[CourseReport]:
    """Every requested course's report, with its files written. Used by ``cwh report``."""
    generated_at = now or datetime.now(UTC)
    questions, roster, courses = load_inputs(config)
    names = export_names(config.exports)
    target = store or open_store(config.store)
    try:
        reports = []
        built = course_reports(target, config, questions, roster, courses, generated_at)
        for course, report in zip(courses, built, strict=True):
            files = write_report_files(
                config.report_dir(), course, report.heatmap.png, report.html, generated_at
            )
            reports.append(replace(report, files=files))
        if config.exports.formats:
            exported = write_exports(
                config.report_dir(),
                [r.matrix for r in reports],
                config.exports,
                names,
                config.zone(),
                generated_at,
            )
            reports = [replace(r, exports=e) for r, e in zip(reports, exported, strict=True)]
        return reports
    finally:
        if store is None:
            target.close()


@task(name="publish-course-report", **NOT_CACHED)
def publish(report: CourseReport, config: ReportConfig) -> CourseSummary:
    """Table, summary and link artifacts for one course."""
    assert report.files is not None
    slug = course_slug(report.matrix.course)
    zone = config.zone()
    html_uri = report_url(report.files.latest_html)
    create_table_artifact(
        report.matrix.table_rows(zone),
        key=f"progress-{slug}",
        description=f"Students x questions of {report.matrix.course}: successful runs/runs, "
        "latest status and time per cell",
    )
    markdown = report.markdown.replace(
        "\n\n## Latest run failed",
        f"\n\nHTML report: `{report.files.html}` (newest always at "
        f"`{report.files.latest_html}`); heatmap: `{report.files.png}`\n\n## Latest run failed",
        1,
    )
    if report.exports is not None:
        markdown += exports_markdown(report.exports)
    if len(report.heatmap.png) <= INLINE_IMAGE_LIMIT:
        encoded = base64.b64encode(report.heatmap.png).decode("ascii")
        markdown += f"\n![heatmap of {slug}](data:image/png;base64,{encoded})\n"
    create_markdown_artifact(
        markdown,
        key=f"progress-summary-{slug}",
        description=f"Progress summary of {report.matrix.course}",
    )
    create_link_artifact(
        html_uri,
        link_text=f"Progress report of {report.matrix.course} (HTML)",
        key=f"progress-html-{slug}",
        description=str(report.files.latest_html),
    )
    if report.exports is not None:
        publish_export_links(report.exports, report.matrix.course)
    run_logger("cwh.report").info(
        "%s: %d students x %d questions, %d stuck, %d suspect execution(s) %s; %s",
        report.matrix.course,
        len(report.matrix.students),
        len(report.matrix.questions),
        len(report.summary.stuck),
        report.matrix.suspect_runs,
        "included" if report.matrix.suspect_included else "left out",
        report.files.html,
    )
    return report.to_dict()


@task(name="build-progress-reports", **retrying(retries=2, delay=10))
def build_reports(config: ReportConfig) -> list[CourseReport]:
    """Every requested course's report, with its files written; retried as a whole."""
    return run_report(config)
