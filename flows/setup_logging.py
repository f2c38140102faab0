"""Flow ``setup-logging``: wire a CoursewareHub's execution logs into Elasticsearch and Kibana.

One idempotent run whose inputs are three blocks an operator fills in the Prefect UI:

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

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from blocks import CoursewareHub, ElasticsearchConnection, KibanaConnection, load_block
from cwh.messages import text
from cwh.setup import SetupReport, done_markdown, failed_checks_markdown, plan_markdown
from tasks.checks import check_docker, check_files, check_results
from tasks.elasticsearch_setup import (
    apply_index_templates,
    check_elasticsearch,
    plan_index_templates,
)
from tasks.fluentd import apply_fluentd, plan_fluentd, render_files
from tasks.jupyterhub import plan_jupyterhub, write_jupyterhub_config
from tasks.kibana import (
    ShippedDashboard,
    apply_data_view,
    check_kibana,
    dashboard_url,
    import_dashboard,
    plan_data_view,
)
from tasks.language import flow_language
from tasks.swarm import restart_service

PLAN_ARTIFACT_KEY = "setup-logging-plan"
REPORT_ARTIFACT_KEY = "setup-logging-report"
DEFAULT_BLOCK = "default"


class SetupChecksFailed(RuntimeError):
    """At least one check failed; nothing was changed."""


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
    language: str | None = None,
) -> SetupReport:
    """``language`` (``ja``/``en``) is the report's; unset, the CoursewareHub block's
    ``language`` decides, else ``CWH_LANGUAGE``."""
    logger = get_run_logger()
    hub = load_block(CoursewareHub, coursewarehub_block)
    lang = flow_language(language, hub)
    es = load_block(ElasticsearchConnection, elasticsearch_block)
    kibana = load_block(KibanaConnection, kibana_block)
    report = SetupReport(dry_run=dry_run)

    # 1. checks: all of them, then stop on any failure.
    docker = check_docker.submit(hub)
    files = check_files.submit(hub)
    checks = check_results(
        {
            text("setup.check.docker", lang): docker,
            text("setup.check.files", lang): files,
            "Elasticsearch": check_elasticsearch.submit(es),
            "Kibana": check_kibana.submit(kibana),
        },
        lang,
    )
    report.checks = checks.lines
    if checks.failures:
        report.markdown = failed_checks_markdown(report, lang)
        create_markdown_artifact(
            key=REPORT_ARTIFACT_KEY,
            markdown=report.markdown,
            description=text("setup.artifact.failed", lang),
        )
        failures = "\n".join(checks.failures)
        raise SetupChecksFailed(text("setup.error.checks_failed", lang, failures=failures))
    index_present = files.result().meme_index_present

    # 2. plan (read only).
    template_plans = plan_index_templates(es)
    view_plan = plan_data_view(kibana, es.index_prefix)
    dashboard = ShippedDashboard.load()
    fluentd_files = render_files(hub, es)
    fluentd_plan = plan_fluentd(fluentd_files, hub)
    hub_plan = plan_jupyterhub(hub)
    report.dashboard_url = dashboard_url(kibana, dashboard.dashboard_id)

    if not index_present:
        report.planned.append(text("setup.plan.meme_index", lang, path=hub.meme_index_path))
    report.planned += [plan.describe(lang) for plan in template_plans]
    report.planned.append(view_plan.describe(lang))
    report.planned.append(dashboard.describe_import(kibana.space, view_plan.view_id, lang))
    report.planned += [
        text("setup.plan.fluentd", lang, line=x) for x in fluentd_plan.describe(lang)
    ]
    report.planned += [text("setup.plan.jupyterhub", lang, line=x) for x in hub_plan.describe(lang)]
    if dry_run:
        report.markdown = plan_markdown(report, fluentd_plan.config.diff, hub_plan.diff, lang)
        create_markdown_artifact(
            key=PLAN_ARTIFACT_KEY,
            markdown=report.markdown,
            description=text("setup.artifact.plan", lang),
        )
        logger.info("dry run: %d planned item(s), nothing changed", len(report.planned))
        return report

    # 3. apply, in dependency order.
    if not index_present:
        from flows.index_textbook import index_textbook

        index_textbook(
            textbook_dir=hub.textbook_dir,
            output=hub.meme_index_path,
            qlabel_pattern=hub.qlabel_pattern,
            language=lang,
        )
        report.changed.append(text("setup.done.meme_index", lang, path=hub.meme_index_path))
    report.changed += apply_index_templates(es, template_plans).describe_changes(lang)
    view_id = apply_data_view(kibana, view_plan)
    report.changed += view_plan.describe_result(view_id, lang)
    report.changed.append(import_dashboard(kibana, dashboard.ndjson, view_id).describe(lang))
    report.changed += apply_fluentd(fluentd_files, fluentd_plan, hub).describe_changes(lang)
    if hub_plan.changed:
        write_jupyterhub_config(hub_plan)
        report.changed.append(text("setup.done.wrote", lang, path=hub_plan.path))
    if hub_plan.restart:
        rollout = restart_service(hub.docker_target(), hub.jupyterhub_service)
        report.changed.append(
            text(
                "setup.done.restarted",
                lang,
                service=rollout.service,
                before=rollout.version_before,
                after=rollout.version_after,
                seconds=f"{rollout.seconds:.0f}",
            )
        )

    # 4. report.
    report.markdown = done_markdown(
        report,
        view_id=view_id,
        index_prefix=es.index_prefix,
        referenced_views=sorted(dashboard.referenced_views),
        fluentd_diff=fluentd_plan.config.diff,
        language=lang,
    )
    create_markdown_artifact(
        key=REPORT_ARTIFACT_KEY,
        markdown=report.markdown,
        description=text("setup.artifact.done", lang),
    )
    logger.info(
        "setup finished: %d change(s); dashboard %s", len(report.changed), report.dashboard_url
    )
    return report
