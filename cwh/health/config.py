"""The health check's settings that are written by hand: endpoints and limits."""

from __future__ import annotations

from cwh.health.rules import HealthLimits


class HealthConfigError(ValueError):
    """A health-check setting that cannot be used (the check's own misconfiguration)."""


def parse_host_port(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> (host, port)."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise HealthConfigError(f"{text!r} is not host:port (e.g. 10.0.0.5:24224)")
    return host, int(port_text)


def health_limits(dead_letter_threshold: int, stale_after_minutes: float | None) -> HealthLimits:
    if dead_letter_threshold < 1:
        raise HealthConfigError("dead_letter_threshold must be at least 1")
    if stale_after_minutes is not None and stale_after_minutes <= 0:
        raise HealthConfigError("stale_after_minutes must be positive (or empty: not judged)")
    return HealthLimits(
        dead_letter_threshold=dead_letter_threshold,
        stale_after_seconds=None if stale_after_minutes is None else stale_after_minutes * 60,
    )
