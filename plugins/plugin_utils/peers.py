"""External BGP peers (``calico_bgp_peers``): ToR and spine routers outside the fleet.

The list may be set at fleet level (group_vars/all), on a rack group or on a host; Ansible's
precedence picks the most specific one for each host. In ``route_reflector`` mode only the
reflectors open these sessions (clients talk to their reflectors only and get the external
routes reflected); in a mesh every host with the list does.

To an external peer a host exports block aggregates only (never a /32, never a host subnet).
From it, it accepts exactly the prefixes listed in ``accept`` (default: none), never anything
inside the pools, and at most ``prefix_limit`` routes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.racks import RACK_GROUPS
from ansible_collections.calico.network.plugins.plugin_utils.sessions import bgp_session
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    BgpSession,
    ExternalPeer,
    FleetModel,
    HostEntry,
)
from ansible_collections.calico.network.plugins.plugin_utils.spec import FleetSpec
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    check_keys,
    is_unset,
    kind_of,
    read_address,
    read_as,
    read_bool,
    read_int,
    read_int_in,
    read_password,
    shown,
    special_address,
)

VARIABLE = "calico_bgp_peers"
PEER_KEYS = ("name", "ip", "as", "password", "ttl_security", "multihop", "accept", "prefix_limit")
# The protocol is Peer_<name> and the password define calico_password_peer_<name>: BIRD symbols.
PEER_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
# BIRD's prefix patterns: exact, "+" (it and everything longer), or "{low,high}" lengths.
PATTERN = re.compile(r" *([0-9.]+/[0-9]{1,2}) *(\+|\{ *([0-9]{1,2}) *, *([0-9]{1,2}) *\})? *")
DEFAULT_PREFIX_LIMIT = 100
MAX_PREFIX_LIMIT = 2**32 - 1  # BIRD's import limit is a 32-bit counter
PASSWORD_PREFIX = "calico_password_peer_"


def read_peers(
    host_vars: Mapping[str, Mapping[str, Any]],
    fleet: FleetSpec,
    reflectors: set[str],
    problems: Problems,
) -> dict[str, list[ExternalPeer]]:
    """``{host: [peer]}`` for the hosts that open external sessions, every problem recorded."""
    fleet_addresses = {
        str(host.interface.ip): host.name for host in fleet.hosts if host.interface is not None
    }
    result: dict[str, list[ExternalPeer]] = {}
    # A fleet- or rack-level list reaches every host as an equal copy: read it once, so its
    # problems are reported once (for the first host that has it), not once per host.
    read: dict[str, list[ExternalPeer]] = {}
    lists: dict[str, str] = {}  # host -> the key of its list
    for name in sorted(host_vars):
        raw = host_vars[name].get(VARIABLE)
        if raw in (None, "", []):
            continue
        if not isinstance(raw, list):
            problems.error(name, VARIABLE, "must be a list", "write a list of {name, ip, as}")
            continue
        try:
            key = json.dumps(raw, sort_keys=True, default=repr)
        except (TypeError, ValueError):  # keys of mixed types cannot be sorted
            key = repr(raw)
        if key not in read:
            peers = [
                _read_peer(name, i, item, fleet, fleet_addresses, problems)
                for i, item in enumerate(raw)
            ]
            read[key] = [p for p in peers if p is not None]
            _check_unique(name, read[key], problems)
        valid = read[key]
        lists[name] = key
        if fleet.bgp_mode == "route_reflector" and name not in reflectors:
            continue  # clients reach external routers through their reflectors
        if valid:
            result[name] = valid
    if fleet.bgp_mode == "route_reflector":
        _check_client_peers(host_vars, reflectors, lists, problems)
    return result


def _check_client_peers(
    host_vars: Mapping[str, Mapping[str, Any]],
    reflectors: set[str],
    lists: Mapping[str, str],
    problems: Problems,
) -> None:
    """A client's own external peers would be silently ignored: only reflectors open sessions.

    A client may carry the list its rack's reflectors have (set on the rack group or fleet);
    a list that no reflector of its rack has is an error naming the client.
    """
    rack_of = {name: tuple(values.get(RACK_GROUPS) or ()) for name, values in host_vars.items()}
    for name in sorted(lists):
        if name in reflectors or len(rack_of[name]) != 1:
            continue  # a host in no rack or in two is reported by racks.py
        rack_reflectors = sorted(r for r in reflectors if rack_of[r] == rack_of[name])
        if rack_reflectors and lists[name] not in {lists.get(r) for r in rack_reflectors}:
            problems.error(
                name,
                VARIABLE,
                "this host is a route-reflector client, so it opens no external session; only "
                f"its rack's reflectors ({', '.join(rack_reflectors)}) do, and they do not "
                "have these peers",
                f"set calico_bgp_peers on the rack group {rack_of[name][0]} (its reflectors "
                "open the sessions), or make this host a reflector",
            )


def _read_peer(
    host: str,
    index: int,
    item: Any,
    fleet: FleetSpec,
    fleet_addresses: Mapping[str, str],
    problems: Problems,
) -> ExternalPeer | None:
    where = f"{VARIABLE}[{index}]"
    if not isinstance(item, Mapping):
        problems.error(
            host, where, "must be a mapping", "write {name: tor, ip: 10.0.0.1, as: 65000}"
        )
        return None
    ok = check_keys(host, where, item, PEER_KEYS, problems)
    name = item.get("name")
    if not isinstance(name, str) or not PEER_NAME.fullmatch(name):
        problems.error(
            host,
            f"{where}.name",
            "is not set" if is_unset(name) else f"{shown(name)} cannot name a BIRD protocol",
            "use 1-32 letters, digits or underscores, e.g. tor1",
        )
        ok = False
    ip = read_address(
        host,
        f"{where}.ip",
        item.get("ip"),
        problems,
        "write the router's address, e.g. 192.168.100.1",
    )
    if ip is not None and not _usable_peer_address(host, f"{where}.ip", ip, fleet, problems):
        ok = False
    if ip is not None and str(ip) in fleet_addresses:
        problems.error(
            host,
            f"{where}.ip",
            f"{ip} is the fleet host {fleet_addresses[str(ip)]}",
            "list only routers outside the fleet; fleet hosts peer through the mesh or racks",
        )
        ok = False
    errors = len(problems.errors)
    asn = read_as(
        host,
        f"{where}.as",
        item.get("as"),
        problems,
        "use the router's AS number: 1-4294967294 except 23456 and 65535",
        number_fix="write a whole number",
    )
    password = read_password(host, f"{where}.password", item.get("password"), problems)
    ttl_security = read_bool(host, f"{where}.ttl_security", item.get("ttl_security"), problems)
    ok = ok and len(problems.errors) == errors
    multihop = item.get("multihop")
    if multihop is not None:
        multihop = read_int(host, f"{where}.multihop", multihop, problems, "write a whole number")
        if multihop is not None and not 1 <= multihop <= 255:
            problems.error(
                host,
                f"{where}.multihop",
                f"{multihop} is not a hop count",
                "use 1-255, or remove it for a direct session",
            )
            ok = False
    limit = read_int_in(
        host,
        f"{where}.prefix_limit",
        item.get("prefix_limit", DEFAULT_PREFIX_LIMIT),
        problems,
        (1, MAX_PREFIX_LIMIT),
        "a number of routes",
    )
    accept = _read_accept(host, f"{where}.accept", item.get("accept"), fleet, problems)
    if not ok or ip is None or asn is None or limit is None or accept is None:
        return None
    return {
        "name": name,
        "ip": str(ip),
        "as": asn,
        "password": password,
        "ttl_security": ttl_security,
        "multihop": multihop,
        "accept": accept,
        "prefix_limit": limit,
    }


def _usable_peer_address(
    host: str, where: str, ip: ipaddress.IPv4Address, fleet: FleetSpec, problems: Problems
) -> bool:
    """A router's address: unicast, and outside the pools (inside one, BIRD would route the
    session's own packets to a workload)."""
    reason = special_address(ip)
    if reason:
        problems.error(host, where, f"{ip} {reason}", "write the router's unicast address")
        return False
    pool = next((p.cidr for p in fleet.pools if ip in p.cidr), None)
    if pool is not None:
        problems.error(
            host,
            where,
            f"{ip} lies inside the pool {pool}, which holds workload addresses only",
            "write the router's underlay address, outside every pool",
        )
        return False
    return True


