"""Prefect tasks that install the fluentd side of the live path on the manager.

Three files: ``lc_wrapper.conf`` (no secret in it), an environment file with the
Elasticsearch secret (mode 0600, never backed up, never logged) and a systemd drop-in that
loads it. Writing is transactional: each file is replaced atomically, the previous config is
kept as ``<config>.bak``, ``fluentd --dry-run -c`` checks the new config when fluentd is
installed, and fluentd is reloaded (or restarted, when its environment changed). If the dry
run or the reload fails, every file is put back as it was, so fluentd keeps running what it
ran before and the next run sees the change again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from cwh.atomic_write import write_bytes_atomic
from cwh.messages import Language
from cwh.messages import text as message
from cwh.setup import (
    ElasticsearchOutput,
    EnrichCommand,
    EsAuth,
    FluentdSettings,
    render_env_file,
    render_lc_wrapper_conf,
    render_systemd_dropin,
    unified_diff,
)
from tasks.common import OutsideSystemError, retrying, run_logger

COMMAND_TIMEOUT_S = 180
ENV_FILE_MODE = 0o600
OUTPUT_TAIL = 2000


class FluentdSetupError(OutsideSystemError):
    """A fluentd step failed; the files were restored to what they were before."""

    system = "fluentd"


@dataclass(frozen=True)
class FluentdFiles:
    """What to write. ``env_text`` holds the secret: it is excluded from ``repr``."""

    config_path: str
    config_text: str
    env_path: str
    env_text: str = field(repr=False)
    dropin_path: str | None
    dropin_text: str | None
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class FileChange:
    path: str
    exists: bool
    changed: bool
    diff: str = ""

    def describe(self, label: str, language: Language = "en") -> str:
        if not self.changed:
            return message("setup.file.unchanged", language, label=label, path=self.path)
        key = "setup.file.replace" if self.exists else "setup.file.create"
        return message(key, language, label=label, path=self.path)


@dataclass(frozen=True)
class FluentdPlan:
    config: FileChange
    env: FileChange
    dropin: FileChange | None
    dry_run_binary: str | None
    action: str  # "none", "reload" or "restart"

    @property
    def changed(self) -> bool:
        return self.action != "none"

    def describe(self, language: Language = "en") -> list[str]:
        lines = [
            self.config.describe(message("setup.fluentd.config", language), language),
            self.env.describe(message("setup.fluentd.env", language), language),
        ]
        if self.dropin is not None:
            lines.append(self.dropin.describe(message("setup.fluentd.dropin", language), language))
        if self.changed:
            action = message(f"setup.fluentd.{self.action}", language)
            if self.dry_run_binary:
                binary = self.dry_run_binary
                lines.append(message("setup.fluentd.check", language, binary=binary, action=action))
            else:
                lines.append(message("setup.fluentd.no_check", language, action=action))
        return lines


@dataclass(frozen=True)
class FluentdOutcome:
    written: tuple[str, ...]
    dry_run: str
    action: str
    backup: str | None = None

    def describe_changes(self, language: Language = "en") -> list[str]:
        lines = [message("setup.done.wrote", language, path=path) for path in self.written]
        if self.action != "none":
            action = message(f"setup.fluentd.{self.action}", language)
            lines.append(
                message("setup.fluentd.done", language, dry_run=self.dry_run, action=action)
            )
        return lines


def fluentd_settings(
    hub: CoursewareHub, es: ElasticsearchConnection, python: str | None = None
) -> FluentdSettings:
    """The renderer's input from the two blocks; ``python`` defaults to this environment's."""
    return FluentdSettings(
        bind_address=hub.manager_address,
        port=hub.fluentd_port,
        tag=hub.fluentd_tag,
        enrich=EnrichCommand(
            python=python or sys.executable,
            index=hub.meme_index_path,
            passwd=hub.passwd_path,
            homes_dir=hub.homes_dir,
            home_prefix=hub.home_prefix,
            index_prefix=es.index_prefix,
            result_jsonpaths=tuple(hub.result_jsonpaths),
            zones=tuple(hub.log_zones),
        ),
        elasticsearch=ElasticsearchOutput(
            urls=tuple(es.urls),
            auth=es.auth,
            username=es.username,
            verify_certs=es.verify_certs,
            ca_file=es.ca_certs,
            request_timeout_s=max(1, round(es.request_timeout)),
        ),
        buffer_dir=hub.fluentd_buffer_dir,
        log_file=hub.enrich_log_file,
        state_dir=hub.enrich_state_dir,
    )


def render_files(
    hub: CoursewareHub, es: ElasticsearchConnection, python: str | None = None
) -> FluentdFiles:
    password = es.password.get_secret_value() if es.password is not None else None
    api_key = es.api_key.get_secret_value() if es.api_key is not None else None
    if es.auth is EsAuth.BASIC:
        env_text = render_env_file(password=password)
    elif es.auth is EsAuth.API_KEY:
        env_text = render_env_file(api_key=api_key)
    else:
        env_text = render_env_file()
    dropin = hub.fluentd_systemd_dropin
    return FluentdFiles(
        config_path=hub.fluentd_config_path,
        config_text=render_lc_wrapper_conf(fluentd_settings(hub, es, python)),
        env_path=hub.fluentd_env_file,
        env_text=env_text,
        dropin_path=dropin,
        dropin_text=render_systemd_dropin(hub.fluentd_env_file) if dropin else None,
        secrets=tuple(s for s in (password, api_key) if s),
    )


def _read(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _change(path: str, text: str, *, show_diff: bool) -> FileChange:
    current = _read(path)
    changed = current != text.encode("utf-8")
    diff = ""
    if changed and show_diff:
        before = None if current is None else current.decode("utf-8", "replace")
        diff = unified_diff(path, before, text)
    return FileChange(path=path, exists=current is not None, changed=changed, diff=diff)


def plan_files(files: FluentdFiles, hub: CoursewareHub) -> FluentdPlan:
    config = _change(files.config_path, files.config_text, show_diff=True)
    env = _change(files.env_path, files.env_text, show_diff=False)
    if env.exists and not env.changed:
        mode = os.stat(files.env_path).st_mode & 0o777
        if mode != ENV_FILE_MODE:
            env = FileChange(path=env.path, exists=True, changed=True)
    dropin = None
    if files.dropin_path is not None and files.dropin_text is not None:
        dropin = _change(files.dropin_path, files.dropin_text, show_diff=True)
    if env.changed or (dropin is not None and dropin.changed):
        action = "restart"
    elif config.changed:
        action = "reload"
    else:
        action = "none"
    return FluentdPlan(
        config=config,
        env=env,
        dropin=dropin,
        dry_run_binary=shutil.which(hub.fluentd_binary),
        action=action,
    )


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def _run(
    command: Sequence[str], what: str, secrets: Sequence[str], *, permanent: bool = False
) -> str:
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise FluentdSetupError(what, f"command not found: {command[0]}", permanent=False) from None
    except subprocess.TimeoutExpired:
        raise FluentdSetupError(
            what, f"no result within {COMMAND_TIMEOUT_S} s", permanent=False
        ) from None
    output = _redact((done.stdout + done.stderr).strip(), secrets)[-OUTPUT_TAIL:]
    if done.returncode != 0:
        cause = f"exit status {done.returncode}: {output or '(no output)'}"
        raise FluentdSetupError(what, cause, permanent=permanent)
    return output


class _Transaction:
    """Remembers each file's previous bytes so a failure can put everything back."""

    def __init__(self) -> None:
        self._previous: dict[str, tuple[bytes, int] | None] = {}

    def write(self, path: str, data: bytes, mode: int | None = None) -> None:
        if path not in self._previous:
            try:
                self._previous[path] = (Path(path).read_bytes(), os.stat(path).st_mode & 0o7777)
            except FileNotFoundError:
                self._previous[path] = None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(Path(path), data, mode=mode)
        if mode is not None:
            os.chmod(path, mode)

    def rollback(self) -> None:
        for path, previous in self._previous.items():
            if previous is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            else:
                data, mode = previous
                write_bytes_atomic(Path(path), data, mode=mode)
                os.chmod(path, mode)


