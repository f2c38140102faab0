"""What the pipeline-health check keeps between runs: a small JSON file.

A file, not a Prefect Variable: the readings it is compared with (the live delivery's stats
file, the embedded store) are files on the same manager, the check must keep working when the
API is slow or being restored, and the file is replaced atomically, so a run killed half way
leaves the previous state whole. A missing file means "first run"; a damaged one is started
over (the next run is then a first run again) rather than failing the check, and the caller
is told so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cwh.atomic_write import read_json_object, write_bytes_atomic

STATE_VERSION = 1
_MAX_STATE_BYTES = 1 << 20


@dataclass(frozen=True)
class Baseline:
    """The totals of the last run (None: not read then)."""

    executions: int | None = None
    suspect: int | None = None
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    delivered_documents: int | None = None
    delivered_dead_letters: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthState:
    checked_at: float
    baseline: Baseline
    dead_letters_since_previous: int = 0

    def to_json(self) -> bytes:
        data = {"version": STATE_VERSION, **asdict(self)}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


class DamagedState(ValueError):
    """The state file exists but is not one this check wrote."""


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if _count(v) is not None}


def _parse(data: Mapping[str, Any]) -> HealthState:
    checked_at = data.get("checked_at")
    if not isinstance(checked_at, int | float) or isinstance(checked_at, bool):
        raise DamagedState("no checked_at time")
    raw = data.get("baseline")
    base = raw if isinstance(raw, Mapping) else {}
    return HealthState(
        checked_at=float(checked_at),
        baseline=Baseline(
            executions=_count(base.get("executions")),
            suspect=_count(base.get("suspect")),
            dead_letters=_counts(base.get("dead_letters")),
            delivered_documents=_count(base.get("delivered_documents")),
            delivered_dead_letters=_counts(base.get("delivered_dead_letters")),
        ),
        dead_letters_since_previous=_count(data.get("dead_letters_since_previous")) or 0,
    )


def read_health_state(path: Path) -> HealthState | None:
    """The state in ``path``; None when there is none yet. Raises :class:`DamagedState`."""
    try:
        parsed = read_json_object(path, max_bytes=_MAX_STATE_BYTES, what="the health state")
    except ValueError as exc:
        raise DamagedState(str(exc)) from None
    if parsed is None:
        return None
    try:
        return _parse(parsed)
    except DamagedState as exc:
        raise DamagedState(f"{path}: {exc}") from None


def write_health_state(path: Path, state: HealthState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, state.to_json())
