"""Pipeline health: the rules that judge what the health check observed, the state it keeps
between runs, its table, and the Prefect automations the project ships (as data)."""

from cwh.health.alerts import (
    DRIFT_EVENT,
    HEARTBEAT_SECONDS,
    STUCK_EVENT,
    AlertRule,
    Notice,
    alert_rules,
    stale_run_window,
)
from cwh.health.config import HealthConfigError, health_limits, parse_host_port
from cwh.health.rules import (
    CRASHED_RUNS_CHECK,
    DEADLETTERS_EVENT,
    DEADLETTERS_RESOURCE,
    PIPELINE_RESOURCE_PREFIX,
    UNHEALTHY_EVENT,
    CheckOutcome,
    Counts,
    CrashedRun,
    HealthEvent,
    HealthLimits,
    HealthReport,
    StoreFigures,
    assess,
)
from cwh.health.state import (
    Baseline,
    DamagedState,
    HealthState,
    read_health_state,
    write_health_state,
)
from cwh.health.table import health_rows, health_summary

__all__ = [
    "CRASHED_RUNS_CHECK",
    "DEADLETTERS_EVENT",
    "DEADLETTERS_RESOURCE",
    "DRIFT_EVENT",
    "HEARTBEAT_SECONDS",
    "PIPELINE_RESOURCE_PREFIX",
    "STUCK_EVENT",
    "UNHEALTHY_EVENT",
    "AlertRule",
    "Baseline",
    "CheckOutcome",
    "Counts",
    "CrashedRun",
    "DamagedState",
    "HealthConfigError",
    "HealthEvent",
    "HealthLimits",
    "HealthReport",
    "HealthState",
    "Notice",
    "StoreFigures",
    "alert_rules",
    "assess",
    "health_limits",
    "health_rows",
    "health_summary",
    "parse_host_port",
    "read_health_state",
    "stale_run_window",
    "write_health_state",
]
