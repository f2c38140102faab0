"""The pipeline-health rules (pure): which events fire when, the state file, the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwh.enrich import DeliveryStats
from cwh.health import (
    DEADLETTERS_EVENT,
    UNHEALTHY_EVENT,
    Baseline,
    CheckOutcome,
    CrashedRun,
    DamagedState,
    HealthConfigError,
    HealthLimits,
    HealthState,
    StoreFigures,
    alert_rules,
    assess,
    health_limits,
    health_rows,
    health_summary,
    parse_host_port,
    read_health_state,
    stale_run_window,
    write_health_state,
)

NOW = 1_800_000_000.0
LIMITS = HealthLimits(dead_letter_threshold=5, stale_after_seconds=3600)


def _store(dead: dict[str, int], *, executions: int = 100, suspect: int = 0) -> StoreFigures:
    return StoreFigures("embedded x", executions, suspect, dead, NOW - 60)


def _previous(dead: dict[str, int], *, executions: int = 40, since: int = 3) -> HealthState:
    return HealthState(
        checked_at=NOW - 600,
        baseline=Baseline(executions=executions, suspect=0, dead_letters=dead),
        dead_letters_since_previous=since,
    )


def _events(report: object) -> list[tuple[str, str]]:
    return [(e.event, e.resource["prefect.resource.id"]) for e in report.events]  # type: ignore[attr-defined]


def test_the_first_run_records_totals_and_raises_no_counting_event() -> None:
    report = assess(
        now=NOW,
        previous=None,
        checks=[CheckOutcome("elasticsearch", True, "green")],
        store=_store({"LogParseError": 500}),
        delivery=None,
        crashed=[],
        limits=LIMITS,
    )
    assert _events(report) == []
    assert report.healthy
    assert report.counts.dead_letters is None
    assert report.state.baseline.dead_letters == {"LogParseError": 500}


def test_dead_letters_since_the_last_run_at_the_threshold_fire_rising() -> None:
    report = assess(
        now=NOW,
        previous=_previous({"LogParseError": 10}),
        checks=[],
        store=_store({"LogParseError": 13, "TimeOutOfRange": 2}),
        delivery=None,
        crashed=[],
        limits=LIMITS,
    )
    assert _events(report) == [(DEADLETTERS_EVENT, "cwh.deadletters")]
    payload = report.events[0].payload
    assert payload["since_last_run"] == 5
    assert payload["by_reason"] == {"LogParseError": 3, "TimeOutOfRange": 2}
    assert payload["previous"] == 3 and payload["rising"] is True
    assert report.counts.executions == 60
    assert report.counts.executions_per_minute == pytest.approx(6.0)
    assert report.state.dead_letters_since_previous == 5


def test_dead_letters_below_the_threshold_or_shrinking_totals_fire_nothing() -> None:
    below = assess(
        now=NOW,
        previous=_previous({"LogParseError": 10}),
        checks=[],
        store=_store({"LogParseError": 14}),
        delivery=None,
        crashed=[],
        limits=LIMITS,
    )
    assert _events(below) == []
    deleted = assess(
        now=NOW,
        previous=_previous({"LogParseError": 10}),
        checks=[],
        store=_store({}),
        delivery=None,
        crashed=[],
        limits=LIMITS,
    )
    assert _events(deleted) == [] and deleted.counts.dead_letters == 0


def test_without_a_store_reading_the_delivery_totals_count_dead_letters() -> None:
    previous = HealthState(
        checked_at=NOW - 600,
        baseline=Baseline(delivered_documents=10, delivered_dead_letters={"LogParseError": 1}),
    )
    delivery = DeliveryStats(documents=30, dead_letters={"LogParseError": 9})
    report = assess(
        now=NOW,
        previous=previous,
        checks=[CheckOutcome("store", False, "Elasticsearch unreachable")],
        store=None,
        delivery=delivery,
        crashed=[],
        limits=LIMITS,
    )
    assert _events(report) == [
        (UNHEALTHY_EVENT, "cwh.pipeline.store"),
        (DEADLETTERS_EVENT, "cwh.deadletters"),
    ]
    assert report.counts.delivered_documents == 20


def test_failed_checks_stale_documents_failing_delivery_and_crashed_runs_are_unhealthy() -> None:
    old_store = StoreFigures("embedded x", 100, 0, {}, NOW - 7200)
    delivery = DeliveryStats(
        chunks=3, last_delivery=NOW - 900, last_failure=NOW - 30, last_failure_reason="ES down"
    )
    crashed = [CrashedRun("id", "quiet-fox", "progress-report", "no heartbeat")]
    report = assess(
        now=NOW,
        previous=_previous({}),
        checks=[CheckOutcome("kibana", False, "refused"), CheckOutcome("fluentd", True, "ok")],
        store=old_store,
        delivery=delivery,
        crashed=crashed,
        limits=LIMITS,
    )
    assert sorted(_events(report)) == [
        (UNHEALTHY_EVENT, "cwh.pipeline.crashed-runs"),
        (UNHEALTHY_EVENT, "cwh.pipeline.kibana"),
        (UNHEALTHY_EVENT, "cwh.pipeline.live-delivery"),
        (UNHEALTHY_EVENT, "cwh.pipeline.newest-document"),
    ]
    assert not report.healthy
    assert report.events[0].payload["detail"] == "refused"


def test_a_healthy_pipeline_emits_nothing_and_stale_age_is_not_judged_without_a_limit() -> None:
    report = assess(
        now=NOW,
        previous=_previous({}),
        checks=[CheckOutcome("kibana", True, "available")],
        store=StoreFigures("embedded x", 100, 0, {}, NOW - 86400),
        delivery=DeliveryStats(chunks=3, last_delivery=NOW - 5, last_failure=NOW - 50),
        crashed=[],
        limits=HealthLimits(),
    )
    assert _events(report) == [] and report.healthy


def test_the_state_file_round_trips_and_damage_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "health" / "state.json"
    assert read_health_state(path) is None
    state = _previous({"LogParseError": 2})
    write_health_state(path, state)
    assert read_health_state(path) == state
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DamagedState, match="not JSON"):
        read_health_state(path)
    path.write_text('{"checked_at": "yesterday"}', encoding="utf-8")
    with pytest.raises(DamagedState, match="checked_at"):
        read_health_state(path)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_table_speaks_the_language(language: str) -> None:
    report = assess(
        now=NOW,
        previous=_previous({"LogParseError": 10}),
        checks=[CheckOutcome("kibana", False, "refused")],
        store=_store({"LogParseError": 20}),
        delivery=None,
        crashed=[],
        limits=LIMITS,
    )
    rows = health_rows(report, language)  # type: ignore[arg-type]
    header = "item" if language == "en" else "項目"
    items = [row[header] for row in rows]
    assert ("Kibana" in items) and len(rows) == 8
    expected = (
        "dead letters since the last run" if language == "en" else "前回以降のデッドレター件数"
    )
    assert expected in items
    summary = health_summary(report, language)  # type: ignore[arg-type]
    assert ("failed" in summary) if language == "en" else ("異常" in summary)


def test_settings_are_checked() -> None:
    assert parse_host_port("10.0.0.5:24224") == ("10.0.0.5", 24224)
    assert parse_host_port("[fd00::1]:24224") == ("fd00::1", 24224)
    for bad in ("10.0.0.5", ":24224", "host:99999", "host:port"):
        with pytest.raises(HealthConfigError):
            parse_host_port(bad)
    with pytest.raises(HealthConfigError):
        health_limits(0, None)
    assert health_limits(3, 2).stale_after_seconds == 120


def test_the_alert_rules_cover_every_event_and_the_stale_run_recipe() -> None:
    rules = {rule.name: rule for rule in alert_rules(["progress-report", "reenrich"], "ja")}
    expected = {
        "cwh-pipeline-unhealthy": "cwh.pipeline.unhealthy",
        "cwh-deadletters-rising": "cwh.deadletters.rising",
        "cwh-workers-stuck": "cwh.workers.stuck",
        "cwh-schedule-drift": "cwh.schedule.drift",
    }
    for name, event in expected.items():
        assert rules[name].expect == (event,) and rules[name].notice is not None
    failed = rules["cwh-run-failed"]
    assert "prefect.flow-run.Crashed" in failed.expect
    assert failed.match_related["prefect.resource.name"] == ("progress-report", "reenrich")
    stale = rules["cwh-run-heartbeat-lost"]
    assert stale.posture == "Proactive" and stale.after == ("prefect.flow-run.heartbeat",)
    assert "prefect.flow-run.heartbeat" in stale.expect
    assert "prefect.flow-run.Completed" in stale.expect
    assert stale.for_each == ("prefect.resource.id",)
    assert stale.within_seconds == stale_run_window() == 180
    assert stale.crash_run and stale.notice is None
