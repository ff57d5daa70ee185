"""calico_tunnel against a fake host that answers ``ip -j`` / ``bridge -j`` like iproute2 6.1.

The JSON shapes were captured from real ``ip -j -d address show``, ``ip -j route show proto 80``,
``ip -j neigh show dev vxlan.calico`` and ``bridge -j fdb show dev vxlan.calico`` output (kernel
6.18, iproute2 6.1) in a throw-away network namespace; only the fields the module reads are kept.
"""

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.calico.network.plugins.module_utils import tunnel
from ansible_collections.calico.network.plugins.modules import calico_tunnel

IP = "/usr/sbin/ip"
BRIDGE = "/usr/sbin/bridge"
MAC = "66:01:02:03:04:05"
REMOTE_MAC = "66:aa:bb:cc:dd:ee"
VXLAN = {
    "enabled": True,
    "mac": MAC,
    "routes": [{"dst": "172.17.2.0/24", "via": "172.17.2.0", "host": "host3"}],
    "neighbors": [{"ip": "172.17.2.0", "mac": REMOTE_MAC}],
    "fdb": [{"mac": REMOTE_MAC, "dst": "192.168.200.102"}],
}


def inet(address, prefixlen=32):
    return {"family": "inet", "local": address, "prefixlen": prefixlen}


def eth0(mtu=1500):
    return {
        "ifindex": 2,
        "ifname": "eth0",
        "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        "mtu": mtu,
        "address": "52:54:00:00:00:01",
        "addr_info": [inet("192.168.100.100", 24)],
    }


def vxlan_link(mtu=1450, mac=MAC, vni=4096, up=True, addresses=("172.17.0.0",), learning=False):
    return {
        "ifindex": 7,
        "ifname": "vxlan.calico",
        "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"] if up else ["BROADCAST", "MULTICAST"],
        "mtu": mtu,
        "address": mac,
        "linkinfo": {
            "info_kind": "vxlan",
            "info_data": {
                "id": vni,
                "local": "192.168.100.100",
                "link": "eth0",
                "port": 4789,
                "learning": learning,
            },
        },
        "addr_info": [inet(a) for a in addresses],
    }


def tunl0_link(mtu=1480, up=True, addresses=("172.17.0.0",)):
    return {
        "ifindex": 3,
        "ifname": "tunl0",
        "flags": ["NOARP", "UP", "LOWER_UP"] if up else ["NOARP"],
        "mtu": mtu,
        "linkinfo": {"info_kind": "ipip", "info_data": {"remote": "any", "local": "any"}},
        "addr_info": [inet(a) for a in addresses],
    }


def vxlan_route(dst="172.17.2.0/24", via="172.17.2.0"):
    return {
        "dst": dst,
        "gateway": via,
        "dev": "vxlan.calico",
        "protocol": "80",
        "flags": ["onlink"],
    }


class FakeHost:
    def __init__(self):
        self.links = [eth0()]
        self.routes = []
        self.neighbors = []
        self.fdb = []
        self.kernel = {"ipip": True, "vxlan": True}
        self.calls = []

    def converged_vxlan(self):
        self.links.append(vxlan_link())
        self.routes.append(vxlan_route())
        self.neighbors.append({"dst": "172.17.2.0", "lladdr": REMOTE_MAC, "state": ["PERMANENT"]})
        self.fdb.append(
            {"mac": REMOTE_MAC, "dst": "192.168.200.102", "flags": ["self"], "state": "permanent"}
        )

    def run_command(self, args, data=None, **_kwargs):
        args = list(args)
        self.calls.append((args, data))
        if args[:4] == [IP, "-j", "-d", "address"]:
            return 0, json.dumps(self.links), ""
        if args[:3] == [IP, "-j", "link"]:
            return 0, json.dumps(self.links), ""
        if args[:4] == [IP, "-j", "-4", "route"]:
            return 0, json.dumps(self.routes), ""
        if args[:4] == [IP, "-j", "-4", "neigh"]:
            return 0, json.dumps(self.neighbors), ""
        if args[:3] == [BRIDGE, "-j", "fdb"]:
            return 0, json.dumps(self.fdb), ""
        if "--net" in args:
            kind = "ipip" if "ipip" in args[-1] else "vxlan"
            return (0, "", "") if self.kernel[kind] else (2, "", "Error: Unknown device type.")
        if args[:3] == [IP, "link", "add"]:
            self.links.append(tunl0_link(mtu=1480, up=False, addresses=()))
            return 0, "", ""
        return 0, "", ""

    def writes(self, tool=IP):
        return [data.splitlines() for args, data in self.calls if args == [tool, "-batch", "-"]]


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()
    monkeypatch.setattr(
        calico_tunnel.AnsibleModule, "run_command", lambda self, *a, **k: fake.run_command(*a, **k)
    )
    monkeypatch.setattr(
        calico_tunnel.AnsibleModule,
        "get_bin_path",
        lambda self, name, required=False: {"ip": IP, "bridge": BRIDGE}.get(
            name, f"/usr/bin/{name}"
        ),
    )
    return fake


