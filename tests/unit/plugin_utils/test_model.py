"""The network model: validation messages, host entries and the full mesh."""

import pytest
import yaml

from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build,
    build_model,
    host_slice,
    interface_name,
    validate,
)
from ansible_collections.calico.network.plugins.plugin_utils.spec import DEFAULTS
from tools.render import REPO

POOLS = [{"cidr": "172.17.0.0/16", "block_size": 24}]


def hosts(*addresses, **extra):
    return {
        f"host{i + 1}": {"calico_ip": address, "calico_pools": POOLS, **extra}
        for i, address in enumerate(addresses)
    }


def messages(host_vars):
    return validate(host_vars).messages()


def test_a_valid_inventory_has_no_problems():
    assert messages(hosts("192.168.100.100/24", "192.168.100.101/24")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"calico_pools": [{"cidr": "172.17.0.0/33"}]}, "calico_pools[0].cidr: '172.17.0.0/33'"),
        ({"calico_pools": [{"cidr": "172.17.0.1/16"}]}, "is not an IPv4 network"),
        ({"calico_pools": [{"cidr": "172.17.0.0/16", "block_size": 19}]}, "outside 20-32"),
        ({"calico_pools": [{"cidr": "172.17.0.0/16", "block_size": 33}]}, "outside 20-32"),
        ({"calico_pools": [{"cidr": "172.17.0.0/24", "block_size": 22}]}, "larger than the pool"),
        ({"calico_pools": [{"cidr": "169.254.0.0/16"}]}, "overlaps 169.254.0.0/16"),
        (
            {"calico_pools": [{"cidr": "172.16.0.0/12"}, {"cidr": "172.17.0.0/16"}]},
            "pools 172.16.0.0/12 and 172.17.0.0/16 overlap",
        ),
        (
            {"calico_pools": [{"cidr": "192.168.0.0/16"}]},
            "overlaps the subnet 192.168.100.0/24 of host1, host2",
        ),
        ({"calico_pools": []}, "must be a non-empty list"),
        ({"calico_pools": [{"cidr": "172.17.0.0/16", "size": 24}]}, "unknown key(s) size"),
        ({"calico_as": 0}, "all hosts: calico_as: AS 0 is reserved"),
        ({"calico_as": 23456}, "AS 23456 is AS_TRANS"),
        ({"calico_as": 2**32}, "4294967296 is not an AS number (1-4294967294)"),
        ({"calico_as": 65535}, "AS 65535 is reserved"),
        ({"calico_as": 2**32 - 1}, "AS 4294967295 is reserved"),
        ({"calico_as": "sixty"}, "'sixty' is not a whole number"),
        ({"calico_bgp_mode": "full"}, "calico_bgp_mode: 'full' is not a BGP mode"),
        ({"calico_bgp_password": "x" * 81}, "at most 80"),
        ({"calico_router_id": "1.2.3"}, "calico_router_id: '1.2.3' is not an IPv4 address"),
        ({"calico_workloads": [{"name": "Web_1"}]}, "cannot name a network namespace"),
        ({"calico_workloads": [{"ip": "172.17.0.4"}]}, "has no name"),
        ({"calico_workloads": [{"name": "a"}, {"name": "a"}]}, "'a' is used twice"),
        ({"calico_workloads": [{"name": "a", "ip": "x"}]}, "'x' is not an IPv4 address"),
        ({"calico_workloads": {"name": "a"}}, "calico_workloads: must be a list"),
    ],
)
def test_bad_input_is_reported_with_host_variable_and_fix(change, expected):
    host_vars = hosts("192.168.100.100/24", "192.168.100.101/24")
    for values in host_vars.values():
        values.update(change)
    found = messages(host_vars)
    assert any(expected in m for m in found), found
    assert all(": " in m and "Fix: " in m for m in found)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.168.100.300/24", "is not an IPv4 address"),
        ("192.168.100.0/24", "is the network address"),
        ("", "is not set"),
    ],
)
def test_bad_host_addresses_name_the_host(address, expected):
    found = messages(hosts("192.168.100.100/24", address))
    assert any(m.startswith("host2: calico_ip:") and expected in m for m in found), found


