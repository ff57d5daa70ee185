from ipaddress import IPv4Interface

import lab_plan
from lab_inventory import Host

INV = "/tmp/inv/lab"
PLAN = lab_plan.plan_lab(
    [
        Host("h1", IPv4Interface("10.213.1.11/24")),
        Host("h3", IPv4Interface("10.213.2.13/24")),
    ],
    INV,
    "lab",
)
MINE = {"calico-lab": "1", "calico-lab.inventory": INV}
OTHERS = {"calico-lab": "1", "calico-lab.inventory": "/elsewhere/inv"}


def network(name, subnet, labels=None, bridge="podman9", gateway=None):
    entry = {"subnet": subnet, "gateway": gateway} if gateway else {"subnet": subnet}
    return {"name": name, "subnets": [entry], "labels": labels, "network_interface": bridge}


def test_own_existing_networks_are_no_conflict():
    nets = [network("calico-lab-10-213-1-0-24", "10.213.1.0/24", MINE, gateway="10.213.1.254")]
    assert lab_plan.network_conflicts(PLAN, nets) == []


def test_same_named_network_of_another_inventory_is_refused():
    nets = [network("calico-lab-10-213-1-0-24", "10.213.1.0/24", OTHERS)]
    [error] = lab_plan.network_conflicts(PLAN, nets)
    assert "belongs to inventory /elsewhere/inv" in error


def test_same_named_network_not_made_by_the_lab_is_refused():
    nets = [network("calico-lab-10-213-1-0-24", "10.213.1.0/24", None)]
    assert "not created by the lab" in lab_plan.network_conflicts(PLAN, nets)[0]


def test_overlapping_foreign_network_is_refused():
    nets = [network("podman", "10.213.0.0/16")]
    [first, second] = lab_plan.network_conflicts(PLAN, nets)
    assert "10.213.1.0/24 overlaps podman network 'podman'" in first
    assert "10.213.2.0/24" in second


def test_own_network_whose_bridge_now_sits_on_a_host_address_is_refused():
    nets = [network("calico-lab-10-213-1-0-24", "10.213.1.0/24", MINE, gateway="10.213.1.11")]
    assert "down -i" in lab_plan.network_conflicts(PLAN, nets)[0]


def test_machine_route_overlapping_a_lab_subnet_is_refused():
    routes = [
        {"dst": "10.213.0.0/16", "dev": "eth1"},
        {"dst": "10.213.1.7", "dev": "eth1", "table": "local", "type": "local"},
    ]
    first, second = lab_plan.route_conflicts(PLAN, routes, set())
    assert "10.213.1.0/24 overlaps the machine's routes on eth1" in first
    assert "(10.213.0.0/16, 10.213.1.7/32)" in first
    assert "10.213.2.0/24 overlaps the machine's routes on eth1 (10.213.0.0/16)" in second


def test_default_and_unrelated_routes_are_fine():
    routes = [
        {"dst": "default", "dev": "eth0"},
        {"dst": "0.0.0.0/0", "dev": "eth0", "table": "100"},
        {"dst": "192.0.2.0/24", "dev": "eth0"},
        {"dst": "127.0.0.1", "dev": "lo", "table": "local", "type": "local"},
    ]
    assert lab_plan.route_conflicts(PLAN, routes, set()) == []


def test_routes_on_podman_bridges_are_left_to_the_network_check():
    nets = [
        network("calico-lab-10-213-1-0-24", "10.213.1.0/24", MINE, bridge="podman3"),
        network("other", "10.213.2.0/24", OTHERS, bridge="podman4"),
    ]
    bridges = lab_plan.podman_bridges(nets)
    assert bridges == {"podman3", "podman4"}
    routes = [
        {"dst": "10.213.1.0/24", "dev": "podman3"},
        {"dst": "10.213.1.254", "dev": "podman3", "table": "local", "type": "local"},
        {"dst": "10.213.2.0/24", "dev": "podman4"},
    ]
    assert lab_plan.route_conflicts(PLAN, routes, bridges) == []
    assert "overlaps podman network 'other'" in lab_plan.network_conflicts(PLAN, nets)[0]


def test_container_names_held_by_others_are_refused():
    containers = [
        {"Names": ["h1"], "Labels": None},
        {"Names": ["h3"], "Labels": OTHERS},
        {"Names": ["lab-router"], "Labels": MINE},
        {"Names": ["unrelated"], "Labels": None},
    ]
    errors = lab_plan.container_conflicts(PLAN, containers)
    assert len(errors) == 2
    assert "'h1' exists but was not created by the lab" in errors[0]
    assert "'h3' belongs to inventory /elsewhere/inv" in errors[1]


def inspected(name, **networks):
    attached = {net: {"IPAddress": ip} for net, ip in networks.items()}
    return {"Name": name, "NetworkSettings": {"Networks": attached}}


def test_existing_container_with_another_address_is_refused():
    ctr = inspected("h1", **{"calico-lab-10-213-1-0-24": "10.213.1.99"})
    [error] = lab_plan.address_mismatches(PLAN, [ctr])
    assert (
        "'h1' has 10.213.1.99 on calico-lab-10-213-1-0-24, the inventory says 10.213.1.11" in error
    )


def test_router_missing_a_network_is_connected_not_refused():
    router = inspected("lab-router", **{"calico-lab-10-213-1-0-24": "10.213.1.1"})
    assert lab_plan.address_mismatches(PLAN, [router]) == []
    assert lab_plan.missing_attachments(PLAN, router) == [
        ("calico-lab-10-213-2-0-24", "10.213.2.1")
    ]


def test_owned_selection_follows_the_inventory_label():
    items = [
        {"Names": ["a"], "Labels": MINE},
        {"Names": ["b"], "Labels": OTHERS},
        {"name": "n", "labels": MINE},
        {"Names": ["c"], "Labels": {"calico-lab.inventory": INV}},
    ]
    assert [i.get("Names", [i.get("name")])[0] for i in lab_plan.select_owned(items, INV)] == [
        "a",
        "n",
    ]
    assert len(lab_plan.select_owned(items, None)) == 3


def test_stopped_container_without_address_passes_until_booted():
    stopped = inspected("h1", **{"calico-lab-10-213-1-0-24": ""})
    assert lab_plan.address_mismatches(PLAN, [stopped]) == []
    [error] = lab_plan.address_mismatches(PLAN, [stopped], booted=True)
    assert "'h1' has no address" in error
