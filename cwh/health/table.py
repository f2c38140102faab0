"""The pipeline-health table artifact: one row per check and per count, in the chosen language."""

from __future__ import annotations

from cwh.health.rules import HealthReport
from cwh.messages import Language, text


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}"


def _check_label(name: str, language: Language) -> str:
    key = f"health.check.{name}"
    try:
        return text(key, language)
    except KeyError:
        return name


def health_rows(report: HealthReport, language: Language) -> list[dict[str, str]]:
    """Rows of ``{item, status, detail}`` with the column names in ``language``."""
    item = text("health.column.item", language)
    status = text("health.column.status", language)
    detail = text("health.column.detail", language)
    ok = text("health.status.ok", language)
    failed = text("health.status.failed", language)
    info = text("health.status.info", language)
    rows = [
        {
            item: _check_label(check.name, language),
            status: ok if check.ok else failed,
            detail: check.detail,
        }
        for check in report.checks
    ]
    counts = report.counts
    unknown = text("health.count.unknown", language)
    if counts.seconds is None:
        rows.append({item: text("health.count.first_run", language), status: info, detail: ""})
    else:
        reasons = ", ".join(f"{k}: {v}" for k, v in counts.dead_letters_by_reason.items())
        dead_status = text("health.status.alarm", language) if report.counts_alarm else ok
        rows.append(
            {
                item: text("health.count.dead_letters", language),
                status: dead_status if counts.dead_letters is not None else info,
                detail: unknown
                if counts.dead_letters is None
                else text(
                    "health.count.dead_letters.detail",
                    language,
                    count=counts.dead_letters,
                    reasons=reasons or text("health.count.no_reasons", language),
                    threshold=report.threshold,
                ),
            }
        )
        rows.append(
            {
                item: text("health.count.suspect", language),
                status: info,
                detail: unknown if counts.suspect is None else str(counts.suspect),
            }
        )
        rate = counts.executions_per_minute
        rows.append(
            {
                item: text("health.count.executions", language),
                status: info,
                detail: unknown
                if counts.executions is None or rate is None
                else text(
                    "health.count.throughput",
                    language,
                    count=counts.executions,
                    minutes=_minutes(counts.seconds),
                    rate=f"{rate:.1f}",
                ),
            }
        )
        rows.append(
            {
                item: text("health.count.delivered", language),
                status: info,
                detail: unknown
                if counts.delivered_documents is None
                else str(counts.delivered_documents),
            }
        )
    age = counts.newest_age_seconds
    rows.append(
        {
            item: text("health.count.newest_age", language),
            status: info,
            detail: unknown
            if age is None
            else text("health.count.minutes", language, minutes=_minutes(age)),
        }
    )
    return rows


def health_summary(report: HealthReport, language: Language) -> str:
    failed = sum(1 for check in report.checks if not check.ok)
    if report.healthy:
        return text("health.summary.healthy", language, checks=len(report.checks))
    return text(
        "health.summary.unhealthy",
        language,
        failed=failed,
        checks=len(report.checks),
        events=len(report.events),
    )
