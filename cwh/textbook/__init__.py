"""The textbook MEME index: scan the released notebooks, number their questions, validate,
render and write the index that names every question, and tell which file changes matter.
"""

from cwh.textbook.changes import (
    INDEX_PATH_LABEL,
    INDEX_RESOURCE_ID,
    MAX_EVENT_PATHS,
    TEXTBOOK_CHANGED_EVENT,
    TEXTBOOK_DIR_LABEL,
    TEXTBOOK_INDEXED_EVENT,
    TEXTBOOK_RESOURCE_ID,
    ChangeBatch,
    ChangeDebouncer,
    ChangeKind,
    relevant_path,
)
from cwh.textbook.extract import UnreadableNotebook, read_notebook
from cwh.textbook.index import (
    DEFAULT_QNO_FORMAT,
    IndexFiles,
    IndexLockTimeout,
    IndexOptions,
    IndexOptionsError,
    IndexOutcome,
    build_index,
    scan,
    validate,
    write_index,
)
from cwh.textbook.numbering import (
    LedgerError,
    NotebookKey,
    Numbering,
    NumberingLedger,
    reference_numbers,
)
from cwh.textbook.paths import (
    DEFAULT_INCLUDE,
    GlobPatternError,
    PathMatcher,
    TextbookDirError,
    compile_glob,
    course_server_of,
    discover_notebooks,
    path_sort_key,
)
from cwh.textbook.rows import IndexRow, parse_csv, strip_branch_number
from cwh.textbook.scanner import TextbookScan
from cwh.textbook.summary import more_suffix, notebook_table, summary_markdown
from cwh.textbook.validation import Problem, format_report

__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_QNO_FORMAT",
    "INDEX_PATH_LABEL",
    "INDEX_RESOURCE_ID",
    "MAX_EVENT_PATHS",
    "TEXTBOOK_CHANGED_EVENT",
    "TEXTBOOK_DIR_LABEL",
    "TEXTBOOK_INDEXED_EVENT",
    "TEXTBOOK_RESOURCE_ID",
    "ChangeBatch",
    "ChangeDebouncer",
    "ChangeKind",
    "GlobPatternError",
    "IndexFiles",
    "IndexLockTimeout",
    "IndexOptions",
    "IndexOptionsError",
    "IndexOutcome",
    "IndexRow",
    "LedgerError",
    "NotebookKey",
    "Numbering",
    "NumberingLedger",
    "PathMatcher",
    "Problem",
    "TextbookDirError",
    "TextbookScan",
    "UnreadableNotebook",
    "build_index",
    "compile_glob",
    "course_server_of",
    "discover_notebooks",
    "format_report",
    "more_suffix",
    "notebook_table",
    "parse_csv",
    "path_sort_key",
    "read_notebook",
    "reference_numbers",
    "relevant_path",
    "scan",
    "strip_branch_number",
    "summary_markdown",
    "validate",
    "write_index",
]
