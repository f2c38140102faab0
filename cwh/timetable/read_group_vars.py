"""Reader of an Ansible ``group_vars`` file.

``vcnode_schedule`` holds an OCS document or an old swarm list, ``vcnode_all_ipaddress`` the
worker addresses (a list or a comma-separated string). The down type comes from
``schedule_down_type`` or from the old ``schedule`` switch ("scale-out" or "power-ctl").
"""

from __future__ import annotations

from collections.abc import Mapping

from cwh.timetable.model import DownType
from cwh.timetable.read_common import Collector, Spec, address_list, parse_down_type
from cwh.timetable.read_ocs import read_ocs
from cwh.timetable.read_swarm_list import read_swarm_list

_LEGACY_DOWN_TYPES = {"scale-out": DownType.DELETED, "power-ctl": DownType.POWER_DOWN}


def read_group_vars(
    document: Mapping[object, object], collector: Collector, down_type: DownType | None
) -> Spec | None:
    legacy = document.get("schedule")
    if "schedule_down_type" in document:
        down_type = collector.read(
            "schedule_down_type", parse_down_type, document["schedule_down_type"]
        )
    elif isinstance(legacy, str) and legacy in _LEGACY_DOWN_TYPES:
        down_type = _LEGACY_DOWN_TYPES[legacy]
    inner = document["vcnode_schedule"]
    spec: Spec | None
    if isinstance(inner, list):
        spec = read_swarm_list(inner, "vcnode_schedule", collector, down_type or DownType.DELETED)
    elif isinstance(inner, Mapping):
        spec = read_ocs(inner, "vcnode_schedule", collector, down_type)
    else:
        collector.add("vcnode_schedule", "must be an OCS schedule mapping or an old swarm list")
        return None
    if spec is None:
        return None
    spec.form = "group-vars"
    if "vcnode_all_ipaddress" in document:
        spec.ips_where = "vcnode_all_ipaddress"
        spec.ips = address_list(document[spec.ips_where], spec.ips_where, collector)
    return spec
