"""External BGP peers: who opens the sessions, what is accepted, and bad input."""

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build_model,
    host_slice,
    validate,
)
from ansible_collections.calico.network.plugins.plugin_utils.peers import (
    format_pattern,
    parse_pattern,
)
from tests.unit.plugin_utils.test_racks import fleet

TOR = {"name": "tor1", "ip": "192.168.1.254", "as": 65100}


def with_peers(host_vars, peers, hosts=None):
    for name, values in host_vars.items():
        if hosts is None or name in hosts:
            values["calico_bgp_peers"] = peers
    return host_vars


def external(model, host):
    return [p for p in host_slice(model, host)["peers"] if p["kind"] == "external"]


def test_with_reflectors_only_the_reflectors_peer_with_a_rack_level_router():
    host_vars = with_peers(
        fleet([3, 3]), [{**TOR, "accept": ["0.0.0.0/0"]}], hosts={"r1h1", "r1h2", "r1h3"}
    )
    model = build_model(host_vars)
    assert [p["name"] for p in external(model, "r1h1")] == ["Peer_tor1"]
    assert [p["name"] for p in external(model, "r1h2")] == ["Peer_tor1"]
    assert external(model, "r1h3") == []
    assert len(host_slice(model, "r1h3")["peers"]) == 2  # the client keeps its two sessions
    assert all(external(model, h) == [] for h in ("r2h1", "r2h2", "r2h3"))


def test_the_accepted_prefixes_reach_the_rack_that_peers_and_no_other():
    host_vars = with_peers(
        fleet([3, 3]),
        [{**TOR, "accept": ["0.0.0.0/0", "10.99.0.0/16+"]}],
        hosts={"r1h1", "r1h2", "r1h3"},
    )
    model = build_model(host_vars)
    for host in ("r1h1", "r1h2", "r1h3"):
        assert host_slice(model, host)["external_accept"] == ["0.0.0.0/0", "10.99.0.0/16+"]
    for host in ("r2h1", "r2h3"):
        assert host_slice(model, host)["external_accept"] == []


def test_by_default_nothing_is_accepted_and_the_limit_is_100():
    model = build_model(with_peers(fleet([2, 2]), [TOR]))
    (peer,) = external(model, "r1h1")
    assert peer["accept"] == [] and peer["prefix_limit"] == 100
    assert host_slice(model, "r1h1")["external_accept"] == []


def test_in_a_mesh_every_host_with_the_list_peers():
    host_vars = with_peers(fleet([2, 2], calico_bgp_mode="mesh", calico_as=64512), [TOR])
    for values in host_vars.values():
        values["calico_route_reflector"] = False
    model = build_model(host_vars)
    assert all(len(external(model, h)) == 1 for h in model["hosts"])


def test_session_options_come_from_the_peer_entry():
    peer = {**TOR, "password": "tor-key", "ttl_security": True, "multihop": 2, "prefix_limit": 7}
    model = build_model(with_peers(fleet([2, 2]), [peer]))
    (session,) = external(model, "r2h1")
    assert session["ttl_security"] and session["multihop"] == 2 and session["prefix_limit"] == 7
    assert session["password"] == "calico_password_peer_tor1"
    assert session["as"] == 65100 and session["ip"] == "192.168.1.254"


def test_a_router_password_reaches_only_the_hosts_that_peer_with_it():
    model = build_model(with_peers(fleet([3, 3]), [{**TOR, "password": "tor-key"}]))
    assert host_slice(model, "r1h1")["bgp_passwords"]["calico_password_peer_tor1"] == "tor-key"
    assert "calico_password_peer_tor1" not in host_slice(model, "r1h3")["bgp_passwords"]
    assert "bgp_peers" not in host_slice(model, "r1h1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("10.0.0.0/8+", "10.0.0.0/8+"),
        ("10.0.0.0/8{8,32}", "10.0.0.0/8+"),
        ("10.0.0.0/8{ 16, 24 }", "10.0.0.0/8{16,24}"),
        ("192.168.7.0/24{24,24}", "192.168.7.0/24"),
    ],
)
def test_prefix_patterns_are_normalised_to_birds_syntax(text, expected):
    assert format_pattern(*parse_pattern(text)) == expected


