"""The progress report builder: per course, the students x questions matrix from the store,
its summary, heatmap and HTML page, the files on disk and the Prefect artifacts.

The store aggregates (a few queries per course, no documents fetched but the latest few
attempts per cell the drill-down shows), so a report costs about the same with a hundred
executions or a million. Users outside the roster's student group (teachers, assistants)
are left out unless asked for, and every text follows the report's language. Executions
the enricher flagged ``suspect`` are left out unless asked for, and every report says how
many there are. ``cwh report`` calls :func:`run_report`; the ``progress-report`` flow calls
:func:`build_reports` and :func:`publish`.
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
from cwh.messages import Language, language_setting, text
from cwh.progress import (
    DEFAULT_ATTEMPTS,
    Attempt,
    Completion,
    HeatmapImage,
    ProgressMatrix,
    Question,
    QuestionAnalytics,
    ReportConfigError,
    Roster,
    build_matrix,
    completion,
    courses_of,
    describe_window,
    latest_per_cell,
    load_roster,
    parse_zone,
    question_analytics,
    questions_from_index_text,
    render_drilldown,
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
ANALYTICS_QUERIES_AT_ONCE = 3
"""Analytics and drill-down queries of one course asked beside its matrix counts."""


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
    """csv / xlsx / Moodle / attempts files to write beside the HTML, with names or
    pseudonyms."""
    include_teachers: bool = False
    """Show users outside the roster's student group too (by default only students)."""
    student_group: str | None = None
    """The gid of the students' accounts in a passwd roster (default: every account)."""
    attempts_per_cell: int = DEFAULT_ATTEMPTS
    """Latest attempts per student and question the HTML drill-down shows."""
    language: str | None = None
    """``ja`` or ``en``; default ``CWH_LANGUAGE``, else English."""

    def __post_init__(self) -> None:
        if self.attempts_per_cell < 0:
            raise ReportConfigError(
                f"attempts per cell must be 0 (no drill-down) or more, not {self.attempts_per_cell}"
            )

    def speaks(self) -> Language:
        return language_setting(self.language)

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
    """Export files by format (csv, xlsx, moodle, attempts)."""


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
    analytics: tuple[QuestionAnalytics, ...] = ()
    attempts: dict[tuple[str, str], tuple[Attempt, ...]] = field(default_factory=dict)

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
    roster = (
        load_roster(Path(config.roster), student_group=config.student_group)
        if config.roster
        else Roster()
    )
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
    zone, language = config.zone(), config.speaks()
    started = time.perf_counter()
    query = ProgressQuery(
        course, config.since, config.until, config.students, config.include_suspect
    )
    per_cell = config.attempts_per_cell
    # The analytics and drill-down queries run beside the matrix counts: the store (a
    # cluster, or SQLite, which releases the GIL) uses another core meanwhile. The
    # matrix and heatmap are made while they run, and the drill-down as soon as its
    # attempts are there, while the analytics may still be running.
    with ThreadPoolExecutor(ANALYTICS_QUERIES_AT_ONCE) as pool:
        later = store.submit_analytics(pool, query, per_cell)
        cells = store.progress_rows(
            course,
            config.since,
            config.until,
            config.students,
            include_suspect=config.include_suspect,
        )
        suspect = store.suspect_count(query)
        counted = time.perf_counter()
        students = roster.students(course)
        matrix = replace(
            build_matrix(
                course, questions, cells, students, config.students,
                roster_only=bool(config.roster) and not config.include_teachers,
            ),
            suspect_runs=suspect,
            suspect_included=config.include_suspect,
        )  # fmt: skip
        summary = completion(matrix)
        window = config.window()
        moment = f"{generated_at.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        heatmap = render_heatmap(
            matrix,
            title=text("progress.heatmap.title", language, course=course, time=moment),
            language=language,
        )
        found = later.attempts.result()
        found_at = time.perf_counter()
        shown = set(matrix.students)
        attempts = {
            key: cell for key, cell in latest_per_cell(found, per_cell).items() if key[0] in shown
        }
        drilldown = (
            render_drilldown(matrix, attempts, per_cell, zone, language) if per_cell > 0 else None
        )
        firsts, errors = later.firsts.result(), later.errors.result()
        analysed_at = time.perf_counter()
    analytics = tuple(question_analytics(matrix, firsts, errors))
    markdown = render_markdown(
        matrix, summary, generated_at=generated_at, window=window, tz=zone,
        analytics=analytics, language=language,
    )  # fmt: skip
    elapsed = max(counted, found_at, analysed_at) - started
    page = render_html(
        matrix, summary, heatmap, generated_at=generated_at, window=window, tz=zone,
        analytics=analytics, attempts=attempts, attempts_per_cell=config.attempts_per_cell,
        drilldown=drilldown, language=language,
    )  # fmt: skip
    return CourseReport(
        matrix, summary, markdown, page, heatmap, query_seconds=elapsed,
        analytics=analytics, attempts=attempts,
    )  # fmt: skip


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
                attempts=[r.attempts for r in reports],
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
    language = config.speaks()
    course = report.matrix.course
    create_table_artifact(
        report.matrix.table_rows(zone),
        key=f"progress-{slug}",
        description=text("progress.artifact.table", language, course=course),
    )
    heading = f"\n\n## {text('progress.stuck.heading', language)}"
    files_line = text(
        "progress.artifact.files", language, html=f"`{report.files.html}`",
        latest=f"`{report.files.latest_html}`", png=f"`{report.files.png}`",
    )  # fmt: skip
    markdown = report.markdown.replace(heading, f"\n\n{files_line}{heading}", 1)
    if report.exports is not None:
        markdown += exports_markdown(report.exports)
    if len(report.heatmap.png) <= INLINE_IMAGE_LIMIT:
        encoded = base64.b64encode(report.heatmap.png).decode("ascii")
        markdown += f"\n![heatmap of {slug}](data:image/png;base64,{encoded})\n"
    create_markdown_artifact(
        markdown,
        key=f"progress-summary-{slug}",
        description=text("progress.artifact.summary", language, course=course),
    )
    create_link_artifact(
        html_uri,
        link_text=text("progress.artifact.link", language, course=course),
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
