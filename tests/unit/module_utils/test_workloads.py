"""Pure logic of calico_workloads: validation, ownership, planning, diff (parsing: test_iproute)."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ansible_collections.calico.network.plugins.module_utils.workloads import (
    HostState,
    Link,
    Neighbour,
    NetnsState,
    PlanError,
    Route,
    Workload,
    WorkloadError,
    is_peered,
    namespaces_to_read,
    plan_workloads,
    provably_ours,
    validate_workloads,
)
from tests.support.workloads import fresh_namespace_lines

WEB = Workload(name="web-1", ip="172.17.0.1", interface="cali1234567890a")
DB = Workload(name="db-1", ip="172.17.0.2", interface="calib0c2e3d4f5a", mtu=1440)


def wired(*workloads: Workload) -> HostState:
    """The host state right after a clean apply of ``workloads``."""
    state = HostState()
    for netns_id, workload in enumerate(workloads):
        host_index = 10 + netns_id
        state.links[workload.interface] = Link(
            name=workload.interface,
            index=host_index,
            kind="veth",
            mac="ee:ee:ee:ee:ee:ee",
            mtu=workload.mtu,
            up=True,
            peer_netnsid=netns_id,
            peer_index=2,
        )
        state.routes.append(Route(dst=workload.cidr, dev=workload.interface, scope="link"))
        state.netns_names.add(workload.name)
        state.netns_ids[netns_id] = workload.name
        state.netns[workload.name] = NetnsState(
            links={
                "lo": Link(name="lo", index=1, up=True, mtu=65536),
                "eth0": Link(
                    name="eth0",
                    index=2,
                    kind="veth",
                    mtu=workload.mtu,
                    up=True,
                    peer_netnsid=0,
                    peer_index=host_index,
                    addresses=(workload.cidr,),
                ),
            },
            routes=[
                Route(dst="default", dev="eth0", gateway="169.254.1.1"),
                Route(dst="169.254.1.1/32", dev="eth0", scope="link"),
            ],
            neighbours=[Neighbour("169.254.1.1", "eth0", "ee:ee:ee:ee:ee:ee", ("PERMANENT",))],
        )
        for key in (
            f"net/ipv4/conf/{workload.interface}/proxy_arp",
            f"net/ipv4/conf/{workload.interface}/forwarding",
        ):
            state.sysctls[key] = "1"
        state.sysctls[f"net/ipv4/neigh/{workload.interface}/proxy_delay"] = "0"
    return state


# --------------------------------------------------------------------------- validation


def test_valid_workloads_get_default_mtu_and_normalised_ip():
    workloads = validate_workloads(
        [{"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a", "mtu": None}]
    )

    assert workloads == [WEB]


INVALID = yaml.safe_load((Path(__file__).parent / "invalid_workloads.yml").read_text())
WEB_ITEM = {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a"}


@pytest.mark.parametrize(
    ("item", "message"),
    [({**WEB_ITEM, **case["changes"]}, case["message"]) for case in INVALID],
    ids=[str(case["changes"]) for case in INVALID],
)
def test_invalid_workload_is_rejected_with_a_precise_message(item, message):
    with pytest.raises(WorkloadError) as error:
        validate_workloads([item])

    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"name": "web-1"}, "duplicate name 'web-1': used by workloads 'web-1' and 'web-1'"),
        (
            {"interface": "cali1234567890a"},
            "duplicate interface 'cali1234567890a': used by workloads 'web-1' and 'db-1'",
        ),
        ({"ip": "172.17.0.1"}, "duplicate ip '172.17.0.1': used by workloads 'web-1' and 'db-1'"),
    ],
)
def test_duplicates_are_rejected_naming_both_workloads(second, message):
    first = {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a"}
    other = {"name": "db-1", "ip": "172.17.0.2", "interface": "calib0c2e3d4f5a"} | second

    with pytest.raises(WorkloadError, match=re.escape(message)):
        validate_workloads([first, other])


# --------------------------------------------------------------------------- ownership


def test_veth_is_peered_only_with_eth0_in_its_own_namespace():
    state = wired(WEB, DB)

    assert is_peered(state.links[WEB.interface], "web-1", state)
    assert not is_peered(state.links[WEB.interface], "db-1", state)
    state.netns["web-1"].links["eth0"] = replace(state.netns["web-1"].links["eth0"], index=5)
    assert not is_peered(state.links[WEB.interface], "web-1", state)


def test_namespace_with_only_lo_and_the_peer_is_provably_ours():
    state = wired(WEB)
    inside = state.netns["web-1"]
    link = state.links[WEB.interface]

    assert provably_ours(inside, link)
    assert not provably_ours(None, link)
    # The kernel's own tunl0, in every namespace once ipip is loaded, changes nothing.
    inside.links["tunl0"] = Link(name="tunl0", index=2, kind="ipip")
    assert provably_ours(inside, link)
    inside.links["eth1"] = Link(name="eth1", index=3, kind="veth")
    assert not provably_ours(inside, link)


def test_namespaces_of_stale_veths_are_read_only_when_pruning():
    state = wired(WEB, DB)

    assert namespaces_to_read([WEB], state, prune=True) == ["db-1", "web-1"]
    assert namespaces_to_read([WEB], state, prune=False) == ["web-1"]
    assert namespaces_to_read([WEB], HostState(), prune=True) == []


# --------------------------------------------------------------------------- planning


def test_wired_host_needs_nothing():
    plan = plan_workloads([WEB, DB], wired(WEB, DB), prune=True)

    assert not plan.changed
    assert plan.commands() == []
    assert plan.diff()["before"] == plan.diff()["after"]


def test_fresh_host_plan_creates_namespace_veth_route_sysctls_and_gateway():
    plan = plan_workloads([WEB], HostState(), prune=True)

    assert plan.root == [
        "netns add web-1",
        "link add cali1234567890a mtu 1500 address ee:ee:ee:ee:ee:ee up type veth "
        "peer name eth0 mtu 1500 netns web-1",
        "route replace 172.17.0.1/32 dev cali1234567890a scope link",
    ]
    assert plan.sysctls == [
        ("net/ipv4/conf/cali1234567890a/proxy_arp", "1"),
        ("net/ipv4/neigh/cali1234567890a/proxy_delay", "0"),
        ("net/ipv4/conf/cali1234567890a/forwarding", "1"),
    ]
    assert plan.netns == {"web-1": fresh_namespace_lines("172.17.0.1")}
    assert plan.diff()["before"] == ""


def test_host_route_is_never_given_a_routing_protocol():
    plan = plan_workloads([WEB], HostState(), prune=True)

    assert not any("proto" in line for line in plan.root)


def test_deletions_come_before_creations_in_the_root_batch():
    state = wired(WEB, DB)
    renamed = replace(WEB, interface="cali00000000bee")

    plan = plan_workloads([renamed], state, prune=True)

    assert plan.root[:3] == [
        "link del cali1234567890a",
        "link del calib0c2e3d4f5a",
        "netns del db-1",
    ]
    assert plan.root[3].startswith("link add cali00000000bee ")


def test_ip_moved_to_another_workload_is_released_before_it_is_routed_again():
    state = wired(WEB, DB)
    swapped = [replace(WEB, ip=DB.ip), replace(DB, ip=WEB.ip)]

    plan = plan_workloads(swapped, state, prune=True)

    assert plan.root == [
        "route del 172.17.0.2/32 dev calib0c2e3d4f5a",
        "route del 172.17.0.1/32 dev cali1234567890a",
        "route replace 172.17.0.1/32 dev calib0c2e3d4f5a scope link",
        "route replace 172.17.0.2/32 dev cali1234567890a scope link",
    ]


def test_extra_route_on_a_workload_veth_is_removed_but_its_kernel_route_is_left():
    state = wired(WEB)
    state.routes += [
        Route(dst="10.9.0.0/16", dev=WEB.interface, protocol="static"),
        Route(dst="192.0.2.0/24", dev=WEB.interface, protocol="kernel", scope="link"),
        Route(dst="10.9.0.0/16", dev="eth0", protocol="static"),
    ]

    plan = plan_workloads([WEB], state, prune=True)

    assert plan.root == ["route del 10.9.0.0/16 dev cali1234567890a"]


def test_host_route_with_metric_is_not_ours_and_gets_replaced_by_one_without():
    state = wired(WEB)
    state.routes = [Route(dst=WEB.cidr, dev=WEB.interface, scope="link", metric=20)]

    plan = plan_workloads([WEB], state, prune=True)

    assert plan.root == [
        "route del 172.17.0.1/32 dev cali1234567890a metric 20",
        "route replace 172.17.0.1/32 dev cali1234567890a scope link",
    ]


def test_route_to_workload_on_foreign_device_with_other_metric_does_not_conflict():
    state = wired(WEB)
    state.routes.append(Route(dst=WEB.cidr, dev="tunl0", gateway="10.0.0.2", metric=32))

    assert not plan_workloads([WEB], state, prune=True).changed


@pytest.mark.parametrize(
    "route",
    [
        Route(dst="172.17.0.1/32", dev="eth0", gateway="10.0.0.2"),
        Route(dst="172.17.0.1/32", type="blackhole", protocol="bird"),
        Route(dst="172.17.0.1/32", dev="cali-foo", scope="link"),
    ],
)
def test_foreign_route_to_a_workload_address_stops_the_plan(route):
    state = HostState(routes=[route])

    with pytest.raises(PlanError, match=re.escape("already has a route to 172.17.0.1/32")):
        plan_workloads([WEB], state, prune=True)


def test_eth0_without_a_root_peer_in_a_workload_namespace_stops_the_plan():
    state = HostState(netns_names={"web-1"})
    state.netns["web-1"] = NetnsState(
        links={"lo": Link("lo", 1, up=True), "eth0": Link("eth0", 2, kind="veth", peer_netnsid=3)}
    )

    with pytest.raises(PlanError, match="not the peer of a veth in the root namespace"):
        plan_workloads([WEB], state, prune=True)


def test_desired_veth_paired_inside_the_root_namespace_is_recreated_with_its_cali_peer():
    state = HostState(
        links={
            WEB.interface: Link(WEB.interface, 4, kind="veth", peer_name="cali0000000000f"),
            "cali0000000000f": Link("cali0000000000f", 5, kind="veth", peer_name=WEB.interface),
        }
    )

    plan = plan_workloads([WEB], state, prune=True)

    assert plan.teardown == ["link del cali1234567890a"]


def test_stale_veth_with_peer_in_an_unnamed_namespace_is_removed_with_a_warning():
    state = HostState(
        links={
            "cali00000000abc": Link("cali00000000abc", 9, kind="veth", peer_netnsid=4, peer_index=2)
        }
    )

    plan = plan_workloads([], state, prune=True)

    assert plan.root == ["link del cali00000000abc"]
    assert plan.warnings == [
        "removed stale cali00000000abc; its peer was in a namespace without a name (nsid 4), "
        "which was left alone"
    ]


def test_only_cali_veths_are_pruned():
    state = HostState(
        links={
            "cali0000000000b": Link("cali0000000000b", 4, kind="bridge"),
            "cali-test": Link("cali-test", 5, kind="veth", peer_netnsid=1, peer_index=2),
            "veth1": Link("veth1", 6, kind="veth", peer_netnsid=1, peer_index=3),
        }
    )

    assert not plan_workloads([], state, prune=True).changed


def test_partial_state_markers_appear_in_the_before_text_only():
    state = wired(WEB)
    state.sysctls["net/ipv4/conf/cali1234567890a/forwarding"] = "0"
    state.netns["web-1"].routes.pop(0)
    state.netns["web-1"].links["eth0"] = replace(
        state.netns["web-1"].links["eth0"], addresses=("172.17.0.1/32", "10.1.1.1/24")
    )

    diff = plan_workloads([WEB], state, prune=True).diff()

    assert diff["before"] == (
        "web-1 ns=web-1 if=cali1234567890a ip=172.17.0.1/32,10.1.1.1/24 mtu=1500 "
        "!forwarding !stale-addr !default-route\n"
    )
    assert diff["after"] == "web-1 ns=web-1 if=cali1234567890a ip=172.17.0.1/32 mtu=1500\n"


def test_namespace_without_veth_shows_as_broken_veth_in_the_diff():
    state = HostState(netns_names={"web-1"})
    state.netns["web-1"] = NetnsState(links={"lo": Link("lo", 1)})

    plan = plan_workloads([WEB], state, prune=True)

    assert plan.diff()["before"] == "web-1 ns=web-1 if=- ip=- mtu=- !veth !lo-down\n"
    assert "netns add web-1" not in plan.root


def test_swapped_interfaces_are_torn_down_together_before_either_is_created():
    state = wired(WEB, DB)
    swapped = [replace(WEB, interface=DB.interface), replace(DB, interface=WEB.interface)]

    plan = plan_workloads(swapped, state, prune=True)

    assert sorted(plan.teardown) == ["link del cali1234567890a", "link del calib0c2e3d4f5a"]
    assert [line.split()[2] for line in plan.setup if line.startswith("link add")] == [
        "cali1234567890a",
        "calib0c2e3d4f5a",
    ]
    assert plan.root[:2] == plan.teardown
    assert set(plan.netns) == {"web-1", "db-1"}
