"""pytest plugin: a real Docker Swarm (one manager, three workers) shared by the session.

Built on :mod:`tests.services.local_swarm`: every node is its own dockerd in its own network
namespace, so tests exercise real scheduling, draining, joins and rolling updates. Nothing is
skipped: on a machine without the lab's prerequisites (root, ``dockerd``, ``ip``,
``nsenter``) the fixture fails with the exact missing piece, because a silently skipped swarm
test proves nothing.

Layout (addresses in the lab's private subnet, 10.99.0.0/24 by default):

* ``mgr`` — hostname ``manager1``, ``.10``, the swarm manager;
* ``w1``..``w3`` — hostnames ``worker1``..``worker3``, ``.11``..``.13``, joined workers;
* the test image :data:`tests.services.local_swarm.TEST_IMAGE` is loaded on every node.

Tests share the lab, so each test must leave it as it found it: remove the services it created,
set availabilities and labels back, and remove any node it added (use addresses from ``.20``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.local_swarm import LabError, LocalSwarm, NodeSpec

WORKER_COUNT = 3


@pytest.fixture(scope="session")
def local_swarm() -> Iterator[LocalSwarm]:
    """The session's swarm lab; torn down (nothing left behind) at the end of the session."""
    try:
        lab = LocalSwarm()
    except LabError as exc:
        pytest.fail(f"cannot build the local swarm lab: {exc}", pytrace=False)
    try:
        lab.start_manager()
        base = lab.subnet.network_address
        workers = lab.add_nodes(
            [
                NodeSpec(f"w{i}", str(base + 10 + i), f"worker{i}")
                for i in range(1, WORKER_COUNT + 1)
            ]
        )
        for worker in workers:
            lab.join(worker)
        lab.load_test_image()
    except BaseException:
        lab.close()
        raise
    try:
        yield lab
    finally:
        lab.close()