def apply_files(files: FluentdFiles, plan: FluentdPlan, hub: CoursewareHub) -> FluentdOutcome:
    """Write, check and activate; on failure restore every file and re-raise."""
    if not plan.changed:
        return FluentdOutcome(written=(), dry_run="not needed", action="none")
    transaction = _Transaction()
    written: list[str] = []
    backup: str | None = None
    dropin_touched = False
    try:
        if plan.env.changed:
            transaction.write(files.env_path, files.env_text.encode("utf-8"), mode=ENV_FILE_MODE)
            written.append(files.env_path)
        if plan.dropin is not None and plan.dropin.changed and files.dropin_text is not None:
            assert files.dropin_path is not None
            transaction.write(files.dropin_path, files.dropin_text.encode("utf-8"), mode=0o644)
            written.append(files.dropin_path)
            dropin_touched = True
            _run(hub.systemd_reload_command, "systemd reload", files.secrets)
        if plan.config.changed:
            previous = _read(files.config_path)
            if previous is not None:
                backup = files.config_path + ".bak"
                transaction.write(backup, previous)
            transaction.write(files.config_path, files.config_text.encode("utf-8"))
            written.append(files.config_path)
        dry_run = "skipped: fluentd is not installed on this host"
        if plan.dry_run_binary:
            command = [plan.dry_run_binary, "--dry-run", "-c", files.config_path]
            _run(command, f"dry run of {files.config_path}", files.secrets, permanent=True)
            dry_run = "passed"
        if plan.action == "restart":
            activate = hub.fluentd_restart_command
        else:
            activate = hub.fluentd_reload_command
        _run(activate, plan.action, files.secrets)
    except BaseException:
        transaction.rollback()
        if dropin_touched:
            with contextlib.suppress(FluentdSetupError):
                _run(hub.systemd_reload_command, "systemd reload", files.secrets)
        raise
    return FluentdOutcome(
        written=tuple(written), dry_run=dry_run, action=plan.action, backup=backup
    )


@task(name="plan-fluentd", **retrying(2, 3, condition=None))
def plan_fluentd(files: FluentdFiles, hub: CoursewareHub) -> FluentdPlan:
    plan = plan_files(files, hub)
    for line in plan.describe():
        run_logger(__name__).info("fluentd: %s", line)
    return plan


@task(name="apply-fluentd", **retrying(1, 10))
def apply_fluentd(files: FluentdFiles, plan: FluentdPlan, hub: CoursewareHub) -> FluentdOutcome:
    """A failed attempt restores every file first, so the plan still holds for a retry; a
    config the dry run rejects is not retried."""
    outcome = apply_files(files, plan, hub)
    run_logger(__name__).info(
        "fluentd: wrote %s; dry run %s; %s",
        ", ".join(outcome.written) or "nothing",
        outcome.dry_run,
        outcome.action,
    )
    return outcome
