"""Export files of the progress report (csv, xlsx, Moodle gradebook, attempts), written beside
the HTML.

Per course, ``<reports>/<course slug>/progress-<stamp>.csv``, ``moodle-<stamp>.csv`` and
``attempts-<stamp>.csv`` with ``latest.csv``, ``latest-moodle.csv`` and
``latest-attempts.csv`` always holding the newest; the workbook covers every course of the
run, so it lies one level up: ``<reports>/progress-<stamp>.xlsx`` and ``latest.xlsx``.
Pseudonymised exports carry ``.pseudonymized`` before the extension, so a file of names and a
file of pseudonyms never replace one another; their attempts leave out the free text (code,
output, error messages) unless it is asked for. Files are replaced atomically and the newest
:data:`~tasks.report_files.DEFAULT_KEEP` of each kind are kept.

The pseudonym key comes from a key file or the ``pseudonym_key`` Secret field of a
CoursewareHub block; it is read here, inside the task, so it is never a flow or task
parameter and never reaches a log, an artifact or an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from prefect.artifacts import create_link_artifact

from cwh.atomic_write import write_bytes_atomic
from cwh.messages import Language, language_setting, text
from cwh.progress import (
    Attempt,
    ExportConfigError,
    ExportFormat,
    NameMap,
    ProgressMatrix,
    PseudonymKeyError,
    key_from_file,
    key_from_secret,
    real_names,
    render_attempts,
    render_csv,
    render_moodle,
    render_xlsx,
)
from tasks.report_files import DEFAULT_KEEP, course_slug

PSEUDONYMIZED = ".pseudonymized"
_STAMPED = re.compile(
    r"^(progress|moodle|attempts)-\d{8}-\d{6}((?:\.pseudonymized)?\.(?:csv|xlsx))$"
)


@dataclass(frozen=True)
class ExportRequest:
    """Which exports to write and whether names are replaced by keyed pseudonyms."""

    formats: tuple[ExportFormat, ...] = ()
    pseudonymize: bool = False
    key_file: str | None = None
    """File holding the pseudonym key (not readable by other users, at least 32 bytes)."""
    coursewarehub_block: str | None = None
    """CoursewareHub block whose ``pseudonym_key`` Secret field holds the key."""
    keep_free_text: bool = False
    """Keep text that can carry names (code, output, error messages) in pseudonymised
    exports: only the attempts export holds any; csv, xlsx and Moodle hold counts, statuses
    and times."""

    def free_text(self) -> bool:
        """Whether the attempts export carries code, output and error messages."""
        return self.keep_free_text or not self.pseudonymize

    def check(self, language: Language = "en") -> None:
        if self.pseudonymize and not self.formats:
            raise ExportConfigError(text("exports.pseudonymize.no_format", language))


@dataclass(frozen=True)
class ExportFiles:
    """The export files of one course (the workbook is shared by the courses of a run)."""

    csv: Path | None = None
    moodle: Path | None = None
    xlsx: Path | None = None
    pseudonymized: bool = False
    attempts: Path | None = None
    free_text_left_out: bool = False
    """The attempts export's code, output and error messages were left out (pseudonyms)."""

    def paths(self) -> dict[ExportFormat, Path]:
        found: dict[ExportFormat, Path | None] = {
            "csv": self.csv,
            "xlsx": self.xlsx,
            "moodle": self.moodle,
            "attempts": self.attempts,
        }
        return {name: path for name, path in found.items() if path is not None}


def export_names(request: ExportRequest, language: Language | None = None) -> NameMap:
    """Real names, or the keyed pseudonyms of the configured key (checked before any work)."""
    speak = language or language_setting()
    request.check(speak)
    if not request.pseudonymize:
        return real_names
    if request.key_file and request.coursewarehub_block:
        raise PseudonymKeyError(text("exports.key.both", speak))
    if request.key_file:
        return key_from_file(Path(request.key_file).expanduser(), language=speak).names
    if request.coursewarehub_block:
        from blocks.coursewarehub import CoursewareHub
        from blocks.loading import load_block

        hub = load_block(CoursewareHub, request.coursewarehub_block)
        if hub.pseudonym_key is None:
            raise PseudonymKeyError(
                text("exports.key.no_block_key", speak, block=repr(request.coursewarehub_block))
            )
        source = f"CoursewareHub block {request.coursewarehub_block!r}"
        return key_from_secret(
            hub.pseudonym_key.get_secret_value(), source=source, language=speak
        ).names
    raise PseudonymKeyError(text("exports.key.missing", speak))


