"""The teacher's progress report: the students x questions matrix, the cache of unchanged
counts, the heatmap, the self-contained HTML report, the roster, the report's time window
and the demo course.
"""

from cwh.progress.analytics import (
    ERROR_TEXT_LIMIT,
    CommonError,
    ErrorCount,
    FirstSuccess,
    QuestionAnalytics,
    normalise_error,
    question_analytics,
)
from cwh.progress.attempts import (
    ATTEMPT_TEXT_LIMIT,
    DEFAULT_ATTEMPTS,
    Attempt,
    cap_text,
    latest_per_cell,
)
from cwh.progress.cache import MAX_OPEN_INDICES, CacheUse, ProgressCache, merge_status_counts
from cwh.progress.demo_course import (
    DemoCourse,
    Student,
    derive_executions,
    export_seed,
    generate_demo_course,
    load_seed,
    write_home,
)
from cwh.progress.heatmap import (
    STATE_COLOURS,
    HeatmapImage,
    cjk_font,
    render_heatmap,
    state_name,
)
from cwh.progress.matrix import (
    OK_STATUS,
    CellState,
    Completion,
    ProgressCell,
    ProgressInputError,
    ProgressMatrix,
    Question,
    StatusCount,
    build_matrix,
    combine_status_counts,
    completion,
    courses_of,
    questions_from_index_text,
)
from cwh.progress.report_html import render_html
from cwh.progress.report_markdown import format_duration, render_markdown
from cwh.progress.roster import Roster, RosterError, load_roster, parse_roster
from cwh.progress.window import (
    ReportConfigError,
    describe_window,
    parse_time,
    parse_zone,
    window_from,
)

__all__ = [
    "ATTEMPT_TEXT_LIMIT",
    "DEFAULT_ATTEMPTS",
    "ERROR_TEXT_LIMIT",
    "MAX_OPEN_INDICES",
    "OK_STATUS",
    "STATE_COLOURS",
    "Attempt",
    "CacheUse",
    "CellState",
    "CommonError",
    "Completion",
    "DemoCourse",
    "ErrorCount",
    "FirstSuccess",
    "HeatmapImage",
    "ProgressCache",
    "ProgressCell",
    "ProgressInputError",
    "ProgressMatrix",
    "Question",
    "QuestionAnalytics",
    "ReportConfigError",
    "Roster",
    "RosterError",
    "StatusCount",
    "Student",
    "build_matrix",
    "cap_text",
    "cjk_font",
    "combine_status_counts",
    "completion",
    "courses_of",
    "derive_executions",
    "describe_window",
    "export_seed",
    "format_duration",
    "generate_demo_course",
    "latest_per_cell",
    "load_roster",
    "load_seed",
    "merge_status_counts",
    "normalise_error",
    "parse_roster",
    "parse_time",
    "parse_zone",
    "question_analytics",
    "questions_from_index_text",
    "render_heatmap",
    "render_html",
    "render_markdown",
    "state_name",
    "window_from",
    "write_home",
]
