"""The Elasticsearch index templates for enriched executions and dead letters, as data.

Every field the enrichment writes is mapped explicitly (identifiers as keywords, every time
as a date) and ``dynamic`` is off, so unknown fields stay in ``_source`` but never change the
mapping: the student-controlled keys inside ``result_json`` cannot explode it, as that field
is stored and returned but never indexed.

Two composable templates: one for ``<prefix>-*`` (the daily execution indices) and one with a
higher priority for ``<prefix>-deadletter-*`` (which the first pattern also matches; equal
priorities on overlapping patterns are rejected by Elasticsearch).

Idempotence: :func:`template_differences` compares the stored template with the wanted one
after normalising the representation Elasticsearch returns (it echoes some booleans and numbers
back as strings), so a second setup run sends nothing when nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cwh.defaults import DEADLETTER_INFIX, validate_index_prefix

TEMPLATE_VERSION = 1
MANAGED_BY = "cwh-flows setup-logging"
EXECUTIONS_PRIORITY = 200
DEADLETTER_PRIORITY = 210

# ignore_above counts characters; a keyword longer than that is kept in _source, not indexed.
_IDENTIFIER = {"type": "keyword", "ignore_above": 1024}
_PATH = {"type": "keyword", "ignore_above": 4096}
_EPOCH_SECONDS = {"type": "date", "format": "epoch_second||strict_date_optional_time"}

_IDENTIFIERS = (
    "lc_cell_meme",
    "lc_cell_meme_uuid",
    "lc_notebook_meme",
    "server_signature",
    "user_name",
    "local_name",
    "qno",
    "qlabel",
    "course_server",
    "execute_reply_status",
)
_PATHS = ("path", "notebook_path", "textbook_path", "result", "results")


def executions_mapping() -> dict[str, Any]:
    """The explicit mapping of an enriched execution document."""
    properties: dict[str, Any] = {
        "@timestamp": {"type": "date"},
        "start_time": dict(_EPOCH_SECONDS),
        "end_time": dict(_EPOCH_SECONDS),
        "uid": {"type": "long"},
        "gid": {"type": "long"},
        "input": {"type": "text"},
        "output": {"type": "text"},
        "result_text": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
        },
        "result_json": {"type": "object", "enabled": False},
        "error_pattern": {"type": "keyword", "ignore_above": 256},
        "result_error": {"type": "text"},
        "suspect": {"type": "boolean"},
        "suspect_reason": {"type": "keyword", "ignore_above": 1024},
    }
    properties.update({name: dict(_IDENTIFIER) for name in _IDENTIFIERS})
    properties.update({name: dict(_PATH) for name in _PATHS})
    return {"dynamic": False, "properties": dict(sorted(properties.items()))}


def deadletter_mapping() -> dict[str, Any]:
    """Dead letters keep the raw record text and why it could not be enriched."""
    return {
        "dynamic": False,
        "properties": {
            "@timestamp": {"type": "date"},
            "error_message": {"type": "text"},
            "error_type": {"type": "keyword", "ignore_above": 256},
            "raw": {"type": "text"},
        },
    }


@dataclass(frozen=True)
class IndexTemplate:
    """One composable template: its name and the body sent to ``PUT _index_template/<name>``."""

    name: str
    body: dict[str, Any]

    @property
    def index_patterns(self) -> list[str]:
        patterns: list[str] = self.body["index_patterns"]
        return patterns


def _meta(kind: str) -> dict[str, Any]:
    return {"managed_by": MANAGED_BY, "kind": kind, "version": TEMPLATE_VERSION}


def index_templates(prefix: str) -> list[IndexTemplate]:
    """The templates for ``prefix``; names start with the prefix so they sort with its indices."""
    validate_index_prefix(prefix)
    return [
        _template(
            f"{prefix}-executions",
            f"{prefix}-*",
            EXECUTIONS_PRIORITY,
            "executions",
            executions_mapping(),
        ),
        _template(
            f"{prefix}-{DEADLETTER_INFIX}",
            f"{prefix}-{DEADLETTER_INFIX}-*",
            DEADLETTER_PRIORITY,
            "deadletter",
            deadletter_mapping(),
        ),
    ]


def _template(
    name: str, pattern: str, priority: int, kind: str, mappings: dict[str, Any]
) -> IndexTemplate:
    return IndexTemplate(
        name=name,
        body={
            "index_patterns": [pattern],
            "priority": priority,
            "version": TEMPLATE_VERSION,
            "_meta": _meta(kind),
            "template": {"mappings": mappings},
        },
    )


def _normalise(value: Any) -> Any:
    """Elasticsearch echoes some scalars as strings ("false", "1"): compare them as text."""
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)


def _differences(path: str, current: Any, wanted: Any, found: list[str]) -> None:
    if isinstance(wanted, dict) and isinstance(current, dict):
        for key in sorted(set(wanted) | set(current)):
            child = f"{path}.{key}" if path else key
            if key not in current:
                found.append(f"{child}: missing")
            elif key not in wanted:
                found.append(f"{child}: not wanted")
            else:
                _differences(child, current[key], wanted[key], found)
    elif current != wanted:
        found.append(f"{path}: {current!r} -> {wanted!r}")


def template_differences(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> list[str]:
    """What differs between the stored template (as ``GET _index_template`` returns it) and
    the wanted body; empty when they are equal. ``None`` means the template does not exist.

    Keys Elasticsearch always returns with an empty value (``composed_of: []``) count as
    absent, so they do not make an unchanged template look modified.
    """
    if current is None:
        return ["template does not exist"]
    stored = {k: v for k, v in current.items() if v not in ([], {}, None) or k in wanted}
    found: list[str] = []
    _differences("", _normalise(stored), _normalise(dict(wanted)), found)
    return found


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some index name matches both wildcard patterns (``*`` is the only wildcard)."""
    seen: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key in seen:
            return seen[key]
        seen[key] = False
        if i == len(first) and j == len(second):
            result = True
        elif i < len(first) and first[i] == "*":
            result = match(i + 1, j) or (j < len(second) and match(i, j + 1))
        elif j < len(second) and second[j] == "*":
            result = match(i, j + 1) or (i < len(first) and match(i + 1, j))
        else:
            result = i < len(first) and j < len(second) and first[i] == second[j]
            result = result and match(i + 1, j + 1)
        seen[key] = result
        return result

    return match(0, 0)


@dataclass(frozen=True)
class ForeignTemplate:
    """Another index template whose patterns overlap ours."""

    name: str
    priority: int
    index_patterns: tuple[str, ...]


def overlapping_templates(
    ours: IndexTemplate, others: list[ForeignTemplate]
) -> tuple[list[ForeignTemplate], list[ForeignTemplate]]:
    """Other templates that would stop ours from applying, and those ours overrides.

    Elasticsearch applies the single highest-priority template matching an index name and
    refuses a new template that overlaps another one with the same priority. So an
    overlapping template with a priority at least ours is a blocker; lower ones are merely
    overridden (an ``lc-wrapper-template`` at priority 100 left by an older installation is
    such a case).
    """
    blockers: list[ForeignTemplate] = []
    overridden: list[ForeignTemplate] = []
    priority = int(ours.body["priority"])
    for other in others:
        if not any(
            patterns_overlap(mine, theirs)
            for mine in ours.index_patterns
            for theirs in other.index_patterns
        ):
            continue
        (blockers if other.priority >= priority else overridden).append(other)
    return blockers, overridden
