"""Watch the textbook directory and announce changes as ``cwh.textbook.changed`` events.

The ``index-textbook`` deployment is triggered by those events. Prefect's trigger
``within`` throttles (first event fires, the rest are dropped) instead of debouncing, so
the debounce happens here: a burst such as ``cp -r`` of a whole course becomes one event,
sent once the directory has been quiet for a few seconds, listing every changed path.

The watcher is meant to run for months on a CoursewareHub manager whose textbook lives on
NFS, so it:

* survives the directory disappearing (unmount) and reappearing (remount, or a new
  directory at the same path) and asks for a re-index when it is back, since anything
  may have changed meanwhile; changes seen before an unmount are held until then;
* keeps changes it could not send (Prefect API down) and retries with backoff;
* asks for one re-index at start-up, covering changes made while it was not running;
* can poll instead of using inotify (``--poll``): inotify does not see writes made by
  other NFS clients;
* logs what it does.

:func:`changed_event_trigger` is the deployment trigger that matches these events; the
same trigger is declared in ``prefect.yaml``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cwh.safe_input import printable
from cwh.textbook import (
    TEXTBOOK_CHANGED_EVENT,
    TEXTBOOK_DIR_LABEL,
    TEXTBOOK_RESOURCE_ID,
    ChangeBatch,
    ChangeDebouncer,
    ChangeKind,
    relevant_path,
)

if TYPE_CHECKING:
    from prefect.events import DeploymentEventTrigger

logger = logging.getLogger("cwh.textbook.watch")

Sender = Callable[[ChangeBatch], str]
"""Sends one batch and returns the event id; raises :class:`EventNotSent` on failure."""

_KINDS: dict[int, ChangeKind] = {1: "added", 2: "modified", 3: "deleted"}


class EventNotSent(RuntimeError):
    """The batch could not be handed to Prefect; the watcher keeps it and retries."""


@dataclass(frozen=True)
class WatchConfig:
    """Watcher settings (see ``cwh textbook watch --help``)."""

    textbook_dir: Path
    quiet_seconds: float = 3.0
    max_wait_seconds: float = 60.0
    force_polling: bool = False
    poll_interval_seconds: float = 1.0
    announce_start: bool = True
    tick_seconds: float = 0.5
    missing_dir_check_seconds: float = 2.0
    retry_max_seconds: float = 60.0


def textbook_resource(textbook_dir: Path) -> dict[str, str]:
    return {
        "prefect.resource.id": TEXTBOOK_RESOURCE_ID,
        "prefect.resource.name": textbook_dir.name or str(textbook_dir),
        TEXTBOOK_DIR_LABEL: str(textbook_dir),
    }


def changed_event_trigger(textbook_dir: str) -> DeploymentEventTrigger:
    """One run per ``cwh.textbook.changed`` event for this directory, with its paths."""
    from prefect.events import DeploymentEventTrigger
    from prefect.events.schemas.automations import Posture

    return DeploymentEventTrigger(
        name="textbook-changed",
        enabled=True,
        expect={TEXTBOOK_CHANGED_EVENT},
        match={"prefect.resource.id": TEXTBOOK_RESOURCE_ID, TEXTBOOK_DIR_LABEL: textbook_dir},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
        parameters={"changed_paths": "{{ event.payload.paths }}"},
    )


def prefect_event_sender(textbook_dir: Path) -> Sender:
    """A sender that emits the batch as a Prefect event and waits until it is sent."""
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    resource = textbook_resource(textbook_dir)

    def send(batch: ChangeBatch) -> str:
        with get_client(sync_client=True) as client:
            unreachable = client.api_healthcheck()
        if unreachable is not None:
            raise EventNotSent(
                f"Prefect API not reachable ({type(unreachable).__name__}: {unreachable})"
            )
        event = emit_event(
            event=TEXTBOOK_CHANGED_EVENT,
            resource=resource,
            payload=batch.payload(str(textbook_dir)),
        )
        if event is None:
            raise EventNotSent("Prefect events are disabled here (is PREFECT_API_URL set?)")
        EventsWorker.instance().drain()
        return str(event.id)

    return send


class _Halt:
    """Stops the file-watching iterator on shutdown or when the directory changes."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self.restart = False

    def is_set(self) -> bool:
        return self.restart or self._stop.is_set()


