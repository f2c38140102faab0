"""``cwh alerts apply`` on a real Prefect server: the automations it creates equal the shipped
rules, a second apply changes nothing, an edited one is put back, and an event of each kind
is matched by its automation (its notification reaches a loopback HTTP listener)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from cwh.health import alert_rules
from deployments.serve import read_specs
from tasks.automations import comparable, notification_block_id, read_automations, to_automation
from tests.alert_support import Listener, delete_automations, http_listener
from tests.enrich_support import ROOT

pytestmark = pytest.mark.prefect
CWH = [sys.executable, "-m", "deployments.cli.main"]
BLOCK = "custom-webhook/cwh-alerts-test"
NOTIFY_SECONDS = 90
NAMES = [rule.name for rule in alert_rules([], "en")]


@pytest.fixture
def listener(prefect_api: str) -> Iterator[Listener]:
    with http_listener() as running:
        CustomWebhookNotificationBlock(
            name="cwh alerts test",
            url=running.url,
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        ).save(BLOCK.split("/")[1], overwrite=True)
        try:
            yield running
        finally:
            delete_automations(NAMES)


def _apply(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CWH, "alerts", "apply", "--notify-block", BLOCK, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _shipped(language: str = "en") -> list[object]:
    names = [spec.name for spec in read_specs(ROOT / "prefect.yaml")]
    block_id = notification_block_id(BLOCK, "en")
    return [to_automation(rule, block_id) for rule in alert_rules(names, language)]  # type: ignore[arg-type]


def test_apply_creates_the_shipped_automations_once(
    listener: Listener, prefect_subprocess_env: dict[str, str]
) -> None:
    first = _apply(prefect_subprocess_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"created {name}" for name in NAMES]

    held = read_automations(NAMES)
    for wanted in _shipped():
        [stored] = held[wanted.name]  # type: ignore[attr-defined]
        assert comparable(stored) == comparable(wanted)  # type: ignore[arg-type]
    ids = {name: automations[0].id for name, automations in held.items()}  # type: ignore[attr-defined]

    again = _apply(prefect_subprocess_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"unchanged {name}" for name in NAMES]
    assert {n: a[0].id for n, a in read_automations(NAMES).items()} == ids  # type: ignore[attr-defined]

    # Edited by hand on the server: the next apply puts the shipped definition back in place.
    stored = read_automations(["cwh-deadletters-rising"])["cwh-deadletters-rising"][0]
    [edited] = [a for a in _shipped() if a.name == "cwh-deadletters-rising"]  # type: ignore[attr-defined]
    edited.description = "edited by hand"  # type: ignore[attr-defined]
    with get_client(sync_client=True) as client:
        client.update_automation(stored.id, edited)  # type: ignore[attr-defined]
    fixed = _apply(prefect_subprocess_env, "--language", "ja")
    assert fixed.returncode == 0, fixed.stderr
    assert "cwh-deadletters-rising を更新しました" in fixed.stdout
    [back] = read_automations(["cwh-deadletters-rising"])["cwh-deadletters-rising"]
    [wanted] = [a for a in _shipped("ja") if a.name == "cwh-deadletters-rising"]  # type: ignore[attr-defined]
    assert comparable(back) == comparable(wanted)  # type: ignore[arg-type]


def test_apply_refuses_a_missing_or_wrong_block(
    listener: Listener, prefect_subprocess_env: dict[str, str]
) -> None:
    missing = subprocess.run(
        [*CWH, "alerts", "apply", "--notify-block", "slack-webhook/nope"],
        cwd=ROOT,
        env=prefect_subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert "slack-webhook/nope" in missing.stderr and "Traceback" not in missing.stderr
    bad = subprocess.run(
        [*CWH, "alerts", "apply", "--notify-block", "ops"],
        cwd=ROOT,
        env=prefect_subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "<block type slug>/<name>" in bad.stderr


def test_an_event_of_each_kind_is_matched_by_its_automation(
    listener: Listener, prefect_subprocess_env: dict[str, str]
) -> None:
    applied = _apply(prefect_subprocess_env)
    assert applied.returncode == 0, applied.stderr
    tag = uuid.uuid4().hex[:8]
    emitted = {
        "cwh.pipeline.unhealthy": (
            {"prefect.resource.id": f"cwh.pipeline.test-{tag}", "cwh.check": f"test-{tag}"},
            {"check": f"test-{tag}", "detail": "refused"},
            [],
        ),
        "cwh.deadletters.rising": (
            {"prefect.resource.id": "cwh.deadletters"},
            {"since_last_run": 12, "by_reason": {"A": 12}, "previous": 0},
            [],
        ),
        "cwh.workers.stuck": (
            {"prefect.resource.id": f"cwh.workers.node.w{tag}", "cwh.node": f"w{tag}"},
            {"node": f"w{tag}", "servers": 2, "since": "2026-12-06T00:00:00Z"},
            [],
        ),
        "cwh.schedule.drift": (
            {"prefect.resource.id": f"cwh.schedule.reconcile-{tag}"},
            {"missing": ["class"]},
            [],
        ),
        "prefect.flow-run.Failed": (
            {
                "prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}",
                "prefect.resource.name": f"run-{tag}",
                "prefect.state-name": "Failed",
                "prefect.state-message": "boom",
            },
            {},
            [
                {
                    "prefect.resource.id": f"prefect.deployment.{uuid.uuid4()}",
                    "prefect.resource.role": "deployment",
                    "prefect.resource.name": "progress-report",
                }
            ],
        ),
    }
    for event, (resource, payload, related) in emitted.items():
        emit_event(event=event, resource=resource, payload=payload, related=related)
    EventsWorker.instance().drain()

    expectations = {
        "cwh.pipeline.unhealthy": f"cwh.pipeline.test-{tag}",
        "cwh.deadletters.rising": "12",
        "cwh.workers.stuck": f"cwh.workers.node.w{tag}",
        "cwh.schedule.drift": f"cwh.schedule.reconcile-{tag}",
        "prefect.flow-run.Failed": f"run-{tag}",
    }
    for event, needle in expectations.items():
        body = listener.wait_for(lambda b, n=needle: n in str(b.get("subject")), NOTIFY_SECONDS)
        assert body["subject"].startswith("[cwh]"), event
    stuck = listener.wait_for(lambda b: f"w{tag}" in str(b.get("subject")), 1)
    assert f"w{tag}" in stuck["body"] and "2" in stuck["body"]
    failed = listener.wait_for(lambda b: f"run-{tag}" in str(b.get("subject")), 1)
    assert "boom" in failed["body"]

    # An event no rule expects, or a failed run of another deployment, notifies nobody.
    before = len(listener.bodies)
    emit_event(
        event="prefect.flow-run.Failed",
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
        related=[
            {
                "prefect.resource.id": f"prefect.deployment.{uuid.uuid4()}",
                "prefect.resource.role": "deployment",
                "prefect.resource.name": f"not-ours-{tag}",
            }
        ],
    )
    emit_event(
        event="cwh.pipeline.healthy", resource={"prefect.resource.id": f"cwh.pipeline.{tag}"}
    )
    EventsWorker.instance().drain()
    time.sleep(10)
    assert len(listener.bodies) == before, listener.bodies[before:]