@pytest.fixture
def run(capsys):
    def run_module(check=False, diff=False, **options):
        args = {
            "address": "172.17.0.0",
            "underlay_ip": "192.168.100.100",
            "_ansible_check_mode": check,
            "_ansible_diff": diff,
            **options,
        }
        args = {key: value for key, value in args.items() if value is not None}  # None: left out
        with patch_module_args(args), pytest.raises(SystemExit):
            calico_tunnel.main()
        return json.loads(capsys.readouterr().out)

    return run_module


def test_fresh_host_gets_vxlan_device_neighbour_fdb_and_route_in_two_batches(host, run):
    result = run(vxlan=VXLAN)

    assert result["changed"] is True
    assert host.writes() == [
        [
            "link add vxlan.calico address 66:01:02:03:04:05 mtu 1450 type vxlan id 4096 "
            "dstport 4789 local 192.168.100.100 dev eth0 nolearning",
            "link set vxlan.calico up",
            "address add 172.17.0.0/32 dev vxlan.calico",
            "neigh replace 172.17.2.0 lladdr 66:aa:bb:cc:dd:ee dev vxlan.calico nud permanent",
            "route replace 172.17.2.0/24 via 172.17.2.0 dev vxlan.calico onlink proto 80",
        ]
    ]
    assert host.writes(BRIDGE) == [
        ["fdb replace 66:aa:bb:cc:dd:ee dev vxlan.calico dst 192.168.200.102 self permanent"]
    ]
    assert result["workload_mtu"] == 1450


def test_converged_host_writes_nothing(host, run):
    host.converged_vxlan()

    result = run(vxlan=VXLAN)

    assert result["changed"] is False
    assert host.writes() == [] and host.writes(BRIDGE) == []


def test_devices_stage_removes_stale_routes_but_adds_none(host, run):
    host.converged_vxlan()
    host.routes = [vxlan_route("172.17.9.0/24", "172.17.9.0")]

    result = run(vxlan=VXLAN, stage="devices")

    assert host.writes() == [["route del 172.17.9.0/24 dev vxlan.calico proto 80"]]
    assert "route replace" not in " ".join(result["commands"])


def test_all_stage_replaces_a_route_with_the_wrong_gateway(host, run):
    host.converged_vxlan()
    host.routes = [vxlan_route("172.17.2.0/24", "172.17.7.0")]

    run(vxlan=VXLAN)

    assert host.writes() == [
        ["route replace 172.17.2.0/24 via 172.17.2.0 dev vxlan.calico onlink proto 80"]
    ]


def test_stale_neighbour_and_fdb_entries_of_departed_hosts_are_removed(host, run):
    host.converged_vxlan()
    host.neighbors.append(
        {"dst": "172.17.5.0", "lladdr": "66:00:00:00:00:05", "state": ["PERMANENT"]}
    )
    host.fdb.append({"mac": "66:00:00:00:00:05", "dst": "192.168.200.105", "state": "permanent"})

    run(vxlan=VXLAN)

    assert host.writes() == [["neigh del 172.17.5.0 dev vxlan.calico"]]
    assert host.writes(BRIDGE) == [
        ["fdb del 66:00:00:00:00:05 dev vxlan.calico dst 192.168.200.105 self"]
    ]


def test_a_vxlan_device_with_the_wrong_vni_is_recreated_with_all_its_entries(host, run):
    host.converged_vxlan()
    host.links[-1] = vxlan_link(vni=1)

    run(vxlan=VXLAN)

    lines = host.writes()[0]
    assert lines[:2] == [
        "link del vxlan.calico",
        "link add vxlan.calico address 66:01:02:03:04:05 mtu 1450 type vxlan id 4096 "
        "dstport 4789 local 192.168.100.100 dev eth0 nolearning",
    ]
    assert "route replace 172.17.2.0/24 via 172.17.2.0 dev vxlan.calico onlink proto 80" in lines
    assert host.writes(BRIDGE)


def test_a_vxlan_device_no_longer_wanted_is_deleted(host, run):
    host.converged_vxlan()

    result = run(vxlan={"enabled": False})

    assert host.writes() == [["link del vxlan.calico"]]
    assert host.writes(BRIDGE) == []
    assert result["workload_mtu"] == 1500


def test_tunl0_is_brought_up_with_the_tunnel_address_and_mtu_minus_20(host, run):
    host.links.append(tunl0_link(mtu=1480, up=False, addresses=()))

    result = run(ipip=True, stage="devices")

    assert host.writes() == [["link set tunl0 mtu 1480 up", "address add 172.17.0.0/32 dev tunl0"]]
    assert result["tunl0_changed"] is True
    assert result["mtu"] == {"tunl0": 1480, "workload": 1480}


