"""Index templates: explicit mappings as data, applied to a real Elasticsearch node, idempotent."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from blocks.elasticsearch import ElasticsearchConnection
from cwh.defaults import validate_index_prefix
from cwh.setup import (
    DEADLETTER_PRIORITY,
    EXECUTIONS_PRIORITY,
    ForeignTemplate,
    executions_mapping,
    index_templates,
    overlapping_templates,
    patterns_overlap,
    template_differences,
)
from tasks.elasticsearch_setup import (
    ElasticsearchSetupError,
    apply_templates,
    cluster_summary,
    plan_templates,
)
from tests.kibana_contract import ElasticsearchWithSecurity

# ------------------------------------------------------------------ pure


def test_mapping_is_explicit_and_closed() -> None:
    mapping = executions_mapping()
    properties = mapping["properties"]
    assert mapping["dynamic"] is False
    assert properties["result_json"] == {"type": "object", "enabled": False}
    for name in ("start_time", "end_time"):
        assert properties[name]["type"] == "date"
        assert properties[name]["format"].startswith("epoch_second")
    assert properties["@timestamp"] == {"type": "date"}
    for name in ("user_name", "local_name", "qno", "qlabel", "execute_reply_status", "path"):
        assert properties[name]["type"] == "keyword", name
    for name in ("input", "output", "result_text"):
        assert properties[name]["type"] == "text", name


def test_deadletter_template_outranks_the_executions_template() -> None:
    executions, deadletter = index_templates("lcwrapper")
    assert executions.index_patterns == ["lcwrapper-*"]
    assert deadletter.index_patterns == ["lcwrapper-deadletter-*"]
    assert deadletter.body["priority"] == DEADLETTER_PRIORITY > EXECUTIONS_PRIORITY
    assert {t.name for t in (executions, deadletter)} == {
        "lcwrapper-executions",
        "lcwrapper-deadletter",
    }
    assert deadletter.body["template"]["mappings"]["properties"]["error_type"]["type"] == "keyword"
    assert executions.body["_meta"]["version"] == executions.body["version"]


@pytest.mark.parametrize("prefix", ["", "LcWrapper", "_x", "a*b", "a b", "a,b"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="index prefix"):
        validate_index_prefix(prefix)


def test_differences_ignore_how_elasticsearch_echoes_values() -> None:
    wanted = index_templates("x")[0].body
    echoed: dict[str, Any] = {**wanted, "composed_of": []}
    echoed["template"] = {"mappings": {**wanted["template"]["mappings"], "dynamic": "false"}}
    assert template_differences(echoed, wanted) == []
    changed = {**echoed, "priority": 100}
    assert template_differences(changed, wanted) == ["priority: '100' -> '200'"]
    assert template_differences(None, wanted) == ["template does not exist"]


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("lcwrapper-*", "lcwrapper*", True),
        ("lcwrapper-*", "*", True),
        ("lcwrapper-*", "lcwrapper-deadletter-*", True),
        ("lcwrapper-*", "logs-*", False),
        ("lcwrapper-*", "lcwrapper", False),
        ("a*c", "ab*", True),
        ("abc", "abd", False),
    ],
)
def test_pattern_overlap(first: str, second: str, overlap: bool) -> None:
    assert patterns_overlap(first, second) is overlap
    assert patterns_overlap(second, first) is overlap


def test_equal_or_higher_priority_overlaps_block_lower_ones_are_overridden() -> None:
    executions = index_templates("lcwrapper")[0]
    others = [
        ForeignTemplate("lc-wrapper-template", 100, ("lcwrapper*",)),
        ForeignTemplate("catch-all", 200, ("*",)),
        ForeignTemplate("unrelated", 500, ("logs-*",)),
    ]
    blockers, overridden = overlapping_templates(executions, others)
    assert [b.name for b in blockers] == ["catch-all"]
    assert [o.name for o in overridden] == ["lc-wrapper-template"]


# ------------------------------------------------------------------ real Elasticsearch


@pytest.fixture
def block(es_url: str, es_index_prefix: str) -> ElasticsearchConnection:
    return ElasticsearchConnection(urls=[es_url], index_prefix=es_index_prefix)


@pytest.fixture
def installed(block: ElasticsearchConnection) -> ElasticsearchConnection:
    """The block, with its index templates installed on the cluster."""
    apply_templates(block, plan_templates(block))
    return block


@pytest.mark.elasticsearch
def test_templates_apply_and_a_second_run_changes_nothing(
    block: ElasticsearchConnection, es_client: Elasticsearch, es_index_prefix: str
) -> None:
    summary = cluster_summary(block)
    assert summary.health in ("green", "yellow") and summary.versions
    first = plan_templates(block)
    assert [p.action for p in first] == ["create", "create"]
    assert apply_templates(block, first).changed == tuple(p.name for p in first)
    stored = es_client.indices.get_index_template(name=f"{es_index_prefix}-*")
    assert {t["name"] for t in stored["index_templates"]} == {p.name for p in first}

    second = plan_templates(block)
    assert [p.action for p in second] == ["unchanged", "unchanged"]
    outcome = apply_templates(block, second)
    assert outcome.changed == () and len(outcome.unchanged) == 2
    again = es_client.indices.get_index_template(name=f"{es_index_prefix}-*")
    assert again.body == stored.body


@pytest.mark.elasticsearch
@pytest.mark.usefixtures("installed")
def test_documents_get_dates_and_result_json_adds_no_fields(
    es_client: Elasticsearch, es_index_prefix: str
) -> None:
    index = f"{es_index_prefix}-2026.11.22"
    es_client.index(
        index=index,
        id="a",
        document={
            "start_time": 1795355773,
            "end_time": 1795355774,
            "@timestamp": "2026-11-22T13:56:13Z",
            "user_name": "student09x0c0ffee",
            "qno": "01-002",
            "result_json": {
                "msg_type": "execute_result",
                "content": {"data": {"text/plain": "42"}},
            },
        },
        refresh=True,
    )
    before = es_client.indices.get_mapping(index=index)[index]["mappings"]
    nested: dict[str, Any] = {
        "deep": {"er": [{"k": i, f"field{i}": {"x": [1, "a"]}} for i in range(50)]}
    }
    es_client.index(
        index=index,
        id="b",
        document={"start_time": 1795359373, "result_json": nested, "surprise": {"a": 1}},
        refresh=True,
    )
    after = es_client.indices.get_mapping(index=index)[index]["mappings"]
    assert after == before
    assert set(after["properties"]) == set(executions_mapping()["properties"])
    assert after["properties"]["start_time"]["type"] == "date"

    hits = es_client.search(
        index=index,
        query={
            "range": {"start_time": {"gte": "2026-11-22T13:56:00Z", "lt": "2026-11-22T13:57:00Z"}}
        },
        fields=[{"field": "start_time", "format": "strict_date_time"}],
    )["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["a"]
    assert hits[0]["fields"]["start_time"] == ["2026-11-22T13:56:13.000Z"]
    stored = es_client.get(index=index, id="b")["_source"]
    assert stored["result_json"] == nested


@pytest.mark.elasticsearch
@pytest.mark.usefixtures("installed")
def test_deadletter_indices_get_their_own_mapping(
    es_client: Elasticsearch, es_index_prefix: str
) -> None:
    index = f"{es_index_prefix}-deadletter-2026.11.22"
    es_client.index(
        index=index,
        document={"raw": "garbage", "error_type": "LogParseError", "error_message": "no header"},
        refresh=True,
    )
    properties = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert properties["error_type"]["type"] == "keyword"
    assert properties["raw"]["type"] == "text"
    assert "qno" not in properties


@pytest.mark.elasticsearch
def test_a_modified_template_is_updated_in_place(
    installed: ElasticsearchConnection, es_client: Elasticsearch, es_index_prefix: str
) -> None:
    block = installed
    name = f"{es_index_prefix}-executions"
    es_client.indices.put_index_template(
        name=name,
        index_patterns=[f"{es_index_prefix}-*"],
        priority=EXECUTIONS_PRIORITY,
        template={"mappings": {"properties": {"qno": {"type": "text"}}}},
    )
    plan = {p.name: p for p in plan_templates(block)}
    assert plan[name].action == "update"
    assert any("qno" in d for d in plan[name].differences)
    assert plan[f"{es_index_prefix}-deadletter"].action == "unchanged"
    assert apply_templates(block, list(plan.values())).changed == (name,)
    assert [p.action for p in plan_templates(block)] == ["unchanged", "unchanged"]


@pytest.mark.elasticsearch
def test_a_blocking_template_is_reported_before_anything_is_written(
    block: ElasticsearchConnection, es_client: Elasticsearch, es_index_prefix: str
) -> None:
    es_client.indices.put_index_template(
        name=f"{es_index_prefix}-foreign",
        index_patterns=[f"{es_index_prefix}*"],
        priority=EXECUTIONS_PRIORITY,
    )
    with pytest.raises(ElasticsearchSetupError) as caught:
        plan_templates(block)
    assert f"{es_index_prefix}-foreign (priority {EXECUTIONS_PRIORITY}" in str(caught.value)
    names = {t["name"] for t in es_client.indices.get_index_template()["index_templates"]}
    assert f"{es_index_prefix}-executions" not in names


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_elasticsearch_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ElasticsearchSetupError) as caught:
        cluster_summary(ElasticsearchConnection(urls=[url], request_timeout=5))
    assert str(caught.value).startswith(f"Elasticsearch {url}: unreachable")
    assert not caught.value.permanent


def test_wrong_credentials_are_one_clear_error_without_the_password() -> None:
    with ElasticsearchWithSecurity() as server:
        block = ElasticsearchConnection(
            urls=[server.url], username="elastic", password="not-the-password"
        )
        with pytest.raises(ElasticsearchSetupError) as caught:
            cluster_summary(block)
        with pytest.raises(ElasticsearchSetupError):
            plan_templates(block)
    message = str(caught.value)
    assert message.startswith(f"Elasticsearch {server.url}: rejected the credentials (HTTP 401)")
    assert "security_exception" in message
    assert "not-the-password" not in message
    assert caught.value.permanent
    assert all(path.startswith("GET ") for path in server.paths)
