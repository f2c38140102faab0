"""The deployments of ``prefect.yaml`` pointed at the demo's own data.

``cwh demo`` registers every deployment of ``prefect.yaml`` (schedules, event triggers and
limits as written) so that the Prefect UI shows the product as an operator will run it; only
the parameters that name production places are replaced by the demo's: its generated course
(homes, passwd, textbook, MEME index), the embedded store instead of Elasticsearch, the
demo's report directory, the ``demo`` block documents and, for ``reconcile-workers``, the
``demo`` provider with ``dry_run`` (a plan, nothing changed). A parameter is set only where
the deployment's flow accepts it, so new deployments need no change here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployments.serve import ROOT, DeploymentSpec, load_flow

DEMO_TIMETABLE = ROOT / "examples" / "timetable.yaml"
TEXTBOOK_DIR_LABEL = "cwh.textbook.dir"


@dataclass(frozen=True)
class DemoPlaces:
    """Where the demo's data lives, all under one work directory."""

    workdir: Path

    @property
    def course(self) -> Path:
        return self.workdir / "course"

    @property
    def textbook_dir(self) -> Path:
        return self.course / "textbook"

    @property
    def index(self) -> Path:
        return self.course / "meme.csv"

    @property
    def passwd(self) -> Path:
        return self.course / "passwd"

    @property
    def homes_dir(self) -> Path:
        return self.course / "homes"

    @property
    def database(self) -> Path:
        return self.workdir / "executions.sqlite3"

    @property
    def reports(self) -> Path:
        return self.workdir / "reports"

    @property
    def checkpoint(self) -> Path:
        return self.workdir / "backfill.checkpoint.json"

    def parameters(self, block_name: str) -> dict[str, Any]:
        """Demo values by parameter name (the same name means the same thing in every flow)."""
        return {
            "textbook_dir": str(self.textbook_dir),
            "output": str(self.index),
            "index": str(self.index),
            "roster": str(self.passwd),
            "passwd": str(self.passwd),
            "homes_dir": str(self.homes_dir),
            "database": str(self.database),
            # The embedded store, wherever the flow can use one (see demo_spec).
            "elasticsearch_block": None,
            "elasticsearch_url": None,
            "output_dir": str(self.reports),
            "checkpoint": str(self.checkpoint),
            # Only root can give the generated files to their students; otherwise every
            # execution is suspect and the report counts them (as the demo flow does).
            "include_suspect": os.geteuid() != 0,
            "timetable": str(DEMO_TIMETABLE),
            "provider": "demo",
            "vcp_block": None,
            "dry_run": True,
            "ledger": None,
            "hub_service": None,
            "coursewarehub_block": block_name,
            "kibana_block": block_name,
        }


def flow_parameter_names(entrypoint: str) -> set[str]:
    """The parameters the flow of ``entrypoint`` accepts."""
    flow = load_flow(entrypoint)
    return set(flow.parameters.properties)


def demo_spec(spec: DeploymentSpec, places: DemoPlaces, block_name: str) -> DeploymentSpec:
    """``spec`` with the demo's places for every parameter its flow accepts."""
    accepted = flow_parameter_names(spec.entrypoint)
    overrides = {k: v for k, v in places.parameters(block_name).items() if k in accepted}
    if "elasticsearch_block" in accepted and "database" not in accepted:
        # A flow without an embedded store (setup-logging) gets the demo document.
        overrides["elasticsearch_block"] = block_name
    raw: dict[str, Any] = dict(spec.raw)
    raw["parameters"] = {**spec.parameters, **overrides}
    raw["triggers"] = [_demo_trigger(t, places) for t in spec.raw.get("triggers") or []]
    return DeploymentSpec(spec.name, spec.entrypoint, raw)


def _demo_trigger(trigger: Mapping[str, Any], places: DemoPlaces) -> dict[str, Any]:
    """A trigger on the production textbook directory watches the demo's instead."""
    result = dict(trigger)
    match = dict(trigger.get("match") or {})
    if TEXTBOOK_DIR_LABEL in match:
        match[TEXTBOOK_DIR_LABEL] = str(places.textbook_dir.resolve())
    result["match"] = match
    return result


def demo_specs(
    specs: Sequence[DeploymentSpec], workdir: Path, block_name: str
) -> list[DeploymentSpec]:
    places = DemoPlaces(workdir)
    return [demo_spec(spec, places, block_name) for spec in specs]
