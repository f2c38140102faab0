"""tasks/kibana.py against a loopback Kibana that enforces Kibana's OpenAPI documents."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from blocks.kibana import KibanaConnection
from cwh.setup import NDJSON_PATH, parse_ndjson, referenced_data_views
from tasks.kibana import IMPORT_FILE_NAME, DataViewSpec, KibanaApi, KibanaError
from tests.kibana_contract import FakeKibana

PREFIX = "lcwrapper"
NAME = "CoursewareHub LC_wrapper log"


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    with FakeKibana(spaces=("default", "team-a")) as server:
        yield server
        assert server.violations == []


def _block(server: FakeKibana, **fields: object) -> KibanaConnection:
    return KibanaConnection(url=server.url, **fields)


def _spec() -> DataViewSpec:
    return DataViewSpec.for_prefix(PREFIX, NAME)


def test_status_reports_level_and_version(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana)) as api:
        status = api.status()
    assert (status.level, status.version) == ("available", "8.17.0")


def test_data_view_is_created_once_then_left_alone(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana)) as api:
        plan = api.plan_data_view(_spec())
        assert plan.action == "create"
        view_id = api.apply_data_view(plan)
        again = api.plan_data_view(_spec())
    assert view_id == "cwh-lcwrapper"
    assert again.action == "unchanged" and again.view_id == view_id
    stored = kibana.data_views()[view_id]
    assert (stored["title"], stored["name"], stored["timeFieldName"]) == (
        "lcwrapper-*",
        NAME,
        "@timestamp",
    )
    creates = [r for r in kibana.write_requests() if r.path == "/api/data_views/data_view"]
    assert len(creates) == 1
    assert creates[0].headers["kbn-xsrf"]
    assert creates[0].headers["content-type"] == "application/json"


def test_existing_data_view_found_by_title_is_updated_and_reused(kibana: FakeKibana) -> None:
    kibana.add_data_view(
        "default", {"id": "hand-made-1234", "title": "lcwrapper-*", "name": "logs"}
    )
    with KibanaApi(_block(kibana)) as api:
        plan = api.plan_data_view(_spec())
        assert (plan.action, plan.view_id, plan.found_by) == ("update", "hand-made-1234", "title")
        assert any("timeFieldName" in change for change in plan.changes)
        view_id = api.apply_data_view(plan)
        result = api.import_objects(
            NDJSON_PATH.read_text(encoding="utf-8").replace(
                '"id":"cwh-lcwrapper"', f'"id":"{view_id}"'
            )
        )
    assert view_id == "hand-made-1234"
    assert list(kibana.data_views()) == ["hand-made-1234"]
    assert kibana.data_views()[view_id]["timeFieldName"] == "@timestamp"
    assert result.success_count == len(parse_ndjson(NDJSON_PATH.read_text(encoding="utf-8")))


def test_dashboard_import_is_multipart_ndjson_with_overwrite(kibana: FakeKibana) -> None:
    ndjson = NDJSON_PATH.read_text(encoding="utf-8")
    with KibanaApi(_block(kibana)) as api:
        view_id = api.apply_data_view(api.plan_data_view(_spec()))
        first = api.import_objects(ndjson)
        second = api.import_objects(ndjson)
    objects = parse_ndjson(ndjson)
    assert referenced_data_views(objects) == {view_id}
    assert first.success_count == second.success_count == len(objects)
    stored = kibana.saved_objects()
    assert {key for key in stored} == {(o["type"], o["id"]) for o in objects}
    imports = [r for r in kibana.write_requests() if r.api_path == "/api/saved_objects/_import"]
    assert len(imports) == 2
    for request in imports:
        assert request.query["overwrite"] == ["true"]
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert f'filename="{IMPORT_FILE_NAME}"'.encode() in request.body
        assert request.headers["kbn-xsrf"]


def test_import_without_the_data_view_reports_missing_references(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana)) as api, pytest.raises(KibanaError) as caught:
        api.import_objects(NDJSON_PATH.read_text(encoding="utf-8"))
    assert "missing_references" in str(caught.value)
    assert "index-pattern/cwh-lcwrapper" in str(caught.value)
    assert kibana.saved_objects() == {}


def test_import_refuses_a_file_name_kibana_would_reject(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana)) as api, pytest.raises(ValueError, match="ndjson"):
        api.import_objects("{}\n", file_name="dashboard.json")
    assert kibana.requests == []


def test_space_prefix_is_used_for_every_space_request(kibana: FakeKibana) -> None:
    block = _block(kibana, space="team-a")
    with KibanaApi(block) as api:
        view_id = api.apply_data_view(api.plan_data_view(_spec()))
        api.import_objects(NDJSON_PATH.read_text(encoding="utf-8"))
        assert api.dashboard_url("d1") == f"{kibana.url}/s/team-a/app/dashboards#/view/d1"
    assert kibana.data_views("default") == {}
    assert view_id in kibana.data_views("team-a")
    assert kibana.saved_objects("team-a")
    assert all(r.path.startswith("/s/team-a/") for r in kibana.write_requests())


def test_missing_space_is_named(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana, space="nosuch")) as api, pytest.raises(KibanaError) as caught:
        api.list_data_views()
    assert "space 'nosuch' does not exist" in str(caught.value)
    assert caught.value.permanent


def test_kibana_without_data_views_api_gives_one_clear_error() -> None:
    with FakeKibana(data_views_api=False) as server:
        with KibanaApi(_block(server)) as api, pytest.raises(KibanaError) as caught:
            api.plan_data_view(_spec())
        assert server.write_requests() == []
        assert server.violations == []
    message = str(caught.value)
    assert f"GET {server.url}/api/data_views" in message
    assert "no data views API (HTTP 404)" in message
    assert caught.value.permanent


def test_wrong_credentials_are_reported_without_the_password() -> None:
    good = "Basic " + base64.b64encode(b"cwh:right-password").decode()
    with FakeKibana(credentials=good) as server:
        block = _block(server, username="cwh", password="wrong-password")
        with KibanaApi(block) as api, pytest.raises(KibanaError) as caught:
            api.status()
        with KibanaApi(_block(server, username="cwh", password="right-password")) as api:
            assert api.status().level == "available"
    assert "rejected the credentials (HTTP 401)" in str(caught.value)
    assert "wrong-password" not in str(caught.value)
    assert caught.value.permanent


def test_api_key_is_sent_as_apikey_authorization(kibana: FakeKibana) -> None:
    with KibanaApi(_block(kibana, api_key="ZW5jb2RlZA==")) as api:
        api.list_data_views()
    assert kibana.requests[-1].headers["authorization"] == "ApiKey ZW5jb2RlZA=="


def test_too_old_kibana_is_refused() -> None:
    with (
        FakeKibana(version="8.6.2") as server,
        KibanaApi(_block(server)) as api,
        pytest.raises(KibanaError) as caught,
    ):
        api.status()
    assert "8.6.2 is too old" in str(caught.value)


def test_unreachable_kibana_names_the_endpoint() -> None:
    with FakeKibana() as server:
        url = server.url
    with (
        KibanaApi(KibanaConnection(url=url, request_timeout=5)) as api,
        pytest.raises(KibanaError) as caught,
    ):
        api.status()
    assert f"GET {url}/api/status" in str(caught.value)
    assert "unreachable" in str(caught.value)
    assert not caught.value.permanent


def test_contract_harness_rejects_a_request_kibana_would_reject(kibana: FakeKibana) -> None:
    """The harness itself must fail loudly: a create without kbn-xsrf is a violation."""
    import httpx

    response = httpx.post(
        f"{kibana.url}/api/data_views/data_view",
        content=json.dumps({"data_view": {"title": "x-*"}}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert any("kbn-xsrf" in v for v in kibana.violations)
    kibana.state.violations.clear()
