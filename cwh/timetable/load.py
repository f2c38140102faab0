"""Load and validate a worker timetable from any of the accepted documents.

Four shapes are recognised, so existing installations migrate without editing anything, each
read by its own module: ``cwh`` (ours, :mod:`cwh.timetable.read_cwh`), ``ocs`` (the
vcp-schedule-utils document, :mod:`cwh.timetable.read_ocs`), ``swarm-list`` (the old list,
:mod:`cwh.timetable.read_swarm_list`) and ``group-vars`` (an Ansible ``group_vars`` file holding
either of the last two, :mod:`cwh.timetable.read_group_vars`). Here the document is told apart
and the specification a reader filled in is checked as a whole (addresses, time zone, counts,
overlaps) and built into a :class:`~cwh.timetable.table.Timetable`.

Validation collects every problem before giving up, names the offending entry and says what to
write instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cwh.safe_input import InputRefused, printable
from cwh.timetable.academic import AcademicCalendar
from cwh.timetable.calendar import day_is_clamped, first_overlap
from cwh.timetable.model import (
    DownType,
    Granularity,
    Problem,
    TimetableError,
)
from cwh.timetable.read_calendar import read_calendar
from cwh.timetable.read_common import Collector, Spec
from cwh.timetable.read_cwh import read_cwh
from cwh.timetable.read_group_vars import read_group_vars
from cwh.timetable.read_ocs import read_ocs
from cwh.timetable.read_swarm_list import read_swarm_list
from cwh.timetable.table import Timetable
from cwh.timetable.text import load_document, suggest


def load_timetable(
    path: Path,
    *,
    ips: Sequence[str] | None = None,
    down_type: DownType | None = None,
) -> Timetable:
    """Read and validate ``path``; ``ips`` replaces the file's address list when given.

    ``down_type`` is used only when the document does not say (the old swarm list never does;
    its installations used ``deleted`` for "scale-out" and ``power_down`` for "power-ctl").
    """
    source = printable(str(path))
    try:
        document = load_document(path)
    except InputRefused as exc:
        raise TimetableError(source, [Problem("", f"the file {exc.reason}")]) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TimetableError(source, [Problem("", f"cannot read the file: {reason}")]) from None
    return parse_timetable(document, source=source, ips=ips, down_type=down_type)


def parse_timetable(
    document: object,
    *,
    source: str = "timetable",
    ips: Sequence[str] | None = None,
    down_type: DownType | None = None,
) -> Timetable:
    """Validate an already parsed document; see the module docstring for the accepted shapes."""
    collector = Collector()
    spec = _read_any(document, collector, down_type)
    if spec is not None and ips is not None:
        spec.ips, spec.ips_where = list(ips), "--ips"
    timetable = _build(spec, collector) if spec is not None else None
    if collector.problems or timetable is None:
        raise TimetableError(source, collector.problems or [Problem("", "nothing to schedule")])
    return timetable


def _read_any(document: object, collector: Collector, down_type: DownType | None) -> Spec | None:
    if isinstance(document, list):
        return read_swarm_list(document, "", collector, down_type or DownType.DELETED)
    if not isinstance(document, Mapping):
        collector.add(
            "",
            "expected a mapping (our timetable, an OCS document or group_vars) or a list "
            f"(old swarm schedule), got {type(document).__name__}",
        )
        return None
    if "vcnode_schedule" in document:
        return read_group_vars(document, collector, down_type)
    if "schedule" in document and not {"phases", "periods"} & set(document):
        return read_ocs(document, "", collector, down_type)
    return read_cwh(document, collector, down_type)


def _build(spec: Spec, collector: Collector) -> Timetable | None:
    addresses = _check_addresses(spec, collector)
    zone = _check_timezone(spec.timezone, collector)
    limit = spec.max_nodes if spec.max_nodes is not None else len(addresses or [])
    if addresses is not None and spec.max_nodes is not None:
        if spec.max_nodes > len(addresses):
            collector.add(
                "max_node_count",
                f"{spec.max_nodes} nodes but only {len(addresses)} worker addresses; "
                "list more addresses or lower max_node_count",
            )
        elif spec.max_nodes < len(addresses):
            spec.notes.append(
                f"max_node_count is {spec.max_nodes}: the last "
                f"{len(addresses) - spec.max_nodes} address(es) are always deleted"
            )
    if addresses is not None:
        _check_counts(spec, len(addresses), limit, collector)
    academic = read_calendar(spec, collector)
    _check_overlaps(spec, collector, academic)
    for window in spec.windows:
        if day_is_clamped(window.begin) or day_is_clamped(window.end):
            spec.notes.append(
                f"{window.describe()}: in months without that day, the month's last day is used"
            )
    if collector.problems or addresses is None or zone is None or spec.default is None:
        return None
    return Timetable(
        ip_addresses=tuple(addresses),
        default=spec.default,
        windows=tuple(spec.windows),
        timezone=zone,
        down_type=spec.down_type,
        drain_time=spec.drain_time,
        default_drain_time=spec.default_drain_time,
        default_name=spec.default_name,
        exceptions=frozenset(spec.exceptions),
        academic=academic,
        max_nodes=spec.max_nodes,
        culling=spec.culling,
        default_culling=spec.default_culling,
        force_idle_after=spec.force_idle_after,
        form=spec.form,
        notes=tuple(spec.notes),
    )


def _check_addresses(spec: Spec, collector: Collector) -> list[str] | None:
    if spec.ips is None:
        collector.add(
            "ip_addresses", "no worker addresses: add ip_addresses to the file or pass --ips a,b,c"
        )
        return None
    if not spec.ips:
        collector.add(spec.ips_where, "is empty; list at least one worker address")
        return None
    addresses: list[str] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(spec.ips):
        where = f"{spec.ips_where}[{index}]"
        written = str(raw).strip()
        try:
            parsed = ipaddress.ip_address(written)
        except ValueError:
            collector.add(where, f"{raw!r} is not an IP address")
            continue
        address = str(parsed)
        refusal = not_a_host_address(parsed)
        if refusal is not None:
            collector.add(
                where, f"{written} is {refusal}; list the address each worker joins the swarm with"
            )
            continue
        if address in first_seen:
            collector.add(
                where,
                f"{address} is listed twice (also {spec.ips_where}[{first_seen[address]}]); "
                "every worker needs its own address",
            )
            continue
        first_seen[address] = index
        addresses.append(address)
    return addresses if len(addresses) == len(spec.ips) else None


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def not_a_host_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``address`` cannot be one worker's unicast address, or None when it can be.

    Refused: unspecified (``0.0.0.0``, ``::``) and the rest of ``0.0.0.0/8``, loopback,
    multicast, the limited broadcast ``255.255.255.255`` and the reserved ``240.0.0.0/4``,
    and link-local addresses (``169.254.0.0/16``, ``fe80::/10``), which swarm nodes cannot
    advertise to each other. An IPv4-mapped IPv6 address is judged by its IPv4 address. The
    broadcast address of a given subnet cannot be told from the address alone.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "the unspecified address (any host), not a host"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _THIS_NETWORK:
            return "in 0.0.0.0/8 ('this network'), not a host"
        if address == _LIMITED_BROADCAST:
            return "the broadcast address, not a host"
    if address.is_loopback:
        return "a loopback address (the machine itself), not a worker"
    if address.is_multicast:
        return "a multicast address, not a host"
    if address.is_link_local:
        return "a link-local address, which swarm nodes cannot advertise"
    if address.is_reserved:
        return "in a reserved range, not a host"
    return None


def _check_timezone(value: object, collector: Collector) -> ZoneInfo | None:
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    hint = suggest(str(value), sorted(available_timezones()))
    collector.add("timezone", f"{value!r} is not an IANA time zone{hint}; e.g. Asia/Tokyo")
    return None


def _check_counts(spec: Spec, total: int, limit: int, collector: Collector) -> None:
    for counted in spec.counted:
        target = counted.target
        if counted.declared_total is not None:
            if counted.declared_total != total:
                collector.add(
                    counted.where,
                    f"active {target.active} + pause {target.pause} + drain {counted.drain} = "
                    f"{counted.declared_total} nodes, but there are {total} worker addresses; "
                    f"make the counts add up to {total}",
                )
            continue
        if target.up > limit:
            what = "max_node_count" if spec.max_nodes is not None else "worker addresses"
            collector.add(
                counted.where,
                f"{target.up} nodes is more than the {limit} {what}; "
                "lower the count or list more addresses",
            )


def _check_overlaps(spec: Spec, collector: Collector, academic: AcademicCalendar) -> None:
    """Overlaps are an error in our format; in the other formats the entry listed first wins.

    Those documents keep the meaning they were written with, so installations migrate
    unchanged, but every overlap is reported as a note.
    """
    exceptions = academic
    for index, later in enumerate(spec.windows):
        for earlier in spec.windows[:index]:
            moment = first_overlap(earlier, later, exceptions)
            if moment is None:
                continue
            clash = (
                f"({later.begin} - {later.end}) overlaps {earlier.describe()}, "
                f"e.g. at {moment:%a %Y-%m-%d %H:%M}"
            )
            if spec.form != "cwh":
                spec.notes.append(
                    f"{later.source} {clash}; as in vcp-schedule-utils, {earlier.source} "
                    "(listed first) wins while both apply"
                )
                break
            one_off = Granularity.ONCE in (earlier.granularity, later.granularity)
            both_one_off = earlier.granularity is later.granularity is Granularity.ONCE
            fix = (
                "shorten one of them, or list that date under exceptions so only the "
                "one-off period applies"
                if one_off and not both_one_off
                else "shorten or remove one of them (to cancel classes on given dates, "
                "list the dates under exceptions)"
            )
            collector.add(later.source, f"{clash}; periods must not overlap: {fix}")
            break