def test_missing_tunl0_is_created_first(host, run):
    result = run(ipip=True, stage="devices")

    assert result["commands"][0] == "ip link add name tunl0 type ipip"
    assert [IP, "link", "add", "name", "tunl0", "type", "ipip"] in [a for a, _ in host.calls]


def test_tunl0_no_longer_wanted_loses_its_addresses_and_goes_down(host, run):
    host.links.append(tunl0_link(addresses=("172.17.0.0", "10.9.9.9")))

    result = run(ipip=False, stage="devices")

    assert host.writes() == [
        [
            "address del 10.9.9.9/32 dev tunl0",
            "address del 172.17.0.0/32 dev tunl0",
            "link set tunl0 down",
        ]
    ]
    assert result["tunl0_changed"] is False


def test_a_foreign_address_on_tunl0_is_replaced_by_the_tunnel_address(host, run):
    host.links.append(tunl0_link(addresses=("10.9.9.9",)))

    run(ipip=True, stage="devices")

    assert host.writes() == [
        ["address del 10.9.9.9/32 dev tunl0", "address add 172.17.0.0/32 dev tunl0"]
    ]


def test_ipip_on_a_kernel_without_it_fails_naming_the_vxlan_alternative(host, run):
    host.kernel["ipip"] = False

    result = run(ipip=True, stage="probe")

    assert result["failed"] is True
    assert "this kernel cannot create IPIP devices (Error: Unknown device type.)" in result["msg"]
    assert "use encapsulation: vxlan" in result["msg"]
    assert host.writes() == []


def test_probe_stage_never_writes_even_when_everything_is_missing(host, run):
    result = run(ipip=True, vxlan=VXLAN, stage="probe")

    assert result["changed"] is False
    assert host.writes() == [] and host.writes(BRIDGE) == []
    assert result["mtu"] == {"tunl0": 1480, "vxlan.calico": 1450, "workload": 1450}


def test_check_mode_reports_the_commands_and_runs_none(host, run):
    result = run(vxlan=VXLAN, check=True, diff=True)

    assert result["changed"] is True
    assert result["commands"][0].startswith("ip link add vxlan.calico")
    assert host.writes() == [] and host.writes(BRIDGE) == []
    assert result["diff"]["before"] == "\n"
    assert result["diff"]["after"].splitlines() == [
        "fdb 66:aa:bb:cc:dd:ee dst 192.168.200.102",
        "neigh 172.17.2.0 lladdr 66:aa:bb:cc:dd:ee",
        "route 172.17.2.0/24 via 172.17.2.0 dev vxlan.calico onlink",
        "vxlan.calico up mtu 1450 172.17.0.0/32",
    ]


def test_a_set_underlay_mtu_wins_over_the_detected_one(host, run):
    result = run(vxlan=VXLAN, underlay_mtu=9000, check=True)

    assert result["underlay_mtu"] == 9000
    assert result["mtu"]["vxlan.calico"] == 8950


def test_the_underlay_mtu_is_read_from_the_interface_holding_calico_ip(host, run):
    host.links[0] = eth0(mtu=1460)

    result = run(vxlan=VXLAN, check=True)

    assert result["underlay_interface"] == "eth0"
    assert result["workload_mtu"] == 1410


def test_an_underlay_address_on_no_interface_fails_before_any_change(host, run):
    result = run(vxlan=VXLAN, underlay_ip="10.0.0.9")

    assert result["failed"] is True
    assert "no interface holds the underlay address 10.0.0.9 (calico_ip)" in result["msg"]
    assert host.writes() == []


def test_state_absent_needs_no_address_and_removes_every_device(host, run):
    host.converged_vxlan()
    host.links.append(tunl0_link())

    result = run(state="absent", address=None, underlay_ip=None)

    assert host.writes() == [
        [
            "address del 172.17.0.0/32 dev tunl0",
            "link set tunl0 down",
            "link del vxlan.calico",
        ]
    ]
    assert result["underlay_interface"] == ""
    assert result["tunl0_changed"] is False


def test_state_present_requires_the_addresses(host, run):
    result = run(address=None)

    assert result["failed"] is True
    assert "address" in result["msg"]


def test_documented_vxlan_defaults_are_the_tunnel_core_constants():
    doc = yaml.safe_load(calico_tunnel.DOCUMENTATION)
    options = doc["options"]["vxlan"]["suboptions"]

    assert options["vni"]["default"] == tunnel.VXLAN_VNI
    assert options["port"]["default"] == tunnel.VXLAN_PORT
    spec = calico_tunnel.ARGUMENT_SPEC["vxlan"]["options"]
    assert (spec["vni"]["default"], spec["port"]["default"]) == (
        tunnel.VXLAN_VNI,
        tunnel.VXLAN_PORT,
    )
