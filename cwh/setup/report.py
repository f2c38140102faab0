"""The setup flow's report: what was checked, planned and changed, rendered as markdown.

Every line is plain text built by the steps; this module only arranges them into the three
artifacts the flow publishes (failed checks, the dry-run plan, what was done), with titles and
headings from the ``setup.*`` messages in the run's language.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cwh.messages import Language, text


@dataclass
class SetupReport:
    """What a ``setup-logging`` run checked, planned and changed, and its markdown."""

    dry_run: bool
    checks: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    dashboard_url: str | None = None
    markdown: str = ""


def unified_diff(path: str, before: str | None, after: str) -> str:
    """The change from ``before`` (None: no file yet) to ``after``, as a unified diff."""
    return "".join(
        difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=path,
            tofile=f"{path} (new)",
        )
    )


def markdown(title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A document with ``title`` and one ``##`` section per ``(heading, lines)``."""
    lines = [f"# {title}", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", *body, ""]
    return "\n".join(lines)


def bullets(items: Sequence[str], language: Language = "en") -> list[str]:
    """A bullet list, or one ``nothing`` bullet when ``items`` is empty."""
    return [f"- {item}" for item in items] or [f"- {text('setup.nothing', language)}"]


def diff_section(diff: str, language: Language = "en") -> list[str]:
    """A fenced diff, or ``(no change)`` when ``diff`` is empty."""
    if not diff:
        return [text("setup.no_change", language)]
    return ["", "```diff", diff.rstrip("\n"), "```", ""]


def failed_checks_markdown(report: SetupReport, language: Language = "en") -> str:
    return markdown(
        text("setup.title.failed", language),
        [(text("setup.section.checks", language), bullets(report.checks, language))],
    )


def plan_markdown(
    report: SetupReport, fluentd_diff: str, jupyterhub_diff: str, language: Language = "en"
) -> str:
    return markdown(
        text("setup.title.plan", language),
        [
            (text("setup.section.checks", language), bullets(report.checks, language)),
            (text("setup.section.planned", language), bullets(report.planned, language)),
            (text("setup.section.fluentd_diff", language), diff_section(fluentd_diff, language)),
            (
                text("setup.section.jupyterhub_diff", language),
                diff_section(jupyterhub_diff, language),
            ),
        ],
    )


def done_markdown(
    report: SetupReport,
    *,
    view_id: str,
    index_prefix: str,
    referenced_views: Sequence[str],
    fluentd_diff: str,
    language: Language = "en",
) -> str:
    link = report.dashboard_url
    views = ", ".join(sorted(referenced_views))
    data_view = text(
        "setup.kibana.data_view",
        language,
        view_id=view_id,
        pattern=f"{index_prefix}-*",
        views=views,
    )
    return markdown(
        text("setup.title.done", language),
        [
            (text("setup.section.checks", language), bullets(report.checks, language)),
            (text("setup.section.changes", language), bullets(report.changed, language)),
            (
                text("setup.section.kibana", language),
                [f"- {text('setup.kibana.dashboard', language, link=link)}", f"- {data_view}"],
            ),
            (text("setup.section.fluentd_diff", language), diff_section(fluentd_diff, language)),
        ],
    )
