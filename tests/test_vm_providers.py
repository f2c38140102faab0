"""VM providers: static machines, local dockerd "VMs" in the lab swarm, and the VCP SDK.

The VCP SDK is not published, so :class:`VcpProvider` is tested against a stand-in module named
``vcpsdk`` written to a temporary directory and put on ``sys.path``. It has the SDK's call
shapes (``VcpSDK(token, config_dir=...)``, ``get_ugroup``, ``get_unit``, ``find_nodes``,
``add_nodes(ip_addresses=...)``, ``delete_nodes(ip_addresses=...)``,
``power_on_nodes(ip_address=...)``/``power_off_nodes(ip_address=...)``, nodes with ``.state``
and ``.cloud_instance_address``, ``VCPStateConflictException`` while a unit is busy) and records
every call.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import SecretStr

from tasks.swarm_nodes import join_worker, remove_node
from tasks.vm_providers import StaticProvider, VcpProvider, VmProvider, VmProviderError, VmState
from tests.services.local_dockerd_provider import LocalDockerdProvider
from tests.services.local_swarm import LocalSwarm

# Until tests/conftest.py registers these plugins, the modules that need them do.

TOKEN = "vcc-token-7f3a9c"

VCPSDK_DOUBLE = '''
"""Stand-in for the unpublished VCP SDK: its call shapes, an in-memory unit, a call log."""

CALLS = []
UGROUPS = {}
CONFLICTS = {"remaining": 0}
AUTH = {"fail": False}


class VCPStateConflictException(Exception):
    pass


class VCPAuthException(Exception):
    pass


class Node:
    def __init__(self, no, address, state):
        self.no = no
        self.cloud_instance_address = address
        self.state = state


class Unit:
    def __init__(self, name):
        self.name = name
        self.nodes = []

    def _busy(self):
        if CONFLICTS["remaining"] > 0:
            CONFLICTS["remaining"] -= 1
            raise VCPStateConflictException("unit is now processing")

    def find_nodes(self, node_state=None):
        CALLS.append(("find_nodes", {}))
        return list(self.nodes)

    def add_nodes(self, num_add_nodes=None, ip_addresses=None, mac_addresses=None):
        CALLS.append(("add_nodes", {"ip_addresses": list(ip_addresses)}))
        self._busy()
        for address in ip_addresses:
            self.nodes.append(Node(len(self.nodes), address, "RUNNING"))
        return list(self.nodes)

    def delete_nodes(self, num_delete_nodes=None, ip_addresses=None, ip_address=None):
        CALLS.append(("delete_nodes", {"ip_addresses": list(ip_addresses)}))
        self._busy()
        self.nodes = [n for n in self.nodes if n.cloud_instance_address not in ip_addresses]

    def power_on_nodes(self, num_power_on_nodes=None, node_no=None, ip_address=None):
        CALLS.append(("power_on_nodes", {"ip_address": ip_address}))
        self._busy()
        self._set(ip_address, "RUNNING")

    def power_off_nodes(self, num_power_off_nodes=None, node_no=None, ip_address=None):
        CALLS.append(("power_off_nodes", {"ip_address": ip_address}))
        self._busy()
        self._set(ip_address, "POWER_OFF")

    def _set(self, address, state):
        for node in self.nodes:
            if node.cloud_instance_address == address:
                node.state = state


class UnitGroup:
    def __init__(self, name):
        self.name = name
        self.units = {}

    def get_unit(self, name):
        CALLS.append(("get_unit", {"name": name}))
        return self.units.get(name)


class VcpSDK:
    def __init__(self, vcc_access_token, config_dir=None):
        CALLS.append(("VcpSDK", {"token": vcc_access_token, "config_dir": config_dir}))
        if AUTH["fail"]:
            raise VCPAuthException(
                "token lookup is failed: permission denied for " + vcc_access_token
            )

    def get_ugroup(self, ugroup_name):
        CALLS.append(("get_ugroup", {"ugroup_name": ugroup_name}))
        return UGROUPS.get(ugroup_name)
'''


# --------------------------------------------------------------------- static


def test_static_machines_always_run_and_refuse_changes() -> None:
    provider = StaticProvider(["10.0.0.1", "10.0.0.2", "10.0.0.1"])
    assert isinstance(provider, VmProvider)
    assert provider.list_vms() == {"10.0.0.1": VmState.RUNNING, "10.0.0.2": VmState.RUNNING}
    assert not provider.supports_power
    provider.create(["10.0.0.2"])  # exists already: nothing to do
    provider.delete([])
    provider.power_off([])
    with pytest.raises(VmProviderError, match=r"cannot be created: 10\.0\.0\.9"):
        provider.create(["10.0.0.9"])
    with pytest.raises(VmProviderError, match=r"permanent; refusing to delete 10\.0\.0\.1"):
        provider.delete(["10.0.0.1"])
    with pytest.raises(VmProviderError, match=r"no power control; cannot power off 10\.0\.0\.2"):
        provider.power_off(["10.0.0.2"])
    assert provider.docker_url("10.0.0.2") == "ssh://vcp@10.0.0.2"
    assert StaticProvider([], "tcp://{ip}:2376").docker_url("10.0.0.3") == "tcp://10.0.0.3:2376"


# --------------------------------------------------------------------- local dockerd


def test_local_dockerd_machines_scale_out_power_cycle_and_scale_in(
    local_swarm: LocalSwarm,
) -> None:
    provider = LocalDockerdProvider(local_swarm)
    assert isinstance(provider, VmProvider) and provider.supports_power
    manager_url = local_swarm.manager.docker_url
    client = local_swarm.docker_client(local_swarm.manager)
    new = ["10.99.0.30", "10.99.0.31"]
    assert provider.list_vms() == dict.fromkeys(
        ["10.99.0.11", "10.99.0.12", "10.99.0.13"], VmState.RUNNING
    )
    try:
        provider.create([*new, new[0]])
        provider.create(new)  # idempotent
        vms = provider.list_vms()
        assert {ip: vms[ip] for ip in new} == dict.fromkeys(new, VmState.RUNNING)
        node_ids = {ip: join_worker.fn(manager_url, provider.docker_url(ip), ip) for ip in new}
        hostnames = {
            client.nodes.get(i).attrs["Description"]["Hostname"] for i in node_ids.values()
        }
        assert hostnames == {"worker-10-99-0-30", "worker-10-99-0-31"}

        provider.power_off([new[0]])
        assert provider.list_vms()[new[0]] == VmState.POWERED_OFF
        local_swarm.wait_node_state(node_ids[new[0]], "down", timeout=30)
        provider.power_on([new[0]])
        assert provider.list_vms()[new[0]] == VmState.RUNNING
        local_swarm.wait_node_state(node_ids[new[0]], "ready", timeout=30)  # same member

        provider.delete([*new, "10.99.0.32"])  # a missing machine is not an error
        assert not set(new) & set(provider.list_vms())
        for ip, node_id in node_ids.items():
            local_swarm.wait_node_state(node_id, "down", timeout=30)
            assert remove_node.fn(manager_url, ip) == [node_id]
    finally:
        for ip in new:
            node = local_swarm.node_by_ip(ip)
            if node is not None:
                local_swarm.remove_node(node.name)
        for node in client.nodes.list():
            if node.attrs["Status"]["Addr"] in new:
                node.remove(force=True)


def test_local_dockerd_refuses_the_manager_and_unknown_machines(local_swarm: LocalSwarm) -> None:
    provider = LocalDockerdProvider(local_swarm)
    with pytest.raises(VmProviderError, match=r"10\.99\.0\.10 is the swarm manager"):
        provider.power_off(["10.99.0.10"])
    with pytest.raises(VmProviderError, match=r"no local machine at 10\.99\.0\.77"):
        provider.power_on(["10.99.0.77"])
    with pytest.raises(VmProviderError, match="not a host address of the lab subnet"):
        provider.create(["192.0.2.5"])
    assert local_swarm.node_by_ip("192.0.2.5") is None


# --------------------------------------------------------------------- VCP


@pytest.fixture
def vcpsdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The SDK stand-in, importable as ``vcpsdk`` for this test only."""
    (tmp_path / "vcpsdk.py").write_text(textwrap.dedent(VCPSDK_DOUBLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("vcpsdk", None)
    import vcpsdk as module

    group = module.UnitGroup("cwh")
    group.units["worker"] = module.Unit("worker")
    group.units["worker"].nodes = [
        module.Node(0, "172.30.2.11", "RUNNING"),
        module.Node(1, "172.30.2.12", "POWER_OFF"),
        module.Node(2, "172.30.2.13", "BOOTING"),
    ]
    module.UGROUPS["cwh"] = group
    yield module
    sys.modules.pop("vcpsdk", None)


def _provider(**kwargs: object) -> tuple[VcpProvider, list[float]]:
    slept: list[float] = []
    provider = VcpProvider(
        SecretStr(TOKEN),
        "cwh",
        config_dir=Path("/home/vcp/.config/vcp"),
        conflict_delay_s=7.0,
        sleep=slept.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return provider, slept


def _calls(module: ModuleType, name: str) -> list[dict[str, object]]:
    return [args for call, args in module.CALLS if call == name]


def test_vcp_lists_the_worker_unit_with_the_sdk_call_shapes(vcpsdk: ModuleType) -> None:
    provider, _ = _provider()
    assert isinstance(provider, VmProvider)
    assert provider.list_vms() == {
        "172.30.2.11": VmState.RUNNING,
        "172.30.2.12": VmState.POWERED_OFF,
        "172.30.2.13": VmState.BOOTING,
    }
    assert _calls(vcpsdk, "VcpSDK") == [{"token": TOKEN, "config_dir": "/home/vcp/.config/vcp"}]
    assert _calls(vcpsdk, "get_ugroup") == [{"ugroup_name": "cwh"}]
    assert _calls(vcpsdk, "get_unit") == [{"name": "worker"}]
    assert provider.docker_url("172.30.2.11") == "ssh://vcp@172.30.2.11"


def test_vcp_creates_and_deletes_only_what_is_needed(vcpsdk: ModuleType) -> None:
    provider, _ = _provider()
    provider.create(["172.30.2.11", "172.30.2.14", "172.30.2.15", "172.30.2.14"])
    assert _calls(vcpsdk, "add_nodes") == [{"ip_addresses": ["172.30.2.14", "172.30.2.15"]}]
    provider.create(["172.30.2.14"])
    assert len(_calls(vcpsdk, "add_nodes")) == 1
    provider.delete(["172.30.2.15", "172.30.2.99"])
    assert _calls(vcpsdk, "delete_nodes") == [{"ip_addresses": ["172.30.2.15"]}]
    assert "172.30.2.15" not in provider.list_vms()


def test_vcp_power_control_goes_node_by_node_and_skips_nodes_already_there(
    vcpsdk: ModuleType,
) -> None:
    provider, _ = _provider()
    provider.power_on(["172.30.2.11", "172.30.2.12"])
    assert _calls(vcpsdk, "power_on_nodes") == [{"ip_address": "172.30.2.12"}]
    provider.power_off(["172.30.2.11", "172.30.2.12"])
    assert _calls(vcpsdk, "power_off_nodes") == [
        {"ip_address": "172.30.2.11"},
        {"ip_address": "172.30.2.12"},
    ]
    with pytest.raises(VmProviderError, match=r"no VM at 172\.30\.2\.99 in unit worker"):
        provider.power_on(["172.30.2.99"])
    unpowered, _ = _provider(supports_power=False)
    with pytest.raises(VmProviderError, match="power control is not available"):
        unpowered.power_off(["172.30.2.11"])


def test_vcp_retries_while_the_unit_is_busy_then_gives_up(vcpsdk: ModuleType) -> None:
    provider, slept = _provider(conflict_retries=3)
    vcpsdk.CONFLICTS["remaining"] = 2
    provider.create(["172.30.2.20"])
    assert len(_calls(vcpsdk, "add_nodes")) == 3
    assert slept == [7.0, 7.0]
    assert "172.30.2.20" in provider.list_vms()

    vcpsdk.CONFLICTS["remaining"] = 10
    with pytest.raises(VmProviderError, match="still busy after 4 tries"):
        provider.delete(["172.30.2.20"])
    assert slept == [7.0] * 5


def test_vcp_reports_missing_groups_units_and_sdk(vcpsdk: ModuleType) -> None:
    provider = VcpProvider(SecretStr(TOKEN), "nope")
    with pytest.raises(VmProviderError, match="unit group 'nope' does not exist"):
        provider.list_vms()
    provider = VcpProvider(SecretStr(TOKEN), "cwh", unit="compute")
    with pytest.raises(VmProviderError, match="unit 'compute' does not exist in VCP unit group"):
        provider.list_vms()
    absent = VcpProvider(SecretStr(TOKEN), "cwh", sdk_module="vcpsdk_not_installed_here")
    with pytest.raises(VmProviderError, match=r"VCP SDK .* is not installed.*not with PyPI"):
        absent.list_vms()


def test_vcp_token_never_appears_in_errors_or_repr(vcpsdk: ModuleType) -> None:
    vcpsdk.AUTH["fail"] = True
    provider, _ = _provider()
    with pytest.raises(VmProviderError) as caught:
        provider.list_vms()
    assert "permission denied" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert TOKEN not in repr(provider)
    with pytest.raises(TypeError, match="SecretStr"):
        VcpProvider(TOKEN, "cwh")  # type: ignore[arg-type]
