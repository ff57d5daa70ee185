"""The tunnel core: its facts (device MTUs, the workload MTU) and its pure planning."""

import pytest

from ansible_collections.calico.network.plugins.module_utils import tunnel


@pytest.mark.parametrize(
    ("underlay", "used", "expected"),
    [
        (1500, [], {"workload": 1500}),
        (1500, ["ipip"], {"tunl0": 1480, "workload": 1480}),
        (1500, ["vxlan"], {"vxlan.calico": 1450, "workload": 1450}),
        (1500, ["ipip", "vxlan"], {"tunl0": 1480, "vxlan.calico": 1450, "workload": 1450}),
        (9000, ["ipip"], {"tunl0": 8980, "workload": 8980}),
        (1460, ["vxlan"], {"vxlan.calico": 1410, "workload": 1410}),
    ],
)
def test_mtus_subtract_the_overheads_and_workloads_take_the_smallest(underlay, used, expected):
    assert tunnel.mtus(underlay, used) == expected


def test_a_host_route_printed_without_its_prefix_is_not_stale():
    # ip -j route prints "172.17.255.10" for a /32; the model writes "172.17.255.10/32".
    have = [{"dst": "172.17.255.10", "gateway": "172.17.0.0", "dev": "vxlan.calico",
             "flags": ["onlink"]}]  # fmt: skip
    want = [{"dst": "172.17.255.10/32", "via": "172.17.0.0", "host": "host1"}]
    assert tunnel.plan_routes(have, want, add=False) == []
    assert tunnel.plan_routes(have, want, add=True) == []


def test_probe_commands_create_each_device_type_in_a_throw_away_namespace():
    assert tunnel.probe_argv("vxlan", "/usr/bin/unshare") == [
        "/usr/bin/unshare",
        "--net",
        "sh",
        "-c",
        "ip link add name calico-probe type vxlan id 4096 dstport 4789",
    ]
    assert tunnel.probe_argv("ipip")[:4] == ["unshare", "--net", "sh", "-c"]
    assert "ip link show tunl0" in tunnel.PROBES["ipip"]


def test_unsupported_names_the_error_and_the_alternative():
    message = tunnel.unsupported("ipip", "")

    assert "cannot create IPIP devices (device type unknown)" in message
    assert "use encapsulation: vxlan" in message


def test_tunl0_wanted_but_missing_is_created_then_brought_up_and_addressed():
    assert tunnel.plan_tunl0(None, True, "172.17.0.0", 1480) == (
        ["link set tunl0 mtu 1480 up", "address add 172.17.0.0/32 dev tunl0"],
        True,
    )
    assert tunnel.plan_tunl0(None, False, "172.17.0.0", 0) == ([], False)


def test_a_matching_vxlan_device_with_another_mac_only_gets_its_mac_set():
    link = {
        "ifname": "vxlan.calico",
        "flags": ["UP"],
        "mtu": 1450,
        "address": "66:00:00:00:00:01",
        "linkinfo": {
            "info_kind": "vxlan",
            "info_data": {"id": 4096, "port": 4789, "local": "10.0.0.1", "link": "eth0"},
        },
        "addr_info": [{"family": "inet", "local": "172.17.0.0", "prefixlen": 32}],
    }
    spec = {"enabled": True, "vni": 4096, "port": 4789, "mac": "66:00:00:00:00:02"}

    lines = tunnel.plan_vxlan_device(link, spec, "172.17.0.0", "10.0.0.1", "eth0", 1450)

    assert lines == ["link set vxlan.calico address 66:00:00:00:00:02"]


def test_only_permanent_neighbours_are_owned():
    actual = [{"dst": "172.17.9.0", "lladdr": "66:00:00:00:00:09", "state": ["REACHABLE"]}]
    assert tunnel.plan_neighbors(actual, []) == []


def test_fdb_entries_are_compared_case_insensitively():
    actual = [{"mac": "66:AA:BB:CC:DD:EE", "dst": "10.0.0.2"}]
    wanted = [{"mac": "66:aa:bb:cc:dd:ee", "dst": "10.0.0.2"}]
    assert tunnel.plan_fdb(actual, wanted) == []


def test_nothing_wanted_deletes_vxlan_and_strips_tunl0():
    links = [
        {"ifname": "tunl0", "flags": ["UP"], "mtu": 1480, "addr_info": []},
        {"ifname": "vxlan.calico", "flags": ["UP"], "mtu": 1450, "addr_info": []},
    ]
    nothing = {"enabled": False, "routes": [], "neighbors": [], "fdb": []}
    wanted = tunnel.Wanted(address="", local="", ipip=False, vxlan=nothing)

    plan = tunnel.plan_tunnel(wanted, links, ([], [], []), "", {"workload": 1500}, add=True)

    assert plan.ip == ["link set tunl0 down", "link del vxlan.calico"]
    assert plan.changed and not plan.tunl0_changed
    assert plan.after == "\n"


@pytest.mark.parametrize(("override", "expected"), [(0, 1410), (9000, 8950)])
def test_workload_mtu_reads_the_underlay_link_unless_overridden(override, expected):
    links = [
        {"ifname": "eth0", "mtu": 1460, "addr_info": [{"family": "inet", "local": "10.0.0.1"}]}
    ]
    assert tunnel.workload_mtu(links, "10.0.0.1", override, ["vxlan"]) == expected


def test_workload_mtu_without_the_underlay_address_fails_naming_it():
    with pytest.raises(tunnel.RunnerError, match=r"no interface holds the underlay address 10\.9"):
        tunnel.workload_mtu([], "10.9.9.9", 0, [])