def write_exports(
    directory: Path,
    matrices: Sequence[ProgressMatrix],
    request: ExportRequest,
    names: NameMap,
    tz: tzinfo,
    generated_at: datetime,
    *,
    attempts: Sequence[Mapping[tuple[str, str], Sequence[Attempt]]] = (),
    keep: int = DEFAULT_KEEP,
) -> list[ExportFiles]:
    """Write the requested exports of ``matrices``; one :class:`ExportFiles` per matrix.

    ``attempts`` holds each matrix's shown attempts (the drill-down's), in the same order;
    a course without them gets an attempts export of its header alone.
    """
    root = Path(directory).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    stamp = f"{generated_at:%Y%m%d-%H%M%S}"
    marker = PSEUDONYMIZED if request.pseudonymize else ""
    workbook = None
    if "xlsx" in request.formats:
        data = render_xlsx(matrices, tz, names, generated_at=generated_at)
        workbook = _write(root, f"progress-{stamp}{marker}.xlsx", f"latest{marker}.xlsx", data)
        _prune(root, keep)
    written = []
    for number, matrix in enumerate(matrices):
        folder = root / course_slug(matrix.course)
        folder.mkdir(parents=True, exist_ok=True)
        csv = moodle = tried = None
        if "csv" in request.formats:
            data = render_csv(matrix, tz, names)
            csv = _write(folder, f"progress-{stamp}{marker}.csv", f"latest{marker}.csv", data)
        if "moodle" in request.formats:
            data = render_moodle(matrix, names)
            latest = f"latest-moodle{marker}.csv"
            moodle = _write(folder, f"moodle-{stamp}{marker}.csv", latest, data)
        if "attempts" in request.formats:
            shown = attempts[number] if attempts else {}
            data = render_attempts(matrix, shown, tz, names, free_text=request.free_text())
            latest = f"latest-attempts{marker}.csv"
            tried = _write(folder, f"attempts-{stamp}{marker}.csv", latest, data)
        _prune(folder, keep)
        written.append(
            ExportFiles(
                csv, moodle, workbook, request.pseudonymize, tried,
                free_text_left_out=tried is not None and not request.free_text(),
            )
        )  # fmt: skip
    return written


def _write(folder: Path, name: str, latest: str, data: bytes) -> Path:
    path = folder / name
    write_bytes_atomic(path, data)
    write_bytes_atomic(folder / latest, data)
    return path


def _prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` files of each kind (prefix, pseudonymised or not, extension)."""
    kinds: dict[tuple[str, str], list[Path]] = {}
    for path in folder.iterdir():
        match = _STAMPED.match(path.name)
        if match:
            kinds.setdefault((match.group(1), match.group(2)), []).append(path)
    for paths in kinds.values():
        paths.sort()
        for old in paths[: max(0, len(paths) - keep)]:
            old.unlink(missing_ok=True)


def exports_markdown(files: ExportFiles, language: Language | None = None) -> str:
    """A short section of the summary artifact naming the export files."""
    speak = language or language_setting()
    lines = ["", f"## {text('exports.artifact.heading', speak)}", ""]
    for name, path in files.paths().items():
        label = text(f"exports.file.{name}", speak)
        lines.append(f"- {label}: [`{path.name}`]({path.resolve().as_uri()})")
    if files.pseudonymized:
        lines += ["", text("exports.artifact.pseudonymized", speak)]
    if files.free_text_left_out:
        lines += ["", text("exports.artifact.free_text_left_out", speak)]
    return "\n".join(lines) + "\n"


def publish_export_links(files: ExportFiles, course: str, language: Language | None = None) -> None:
    """One link artifact per export file of ``course`` (keys ``progress-<format>-<slug>``)."""
    speak = language or language_setting()
    slug = course_slug(course)
    for name, path in files.paths().items():
        label = text(f"exports.file.{name}", speak)
        create_link_artifact(
            path.resolve().as_uri(),
            link_text=text("exports.artifact.link", speak, label=label, course=course),
            key=f"progress-{name}-{slug}",
            description=str(path),
        )