def parse_pattern(text: str) -> tuple[ipaddress.IPv4Network, int, int]:
    """``(network, low, high)`` of a BIRD prefix pattern; ValueError when it is not one."""
    match = PATTERN.fullmatch(text)
    if not match:
        raise ValueError("not a prefix pattern")
    network = ipaddress.IPv4Network(match.group(1), strict=True)
    if match.group(2) is None:
        low = high = network.prefixlen
    elif match.group(2) == "+":
        low, high = network.prefixlen, 32
    else:
        low, high = int(match.group(3)), int(match.group(4))
        if not network.prefixlen <= low <= high <= 32:
            raise ValueError(f"lengths must satisfy {network.prefixlen} <= low <= high <= 32")
    return network, low, high


def format_pattern(network: ipaddress.IPv4Network, low: int, high: int) -> str:
    if low == high == network.prefixlen:
        return str(network)
    if low == network.prefixlen and high == 32:
        return f"{network}+"
    return f"{network}{{{low},{high}}}"


def _read_accept(
    host: str, where: str, raw: Any, fleet: FleetSpec, problems: Problems
) -> list[str] | None:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        problems.error(
            host, where, "must be a list", "write a list such as [0.0.0.0/0, 10.0.0.0/8+]"
        )
        return None
    patterns: list[str] = []
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, str):
                raise ValueError(f"it is {kind_of(item)}")
            network, low, high = parse_pattern(item)
        except ValueError as err:
            problems.error(
                host,
                f"{where}[{index}]",
                f"{shown(item)} is not a prefix pattern ({err})",
                "write PREFIX (exactly it), PREFIX+ (it and longer) or PREFIX{LOW,HIGH}, "
                "e.g. 0.0.0.0/0 or 10.0.0.0/8{8,24}",
            )
            return None
        inside = [str(p.cidr) for p in fleet.pools if network.subnet_of(p.cidr)]
        if inside:
            problems.error(
                host,
                f"{where}[{index}]",
                f"{item} lies inside the pool {inside[0]}; routes inside the pools come only "
                "from the fleet",
                "remove it, or accept a prefix outside the pools",
            )
            return None
        patterns.append(format_pattern(network, low, high))
    return sorted(set(patterns), key=patterns.index)


