"""Prefect tasks that talk to Kibana: status, the data view and the dashboard import.

Requests follow Kibana's published OpenAPI documents (data views and saved objects):
``kbn-xsrf`` on every write, JSON bodies as ``application/json``, the dashboard as one
multipart ``file`` part whose name ends in ``.ndjson``, and every path prefixed with
``/s/<space>`` outside the default space. The data view is looked up by id, title and name
first, then created once or updated in place, and the dashboard is imported with
``overwrite=true`` under fixed ids, so a rerun converges instead of piling up.

Errors name the Kibana endpoint and the cause. Credentials travel only in the
``Authorization`` header, which is never logged.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from prefect import task

from blocks.kibana import DEFAULT_SPACE, KibanaConnection
from cwh.messages import Language
from cwh.messages import text as message
from cwh.setup import (
    MINIMUM_KIBANA,
    NDJSON_PATH,
    dashboard_id,
    parse_ndjson,
    redact_url,
    referenced_data_views,
    retarget_data_view,
)
from tasks.common import OutsideSystemError, retrying, run_logger

API_VERSION = "2023-10-31"
XSRF_VALUE = "cwh-flows"
TIME_FIELD = "@timestamp"
IMPORT_FILE_NAME = "lc_wrapper_dashboard.ndjson"
_READY_LEVELS = frozenset({"available", "degraded"})


class KibanaError(OutsideSystemError):
    """A Kibana request failed; ``permanent`` errors (refused, missing API) are not retried."""

    system = "Kibana"


@dataclass(frozen=True)
class KibanaStatus:
    url: str
    level: str
    version: str | None

    @property
    def version_text(self) -> str:
        return self.version or "not reported (anonymous status)"

    def report_line(self, language: Language = "en") -> str:
        version = self.version or message("setup.check.kibana_anonymous", language)
        url = redact_url(self.url)
        return message("setup.check.kibana", language, url=url, level=self.level, version=version)


@dataclass(frozen=True)
class DataViewSpec:
    """The data view setup wants: ``<prefix>-*`` on ``@timestamp``, with a stable id."""

    view_id: str
    title: str
    name: str
    time_field: str = TIME_FIELD

    @classmethod
    def for_prefix(cls, prefix: str, name: str) -> DataViewSpec:
        return cls(view_id=f"cwh-{prefix}", title=f"{prefix}-*", name=name)


@dataclass(frozen=True)
class DataViewPlan:
    action: str  # "create", "update" or "unchanged"
    view_id: str
    spec: DataViewSpec
    changes: tuple[str, ...] = ()
    found_by: str | None = None

    def describe(self, language: Language = "en") -> str:
        if self.action == "create":
            return message(
                "setup.view.create", language, title=self.spec.title, view_id=self.view_id
            )
        if self.action == "update":
            changes = "; ".join(self.changes)
            return message("setup.view.update", language, view_id=self.view_id, changes=changes)
        found_by = self.found_by
        return message("setup.view.unchanged", language, view_id=self.view_id, found_by=found_by)

    def describe_result(self, view_id: str, language: Language = "en") -> list[str]:
        """What applying this plan changed, given the id Kibana answered with."""
        if self.action == "unchanged":
            return []
        return [message(f"setup.view.{self.action}d", language, view_id=view_id)]


@dataclass(frozen=True)
class ImportResult:
    success_count: int
    objects: tuple[str, ...] = field(default_factory=tuple)

    def describe(self, language: Language = "en") -> str:
        return message("setup.dashboard.imported", language, count=self.success_count)


@dataclass(frozen=True)
class ShippedDashboard:
    """The dashboard's saved objects as shipped in :data:`cwh.setup.NDJSON_PATH`."""

    ndjson: str
    objects: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls) -> ShippedDashboard:
        ndjson = NDJSON_PATH.read_text(encoding="utf-8")
        return cls(ndjson=ndjson, objects=tuple(parse_ndjson(ndjson)))

    @property
    def dashboard_id(self) -> str:
        return dashboard_id(self.objects)

    @property
    def referenced_views(self) -> set[str]:
        return referenced_data_views(self.objects)

    def describe_import(self, space: str, view_id: str, language: Language = "en") -> str:
        count = len(self.objects)
        return message(
            "setup.dashboard.import", language, count=count, space=space, view_id=view_id
        )


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("-", 1)[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


class KibanaApi:
    """A small client for the handful of Kibana APIs setup needs."""

    def __init__(
        self, block: KibanaConnection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.block = block
        headers = {"elastic-api-version": API_VERSION, "accept": "application/json"}
        authorization = block.authorization()
        if authorization is not None:
            headers["authorization"] = authorization
        verify: bool | ssl.SSLContext = block.verify_certs
        if block.verify_certs and block.ca_certs:
            verify = ssl.create_default_context(cafile=block.ca_certs)
        self._client = httpx.Client(
            headers=headers,
            timeout=block.request_timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KibanaApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing

    def url(self, path: str, *, in_space: bool = True) -> str:
        base = self.block.space_url if in_space else self.block.url
        return base + path

    def _send(
        self,
        method: str,
        path: str,
        *,
        in_space: bool = True,
        allow: Sequence[int] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        url = self.url(path, in_space=in_space)
        endpoint = f"{method} {redact_url(url)}"
        if method != "GET":
            kwargs.setdefault("headers", {})["kbn-xsrf"] = XSRF_VALUE
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise KibanaError(
                endpoint, f"no answer within {self.block.request_timeout:g} s", permanent=False
            ) from None
        except httpx.TransportError as exc:
            raise KibanaError(endpoint, f"unreachable ({exc})", permanent=False) from None
        if response.status_code in allow:
            return response
        raise self._failure(endpoint, response)

    def _failure(self, endpoint: str, response: httpx.Response) -> KibanaError:
        status = response.status_code
        message = _error_message(response)
        if status == 401:
            return KibanaError(
                endpoint, f"rejected the credentials (HTTP 401): {message}", permanent=True
            )
        if status == 403:
            return KibanaError(endpoint, f"permission denied (HTTP 403): {message}", permanent=True)
        if status >= 500:
            cause = f"server error (HTTP {status}): {message}"
            return KibanaError(endpoint, cause, permanent=False)
        return KibanaError(endpoint, f"HTTP {status}: {message}", permanent=True)

    def _json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise KibanaError(
                f"{response.request.method} {redact_url(str(response.request.url))}",
                f"{what}: answer is not a JSON object (is this Kibana?)",
                permanent=True,
            )
        return body

    # ----------------------------------------------------------------- status

    def status(self) -> KibanaStatus:
        """``GET /api/status``; fails unless Kibana is available (or degraded) and new enough."""
        response = self._send("GET", "/api/status", in_space=False, allow=(200, 503))
        body = self._json_object(response, "status")
        endpoint = f"GET {redact_url(self.url('/api/status', in_space=False))}"
        overall = _path(body, "status", "overall")
        level = _path(body, "status", "overall", "level")
        if not isinstance(level, str):
            raise KibanaError(endpoint, "status answer has no status.overall.level", permanent=True)
        number = _path(body, "version", "number")
        version = number if isinstance(number, str) else None
        if response.status_code == 503 or level not in _READY_LEVELS:
            summary = _path(overall, "summary") or ""
            raise KibanaError(
                endpoint, f"not ready (level {level}) {summary}".strip(), permanent=False
            )
        if version is not None and _version_tuple(version) < MINIMUM_KIBANA:
            minimum = ".".join(map(str, MINIMUM_KIBANA))
            raise KibanaError(
                endpoint,
                f"Kibana {version} is too old: the dashboard needs Kibana {minimum} or newer",
                permanent=True,
            )
        return KibanaStatus(url=self.block.url, level=level, version=version)

    # ----------------------------------------------------------------- data views

    def list_data_views(self) -> list[dict[str, Any]]:
        """Summaries of the space's data views; a 404 means no data views API or no space."""
        response = self._send("GET", "/api/data_views", allow=(200, 404))
        endpoint = f"GET {self.url('/api/data_views')}"
        if response.status_code == 404:
            raise KibanaError(endpoint, self._explain_missing_data_views(), permanent=True)
        views = self._json_object(response, "data view list").get("data_view")
        if not isinstance(views, list) or not all(isinstance(v, dict) for v in views):
            raise KibanaError(endpoint, "answer has no data_view list", permanent=True)
        return views

    def _explain_missing_data_views(self) -> str:
        if self.block.space != DEFAULT_SPACE:
            probe = self._send("GET", "/api/data_views", in_space=False, allow=(200, 404))
            if probe.status_code == 200:
                return f"Kibana space {self.block.space!r} does not exist (HTTP 404)"
        minimum = ".".join(map(str, MINIMUM_KIBANA))
        return f"this Kibana has no data views API (HTTP 404); Kibana {minimum} or newer is needed"

    def get_data_view(self, view_id: str) -> dict[str, Any] | None:
        path = f"/api/data_views/data_view/{view_id}"
        response = self._send("GET", path, allow=(200, 404))
        if response.status_code == 404:
            return None
        view = self._json_object(response, "data view").get("data_view")
        if not isinstance(view, dict):
            raise KibanaError(f"GET {self.url(path)}", "answer has no data_view", permanent=True)
        return view

    def plan_data_view(self, spec: DataViewSpec) -> DataViewPlan:
        """Find the data view by id, then title, then name; say what must change."""
        views = self.list_data_views()
        found_by = None
        match: dict[str, Any] | None = None
        for key, wanted, label in (
            ("id", spec.view_id, "id"),
            ("title", spec.title, "title"),
            ("name", spec.name, "name"),
        ):
            candidates = [v for v in views if v.get(key) == wanted]
            if candidates:
                match, found_by = candidates[0], label
                break
        if match is None:
            return DataViewPlan(action="create", view_id=spec.view_id, spec=spec)
        view_id = str(match["id"])
        current = self.get_data_view(view_id)
        if current is None:
            return DataViewPlan(action="create", view_id=spec.view_id, spec=spec)
        changes = tuple(
            f"{key} {current.get(key)!r} -> {wanted!r}"
            for key, wanted in (
                ("title", spec.title),
                ("name", spec.name),
                ("timeFieldName", spec.time_field),
            )
            if current.get(key) != wanted
        )
        action = "update" if changes else "unchanged"
        return DataViewPlan(
            action=action, view_id=view_id, spec=spec, changes=changes, found_by=found_by
        )

    def apply_data_view(self, plan: DataViewPlan) -> str:
        """Create or update the data view; returns its id."""
        spec = plan.spec
        if plan.action == "unchanged":
            return plan.view_id
        if plan.action == "create":
            body: dict[str, Any] = {
                "data_view": {
                    "id": spec.view_id,
                    "title": spec.title,
                    "name": spec.name,
                    "timeFieldName": spec.time_field,
                },
                "override": False,
            }
            path = "/api/data_views/data_view"
        else:
            body = {
                "data_view": {
                    "title": spec.title,
                    "name": spec.name,
                    "timeFieldName": spec.time_field,
                },
                "refresh_fields": True,
            }
            path = f"/api/data_views/data_view/{plan.view_id}"
        response = self._send("POST", path, json=body)
        view = self._json_object(response, "data view").get("data_view")
        if not isinstance(view, dict) or not isinstance(view.get("id"), str):
            raise KibanaError(
                f"POST {self.url(path)}", "answer has no data_view.id", permanent=True
            )
        return str(view["id"])

    # ----------------------------------------------------------------- saved objects

    def import_objects(self, ndjson: str, file_name: str = IMPORT_FILE_NAME) -> ImportResult:
        """Import saved objects, overwriting those with the same ids."""
        if not file_name.endswith(".ndjson"):
            raise ValueError(f"Kibana only imports files named *.ndjson, not {file_name!r}")
        path = "/api/saved_objects/_import"
        response = self._send(
            "POST",
            path,
            params={"overwrite": "true"},
            files={"file": (file_name, ndjson.encode("utf-8"), "application/ndjson")},
        )
        body = self._json_object(response, "import")
        endpoint = f"POST {self.url(path)}"
        if body.get("success") is not True:
            raise KibanaError(endpoint, _import_errors(body), permanent=True)
        count = body.get("successCount")
        results = body.get("successResults") or []
        if not isinstance(count, int):
            raise KibanaError(endpoint, "answer has no successCount", permanent=True)
        imported = tuple(
            f"{item.get('type')}/{item.get('id')}" for item in results if isinstance(item, Mapping)
        )
        return ImportResult(success_count=count, objects=imported)

    def dashboard_url(self, dashboard_id: str) -> str:
        return dashboard_url(self.block, dashboard_id)


def dashboard_url(block: KibanaConnection, dashboard_id: str) -> str:
    """Where teachers open the dashboard (in the configured space)."""
    return f"{block.space_url}/app/dashboards#/view/{dashboard_id}"


def _path(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...`` or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:500]
    return str(body)[:300]


def _import_errors(body: Mapping[str, Any]) -> str:
    errors = body.get("errors") or []
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, Mapping):
            continue
        detail = error.get("error") or {}
        kind = detail.get("type", "unknown") if isinstance(detail, Mapping) else "unknown"
        text = f"{error.get('type')}/{error.get('id')}: {kind}"
        references = detail.get("references") if isinstance(detail, Mapping) else None
        if references:
            missing = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in references)
            text += f" (missing {missing})"
        parts.append(text)
    return "import failed: " + ("; ".join(parts) if parts else "no error details")


@contextmanager
def kibana_api(block: KibanaConnection) -> Iterator[KibanaApi]:
    api = KibanaApi(block)
    try:
        yield api
    finally:
        api.close()


@task(name="check-kibana", **retrying(2, 3))
def check_kibana(block: KibanaConnection) -> KibanaStatus:
    """Kibana is up, new enough, accepts the credentials and has the data views API."""
    with kibana_api(block) as api:
        status = api.status()
        api.list_data_views()
    run_logger(__name__).info(
        "Kibana %s is %s, version %s", status.url, status.level, status.version_text
    )
    return status


@task(name="plan-kibana-data-view", **retrying(2, 3))
def plan_data_view(block: KibanaConnection, index_prefix: str) -> DataViewPlan:
    with kibana_api(block) as api:
        plan = api.plan_data_view(DataViewSpec.for_prefix(index_prefix, block.data_view_name))
    run_logger(__name__).info("Kibana: %s", plan.describe())
    return plan


@task(name="apply-kibana-data-view", **retrying(2, 3))
def apply_data_view(block: KibanaConnection, plan: DataViewPlan) -> str:
    with kibana_api(block) as api:
        view_id = api.apply_data_view(plan)
    run_logger(__name__).info("Kibana data view %s: %s", view_id, plan.action)
    return view_id


@task(name="import-kibana-dashboard", **retrying(2, 3))
def import_dashboard(block: KibanaConnection, ndjson: str, data_view_id: str) -> ImportResult:
    """Import the dashboard's saved objects, pointed at the data view setup ensured."""
    with kibana_api(block) as api:
        result = api.import_objects(retarget_data_view(ndjson, data_view_id))
    run_logger(__name__).info("Kibana imported %d saved object(s)", result.success_count)
    return result
