"""The network model: the whole fleet's routing plan, computed once per run on the controller.

``build_model`` validates the inventory and returns a compact, JSON-friendly fleet model (one
entry per host: address, AS, blocks, workloads). ``host_slice`` expands one host's view of it
(its BGP peers), which is what the roles consume. The split keeps the fleet model linear in the
number of hosts even for a full mesh, whose sessions grow with the square.

No Ansible imports here: the filters, the tests and the benchmarks call these functions alike.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils import encap, ipam, peers, racks
from ansible_collections.calico.network.plugins.plugin_utils.policy import check_floating_ips
from ansible_collections.calico.network.plugins.plugin_utils.problems import (
    FLEET,
    InventoryError,
    Problems,
)
from ansible_collections.calico.network.plugins.plugin_utils.spec import FleetSpec, read_fleet
from ansible_collections.calico.network.plugins.plugin_utils.unknown_variables import (
    check_unknown_variables,
)

INTERFACE_PREFIX = "cali"
MODEL_VERSION = 1
MESH_PASSWORD = "calico_password_mesh"
# Every session in a slice has every key, so templates need no defaults.
SESSION_DEFAULTS: dict[str, Any] = {
    "rr_client": False,
    "rr_cluster_id": "",
    "multihop": False,
    "next_hop_keep": False,
    "ttl_security": False,
    "accept": [],
    "prefix_limit": 0,
}


def calico_vars(hostvars: Mapping[str, Any], hosts: list[str]) -> dict[str, dict[str, Any]]:
    """Pick the ``calico_*`` variables of each host out of Ansible's (lazy) hostvars."""
    picked: dict[str, dict[str, Any]] = {}
    for host in hosts:
        values = hostvars[host]
        picked[host] = {key: values[key] for key in values if key.startswith("calico_")}
    return racks.assign_rack_groups(picked, racks.rack_groups_from_inventory(hostvars))


def validate(host_vars: Mapping[str, Mapping[str, Any]]) -> Problems:
    """Every problem of the inventory, without building anything."""
    problems = Problems()
    _build(host_vars, problems)
    return problems


