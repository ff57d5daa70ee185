from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest
from lab_errors import LabError
from lab_inventory import Host
from lab_plan import (
    Route,
    group_by_subnet,
    highest_free_address,
    lab_prefix,
    lowest_free_address,
    network_name,
    plan_lab,
)

INV = "/tmp/inv/lab"


def host(name, cidr):
    return Host(name, IPv4Interface(cidr))


TWO_SUBNETS = [
    host("h1", "10.213.1.11/24"),
    host("h2", "10.213.1.12/24"),
    host("h3", "10.213.2.13/24"),
]


def test_hosts_are_grouped_by_subnet_in_address_order():
    groups = group_by_subnet([host("b", "10.213.2.5/24"), *TWO_SUBNETS])
    assert list(groups) == [IPv4Network("10.213.1.0/24"), IPv4Network("10.213.2.0/24")]
    assert [h.name for h in groups[IPv4Network("10.213.2.0/24")]] == ["b", "h3"]


def test_overlapping_subnets_of_different_length_are_refused():
    with pytest.raises(LabError, match="overlapping but different subnets"):
        group_by_subnet([host("a", "10.213.1.11/24"), host("b", "10.213.1.12/25")])


def test_network_name_encodes_subnet():
    assert network_name(IPv4Network("10.213.1.0/24")) == "calico-lab-10-213-1-0-24"
    assert network_name(IPv4Network("192.168.0.0/16")) == "calico-lab-192-168-0-0-16"


def test_router_takes_lowest_free_address():
    subnet = IPv4Network("10.213.1.0/24")
    assert lowest_free_address(subnet, []) == IPv4Address("10.213.1.1")
    used = [IPv4Address("10.213.1.1"), IPv4Address("10.213.1.2")]
    assert lowest_free_address(subnet, used) == IPv4Address("10.213.1.3")


def test_gateway_takes_highest_free_address():
    subnet = IPv4Network("10.213.1.0/24")
    assert highest_free_address(subnet, []) == IPv4Address("10.213.1.254")
    assert highest_free_address(subnet, [IPv4Address("10.213.1.254")]) == IPv4Address(
        "10.213.1.253"
    )


def test_full_subnet_is_an_error():
    subnet = IPv4Network("10.213.1.0/30")
    used = list(subnet.hosts())
    with pytest.raises(LabError, match="no free address"):
        lowest_free_address(subnet, used)
    with pytest.raises(LabError, match="no free address"):
        highest_free_address(subnet, used)


def test_single_subnet_needs_no_router():
    plan = plan_lab(TWO_SUBNETS[:2], INV, "lab")
    assert plan.router is None
    assert [n.router_address for n in plan.networks] == [None]
    assert all(h.routes == () for h in plan.hosts)
    assert plan.networks[0].gateway == IPv4Address("10.213.1.254")


def test_two_subnets_get_a_router_on_both_and_routes_via_it():
    plan = plan_lab(TWO_SUBNETS, INV, "lab")
    assert plan.router is not None
    assert plan.router.name == "lab-router"
    assert plan.router.attachments == (
        ("calico-lab-10-213-1-0-24", IPv4Address("10.213.1.1")),
        ("calico-lab-10-213-2-0-24", IPv4Address("10.213.2.1")),
    )
    routes = {h.name: h.routes for h in plan.hosts}
    assert routes["h1"] == (Route(IPv4Network("10.213.2.0/24"), IPv4Address("10.213.1.1")),)
    assert routes["h3"] == (Route(IPv4Network("10.213.1.0/24"), IPv4Address("10.213.2.1")),)


def test_router_and_gateway_avoid_host_addresses():
    hosts = [
        host("low", "10.213.1.1/24"),
        host("high", "10.213.1.254/24"),
        host("other", "10.213.2.2/24"),
    ]
    plan = plan_lab(hosts, INV, "lab")
    first = plan.networks[0]
    assert first.router_address == IPv4Address("10.213.1.2")
    assert first.gateway == IPv4Address("10.213.1.253")
    taken = {h.address for h in plan.hosts}
    for net in plan.networks:
        assert net.gateway not in taken
        assert net.router_address not in taken
        assert net.gateway != net.router_address


def test_host_named_like_the_router_is_refused():
    hosts = [host("lab-router", "10.213.1.11/24"), host("h3", "10.213.2.13/24")]
    with pytest.raises(LabError, match="reserved for the lab's router"):
        plan_lab(hosts, INV, "lab")


def test_container_names_include_router():
    assert plan_lab(TWO_SUBNETS, INV, "lab").container_names() == ["h1", "h2", "h3", "lab-router"]


@pytest.mark.parametrize(
    ("path", "is_dir", "prefix"),
    [
        ("inventory/lab", True, "lab"),
        ("/work/main/inventory/lab-racks", True, "lab-racks"),
        ("inventory/lab-racks/hosts.yml", False, "lab-racks"),
        ("/tmp/My_Lab", True, "my-lab"),
    ],
)
def test_prefix_comes_from_the_inventory_directory(path, is_dir, prefix):
    assert lab_prefix(Path(path), is_dir) == prefix
