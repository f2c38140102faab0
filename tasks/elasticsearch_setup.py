"""Prefect tasks that check Elasticsearch and install the index templates.

Planning reads everything first (cluster health and version, the stored templates, every
template that overlaps ours) so that a missing privilege, a wrong password or a conflicting
template is reported before anything is written. Applying then PUTs only the templates that
differ and reads them back to prove the cluster stored what was sent.

Errors name the cluster URL(s) and the cause, never the credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import elasticsearch
from prefect import task

from blocks.elasticsearch import ElasticsearchConnection
from cwh.messages import Language, text
from cwh.setup import (
    ForeignTemplate,
    IndexTemplate,
    index_templates,
    overlapping_templates,
    template_differences,
)
from tasks.common import OutsideSystemError, retrying, run_logger

# Composable index templates (PUT _index_template) exist since 7.8.
MINIMUM_VERSION = (7, 8)


class ElasticsearchSetupError(OutsideSystemError):
    """An Elasticsearch step failed; ``permanent`` errors are not retried."""

    system = "Elasticsearch"


@dataclass(frozen=True)
class ClusterSummary:
    endpoint: str
    cluster_name: str
    health: str
    versions: tuple[str, ...]

    def report_line(self, language: Language = "en") -> str:
        versions = ", ".join(self.versions) or text("setup.check.unknown", language)
        return text(
            "setup.check.elasticsearch",
            language,
            endpoint=self.endpoint,
            cluster=self.cluster_name,
            health=self.health,
            versions=versions,
        )


@dataclass(frozen=True)
class TemplatePlan:
    template: IndexTemplate
    action: str  # "create", "update" or "unchanged"
    differences: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.template.name

    def describe(self, language: Language = "en") -> str:
        patterns = ", ".join(self.template.index_patterns)
        if self.action in ("unchanged", "create"):
            line = text(
                f"setup.template.{self.action}", language, name=self.name, patterns=patterns
            )
        else:
            shown = "; ".join(self.differences[:5])
            more = len(self.differences) - 5
            line = text("setup.template.update", language, name=self.name, differences=shown)
            if more > 0:
                line += text("setup.template.more", language, count=more)
        if self.overridden:
            overridden = ", ".join(self.overridden)
            line += text("setup.template.overrides", language, templates=overridden)
        return line


@dataclass(frozen=True)
class TemplateOutcome:
    changed: tuple[str, ...] = field(default_factory=tuple)
    unchanged: tuple[str, ...] = field(default_factory=tuple)

    def describe_changes(self, language: Language = "en") -> list[str]:
        return [text("setup.template.installed", language, name=name) for name in self.changed]


def explain(exc: Exception, endpoint: str) -> ElasticsearchSetupError:
    """One clear error for whatever the client raised."""
    if isinstance(exc, ElasticsearchSetupError):
        return exc
    if isinstance(exc, elasticsearch.ConnectionTimeout):
        return ElasticsearchSetupError(endpoint, "no answer in time", permanent=False)
    if isinstance(exc, elasticsearch.SSLError):
        return ElasticsearchSetupError(endpoint, f"TLS failed ({exc.message})", permanent=True)
    if isinstance(exc, elasticsearch.ConnectionError):
        return ElasticsearchSetupError(endpoint, f"unreachable ({exc.message})", permanent=False)
    if isinstance(exc, elasticsearch.AuthenticationException):
        return ElasticsearchSetupError(
            endpoint,
            f"rejected the credentials (HTTP 401): {_reason(exc)}",
            permanent=True,
        )
    if isinstance(exc, elasticsearch.AuthorizationException):
        return ElasticsearchSetupError(
            endpoint, f"permission denied (HTTP 403): {_reason(exc)}", permanent=True
        )
    if isinstance(exc, elasticsearch.ApiError):
        permanent = exc.meta.status < 500
        return ElasticsearchSetupError(
            endpoint, f"HTTP {exc.meta.status}: {_reason(exc)}", permanent=permanent
        )
    return ElasticsearchSetupError(endpoint, f"{type(exc).__name__}: {exc}", permanent=False)


def _reason(exc: elasticsearch.ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
        if error:
            return str(error)[:500]
    return str(exc.message)[:500]


@contextmanager
def es_client(block: ElasticsearchConnection) -> Iterator[Any]:
    client = block.get_client()
    try:
        yield client
    except Exception as exc:
        raise explain(exc, block.endpoint) from None
    finally:
        client.close()


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("-", 1)[0].split(".") if p.isdigit())


def cluster_summary(block: ElasticsearchConnection) -> ClusterSummary:
    """Health and node versions; fails when the cluster is red or too old."""
    with es_client(block) as client:
        health = client.cluster.health(timeout="10s")
        nodes = client.nodes.info(filter_path="nodes.*.version")
    versions = tuple(
        sorted({str(node.get("version")) for node in (nodes.get("nodes") or {}).values()})
    )
    status = str(health.get("status"))
    if status == "red":
        raise ElasticsearchSetupError(
            block.endpoint,
            "cluster health is red (some primary shards are unassigned)",
            permanent=False,
        )
    too_old = [v for v in versions if _version_tuple(v) < MINIMUM_VERSION]
    if too_old:
        minimum = ".".join(map(str, MINIMUM_VERSION))
        raise ElasticsearchSetupError(
            block.endpoint,
            f"node version(s) {', '.join(too_old)} lack composable index templates "
            f"(Elasticsearch {minimum} or newer is needed)",
            permanent=True,
        )
    return ClusterSummary(
        endpoint=block.endpoint,
        cluster_name=str(health.get("cluster_name")),
        health=status,
        versions=versions,
    )


def _stored_templates(client: Any) -> dict[str, dict[str, Any]]:
    answer = client.indices.get_index_template()
    return {
        str(item["name"]): dict(item["index_template"])
        for item in answer.get("index_templates", [])
    }


def plan_templates(block: ElasticsearchConnection) -> list[TemplatePlan]:
    """Compare the wanted templates with the stored ones; refuse blocking templates."""
    wanted = index_templates(block.index_prefix)
    ours = {template.name for template in wanted}
    with es_client(block) as client:
        stored = _stored_templates(client)
    others = [
        ForeignTemplate(
            name=name,
            priority=int(body.get("priority") or 0),
            index_patterns=tuple(body.get("index_patterns") or ()),
        )
        for name, body in stored.items()
        if name not in ours
    ]
    plans = []
    for template in wanted:
        blockers, overridden = overlapping_templates(template, others)
        if blockers:
            listed = ", ".join(
                f"{b.name} (priority {b.priority}, patterns {', '.join(b.index_patterns)})"
                for b in blockers
            )
            raise ElasticsearchSetupError(
                block.endpoint,
                f"index template(s) {listed} match the indices of {template.name} with a "
                f"priority >= {template.body['priority']}; lower their priority or remove them",
                permanent=True,
            )
        differences = template_differences(stored.get(template.name), template.body)
        if template.name not in stored:
            action = "create"
        elif differences:
            action = "update"
        else:
            action = "unchanged"
        plans.append(
            TemplatePlan(
                template=template,
                action=action,
                differences=tuple(differences),
                overridden=tuple(o.name for o in overridden),
            )
        )
    return plans


def apply_templates(block: ElasticsearchConnection, plans: list[TemplatePlan]) -> TemplateOutcome:
    """PUT the templates that differ and verify what the cluster stored."""
    changed, unchanged = [], []
    with es_client(block) as client:
        for plan in plans:
            if plan.action == "unchanged":
                unchanged.append(plan.name)
                continue
            body = plan.template.body
            client.indices.put_index_template(
                name=plan.name,
                index_patterns=body["index_patterns"],
                priority=body["priority"],
                version=body["version"],
                meta=body["_meta"],
                template=body["template"],
            )
            stored = _stored_templates(client).get(plan.name)
            left = template_differences(stored, body)
            if left:
                raise ElasticsearchSetupError(
                    block.endpoint,
                    f"template {plan.name} was stored differently: {'; '.join(left[:3])}",
                    permanent=True,
                )
            changed.append(plan.name)
    return TemplateOutcome(changed=tuple(changed), unchanged=tuple(unchanged))


@task(name="check-elasticsearch", **retrying(2, 3))
def check_elasticsearch(block: ElasticsearchConnection) -> ClusterSummary:
    summary = cluster_summary(block)
    run_logger(__name__).info(
        "Elasticsearch %s: cluster %s, health %s, version(s) %s",
        summary.endpoint,
        summary.cluster_name,
        summary.health,
        ", ".join(summary.versions),
    )
    return summary


@task(name="plan-index-templates", **retrying(2, 3))
def plan_index_templates(block: ElasticsearchConnection) -> list[TemplatePlan]:
    plans = plan_templates(block)
    for plan in plans:
        run_logger(__name__).info("Elasticsearch: %s", plan.describe())
    return plans


@task(name="apply-index-templates", **retrying(2, 3))
def apply_index_templates(
    block: ElasticsearchConnection, plans: list[TemplatePlan]
) -> TemplateOutcome:
    outcome = apply_templates(block, plans)
    run_logger(__name__).info(
        "Elasticsearch templates changed: %s; unchanged: %s",
        ", ".join(outcome.changed) or "none",
        ", ".join(outcome.unchanged) or "none",
    )
    return outcome
