"""The iproute core: parsing of real ``ip -j`` output into links, routes and neighbours."""

from ansible_collections.calico.network.plugins.module_utils.iproute import (
    Link,
    Neighbour,
    Route,
    parse_links,
    parse_neighbours,
    parse_netns_list,
    parse_netns_state,
    parse_routes,
    split_json_documents,
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
