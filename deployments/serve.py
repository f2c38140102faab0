"""Serve every deployment of ``prefect.yaml`` from this machine, plus the textbook watcher.

Two ways to run the deployments in production:

* **this module** (``cwh serve``): one long-running process on the CoursewareHub manager
  registers every deployment of ``prefect.yaml`` (schedules, event triggers, concurrency
  limits, parameters) and executes their runs itself; no work pool or worker is needed.
  The textbook watcher runs in the same process, so notebook changes reach the
  ``index-textbook`` deployment. Stop it with SIGTERM/SIGINT; Prefect pauses served
  deployments on shutdown, and they resume when it is started again.
* **work pool + worker**: ``prefect work-pool create cwh-process --type process``,
  ``CWH_FLOWS_ROOT=$PWD prefect --no-prompt deploy --all``,
  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY=60 prefect worker start --pool cwh-process``, and
  ``cwh textbook watch --textbook-dir ...`` as its own service. Use it when runs should
  execute on other machines than the one that schedules them.

Both read the same ``prefect.yaml``, so a deployment behaves identically either way.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

_log = logging.getLogger("cwh.serve")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_YAML = ROOT / "prefect.yaml"
WATCHED_DEPLOYMENT = "index-textbook"


class ServeConfigError(ValueError):
    """``prefect.yaml`` has an entry this server cannot turn into a deployment."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One ``deployments:`` entry, as read from ``prefect.yaml``."""

    name: str
    entrypoint: str
    raw: Mapping[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.raw.get("parameters") or {})


def read_specs(prefect_yaml: Path = DEFAULT_PREFECT_YAML) -> list[DeploymentSpec]:
    try:
        document = yaml.safe_load(Path(prefect_yaml).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ServeConfigError(f"{prefect_yaml} does not exist") from None
    except yaml.YAMLError as exc:
        raise ServeConfigError(f"{prefect_yaml} is not valid YAML: {exc}") from exc
    entries = (document or {}).get("deployments") or []
    specs = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping) or not entry.get("name") or not entry.get("entrypoint"):
            raise ServeConfigError(
                f"{prefect_yaml}: deployment #{position} needs a name and an entrypoint"
            )
        specs.append(DeploymentSpec(str(entry["name"]), str(entry["entrypoint"]), entry))
    return specs


def load_flow(entrypoint: str) -> Any:
    """``flows/x.py:function`` -> the flow object (imported as ``flows.x``)."""
    path, sep, attribute = entrypoint.partition(":")
    if not sep or not path.endswith(".py"):
        raise ServeConfigError(f"entrypoint {entrypoint!r} is not '<file>.py:<function>'")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ServeConfigError(f"{path} has no flow {attribute!r}") from None


def to_deployment(spec: DeploymentSpec) -> Any:
    """A runner deployment with the schedules, triggers and limits of ``spec``."""
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Cron

    raw = spec.raw
    schedules = [
        Cron(
            item["cron"],
            timezone=item.get("timezone"),
            slug=item.get("slug"),
            active=bool(item.get("active", True)),
            parameters=item.get("parameters") or {},
        )
        for item in raw.get("schedules") or []
    ]
    triggers = []
    for item in raw.get("triggers") or []:
        if item.get("type", "event") != "event":
            raise ServeConfigError(f"{spec.name}: only event triggers are supported")
        triggers.append(
            DeploymentEventTrigger(
                name=item.get("name"),
                enabled=bool(item.get("enabled", True)),
                match=item.get("match") or {},
                expect=set(item.get("expect") or ()),
                posture=item.get("posture", "Reactive"),
                threshold=int(item.get("threshold", 1)),
                within=timedelta(seconds=float(item.get("within", 0))),
                parameters=item.get("parameters") or {},
            )
        )
    limit = raw.get("concurrency_limit")
    concurrency: ConcurrencyLimitConfig | int | None = None
    if isinstance(limit, Mapping):
        concurrency = ConcurrencyLimitConfig(
            limit=int(limit["limit"]),
            collision_strategy=ConcurrencyLimitStrategy(limit.get("collision_strategy", "ENQUEUE")),
        )
    elif limit is not None:
        concurrency = int(limit)
    return load_flow(spec.entrypoint).to_deployment(
        name=spec.name,
        description=raw.get("description"),
        tags=list(raw.get("tags") or []),
        parameters=spec.parameters,
        schedules=schedules,
        triggers=triggers,
        concurrency_limit=concurrency,
    )


def heartbeat_seconds() -> int:
    """Seconds between the heartbeats of the runs this process starts.

    Heartbeats let the server tell a run whose process died from one that is still working
    (the stale-run automation of ``cwh alerts apply`` sets such a run CRASHED); an operator's
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` wins over the project's default.
    """
    from cwh.health import HEARTBEAT_SECONDS

    for name in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return HEARTBEAT_SECONDS


def watched_textbook(specs: Sequence[DeploymentSpec]) -> Path | None:
    """The textbook directory the ``index-textbook`` deployment indexes, if any."""
    for spec in specs:
        if spec.name == WATCHED_DEPLOYMENT and spec.parameters.get("textbook_dir"):
            return Path(str(spec.parameters["textbook_dir"]))
    return None


def start_watcher(
    textbook_dir: Path, stop: threading.Event, *, announce_start: bool = True
) -> threading.Thread:
    from deployments.textbook_watch import TextbookWatcher, WatchConfig, prefect_event_sender

    root = textbook_dir.resolve()
    config = WatchConfig(textbook_dir=root, announce_start=announce_start)
    watcher = TextbookWatcher(config, prefect_event_sender(root))
    thread = threading.Thread(
        target=watcher.run, args=(stop,), name="textbook-watcher", daemon=True
    )
    thread.start()
    return thread


def serve_specs(
    specs: Sequence[DeploymentSpec],
    *,
    textbook: Path | None,
    limit: int | None = None,
    pause_on_shutdown: bool = True,
) -> None:
    """Register and serve ``specs`` (and watch ``textbook``, if given) until interrupted."""
    from prefect import serve

    deployments = [to_deployment(spec) for spec in specs]
    stop = threading.Event()
    watcher = start_watcher(textbook, stop) if textbook is not None else None
    _log.info("serving %s", ", ".join(s.name for s in specs))
    try:
        serve(
            *deployments,
            limit=limit,
            pause_on_shutdown=pause_on_shutdown,
            heartbeat_seconds=heartbeat_seconds(),
        )
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=10)


def serve_all(
    prefect_yaml: Path = DEFAULT_PREFECT_YAML,
    *,
    only: Sequence[str] | None = None,
    watch: bool = True,
    limit: int | None = None,
) -> None:
    """Register and serve the deployments of ``prefect_yaml`` until interrupted (blocks)."""
    specs = read_specs(prefect_yaml)
    if only:
        unknown = sorted(set(only) - {s.name for s in specs})
        if unknown:
            raise ServeConfigError(f"no deployment named {', '.join(unknown)} in {prefect_yaml}")
        specs = [s for s in specs if s.name in only]
    serve_specs(specs, textbook=watched_textbook(specs) if watch else None, limit=limit)
