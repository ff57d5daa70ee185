"""Pure logic of calico_workloads: validation, parsing of real ``ip -j`` output, planning, diff."""

import re
from dataclasses import replace

import pytest

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
    parse_links,
    parse_neighbours,
    parse_netns_list,
    parse_netns_state,
    parse_routes,
    plan_workloads,
    provably_ours,
    split_json_documents,
    validate_workloads,
)

# `ip -j -d link show` in a scratch namespace (iproute2 6.1): a workload veth whose peer is in
# netns id 0, a foreign veth into netns id 1, and a cali-named veth pair inside the root namespace.
ROOT_LINKS = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,'
    '"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,'
    '"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00",'
    '"promiscuity":0,"allmulti":0,"min_mtu":0,"max_mtu":0,"inet6_addr_gen_mode":"eui64"},'
    '{"ifindex":2,"link_index":2,"ifname":"cali1234567890a","flags":["BROADCAST","MULTICAST",'
    '"UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT",'
    '"group":"default","txqlen":1000,"link_type":"ether","address":"ee:ee:ee:ee:ee:ee",'
    '"broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"promiscuity":0,"allmulti":0,"min_mtu":68,'
    '"max_mtu":65535,"linkinfo":{"info_kind":"veth"},"inet6_addr_gen_mode":"eui64"},'
    '{"ifindex":3,"link_index":2,"ifname":"vethforeign","flags":["BROADCAST","MULTICAST"],'
    '"mtu":1500,"qdisc":"noop","operstate":"DOWN","linkmode":"DEFAULT","group":"default",'
    '"txqlen":1000,"link_type":"ether","address":"3a:4f:82:99:57:24",'
    '"broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":1,"promiscuity":0,"allmulti":0,"min_mtu":68,'
    '"max_mtu":65535,"linkinfo":{"info_kind":"veth"},"inet6_addr_gen_mode":"eui64"},'
    '{"ifindex":4,"link":"caliabcdefabcde","ifname":"caliabcdefabcdf","flags":["BROADCAST",'
    '"MULTICAST","M-DOWN"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","linkmode":"DEFAULT",'
    '"group":"default","txqlen":1000,"link_type":"ether","address":"2a:39:6a:71:3e:40",'
    '"broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,'
    '"linkinfo":{"info_kind":"veth"},"inet6_addr_gen_mode":"eui64"}]'
)