def test_duplicate_host_addresses_are_reported_once():
    found = messages(hosts("192.168.100.100/24", "192.168.100.100/24"))
    assert found == [
        "host2: calico_ip: address 192.168.100.100 is host1's too. "
        "Fix: give every host its own address."
    ]


def test_a_fleet_variable_that_differs_between_hosts_is_an_error():
    host_vars = hosts("192.168.100.100/24", "192.168.100.101/24")
    host_vars["host2"]["calico_bgp_mode"] = "mesh"
    host_vars["host1"]["calico_bgp_mode"] = "other"
    assert any("host2: calico_bgp_mode: differs" in m for m in messages(host_vars))


def test_a_mesh_with_two_as_numbers_is_an_error():
    host_vars = hosts("192.168.100.100/24", "192.168.100.101/24")
    host_vars["host2"]["calico_as"] = 64513
    assert any("host2: calico_as: AS 64513 differs" in m for m in messages(host_vars))


def test_missing_pools_say_where_to_define_them():
    host_vars = {"h": {"calico_ip": "10.0.0.1/24"}}
    assert any("all hosts: calico_pools: is not set" in m for m in messages(host_vars))


def test_a_large_mesh_warns_and_points_to_route_reflectors():
    host_vars = hosts(*(f"10.0.{i // 250}.{i % 250 + 1}/16" for i in range(5)))
    for values in host_vars.values():
        values["calico_mesh_warn_hosts"] = 4
    result = build(host_vars)
    assert result["model"] is not None and result["errors"] == []
    assert any("route reflectors" in w for w in result["warnings"])


def test_host_entry_has_block_router_id_and_workload_interfaces():
    host_vars = hosts("192.168.100.100/24", calico_workloads=[{"name": "web-1"}])
    entry = build_model(host_vars)["hosts"]["host1"]
    assert entry == {
        "name": "host1",
        "ip": "192.168.100.100",
        "subnet": "192.168.100.0/24",
        "as": 64512,
        "router_id": "192.168.100.100",
        "blocks": ["172.17.0.0/24"],
        "host_address": "172.17.0.0",
        "endpoint_to_host_action": "ACCEPT",
        "workloads": [
            {
                "name": "web-1",
                "ip": "172.17.0.1",
                "interface": interface_name("host1", "web-1"),
                "labels": {},
                "floating_ips": [],
            }
        ],
        "rack": None,
        "route_reflector": False,
        "bgp_peers": [],
    }


def test_interface_names_are_cali_plus_11_hex_and_differ_per_host():
    first, second = interface_name("host1", "web"), interface_name("host2", "web")
    assert first != second
    for name in (first, second):
        assert len(name) == 15 and name.startswith("cali")
        int(name[4:], 16)


def test_mesh_peers_are_every_other_host_with_the_higher_address_passive():
    model = build_model(hosts("192.168.100.100/24", "192.168.100.9/24", "192.168.100.200/24"))
    peers = host_slice(model, "host1")["peers"]
    assert [(p["name"], p["passive"]) for p in peers] == [
        ("Mesh_192_168_100_9", False),
        ("Mesh_192_168_100_200", True),
    ]
    # Both ends of every session agree on who dials.
    for host in model["hosts"]:
        for peer in host_slice(model, host)["peers"]:
            back = next(p for p in host_slice(model, peer["host"])["peers"] if p["host"] == host)
            assert back["passive"] != peer["passive"]


def test_a_mesh_password_is_referenced_by_name_never_inlined():
    host_vars = hosts("192.168.100.100/24", "192.168.100.101/24", calico_bgp_password="s3cret")
    sliced = host_slice(build_model(host_vars), "host1")
    assert sliced["peers"][0]["password"] == "calico_password_mesh"
    assert sliced["bgp_passwords"] == {"calico_password_mesh": "s3cret"}
    assert "s3cret" not in str(sliced["peers"])


def test_an_unknown_host_has_no_slice():
    with pytest.raises(KeyError, match="not in the network model"):
        host_slice(build_model(hosts("192.168.100.100/24")), "nope")


def test_python_defaults_match_the_documented_role_defaults():
    specs = yaml.safe_load((REPO / "roles/calico_model/meta/argument_specs.yml").read_text())[
        "argument_specs"
    ]["inventory"]["options"]
    for variable, value in DEFAULTS.items():
        assert specs[variable]["default"] == value, variable
