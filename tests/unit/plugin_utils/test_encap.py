"""Encapsulation: the CrossSubnet decision, MTUs, the VXLAN route/ARP/FDB set, tunnel rules."""

import json
import os

import pytest

from ansible_collections.calico.network.plugins.plugin_utils import encap
from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build_model,
    host_slice,
    validate,
)
from tools.render import REPO

GOLDEN = REPO / "tests" / "golden" / "encap"


def pool(encapsulation="vxlan", mode="CrossSubnet", cidr="172.17.0.0/16", block_size=24):
    return {
        "cidr": cidr,
        "block_size": block_size,
        "encapsulation": encapsulation,
        "encapsulation_mode": mode,
    }


def fleet(pools, addresses):
    return {
        name: {"calico_ip": address, "calico_pools": pools} for name, address in addresses.items()
    }


TWO_SUBNETS = {
    "h1": "192.168.100.100/24",
    "h2": "192.168.100.101/24",
    "h3": "192.168.200.102/24",
    "h4": "192.168.200.103/24",
}


@pytest.mark.parametrize(
    ("encapsulation", "mode", "next_hop", "expected"),
    [
        ("vxlan", "CrossSubnet", "192.168.100.101", False),
        ("vxlan", "CrossSubnet", "192.168.200.101", True),
        ("ipip", "CrossSubnet", "192.168.101.1", True),
        ("ipip", "Always", "192.168.100.101", True),
        ("vxlan", "Always", "192.168.200.101", True),
        ("ipip", "Never", "192.168.200.101", False),
        ("none", "Never", "192.168.200.101", False),
    ],
)
def test_cross_subnet_tunnels_only_next_hops_outside_the_hosts_subnet(
    encapsulation, mode, next_hop, expected
):
    decided = encap.tunnelled("192.168.100.0/24", next_hop, pool(encapsulation, mode))
    assert decided is expected


def test_cross_subnet_uses_the_prefix_of_calico_ip_not_a_classful_guess():
    assert not encap.tunnelled("10.0.0.0/8", "10.200.0.1", pool())
    assert encap.tunnelled("10.0.0.0/30", "10.0.0.5", pool())


def test_a_bare_calico_ip_with_cross_subnet_is_an_error_naming_host_variable_and_fix():
    problems = validate(fleet([pool()], {"h1": "192.168.100.100/24", "h2": "192.168.200.1"}))
    assert problems.messages() == [
        "h2: calico_ip: 192.168.200.1 has no prefix, but pool 172.17.0.0/16 uses CrossSubnet, "
        "which compares each route's next hop with the host's subnet. Fix: write the address "
        "with its subnet's prefix, e.g. calico_ip: 192.168.200.1/24."
    ]


def test_a_bare_calico_ip_is_fine_when_no_pool_uses_cross_subnet():
    assert not validate(fleet([pool(mode="Always")], {"h1": "192.168.100.100", "h2": "10.0.0.1"}))


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"encapsulation": "gre"}, "calico_pools[0].encapsulation: 'gre' is not an encapsulation"),
        (
            {"encapsulation": "vxlan", "encapsulation_mode": "crosssubnet"},
            "'crosssubnet' is not an encapsulation mode",
        ),
        (
            {"encapsulation_mode": "Always"},
            "calico_pools[0].encapsulation_mode: Always needs a tunnel, but the pool's "
            "encapsulation is none",
        ),
    ],
)
def test_bad_encapsulation_settings_are_reported(bad, expected):
    problems = validate(fleet([{"cidr": "172.17.0.0/16", **bad}], {"h1": "192.168.100.1/24"}))
    assert any(expected in message for message in problems.messages()), problems.messages()


def test_the_mode_defaults_to_always_with_a_tunnel_and_never_without():
    model = build_model(
        fleet(
            [{"cidr": "172.17.0.0/16", "encapsulation": "ipip"}, {"cidr": "172.18.0.0/16"}],
            {"h1": "192.168.100.1/24"},
        )
    )
    assert [p["encapsulation_mode"] for p in model["pools"]] == ["Always", "Never"]


def test_vxlan_routes_go_to_off_subnet_hosts_only_with_their_tunnel_address():
    model = build_model(fleet([pool()], TWO_SUBNETS))
    tunnel = host_slice(model, "h1")["tunnel"]
    blocks = {name: host["blocks"][0] for name, host in model["hosts"].items()}
    assert tunnel["vxlan"]["routes"] == [
        {"dst": blocks["h3"], "via": model["hosts"]["h3"]["host_address"], "host": "h3"},
        {"dst": blocks["h4"], "via": model["hosts"]["h4"]["host_address"], "host": "h4"},
    ]
    assert [n["ip"] for n in tunnel["vxlan"]["neighbors"]] == [
        model["hosts"]["h3"]["host_address"],
        model["hosts"]["h4"]["host_address"],
    ]
    assert tunnel["vxlan"]["fdb"] == [
        {"mac": encap.vtep_mac("h3"), "dst": "192.168.200.102"},
        {"mac": encap.vtep_mac("h4"), "dst": "192.168.200.103"},
    ]
    assert tunnel["vxlan"]["enabled"] and not tunnel["ipip"]