# `ip -n web-1 -j -d -batch -` answering "addr show", "route show", "neigh show" on a wired
# workload: three JSON documents, one per line.
NETNS_BATCH = """\
[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue",\
"operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback",\
"address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet",\
"local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,\
"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,\
"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},\
{"ifindex":2,"link_index":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],\
"mtu":1450,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,\
"link_type":"ether","address":"e6:b1:bc:8c:f3:94","broadcast":"ff:ff:ff:ff:ff:ff",\
"link_netnsid":0,"linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet",\
"local":"10.0.0.5","prefixlen":32,"scope":"global","label":"eth0",\
"valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6",\
"local":"fe80::e4b1:bcff:fe8c:f394","prefixlen":64,"scope":"link","tentative":true,\
"valid_life_time":4294967295,"preferred_life_time":4294967295}]}]
[{"type":"unicast","dst":"default","gateway":"169.254.1.1","dev":"eth0","protocol":"boot",\
"scope":"global","flags":[]},{"type":"unicast","dst":"169.254.1.1","dev":"eth0",\
"protocol":"boot","scope":"link","flags":[]}]
[{"dst":"169.254.1.1","dev":"eth0","lladdr":"ee:ee:ee:ee:ee:ee","state":["PERMANENT"]}]
"""

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


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"name": "web-1", "ip": "172.17.0.1", "interface": "caliABCDEF01234"},
            "workloads[0] (web-1): interface 'caliABCDEF01234' must match ^cali[0-9a-f]{11}$ "
            "(cali + 11 lowercase hex digits, 15 characters)",
        ),
        (
            {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890ab"},
            "workloads[0] (web-1): interface 'cali1234567890ab' must match",
        ),
        (
            {"name": "web-1", "ip": "172.17.0.1/32", "interface": "cali1234567890a"},
            "workloads[0] (web-1): ip '172.17.0.1/32' must be a bare IPv4 address, without",
        ),
        (
            {"name": "web-1", "ip": "172.17.0.300", "interface": "cali1234567890a"},
            "workloads[0] (web-1): ip '172.17.0.300' is not a valid IPv4 address",
        ),
        (
            {"name": "web-1", "ip": "fd00::1", "interface": "cali1234567890a"},
            "workloads[0] (web-1): ip 'fd00::1' is not a valid IPv4 address",
        ),
        (
            {"name": "web-1", "ip": "169.254.1.1", "interface": "cali1234567890a"},
            "workloads[0] (web-1): ip 169.254.1.1 cannot be a workload address",
        ),
        (
            {"name": "web-1", "ip": "127.0.0.5", "interface": "cali1234567890a"},
            "workloads[0] (web-1): ip 127.0.0.5 cannot be a workload address",
        ),
        (
            {"name": "../etc", "ip": "172.17.0.1", "interface": "cali1234567890a"},
            "workloads[0] (../etc): name '../etc' must match",
        ),
        (
            {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a", "mtu": 67},
            "workloads[0] (web-1): mtu 67 must be an integer from 68 to 65535",
        ),
    ],
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


# --------------------------------------------------------------------------- parsing


def test_batch_output_splits_into_one_document_per_line():
    assert split_json_documents('[{"a":1}]\n[]\n[\n {"b": [2]}\n]\n') == [
        [{"a": 1}],
        [],
        [{"b": [2]}],
    ]
    assert split_json_documents("") == []


def test_links_record_veth_peers_in_other_namespaces_and_in_the_same_one():
    links = parse_links(split_json_documents(ROOT_LINKS)[0])

    assert links["cali1234567890a"] == Link(
        name="cali1234567890a",
        index=2,
        kind="veth",
        mac="ee:ee:ee:ee:ee:ee",
        mtu=1450,
        up=True,
        peer_netnsid=0,
        peer_index=2,
    )
    assert links["vethforeign"].peer_netnsid == 1
    assert links["vethforeign"].up is False
    assert links["caliabcdefabcdf"].peer_name == "caliabcdefabcde"
    assert links["caliabcdefabcdf"].peer_netnsid is None
    assert links["lo"].kind is None


def test_lower_device_of_a_vlan_is_not_taken_for_a_veth_peer():
    links = parse_links(
        [
            {
                "ifindex": 7,
                "link": "eth0",
                "ifname": "cali0000000000a",
                "linkinfo": {"info_kind": "vlan"},
            }
        ]
    )

    assert links["cali0000000000a"].peer_name is None


def test_namespace_batch_parses_ipv4_addresses_routes_and_neighbours():
    state = parse_netns_state(split_json_documents(NETNS_BATCH))

    assert state.links["eth0"].addresses == ("10.0.0.5/32",)
    assert state.links["lo"].addresses == ("127.0.0.1/8",)
    assert state.links["eth0"].peer_index == 2
    assert state.routes == [
        Route(dst="default", dev="eth0", gateway="169.254.1.1"),
        Route(dst="169.254.1.1/32", dev="eth0", scope="link"),
    ]
    assert state.neighbours == [
        Neighbour("169.254.1.1", "eth0", "ee:ee:ee:ee:ee:ee", ("PERMANENT",))
    ]


def test_routes_without_details_get_the_kernel_defaults():
    routes = parse_routes(
        [
            {"dst": "172.17.0.1", "dev": "cali1234567890a", "scope": "link", "flags": []},
            {"dst": "10.0.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link"},
            {"type": "blackhole", "dst": "172.17.0.0/26", "protocol": "bird", "flags": []},
            {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "metric": 100},
        ]
    )

    assert routes == [
        Route(dst="172.17.0.1/32", dev="cali1234567890a", scope="link", protocol="boot"),
        Route(dst="10.0.0.0/24", dev="eth0", scope="link", protocol="kernel"),
        Route(dst="172.17.0.0/26", type="blackhole", protocol="bird"),
        Route(dst="default", dev="eth0", gateway="10.0.0.1", metric=100),
    ]


def test_ipv6_neighbours_are_ignored():
    neighbours = parse_neighbours(
        [
            {"dst": "fe80::1", "dev": "eth0", "lladdr": "ee:ee:ee:ee:ee:ee", "state": ["STALE"]},
            {
                "dst": "169.254.1.1",
                "dev": "eth0",
                "lladdr": "ee:ee:ee:ee:ee:ee",
                "state": ["STALE"],
            },
        ]
    )

    assert [n.dst for n in neighbours] == ["169.254.1.1"]


def test_netns_list_maps_only_assigned_ids_to_names():
    names, ids = parse_netns_list([{"name": "a2"}, {"name": "a1", "id": 0}])

    assert names == {"a1", "a2"}
    assert ids == {0: "a1"}


def test_route_delete_line_names_exactly_that_route():
    route = Route(dst="10.1.0.0/24", dev="cali1234567890a", gateway="10.0.0.1", metric=50)

    assert route.delete_line() == "route del 10.1.0.0/24 via 10.0.0.1 dev cali1234567890a metric 50"


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
    assert plan.netns == {
        "web-1": [
            "link set lo up",
            "link set eth0 up",
            "addr add 172.17.0.1/32 dev eth0",
            "route replace 169.254.1.1 dev eth0 scope link",
            "route replace default via 169.254.1.1 dev eth0",
            "neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
        ]
    }
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
