"""The shipped Kibana saved objects: generated from kibana/dashboard.yaml, coherent, importable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cwh.setup import (
    DEFINITION_PATH,
    NDJSON_PATH,
    DefinitionError,
    build_objects,
    dashboard_id,
    executions_mapping,
    generate,
    load_definition,
    parse_ndjson,
    referenced_data_views,
    retarget_data_view,
)

ROOT = Path(__file__).resolve().parents[1]


def _objects() -> list[dict]:
    return parse_ndjson(NDJSON_PATH.read_text(encoding="utf-8"))


def _lens(objects: list[dict], visualization: str, number: int = 0) -> dict:
    found = [o for o in objects if o["attributes"].get("visualizationType") == visualization]
    return found[number]


def _columns(lens: dict) -> dict:
    (layer,) = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values()
    return layer["columns"]


def test_committed_ndjson_equals_what_the_definition_generates() -> None:
    assert NDJSON_PATH.read_text(encoding="utf-8") == generate(DEFINITION_PATH)


def test_generator_check_mode_agrees() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cwh.setup.kibana_objects", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_generator_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "stale.ndjson"
    stale.write_text(generate().replace("Executions", "Runs"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cwh.setup.kibana_objects", "--check", "--output", str(stale)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "stale" in done.stderr


def test_every_line_is_one_saved_object_referencing_the_data_view() -> None:
    lines = NDJSON_PATH.read_text(encoding="utf-8").splitlines()
    objects = [json.loads(line) for line in lines]
    data_view_id = load_definition()["data_view_id"]
    assert [o["type"] for o in objects] == ["lens", "lens", "lens", "lens", "dashboard"]
    assert referenced_data_views(objects) == {data_view_id}
    for lens in objects[:4]:
        (layer_id,) = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        assert lens["references"] == [
            {
                "type": "index-pattern",
                "id": data_view_id,
                "name": f"indexpattern-datasource-layer-{layer_id}",
            }
        ]


def test_dashboard_panels_reference_each_lens_object() -> None:
    objects = _objects()
    dashboard = objects[-1]
    assert dashboard_id(objects) == dashboard["id"] == "cwh-lcwrapper-progress"
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    lens_ids = [o["id"] for o in objects if o["type"] == "lens"]
    assert [p["panelIndex"] for p in panels] == lens_ids
    references = {r["name"]: r for r in dashboard["references"]}
    for panel in panels:
        reference = references[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert (reference["type"], reference["id"]) == ("lens", panel["panelIndex"])
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48


def test_heatmap_is_question_by_student_count_showing_all_questions() -> None:
    heatmap = _lens(_objects(), "lnsHeatmap")
    visualization = heatmap["attributes"]["state"]["visualization"]
    columns = _columns(heatmap)
    x, y, value = (columns[visualization[k]] for k in ("xAccessor", "yAccessor", "valueAccessor"))
    assert (x["sourceField"], y["sourceField"]) == ("qno", "local_name")
    assert value["operationType"] == "count"
    assert x["params"]["size"] >= 1000 and x["params"]["otherBucket"] is False


def test_bar_counts_unique_questions_per_student_split_by_question() -> None:
    bar = _lens(_objects(), "lnsXY")
    (layer,) = bar["attributes"]["state"]["visualization"]["layers"]
    columns = _columns(bar)
    assert layer["seriesType"] == "bar_horizontal_stacked"
    assert columns[layer["xAccessor"]]["sourceField"] == "local_name"
    (metric,) = (columns[a] for a in layer["accessors"])
    assert (metric["operationType"], metric["sourceField"]) == ("unique_count", "qno")
    assert columns[layer["splitAccessor"]]["sourceField"] == "qno"


def test_error_table_lists_latest_error_per_student() -> None:
    table = _lens(_objects(), "lnsDatatable")
    state = table["attributes"]["state"]
    columns = _columns(table)
    assert "error" in state["query"]["query"]
    assert columns["rows"]["sourceField"] == "user_name"
    assert columns["rows"]["params"]["orderBy"] == {"type": "column", "columnId": "last_error"}
    assert state["visualization"]["sorting"] == {"columnId": "last_error", "direction": "desc"}


def test_common_errors_are_counted_by_message_pattern() -> None:
    table = _lens(_objects(), "lnsDatatable", 1)
    columns = _columns(table)
    assert columns["rows"]["sourceField"] == "error_pattern"
    assert columns["students"]["operationType"] == "unique_count"
    assert table["attributes"]["state"]["visualization"]["sorting"] == {
        "columnId": "errors",
        "direction": "desc",
    }


def test_every_field_the_panels_use_is_mapped_and_aggregatable() -> None:
    properties = executions_mapping()["properties"]
    for obj in _objects():
        if obj["type"] != "lens":
            continue
        for column in _columns(obj).values():
            field = column["sourceField"]
            if field == "___records___":
                continue
            top, _, sub = field.partition(".")
            mapping = properties[top]["fields"][sub] if sub else properties[top]
            assert mapping["type"] in ("keyword", "date", "long", "boolean"), field


def test_retarget_points_every_data_view_reference_elsewhere() -> None:
    retargeted = parse_ndjson(retarget_data_view(generate(), "hand-made-1234"))
    assert referenced_data_views(retargeted) == {"hand-made-1234"}
    assert [o["id"] for o in retargeted] == [o["id"] for o in _objects()]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["panels"][0].pop("title"), "missing 'title'"),
        (lambda d: d["panels"][0].update(kind="pie"), "kind 'pie'"),
        (lambda d: d["panels"][0]["grid"].update(x=40, w=20), "48 columns"),
        (lambda d: d["panels"][1]["value"].update(operation="median"), "operation 'median'"),
        (lambda d: d["panels"][2]["sort"].update(column="nope"), "unknown column 'nope'"),
        (lambda d: d["panels"].append(dict(d["panels"][0])), "duplicate id"),
    ],
)
def test_malformed_definitions_are_named(change: Callable[[dict], object], message: str) -> None:
    definition = load_definition()
    change(definition)
    with pytest.raises(DefinitionError, match=message):
        build_objects(definition)
