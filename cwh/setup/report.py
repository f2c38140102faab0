"""The setup flow's report: what was checked, planned and changed, rendered as markdown.

Every line is plain text built by the steps; this module only arranges them into the three
artifacts the flow publishes (failed checks, the dry-run plan, what was done).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

NO_CHANGE = ["(no change)"]


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


def bullets(items: Sequence[str]) -> list[str]:
    """A bullet list, or one ``nothing`` bullet when ``items`` is empty."""
    return [f"- {item}" for item in items] or ["- nothing"]


def diff_section(diff: str) -> list[str]:
    """A fenced diff, or ``(no change)`` when ``diff`` is empty."""
    if not diff:
        return list(NO_CHANGE)
    return ["", "```diff", diff.rstrip("\n"), "```", ""]


def failed_checks_markdown(report: SetupReport) -> str:
    return markdown(
        "setup-logging: checks failed, nothing was changed",
        [("Checks", bullets(report.checks))],
    )


def plan_markdown(report: SetupReport, fluentd_diff: str, jupyterhub_diff: str) -> str:
    return markdown(
        "setup-logging: plan (dry run, nothing changed)",
        [
            ("Checks", bullets(report.checks)),
            ("Planned changes", bullets(report.planned)),
            ("fluentd config diff", diff_section(fluentd_diff)),
            ("JupyterHub config diff", diff_section(jupyterhub_diff)),
        ],
    )


def done_markdown(
    report: SetupReport,
    *,
    view_id: str,
    index_prefix: str,
    referenced_views: Sequence[str],
    fluentd_diff: str,
) -> str:
    link = report.dashboard_url
    views = ", ".join(sorted(referenced_views))
    return markdown(
        "setup-logging: done",
        [
            ("Checks", bullets(report.checks)),
            ("Changes", bullets(report.changed)),
            (
                "Kibana",
                [
                    f"- Dashboard: [{link}]({link})",
                    f"- Data view `{view_id}` (`{index_prefix}-*` on `@timestamp`), "
                    f"shipped objects referenced `{views}`",
                ],
            ),
            ("fluentd config diff", diff_section(fluentd_diff)),
        ],
    )
