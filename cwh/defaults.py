"""One home for the defaults and naming rules that every layer shares.

Elasticsearch index names, the Docker host of the swarm manager, how a VM's Docker API is
reached and the zone the timetable and reports are read in: blocks, tasks, flows and the
command line all take them from here, so changing one changes it everywhere.
"""

from __future__ import annotations

DEFAULT_INDEX_PREFIX = "lcwrapper"
"""Executions go to ``<prefix>-YYYY.MM.DD``."""
DEADLETTER_INFIX = "deadletter"
"""Dead letters go to ``<prefix>-deadletter-YYYY.MM.DD``."""
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
"""The swarm manager's Docker API when no Docker host block is named."""
DEFAULT_VCP_DOCKER_URL_TEMPLATE = "ssh://vcp@{ip}"
"""How a worker VM's Docker API is reached to join it to the swarm; ``{ip}`` is its address."""
DEFAULT_TIMEZONE = "Asia/Tokyo"
"""The zone timetables are written in and reports are read in."""
DEFAULT_JSONPATHS: tuple[str, ...] = ('$.content.data["text/plain"]', "$.content.ename")
"""Where a cell's result file holds what it returned, tried in order."""


def validate_index_prefix(prefix: str) -> str:
    """Refuse a prefix Elasticsearch would reject or that would match foreign indices."""
    problems = []
    if not prefix:
        problems.append("it is empty")
    if prefix != prefix.lower():
        problems.append("index names must be lowercase")
    if prefix.startswith(("-", "_", "+", ".")):
        problems.append("it must not start with '-', '_', '+' or '.'")
    bad = sorted({c for c in prefix if c in '\\/*?"<>| ,#:' or c.isspace()})
    if bad:
        problems.append(f"it contains {''.join(bad)!r}")
    if problems:
        raise ValueError(f"index prefix {prefix!r} is not usable: " + "; ".join(problems))
    return prefix


PASSWORD_ENV = "CWH_ES_PASSWORD"
"""Environment variable holding the Elasticsearch password of fluentd's delivery."""
API_KEY_ENV = "CWH_ES_API_KEY"
"""Environment variable holding the Elasticsearch API key of fluentd's delivery."""
MIN_PSEUDONYM_KEY_BYTES = 32
"""Shortest key accepted for the keyed pseudonyms of research exports (HMAC-SHA256)."""