class TextbookWatcher:
    """Turns file changes under the textbook directory into debounced events."""

    def __init__(
        self, config: WatchConfig, send: Sender, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.root = Path(config.textbook_dir)
        self._send = send
        self._clock = clock
        self._debouncer = ChangeDebouncer(config.quiet_seconds, config.max_wait_seconds)
        self._retry_at = 0.0
        self._failures = 0
        self.events_sent = 0

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set, then send whatever is still pending."""
        config = self.config
        logger.info(
            "watching %s for notebook changes (%s; quiet period %.1f s, at most %.0f s)",
            self.root,
            "polling" if config.force_polling else "inotify",
            config.quiet_seconds,
            config.max_wait_seconds,
        )
        if config.announce_start:
            self._debouncer.add_reason("watcher-started", self._clock())
        watched: tuple[int, int] | None = None
        missing = False
        while not stop.is_set():
            identity = self._identity()
            if identity is None:
                if not missing:
                    logger.warning(
                        "textbook directory %s is missing; waiting for it to reappear", self.root
                    )
                    missing = True
                stop.wait(config.missing_dir_check_seconds)
                continue
            if missing or (watched is not None and identity != watched):
                logger.info("textbook directory %s is back; asking for a re-index", self.root)
                self._debouncer.add_reason("directory-reappeared", self._clock())
            missing = False
            watched = identity
            self._watch(stop, identity)
        if self._debouncer.pending and self._identity() is not None:
            logger.info("stopping: sending the changes still pending")
            self._flush(self._clock(), force=True)
        logger.info("stopped watching %s (%d event(s) sent)", self.root, self.events_sent)

    def _watch(self, stop: threading.Event, identity: tuple[int, int]) -> None:
        import watchfiles

        config = self.config
        halt = _Halt(stop)
        try:
            for raw in watchfiles.watch(
                self.root,
                watch_filter=None,
                step=50,
                rust_timeout=max(1, int(config.tick_seconds * 1000)),
                yield_on_timeout=True,
                stop_event=halt,
                force_polling=config.force_polling,
                poll_delay_ms=max(1, int(config.poll_interval_seconds * 1000)),
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                now = self._clock()
                changes = list(self._relevant(raw))
                if changes:
                    if not self._debouncer.pending:
                        logger.info(
                            "notebook changes detected (%s); announcing after %.1f s of quiet",
                            printable(changes[0][1]),
                            config.quiet_seconds,
                        )
                    self._debouncer.add(changes, now)
                    logger.debug("%d relevant change(s): %s", len(changes), changes)
                if self._identity() != identity:
                    logger.warning("textbook directory %s vanished or was replaced", self.root)
                    halt.restart = True
                    return
                self._flush(now)
        except (OSError, RuntimeError) as exc:
            logger.warning("watching %s failed (%s); restarting the watch", self.root, exc)
            stop.wait(config.missing_dir_check_seconds)

    def _relevant(self, raw: Iterable[tuple[int, str]]) -> Iterable[tuple[ChangeKind, str]]:
        for change, path in raw:
            relative = os.path.relpath(path, self.root).replace(os.sep, "/")
            if relative.startswith("../") or relative == "..":
                continue
            kind = _KINDS.get(int(change))
            if kind is None:
                continue
            is_dir = kind != "deleted" and os.path.isdir(path)
            if relevant_path(relative, kind, is_dir=is_dir):
                yield kind, relative

    def _flush(self, now: float, *, force: bool = False) -> None:
        if not self._debouncer.pending:
            return
        if not force and (not self._debouncer.due(now) or now < self._retry_at):
            return
        batch = self._with_directory_contents(self._debouncer.take())
        try:
            event_id = self._send(batch)
        except Exception as exc:
            self._failures += 1
            delay = min(2.0**self._failures, self.config.retry_max_seconds)
            self._retry_at = now + delay
            self._debouncer.restore(batch, now)
            logger.warning(
                "could not announce %d changed path(s): %s; retrying in %.0f s",
                len(batch.changes),
                exc,
                delay,
            )
            return
        self._failures = 0
        self._retry_at = 0.0
        self.events_sent += 1
        logger.info(
            "sent %s (%s) for %d path(s) %s as event %s",
            TEXTBOOK_CHANGED_EVENT,
            ", ".join(batch.reasons),
            len(batch.changes),
            batch.counts(),
            event_id,
        )

    def _with_directory_contents(self, batch: ChangeBatch) -> ChangeBatch:
        """Replace added or moved-in directories by the notebooks they now contain.

        inotify watches a new directory only once it has been reported, so the files a
        ``cp -r`` writes into it in the meantime produce no events of their own. Listing
        the directory when the burst is over names every notebook that arrived.
        """
        changes: dict[str, ChangeKind] = {}
        for relative, kind in batch.changes.items():
            directory = self.root / relative
            if kind == "deleted" or not directory.is_dir():
                changes.setdefault(relative, kind)
                continue
            found = [
                path
                for path in _notebooks_below(directory, self.root)
                if relevant_path(path, "added", is_dir=False)
            ]
            for path in found:
                changes.setdefault(path, "added")
            if not found:
                changes.setdefault(relative, kind)
        return ChangeBatch(changes, batch.reasons)

    def _identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.root)
        except OSError:
            return None
        if not os.path.isdir(self.root):
            return None
        return status.st_dev, status.st_ino


def _notebooks_below(directory: Path, root: Path) -> list[str]:
    """Relative paths of the files under ``directory``, hidden directories skipped."""
    found: list[str] = []
    for current, dirnames, filenames in os.walk(directory):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        for name in filenames:
            found.append(os.path.relpath(os.path.join(current, name), root).replace(os.sep, "/"))
    return found
