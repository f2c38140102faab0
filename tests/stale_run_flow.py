"""A flow for the stale-run test: it sleeps as long as it is told, so a run can be caught
while it is RUNNING. Served from a test ``prefect.yaml`` as ``tests/stale_run_flow.py:sleepy``."""

from __future__ import annotations

import time

from prefect import flow


@flow(name="stale-run-probe")
def sleepy(seconds: float = 0.0) -> str:
    time.sleep(seconds)
    return "done"
