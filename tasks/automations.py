"""The project's Prefect automations on a server: built from :func:`cwh.health.alert_rules`,
created or updated by name, never duplicated.

Applying is idempotent: an automation whose stored definition already equals the rule is left
alone, one that differs is updated in place (same id, so the UI's history stays), a missing
one is created, and extra copies with the same name (made by hand) are removed. Notifications
go through a notification block the operator saved (any type with a ``notify`` method: Slack
webhook, Microsoft Teams, email, custom webhook, ...), named ``<type slug>/<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound

from cwh.health import AlertRule
from cwh.messages import Language, text

Change = Literal["created", "updated", "unchanged"]
_SET_FIELDS = ("after", "expect", "for_each")


class AlertsError(RuntimeError):
    """The automations cannot be applied as asked (a missing or wrong notification block)."""


@dataclass(frozen=True)
class Applied:
    name: str
    change: Change
    automation_id: UUID


def _specification(labels: dict[str, tuple[str, ...]]) -> ResourceSpecification:
    return ResourceSpecification.model_validate(
        {label: list(values) for label, values in labels.items()}
    )


def to_automation(rule: AlertRule, notify_block: UUID | None) -> AutomationCore:
    """The Prefect automation of ``rule``; notifications go to ``notify_block``."""
    actions: list[Any] = []
    if rule.crash_run is not None:
        actions.append(ChangeFlowRunState(state=StateType.CRASHED, message=rule.crash_run))
    if rule.notice is not None and notify_block is not None:
        actions.append(
            SendNotification(
                block_document_id=notify_block,
                subject=rule.notice.subject,
                body=rule.notice.body,
            )
        )
    trigger = EventTrigger(
        after=set(rule.after),
        expect=set(rule.expect),
        match=_specification(dict(rule.match)),
        match_related=_specification(dict(rule.match_related)),
        for_each=set(rule.for_each),
        posture=Posture(rule.posture),
        threshold=rule.threshold,
        within=timedelta(seconds=rule.within_seconds),
    )
    return AutomationCore(
        name=rule.name,
        description=rule.description,
        enabled=True,
        tags=["cwh"],
        trigger=trigger,
        actions=actions,
        actions_on_trigger=[],
        actions_on_resolve=[],
    )


def comparable(automation: AutomationCore) -> dict[str, Any]:
    """What makes two automations the same (no ids, no timestamps, sets sorted)."""
    data = AutomationCore.model_validate(automation.model_dump()).model_dump(mode="json")
    trigger = data.get("trigger") or {}
    for name in _SET_FIELDS:
        if isinstance(trigger.get(name), list):
            trigger[name] = sorted(trigger[name])
    return data


def notification_block_id(slug: str, language: Language) -> UUID:
    """The id of the saved notification block ``<type slug>/<name>``."""
    block_type, sep, name = slug.partition("/")
    if not sep or not block_type or not name or "/" in name:
        raise AlertsError(text("health.cli.block_format", language))
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name=name, block_type_slug=block_type)
        except ObjectNotFound:
            raise AlertsError(text("health.cli.no_block", language, block=slug)) from None
    capabilities = document.block_schema.capabilities if document.block_schema else []
    if "notify" not in capabilities:
        raise AlertsError(text("health.cli.bad_block", language, block=slug))
    assert document.id is not None
    return document.id


def apply_automations(rules: Sequence[AlertRule], notify_block: UUID | None) -> list[Applied]:
    """Make the server hold exactly one automation per rule, equal to it."""
    applied: list[Applied] = []
    with get_client(sync_client=True) as client:
        for rule in rules:
            wanted = to_automation(rule, notify_block)
            existing = client.read_automations_by_name(rule.name)
            if not existing:
                new_id = client.create_automation(wanted)
                applied.append(Applied(rule.name, "created", new_id))
                continue
            keep, *extra = existing
            for duplicate in extra:
                client.delete_automation(duplicate.id)
            if comparable(keep) == comparable(wanted) and not extra:
                applied.append(Applied(rule.name, "unchanged", keep.id))
            else:
                client.update_automation(keep.id, wanted)
                applied.append(Applied(rule.name, "updated", keep.id))
    return applied


def read_automations(names: Sequence[str]) -> dict[str, list[AutomationCore]]:
    """The automations the server holds under each name (for checks and tests)."""
    with get_client(sync_client=True) as client:
        return {name: list(client.read_automations_by_name(name)) for name in names}
