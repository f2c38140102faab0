"""Kibana saved objects (Lens visualizations and a dashboard) generated from a readable file.

``kibana/dashboard.yaml`` says what to show (so nobody builds the charts by hand in Lens after
an installation) and this module turns it into the ndjson that Kibana's saved-objects import
API takes. The generated file is committed
(``kibana/lc_wrapper_dashboard.ndjson``) so reviewers see exactly what gets imported, and a test
keeps it equal to what the definition generates::

    uv run python -m cwh.setup.kibana_objects          # rewrite the ndjson
    uv run python -m cwh.setup.kibana_objects --check  # exit 1 when it is stale

Object shapes follow Kibana's own exports (datasource ``formBased``, by-reference dashboard
panels). ``typeMigrationVersion`` says which Kibana wrote them, so Kibana does not run
older migrations over a modern shape; that makes Kibana 8.9 the oldest that imports them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFINITION_PATH = ROOT / "kibana" / "dashboard.yaml"
NDJSON_PATH = ROOT / "kibana" / "lc_wrapper_dashboard.ndjson"
INDEX_PATTERN_TYPE = "index-pattern"
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"lens": "8.9.0", "dashboard": "8.7.0"}
MINIMUM_KIBANA = (8, 9)
_RECORDS_FIELD = "___records___"
_DATE_FIELDS = frozenset({"@timestamp", "start_time", "end_time"})
_METRICS = frozenset({"count", "unique_count", "max", "min", "last_value"})
_GRID_COLUMNS = 48


class DefinitionError(ValueError):
    """``dashboard.yaml`` is malformed; the message names the entry and the problem."""


def _get(mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in mapping:
        raise DefinitionError(f"{where}: missing {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise DefinitionError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


# --------------------------------------------------------------------- Lens columns


def _terms(spec: Mapping[str, Any], where: str, order_column: str | None = None) -> dict[str, Any]:
    field = _get(spec, "field", where, str)
    size = _get(spec, "size", where, int)
    if not 1 <= size <= 10000:
        raise DefinitionError(f"{where}: size {size} is outside 1-10000")
    order = spec.get("order", "alphabetical")
    if order_column is not None:
        order_by: dict[str, Any] = {"type": "column", "columnId": order_column}
        direction = "desc"
    elif order == "alphabetical":
        order_by = {"type": "alphabetical", "fallback": False}
        direction = "asc"
    else:
        raise DefinitionError(f"{where}: order {order!r} is not supported (use alphabetical)")
    return {
        "label": str(spec.get("label", field)),
        "customLabel": "label" in spec,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": order_by,
            "orderDirection": direction,
            "otherBucket": False,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


def _metric(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    operation = _get(spec, "operation", where, str)
    if operation not in _METRICS:
        raise DefinitionError(f"{where}: operation {operation!r} is not one of {sorted(_METRICS)}")
    label = str(spec.get("label", operation))
    if operation == "count":
        return {
            "label": label,
            "customLabel": True,
            "dataType": "number",
            "operationType": "count",
            "sourceField": _RECORDS_FIELD,
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": True},
        }
    field = _get(spec, "field", where, str)
    if operation == "unique_count":
        return {
            "label": label,
            "customLabel": True,
            "dataType": "number",
            "operationType": "unique_count",
            "sourceField": field,
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": True},
        }
    if operation in ("max", "min"):
        is_date = field in _DATE_FIELDS
        return {
            "label": label,
            "customLabel": True,
            "dataType": "date" if is_date else "number",
            "operationType": operation,
            "sourceField": field,
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": True},
        }
    return {
        "label": label,
        "customLabel": True,
        "dataType": "date" if field in _DATE_FIELDS else "string",
        "operationType": "last_value",
        "sourceField": field,
        "isBucketed": False,
        "scale": "ordinal",
        "filter": {"query": f'"{field}": *', "language": "kuery"},
        "params": {"sortField": "@timestamp", "showArrayValues": False},
    }


@dataclass(frozen=True)
class LensLayer:
    layer_id: str
    columns: dict[str, dict[str, Any]]
    column_order: list[str]


def _lens_object(
    panel_id: str,
    panel: Mapping[str, Any],
    visualization_type: str,
    layer: LensLayer,
    visualization: dict[str, Any],
    data_view_id: str,
    query: str = "",
) -> dict[str, Any]:
    return {
        "type": "lens",
        "id": panel_id,
        "attributes": {
            "title": _get(panel, "title", panel_id, str),
            "description": str(panel.get("description", "")),
            "visualizationType": visualization_type,
            "state": {
                "datasourceStates": {
                    "formBased": {
                        "layers": {
                            layer.layer_id: {
                                "columnOrder": layer.column_order,
                                "columns": layer.columns,
                                "incompleteColumns": {},
                            }
                        }
                    }
                },
                "visualization": visualization,
                "query": {"query": query, "language": "kuery"},
                "filters": [],
                "internalReferences": [],
                "adHocDataViews": {},
            },
        },
        "references": [
            {
                "type": INDEX_PATTERN_TYPE,
                "id": data_view_id,
                "name": f"indexpattern-datasource-layer-{layer.layer_id}",
            }
        ],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS["lens"],
    }


def _value_by_two_terms(
    panel_id: str, panel: Mapping[str, Any], first: str, second: str
) -> LensLayer:
    """The layer of a chart that breaks the metric ``value`` down by two terms columns."""
    columns = {
        key: _terms(_get(panel, key, panel_id, dict), f"{panel_id}.{key}")
        for key in (first, second)
    }
    columns["value"] = _metric(_get(panel, "value", panel_id, dict), f"{panel_id}.value")
    return LensLayer(f"{panel_id}-layer", columns, [first, second, "value"])


def _heatmap(panel_id: str, panel: Mapping[str, Any], data_view_id: str) -> dict[str, Any]:
    layer = _value_by_two_terms(panel_id, panel, "x", "y")
    layer_id = layer.layer_id
    visualization = {
        "shape": "heatmap",
        "layerId": layer_id,
        "layerType": "data",
        "xAccessor": "x",
        "yAccessor": "y",
        "valueAccessor": "value",
        "legend": {"isVisible": True, "position": "right", "type": "heatmap_legend"},
        "gridConfig": {
            "type": "heatmap_grid",
            "isCellLabelVisible": True,
            "isXAxisLabelVisible": True,
            "isYAxisLabelVisible": True,
            "isXAxisTitleVisible": True,
            "isYAxisTitleVisible": True,
        },
    }
    return _lens_object(panel_id, panel, "lnsHeatmap", layer, visualization, data_view_id)


def _stacked_bar(panel_id: str, panel: Mapping[str, Any], data_view_id: str) -> dict[str, Any]:
    layer = _value_by_two_terms(panel_id, panel, "category", "breakdown")
    layer_id = layer.layer_id
    visualization = {
        "preferredSeriesType": "bar_horizontal_stacked",
        "legend": {"isVisible": True, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "layers": [
            {
                "layerId": layer_id,
                "layerType": "data",
                "seriesType": "bar_horizontal_stacked",
                "xAccessor": "category",
                "accessors": ["value"],
                "splitAccessor": "breakdown",
            }
        ],
    }
    return _lens_object(panel_id, panel, "lnsXY", layer, visualization, data_view_id)


def _table(panel_id: str, panel: Mapping[str, Any], data_view_id: str) -> dict[str, Any]:
    layer_id = f"{panel_id}-layer"
    metrics: dict[str, dict[str, Any]] = {}
    for number, spec in enumerate(_get(panel, "columns", panel_id, list)):
        where = f"{panel_id}.columns[{number}]"
        if not isinstance(spec, dict):
            raise DefinitionError(f"{where}: must be a mapping")
        column_id = _get(spec, "id", where, str)
        if column_id in metrics or column_id == "rows":
            raise DefinitionError(f"{where}: duplicate column id {column_id!r}")
        metrics[column_id] = _metric(spec, where)
    sort = _get(panel, "sort", panel_id, dict)
    sort_column = _get(sort, "column", f"{panel_id}.sort", str)
    direction = _get(sort, "direction", f"{panel_id}.sort", str)
    if sort_column not in metrics:
        raise DefinitionError(f"{panel_id}.sort: unknown column {sort_column!r}")
    if direction not in ("asc", "desc"):
        raise DefinitionError(f"{panel_id}.sort: direction must be asc or desc")
    rows = _terms(_get(panel, "rows", panel_id, dict), f"{panel_id}.rows", sort_column)
    rows["params"]["orderDirection"] = direction
    columns = {"rows": rows, **metrics}
    visualization = {
        "layerId": layer_id,
        "layerType": "data",
        "columns": [{"columnId": column_id} for column_id in columns],
        "sorting": {"columnId": sort_column, "direction": direction},
    }
    layer = LensLayer(layer_id, columns, list(columns))
    query = str(panel.get("query", ""))
    return _lens_object(panel_id, panel, "lnsDatatable", layer, visualization, data_view_id, query)


_BUILDERS = {
    "heatmap": _heatmap,
    "horizontal_stacked_bar": _stacked_bar,
    "table": _table,
}


# --------------------------------------------------------------------- dashboard


def _grid(panel_id: str, panel: Mapping[str, Any]) -> dict[str, Any]:
    grid = _get(panel, "grid", panel_id, dict)
    values = {key: _get(grid, key, f"{panel_id}.grid", int) for key in ("x", "y", "w", "h")}
    if values["x"] < 0 or values["w"] < 1 or values["x"] + values["w"] > _GRID_COLUMNS:
        raise DefinitionError(f"{panel_id}.grid: x + w must stay within {_GRID_COLUMNS} columns")
    if values["y"] < 0 or values["h"] < 1:
        raise DefinitionError(f"{panel_id}.grid: y must be >= 0 and h >= 1")
    return {**values, "i": panel_id}


def _compact_json(value: Any) -> str:
    """Kibana stores some dashboard attributes as JSON text inside the object."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _dashboard(
    spec: Mapping[str, Any], panels: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    dashboard_id = _get(spec, "id", "dashboard", str)
    refresh = _get(spec, "refresh_seconds", "dashboard", int)
    panels_json = [
        {
            "type": "lens",
            "panelIndex": panel_id,
            "gridData": _grid(panel_id, panel),
            "embeddableConfig": {"enhancements": {}},
            "panelRefName": f"panel_{panel_id}",
        }
        for panel_id, panel in panels
    ]
    return {
        "type": "dashboard",
        "id": dashboard_id,
        "attributes": {
            "title": _get(spec, "title", "dashboard", str),
            "description": str(spec.get("description", "")),
            "panelsJSON": _compact_json(panels_json),
            "optionsJSON": _compact_json(
                {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
            ),
            "timeRestore": True,
            "timeFrom": _get(spec, "time_from", "dashboard", str),
            "timeTo": _get(spec, "time_to", "dashboard", str),
            "refreshInterval": {"pause": False, "value": refresh * 1000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _compact_json(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": [
            {"name": f"{panel_id}:panel_{panel_id}", "type": "lens", "id": panel_id}
            for panel_id, _ in panels
        ],
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS["dashboard"],
    }


def build_objects(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The saved objects: every Lens panel, then the dashboard that places them."""
    data_view_id = _get(definition, "data_view_id", "definition", str)
    raw_panels = _get(definition, "panels", "definition", list)
    panels: list[tuple[str, Mapping[str, Any]]] = []
    objects: list[dict[str, Any]] = []
    for number, panel in enumerate(raw_panels):
        if not isinstance(panel, dict):
            raise DefinitionError(f"panels[{number}]: must be a mapping")
        panel_id = _get(panel, "id", f"panels[{number}]", str)
        if any(existing == panel_id for existing, _ in panels):
            raise DefinitionError(f"panels[{number}]: duplicate id {panel_id!r}")
        kind = _get(panel, "kind", panel_id, str)
        builder = _BUILDERS.get(kind)
        if builder is None:
            raise DefinitionError(f"{panel_id}: kind {kind!r} is not one of {sorted(_BUILDERS)}")
        objects.append(builder(panel_id, panel, data_view_id))
        panels.append((panel_id, panel))
    objects.append(_dashboard(_get(definition, "dashboard", "definition", dict), panels))
    return objects


def load_definition(path: Path = DEFINITION_PATH) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: must hold a mapping")
    return data


def to_ndjson(objects: Sequence[Mapping[str, Any]]) -> str:
    """One compact JSON object per line, keys sorted, so regeneration is byte-stable."""
    return "".join(
        json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        for obj in objects
    )


def parse_ndjson(text: str) -> list[dict[str, Any]]:
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = json.loads(line)
        if not isinstance(obj, dict) or "type" not in obj or "id" not in obj:
            raise DefinitionError(f"ndjson line {number} is not a saved object")
        objects.append(obj)
    return objects


def referenced_data_views(objects: Sequence[Mapping[str, Any]]) -> set[str]:
    return {
        str(ref["id"])
        for obj in objects
        for ref in obj.get("references", [])
        if ref.get("type") == INDEX_PATTERN_TYPE
    }


def retarget_data_view(ndjson: str, data_view_id: str) -> str:
    """The same objects with every data view reference pointing at ``data_view_id`` (the data
    view setup found or created may have an id Kibana generated)."""
    objects = parse_ndjson(ndjson)
    for obj in objects:
        for ref in obj.get("references", []):
            if ref.get("type") == INDEX_PATTERN_TYPE:
                ref["id"] = data_view_id
    return to_ndjson(objects)


def dashboard_id(objects: Sequence[Mapping[str, Any]]) -> str:
    for obj in objects:
        if obj.get("type") == "dashboard":
            return str(obj["id"])
    raise DefinitionError("the saved objects hold no dashboard")


def generate(definition_path: Path = DEFINITION_PATH) -> str:
    return to_ndjson(build_objects(load_definition(definition_path)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cwh.setup.kibana_objects",
        description="Generate the Kibana saved objects (ndjson) from kibana/dashboard.yaml.",
    )
    parser.add_argument("--definition", type=Path, default=DEFINITION_PATH)
    parser.add_argument("--output", type=Path, default=NDJSON_PATH)
    parser.add_argument(
        "--check", action="store_true", help="only report whether the output is up to date"
    )
    args = parser.parse_args(argv)
    try:
        text = generate(args.definition)
    except (OSError, DefinitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale: regenerate it from {args.definition}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        from cwh.atomic_write import write_text_atomic

        write_text_atomic(args.output, text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