def _check_unique(host: str, peers: list[ExternalPeer], problems: Problems) -> None:
    names: set[str] = set()
    addresses: set[str] = set()
    for peer in peers:
        if peer["name"] in names:
            problems.error(
                host,
                VARIABLE,
                f"the name {peer['name']!r} is used twice",
                "give every peer its own name",
            )
        if peer["ip"] in addresses:
            problems.error(
                host, VARIABLE, f"{peer['ip']} is listed twice", "list every router once"
            )
        names.add(peer["name"])
        addresses.add(peer["ip"])


# --- the model's part and the sessions ----------------------------------------------------------


def external_accept_lists(hosts: Mapping[str, HostEntry]) -> tuple[list[str], dict[str, list[str]]]:
    """The external prefixes fleet peers may pass on: fleet-wide, and per rack.

    In a mesh it is fleet-wide; with reflectors per rack: a host imports an external prefix
    from a fleet peer only when some external session of its mesh or rack accepts it (in
    route-reflector mode, from its own rack's reflectors only).
    """
    fleet_accept: list[str] = []
    rack_accept: dict[str, list[str]] = {}
    for host in hosts.values():
        target = rack_accept.setdefault(host["rack"], []) if host["rack"] else fleet_accept
        for peer in host["bgp_peers"]:
            target.extend(p for p in peer["accept"] if p not in target)
    return fleet_accept, rack_accept


def external_sessions(me: HostEntry) -> list[BgpSession]:
    return [
        bgp_session(
            f"Peer_{peer['name']}",
            "external",
            peer["name"],
            peer["ip"],
            peer["as"],
            password=PASSWORD_PREFIX + peer["name"] if peer["password"] else "",
            ttl_security=peer["ttl_security"],
            multihop=peer["multihop"] or False,
            accept=peer["accept"],
            prefix_limit=peer["prefix_limit"],
        )
        for peer in me["bgp_peers"]
    ]


def external_passwords(me: HostEntry) -> dict[str, str]:
    return {
        PASSWORD_PREFIX + peer["name"]: peer["password"]
        for peer in me["bgp_peers"]
        if peer["password"]
    }


def external_accept(model: FleetModel, me: HostEntry) -> list[str]:
    """The external prefixes this host may install (learned directly or from fleet peers)."""
    if me["rack"]:
        return list(model["racks"][me["rack"]]["external_accept"])
    return list(model["external_accept"])