@pytest.mark.parametrize(
    "text", ["10.0.0.1/8", "10.0.0.0/8{4,24}", "10.0.0.0/8{24,16}", "10/8", "10.0.0.0/8-"]
)
def test_bad_prefix_patterns_are_refused(text):
    with pytest.raises(ValueError):
        parse_pattern(text)


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ({"ip": "192.168.1.254", "as": 65100}, "calico_bgp_peers[0].name: is not set"),
        ({**TOR, "name": "tor-1"}, "calico_bgp_peers[0].name: 'tor-1' cannot name a BIRD protocol"),
        ({**TOR, "ip": "300.1.1.1"}, "calico_bgp_peers[0].ip: '300.1.1.1' is not an IPv4 address"),
        (
            {**TOR, "ip": "192.168.2.1"},
            "calico_bgp_peers[0].ip: 192.168.2.1 is the fleet host r2h1",
        ),
        ({**TOR, "as": 23456}, "calico_bgp_peers[0].as: AS 23456 is AS_TRANS"),
        ({**TOR, "as": None}, "calico_bgp_peers[0].as: is not set"),
        ({**TOR, "password": "p" * 81}, "calico_bgp_peers[0].password: is 81 bytes long"),
        ({**TOR, "password": 'a"b'}, "holds a quote or backslash"),
        (
            {**TOR, "ttl_security": "maybe"},
            "calico_bgp_peers[0].ttl_security: 'maybe' is not true or false",
        ),
        ({**TOR, "multihop": 0}, "calico_bgp_peers[0].multihop: 0 is not a hop count"),
        ({**TOR, "prefix_limit": 0}, "calico_bgp_peers[0].prefix_limit: 0 is outside 1-4294967295"),
        ({**TOR, "accept": "0.0.0.0/0"}, "calico_bgp_peers[0].accept: must be a list"),
        (
            {**TOR, "accept": ["10.0.0.0/33"]},
            "calico_bgp_peers[0].accept[0]: '10.0.0.0/33' is not a prefix",
        ),
        ({**TOR, "accept": ["172.18.5.0/24+"]}, "lies inside the pool 172.18.0.0/16"),
        ({**TOR, "peer_as": 1}, "calico_bgp_peers[0]: has unknown key(s) peer_as"),
    ],
)
def test_bad_peers_are_reported_with_host_variable_and_fix(peer, expected):
    found = validate(with_peers(fleet([2, 2]), [peer], hosts={"r1h1"})).messages()
    assert any(m.startswith("r1h1: ") and expected in m for m in found), found
    assert all("Fix: " in m for m in found)


def test_a_peer_listed_twice_is_an_error():
    found = validate(with_peers(fleet([2, 2]), [TOR, TOR], hosts={"r1h1"})).messages()
    assert any("the name 'tor1' is used twice" in m for m in found)
    assert any("192.168.1.254 is listed twice" in m for m in found)


def test_a_list_that_is_not_a_list_is_an_error():
    found = validate(with_peers(fleet([2, 2]), {"name": "tor1"}, hosts={"r1h1"})).messages()
    assert any(m.startswith("r1h1: calico_bgp_peers: must be a list") for m in found)


def test_a_bad_fleet_level_list_is_reported_once_not_per_host():
    found = validate(with_peers(fleet([3, 3]), [{**TOR, "as": "x"}])).messages()
    assert [m for m in found if "calico_bgp_peers" in m] == [
        "r1h1: calico_bgp_peers[0].as: 'x' is not a whole number. Fix: write a whole number."
    ]