def build_model(host_vars: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet model; raises InventoryError listing every problem when the input is bad."""
    problems = Problems()
    model = _build(host_vars, problems)
    if problems:
        raise InventoryError(problems.errors)
    return model


def _build(host_vars: Mapping[str, Mapping[str, Any]], problems: Problems) -> dict[str, Any]:
    fleet = read_fleet(host_vars, problems)
    _check_hosts(fleet, problems)
    rack_plan = racks.read_racks(host_vars, fleet, problems)
    reflectors = {name for rack in rack_plan.values() for name in rack.reflectors}
    external = peers.read_peers(host_vars, fleet, reflectors, problems)
    ipam.check_pools_against_hosts(fleet, problems)
    encap.check_fleet(fleet.pools, fleet.hosts, problems)
    allocation = ipam.allocate(fleet, problems)
    _check_scale(fleet, problems)
    check_unknown_variables(host_vars, problems)
    hosts = {
        host.name: _host_entry(host, allocation, fleet.policy)
        for host in fleet.hosts
        if host.interface is not None and host.name in allocation.blocks
    }
    pools = [
        {
            "cidr": str(pool.cidr),
            "block_size": pool.block_size,
            "nat_outgoing": pool.nat_outgoing,
            "encapsulation": pool.encapsulation,
            "encapsulation_mode": pool.encapsulation_mode,
        }
        for pool in fleet.pools
    ]
    check_floating_ips(hosts, pools, problems)
    model = {
        "version": MODEL_VERSION,
        "bgp_mode": fleet.bgp_mode,
        "pools": pools,
        "hosts": hosts,
        "policy": {key: fleet.policy[key] for key in ("policies", "default_profile")},
        "bgp": fleet.bgp,
        # BIRD reads the keys from a separate, tightly-moded file under these names, so no
        # rendered config or diff ever shows them.
        "bgp_passwords": {MESH_PASSWORD: fleet.bgp_password} if fleet.bgp_password else {},
        "ledger": ipam.ledger(allocation),
        "warnings": problems.warning_messages(),
    }
    model["racks"] = racks.model_racks(rack_plan, model["hosts"])
    racks.annotate_hosts(model)
    peers.annotate_hosts(model, external)
    return model


def _host_entry(
    host: Any, allocation: ipam.Allocation, policy: Mapping[str, Any]
) -> dict[str, Any]:
    block = allocation.blocks[host.name]
    addresses = allocation.addresses.get(host.name, {})
    return {
        "name": host.name,
        "ip": str(host.interface.ip),
        "subnet": str(host.interface.network),
        "as": host.asn,
        "router_id": str(host.router_id or host.interface.ip),
        "blocks": [str(block)],
        "host_address": str(block.network_address),
        "endpoint_to_host_action": policy["endpoint_to_host_action"][host.name],
        "workloads": [
            {
                "name": workload.name,
                "ip": str(addresses[workload.name]),
                "interface": interface_name(host.name, workload.name),
                "labels": workload.labels,
                "floating_ips": list(workload.floating_ips),
            }
            for workload in host.workloads
            if workload.name in addresses
        ],
    }


def interface_name(host: str, workload: str) -> str:
    """``cali`` + 11 hex characters, as Calico's CNI plugin names the host end of a veth."""
    digest = hashlib.sha1(f"{host}.{workload}".encode(), usedforsecurity=False).hexdigest()
    return INTERFACE_PREFIX + digest[:11]


def _check_hosts(fleet: FleetSpec, problems: Problems) -> None:
    """Relations between hosts: unique addresses and router ids, one AS for a mesh."""
    seen_ip: dict[ipaddress.IPv4Address, str] = {}
    seen_router_id: dict[ipaddress.IPv4Address, str] = {}
    for host in sorted(fleet.hosts, key=lambda h: h.name):
        if host.interface is None:
            continue
        duplicate = host.interface.ip in seen_ip
        claim_unique(seen_ip, host.interface.ip, host.name, "calico_ip", "address", problems)
        if host.router_id is not None:
            claim_unique(
                seen_router_id, host.router_id, host.name, "calico_router_id", "router id", problems
            )
        elif not duplicate:  # a duplicate address is reported once, not again as a router id
            claim_unique(
                seen_router_id, host.interface.ip, host.name, "calico_ip", "router id", problems
            )
    if fleet.bgp_mode == "mesh":
        _check_single_as(fleet, problems)


def claim_unique(
    seen: dict[ipaddress.IPv4Address, str],
    value: ipaddress.IPv4Address,
    host: str,
    variable: str,
    what: str,
    problems: Problems,
) -> None:
    if value in seen:
        problems.error(
            host,
            variable,
            f"{what} {value} is {seen[value]}'s too",
            f"give every host its own {what}",
        )
    else:
        seen[value] = host


def _check_single_as(fleet: FleetSpec, problems: Problems) -> None:
    numbers = sorted({host.asn for host in fleet.hosts if host.asn is not None})
    if len(numbers) <= 1:
        return
    first = numbers[0]
    for host in fleet.hosts:
        if host.asn is not None and host.asn != first:
            problems.error(
                host.name,
                "calico_as",
                f"AS {host.asn} differs from AS {first} of other hosts; a full mesh is one AS",
                "set one calico_as for the whole fleet",
            )


def _check_scale(fleet: FleetSpec, problems: Problems) -> None:
    if fleet.mesh_warn_hosts is None:  # not a number: reported where it is read
        return
    if fleet.bgp_mode == "mesh" and len(fleet.hosts) > fleet.mesh_warn_hosts:
        problems.warn(
            FLEET,
            "calico_bgp_mode",
            f"a full mesh of {len(fleet.hosts)} hosts needs "
            f"{len(fleet.hosts) * (len(fleet.hosts) - 1) // 2} BGP sessions",
            "switch to route reflectors per rack (calico_bgp_mode: route_reflector, see "
            "docs/racks.md), or raise calico_mesh_warn_hosts",
        )


def host_slice(model: Mapping[str, Any], host: str) -> dict[str, Any]:
    """One host's view: its own entry plus its BGP peers and the pools' prefix filters."""
    hosts = model["hosts"]
    if host not in hosts:
        raise KeyError(f"{host} is not in the network model (is it in the inventory?)")
    me = hosts[host]
    sessions = (
        _mesh_peers(me, hosts, model["bgp_passwords"])
        if model["bgp_mode"] == "mesh"
        else racks.rack_sessions(model, me)
    ) + peers.external_sessions(me)
    # Only the keys this host's sessions use reach its secrets file.
    known = {
        **model["bgp_passwords"],
        **racks.rack_passwords(model, me),
        **peers.external_passwords(me),
    }
    used = {peer["password"] for peer in sessions if peer["password"]}
    return {
        **{key: value for key, value in me.items() if key != "bgp_peers"},
        "pools": model["pools"],
        "bgp_passwords": {name: known[name] for name in sorted(used)},
        "external_accept": peers.external_accept(model, me),
        "peers": [{**SESSION_DEFAULTS, **peer} for peer in sessions],
        "tunnel": encap.host_tunnel(model, me),
        "bgp": model["bgp"],
    }


def _mesh_peers(
    me: Mapping[str, Any], hosts: Mapping[str, Any], passwords: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Calico's node-to-node mesh: one iBGP session per other host.

    The side with the higher address is passive, so the two never dial each other at the same
    time (which aborts graceful restart). Calico compares addresses as strings; numbers are what
    an operator expects, and both ends of a session agree either way.
    """
    own = ipaddress.IPv4Address(me["ip"])
    peers = []
    for other in sorted(hosts.values(), key=lambda h: ipaddress.IPv4Address(h["ip"])):
        if other["name"] == me["name"]:
            continue
        address = ipaddress.IPv4Address(other["ip"])
        peers.append(
            {
                "name": "Mesh_" + other["ip"].replace(".", "_"),
                "kind": "mesh",
                "host": other["name"],
                "ip": other["ip"],
                "as": other["as"],
                "passive": address > own,
                "password": MESH_PASSWORD if MESH_PASSWORD in passwords else "",
            }
        )
    return peers
