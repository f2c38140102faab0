"""Flow ``setup-logging``: wire a CoursewareHub's execution logs into Elasticsearch and Kibana.

Replaces the reference's long notebook (inventory files, curl, an Ansible playbook installing
custom Ruby gems, clicking dashboards together) with one idempotent run whose inputs are three
blocks an operator fills in the Prefect UI:

1. **Checks** (all of them, concurrently): Docker swarm manager with the hub's stack running,
   the manager's directories, Elasticsearch health and version, Kibana status, version and
   data views API. Any failure stops the run before anything is changed, with one line per
   failed check naming the endpoint and the cause.
2. **Plan**: every step computes what it would change, reading only.
   ``dry_run=True`` publishes that plan as a markdown artifact and stops there.
3. **Apply**, in dependency order: build the MEME index if missing (``index-textbook``), index
   templates, the Kibana data view, the dashboard import, fluentd (config, secret, reload),
   the JupyterHub config file and, only when needed, the hub restart.
4. **Report**: a markdown artifact saying what was checked and changed, with the dashboard link.

Running it again changes nothing that is already right: unchanged templates are not sent,
the data view is found and left alone, fluentd is not reloaded and the hub is not restarted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.core import Block
from prefect.futures import PrefectFuture, wait

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from blocks.kibana import KibanaConnection
from cwh.setup import NDJSON_PATH, dashboard_id, parse_ndjson, referenced_data_views
from tasks.checks import check_docker, check_files
from tasks.elasticsearch_setup import (
    apply_index_templates,
    check_elasticsearch,
    plan_index_templates,
)
from tasks.fluentd import apply_fluentd, plan_fluentd, render_files
from tasks.jupyterhub import plan_jupyterhub, write_jupyterhub_config
from tasks.kibana import (
    apply_data_view,
    check_kibana,
    dashboard_url,
    import_dashboard,
    plan_data_view,
)
from tasks.swarm import restart_service

PLAN_ARTIFACT_KEY = "setup-logging-plan"
REPORT_ARTIFACT_KEY = "setup-logging-report"
DEFAULT_BLOCK = "default"
B = TypeVar("B", bound=Block)


class SetupChecksFailed(RuntimeError):
    """At least one check failed; nothing was changed."""


class BlockNotFound(ValueError):
    """A block named as a parameter does not exist (or cannot be read)."""


@dataclass
class SetupReport:
    dry_run: bool
    checks: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    dashboard_url: str | None = None
    markdown: str = ""


def load_block(block_type: type[B], name: str) -> B:
    """``Block.load`` with an error that says which block is missing."""
    type_name = block_type.get_block_type_name()
    try:
        block = block_type.load(name)
    except ValueError as exc:
        raise BlockNotFound(f"{type_name} block {name!r} cannot be loaded: {exc}") from None
    if not isinstance(block, block_type):
        raise BlockNotFound(f"block {name!r} is not a {type_name} block")
    return block


def _outcome(future: PrefectFuture[Any]) -> tuple[Any, BaseException | None]:
    value = future.result(raise_on_failure=False)
    if isinstance(value, BaseException):
        return None, value
    return value, None


def _diff_block(diff: str) -> list[str]:
    if not diff:
        return []
    return ["", "```diff", diff.rstrip("\n"), "```", ""]


def _markdown(title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> str:
    lines = [f"# {title}", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", *body, ""]
    return "\n".join(lines)


def _bullets(items: Sequence[str]) -> list[str]:
    return [f"- {item}" for item in items] or ["- nothing"]


@flow(
    name="setup-logging",
    description="Install index templates, Kibana dashboards, fluentd and JupyterHub wiring "
    "for lc_wrapper execution logs.",
)
def setup_logging(
    coursewarehub_block: str = DEFAULT_BLOCK,
    elasticsearch_block: str = DEFAULT_BLOCK,
    kibana_block: str = DEFAULT_BLOCK,
    dry_run: bool = False,
) -> SetupReport:
    logger = get_run_logger()
    hub = load_block(CoursewareHub, coursewarehub_block)
    es = load_block(ElasticsearchConnection, elasticsearch_block)
    kibana = load_block(KibanaConnection, kibana_block)
    report = SetupReport(dry_run=dry_run)

    # 1. checks: all of them, then stop on any failure.
    futures: dict[str, PrefectFuture[Any]] = {
        "Docker swarm": check_docker.submit(hub),
        "Manager files": check_files.submit(hub),
        "Elasticsearch": check_elasticsearch.submit(es),
        "Kibana": check_kibana.submit(kibana),
    }
    wait(list(futures.values()))
    results: dict[str, Any] = {}
    failures: list[str] = []
    for name, future in futures.items():
        value, error = _outcome(future)
        if error is not None:
            failures.append(f"{name}: {error}")
            report.checks.append(f"FAILED {name}: {error}")
        else:
            results[name] = value
            report.checks.append(f"ok {name}: {_check_summary(name, value)}")
    if failures:
        report.markdown = _markdown(
            "setup-logging: checks failed, nothing was changed",
            [("Checks", _bullets(report.checks))],
        )
        create_markdown_artifact(
            key=REPORT_ARTIFACT_KEY, markdown=report.markdown, description="Failed checks"
        )
        raise SetupChecksFailed("setup checks failed, nothing was changed:\n" + "\n".join(failures))
    index_present = bool(results["Manager files"].meme_index_present)

    # 2. plan (read only).
    template_plans = plan_index_templates(es)
    view_plan = plan_data_view(kibana, es.index_prefix)
    ndjson = NDJSON_PATH.read_text(encoding="utf-8")
    objects = parse_ndjson(ndjson)
    fluentd_files = render_files(hub, es)
    fluentd_plan = plan_fluentd(fluentd_files, hub)
    hub_plan = plan_jupyterhub(hub)
    dashboard_link = dashboard_url(kibana, dashboard_id(objects))

    planned: list[str] = []
    if not index_present:
        planned.append(f"build the MEME index {hub.meme_index_path} (index-textbook)")
    planned += [plan.describe() for plan in template_plans]
    planned.append(view_plan.describe())
    planned.append(
        f"import {len(objects)} saved objects (Lens panels and dashboard, overwrite by id) "
        f"into space `{kibana.space}`, pointed at data view `{view_plan.view_id}`"
    )
    planned += [f"fluentd: {line}" for line in fluentd_plan.describe()]
    planned += [f"JupyterHub: {line}" for line in hub_plan.describe()]
    report.planned = planned
    plan_sections: list[tuple[str, Sequence[str]]] = [
        ("Checks", _bullets(report.checks)),
        ("Planned changes", _bullets(planned)),
        ("fluentd config diff", _diff_block(fluentd_plan.config.diff) or ["(no change)"]),
        ("JupyterHub config diff", _diff_block(hub_plan.diff) or ["(no change)"]),
    ]
    if dry_run:
        report.dashboard_url = dashboard_link
        report.markdown = _markdown("setup-logging: plan (dry run, nothing changed)", plan_sections)
        create_markdown_artifact(
            key=PLAN_ARTIFACT_KEY, markdown=report.markdown, description="Planned changes"
        )
        logger.info("dry run: %d planned item(s), nothing changed", len(planned))
        return report

    # 3. apply, in dependency order.
    changed: list[str] = []
    if not index_present:
        from flows.index_textbook import index_textbook

        index_textbook(
            textbook_dir=hub.textbook_dir,
            output=hub.meme_index_path,
            qlabel_pattern=hub.qlabel_pattern,
        )
        changed.append(f"built the MEME index {hub.meme_index_path}")
    templates = apply_index_templates(es, template_plans)
    changed += [f"index template `{name}` installed" for name in templates.changed]
    view_id = apply_data_view(kibana, view_plan)
    if view_plan.action != "unchanged":
        changed.append(f"data view `{view_id}` {view_plan.action}d")
    imported = import_dashboard(kibana, ndjson, view_id)
    changed.append(f"dashboard imported ({imported.success_count} saved objects, same ids)")
    fluentd = apply_fluentd(fluentd_files, fluentd_plan, hub)
    changed += [f"wrote `{path}`" for path in fluentd.written]
    if fluentd.action != "none":
        changed.append(f"fluentd dry run {fluentd.dry_run}; fluentd {fluentd.action}ed")
    if hub_plan.changed:
        write_jupyterhub_config(hub_plan)
        changed.append(f"wrote `{hub_plan.path}`")
    if hub_plan.restart:
        rollout = restart_service(hub.docker_target(), hub.jupyterhub_service)
        changed.append(
            f"restarted `{rollout.service}` (version {rollout.version_before} -> "
            f"{rollout.version_after}, {rollout.seconds:.0f} s)"
        )

    # 4. report.
    report.changed = changed
    report.dashboard_url = dashboard_link
    views = ", ".join(sorted(referenced_data_views(objects)))
    report.markdown = _markdown(
        "setup-logging: done",
        [
            ("Checks", _bullets(report.checks)),
            ("Changes", _bullets(changed)),
            (
                "Kibana",
                [
                    f"- Dashboard: [{dashboard_link}]({dashboard_link})",
                    f"- Data view `{view_id}` (`{es.index_prefix}-*` on `@timestamp`), "
                    f"shipped objects referenced `{views}`",
                ],
            ),
            ("fluentd config diff", _diff_block(fluentd_plan.config.diff) or ["(no change)"]),
        ],
    )
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY, markdown=report.markdown, description="What setup did"
    )
    logger.info("setup finished: %d change(s); dashboard %s", len(changed), dashboard_link)
    return report


def _check_summary(name: str, value: Any) -> str:
    if name == "Docker swarm":
        services = ", ".join(s.describe() for s in value.services)
        return f"{value.endpoint} is a swarm manager ({value.node}); {services}"
    if name == "Manager files":
        index = "present" if value.meme_index_present else "missing, will be built"
        return f"directories present; MEME index {index}"
    if name == "Elasticsearch":
        return (
            f"{value.endpoint} cluster {value.cluster_name} {value.health}, "
            f"version {', '.join(value.versions) or 'unknown'}"
        )
    return f"{value.url} {value.level}, version {value.version_text}"
