"""Flow ``progress-report``: who has done which exercise, and who is stuck, per course.

For each course of the textbook index: a students x questions matrix (every question of the
textbook, every student of the roster, even with nothing run), published as a Prefect table
artifact and a markdown summary (completion per student and per question, students whose latest
run failed), plus a heatmap PNG and a self-contained HTML page on disk whose location the
artifacts link to. Executions flagged ``suspect`` (a record that does not match the log file on
disk) are left out and counted apart unless ``include_suspect``; users outside the roster's
student group (``student_group``, a gid of a passwd roster) are left out unless
``include_teachers``. The summary says where the class is stuck (per question, with the most
common errors); each cell of the HTML page opens the student's latest ``attempts`` runs.
``language`` (``ja``/``en``; unset, that of the CoursewareHub block ``coursewarehub_block`` when
one is named, else ``CWH_LANGUAGE``, else English) sets the words of the artifacts, the page and
the heatmap. The deployment runs every five minutes during class and on demand; ``cwh report``
produces the same files without Prefect. ``formats`` adds csv / xlsx / Moodle gradebook /
attempts exports beside the HTML, linked from the artifacts; ``pseudonymize`` replaces names in
them by keyed pseudonyms (key from ``pseudonym_key_file`` or the ``pseudonym_key`` of the
CoursewareHub block ``coursewarehub_block``; the key itself is never a parameter) and leaves the
attempts' code, output and error messages out unless ``keep_free_text``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from cwh.defaults import DEFAULT_TIMEZONE
from cwh.progress import DEFAULT_ATTEMPTS, parse_formats, parse_zone, window_from
from tasks.language import named_block_language
from tasks.progress_reports import CourseSummary, ReportConfig, build_reports, publish
from tasks.report_exports import ExportRequest
from tasks.store import StoreConfig


@flow(
    name="progress-report",
    description="Students x questions per course: table, summary, heatmap and HTML report.",
)
def progress_report(
    index: str,
    roster: str | None = None,
    courses: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    last_minutes: int | None = None,
    students: list[str] | None = None,
    elasticsearch_block: str | None = None,
    elasticsearch_url: str | None = None,
    database: str | None = None,
    index_prefix: str | None = None,
    output_dir: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    include_suspect: bool = False,
    formats: list[str] | None = None,
    pseudonymize: bool = False,
    pseudonym_key_file: str | None = None,
    coursewarehub_block: str | None = None,
    keep_free_text: bool = False,
    include_teachers: bool = False,
    student_group: str | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    language: str | None = None,
) -> list[CourseSummary]:
    zone = parse_zone(timezone)
    start, end = window_from(since, until, last_minutes, zone, datetime.now(UTC))
    config = ReportConfig(
        index=index,
        store=StoreConfig(elasticsearch_block, elasticsearch_url, database, index_prefix),
        roster=roster,
        courses=tuple(courses) if courses else None,
        since=start,
        until=end,
        students=tuple(students) if students else None,
        output_dir=output_dir,
        timezone=timezone,
        include_suspect=include_suspect,
        exports=ExportRequest(
            formats=parse_formats(formats),
            pseudonymize=pseudonymize,
            key_file=pseudonym_key_file,
            coursewarehub_block=coursewarehub_block,
            keep_free_text=keep_free_text,
        ),
        include_teachers=include_teachers,
        student_group=student_group,
        attempts_per_cell=attempts,
        language=named_block_language(language, coursewarehub_block),
    )
    reports = build_reports(config)
    return [publish(report, config) for report in reports]