def test_a_floating_ip_across_subnets_gets_a_vxlan_route_to_its_host():
    hosts = fleet([pool()], TWO_SUBNETS)
    hosts["h3"]["calico_workloads"] = [{"name": "web", "floating_ips": ["172.17.255.10"]}]
    model = build_model(hosts)
    routes = host_slice(model, "h1")["tunnel"]["vxlan"]["routes"]
    via_h3 = model["hosts"]["h3"]["host_address"]
    assert {"dst": "172.17.255.10/32", "via": via_h3, "host": "h3"} in routes
    # On h3's own subnet BIRD installs it (direct next hop): no VXLAN route there.
    assert all(
        r["dst"] != "172.17.255.10/32" for r in host_slice(model, "h4")["tunnel"]["vxlan"]["routes"]
    )


def test_vxlan_always_routes_every_other_host_through_the_tunnel():
    model = build_model(fleet([pool(mode="Always")], TWO_SUBNETS))
    routes = host_slice(model, "h1")["tunnel"]["vxlan"]["routes"]
    assert [r["host"] for r in routes] == ["h2", "h3", "h4"]


def test_ipip_routes_are_left_to_bird_and_only_its_prefix_filters_are_computed():
    model = build_model(
        fleet(
            [pool("ipip", "CrossSubnet"), pool("vxlan", "Always", cidr="172.18.0.0/16")],
            {"h1": "192.168.100.100/24"},
        )
    )
    tunnel = host_slice(model, "h1")["tunnel"]
    assert tunnel["ipip"] is True
    assert tunnel["bird"] == {
        "ipip": {"always": [], "cross_subnet": ["172.17.0.0/16{24,32}"]},
        "vxlan": {"always": ["172.18.0.0/16{24,32}"], "cross_subnet": []},
    }
    assert tunnel["encapsulations"] == ["ipip", "vxlan"]


def test_never_mode_uses_no_tunnel_device():
    model = build_model(fleet([pool("vxlan", "Never")], TWO_SUBNETS))
    tunnel = host_slice(model, "h1")["tunnel"]
    assert tunnel["encapsulations"] == []
    assert tunnel["vxlan"]["enabled"] is False and tunnel["vxlan"]["routes"] == []


def test_vtep_macs_are_stable_unicast_and_locally_administered():
    mac = encap.vtep_mac("host1")
    assert mac == encap.vtep_mac("host1") != encap.vtep_mac("host2")
    first = int(mac.split(":")[0], 16)
    assert first & 0b10 and not first & 0b01


def test_tunnel_rules_accept_encapsulation_from_fleet_hosts_only_and_never_from_workloads():
    table = encap.filter_table(["vxlan"], ["192.168.200.102", "192.168.100.101"])
    assert table["chains"]["cali-tunnel-input"] == [
        "-i cali+ -p 4 -j DROP",
        "-i cali+ -p udp -m udp --dport 4789 -j DROP",
        "-p udp -m udp --dport 4789 -s 192.168.100.101/32 -j ACCEPT",
        "-p udp -m udp --dport 4789 -s 192.168.200.102/32 -j ACCEPT",
        "-p udp -m udp --dport 4789 -j DROP",
    ]
    assert table["chains"]["cali-tunnel-forward"] == [
        "-i cali+ -p 4 -j DROP",
        "-i cali+ -p udp -m udp --dport 4789 -j DROP",
    ]
    assert [h["chain"] for h in table["hooks"]] == ["INPUT", "FORWARD"]


def test_ipip_rules_match_ip_protocol_4():
    rules = encap.filter_table(["ipip"], ["10.0.0.2"])["chains"]["cali-tunnel-input"]
    assert rules[-2:] == ["-p 4 -s 10.0.0.2/32 -j ACCEPT", "-p 4 -j DROP"]


@pytest.mark.parametrize("host", ["h1", "h3"])
def test_the_tunnel_plan_of_the_two_subnet_fleet_matches_the_golden_file(host):
    model = build_model(fleet([pool()], TWO_SUBNETS))
    text = json.dumps(host_slice(model, host)["tunnel"], indent=2, sort_keys=True) + "\n"
    golden = GOLDEN / f"two-subnets-vxlan-crosssubnet.{host}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == golden.read_text()
