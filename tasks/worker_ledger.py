"""The node-hours ledger of the worker pool: one line appended per reconcile run.

``cwh schedule savings`` reads this file to report node-hours used against keeping every
worker on (see :mod:`cwh.timetable.savings` for the format and the arithmetic). Each run
records the pool as it *left* it, at the run's own instant (the fake clock in tests), so the
ledger is a step function of the pool's state and missed or repeated runs neither lose nor
double-count hours.

What counts as "used" depends on who pays: with a VM provider a worker costs money while its
VM runs, whatever its swarm availability; on static (on-premises) machines nothing is switched
off, so a worker counts as used while it is a schedulable swarm member (active or pause).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from prefect import task

from cwh.timetable import (
    Availability,
    LedgerEntry,
    ObservedNode,
    SwarmNodeState,
    VmState,
    append_ledger_entry,
)

DEFAULT_LEDGER_PATH = "~/.cwh/worker-ledger.jsonl"


def pool_usage(
    workers: Sequence[str], observed: Mapping[str, ObservedNode], *, manages_vms: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The worker addresses that cost (running) and those merely kept (powered off).

    Addresses are returned in worker-list order; addresses outside ``workers`` never count.
    """
    running: list[str] = []
    powered_off: list[str] = []
    for address in workers:
        node = observed.get(address, ObservedNode.absent(address))
        if manages_vms:
            if node.vm in (VmState.RUNNING, VmState.BOOTING):
                running.append(address)
            elif node.vm is VmState.POWERED_OFF:
                powered_off.append(address)
        elif any(
            entry.state is SwarmNodeState.READY and entry.availability is not Availability.DRAIN
            for entry in node.swarm
        ):
            running.append(address)
    return tuple(running), tuple(powered_off)


@task(name="record-node-hours", retries=2, retry_delay_seconds=1)
def record_pool_state(
    ledger: str,
    at: datetime,
    workers: Sequence[str],
    running: Sequence[str],
    powered_off: Sequence[str],
    run_id: str | None = None,
) -> LedgerEntry:
    """Append the pool state one run left behind; returns the entry written.

    ``ledger`` may start with ``~``. A single ``O_APPEND`` write per entry means a crash
    cannot leave a half line in the middle of the file, and a retry after a failed write
    appends at most one more copy of an identical snapshot, which adds no hours.
    """
    entry = LedgerEntry(
        at=at,
        workers=len(workers),
        running=tuple(running),
        powered_off=tuple(powered_off),
        run_id=run_id,
    )
    append_ledger_entry(Path(ledger).expanduser(), entry)
    return entry
