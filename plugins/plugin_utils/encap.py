"""Encapsulation: which routes go through a tunnel, and what the tunnel devices need.

Calico's rules, computed once on the controller:

* A pool has ``encapsulation`` (ipip, vxlan, none) and ``encapsulation_mode`` (Always,
  CrossSubnet, Never). A route to a remote block is tunnelled when its pool's mode is Always, or
  CrossSubnet and the remote host (the route's BGP next hop) is outside this host's underlay
  subnet, taken from ``calico_ip`` *with its prefix*.
* IPIP routes are BIRD's: its BGP import filter puts off-subnet routes on ``tunl0`` (onlink, via
  the originating host). VXLAN routes are computed here, like Felix does it: one route per remote
  block ``via <remote tunnel address> dev vxlan.calico onlink``, a permanent neighbour entry
  (tunnel address -> remote VTEP MAC) and an FDB entry (VTEP MAC -> remote underlay address).
* MTUs: tunl0 = underlay - 20, vxlan.calico = underlay - 50; workload veths get the smallest MTU
  of the encapsulations in use (the underlay's when none is).
* iptables: IPIP / VXLAN packets are accepted only from fleet hosts; workloads may not send them.

No Ansible imports: the model, the module, the tests and the benchmarks share these functions.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.tunnel import (
    IPIP,
    ROUTE_PROTOCOL,
    VXLAN,
    VXLAN_PORT,
    VXLAN_VNI,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems

NONE = "none"
ALWAYS, CROSS_SUBNET, NEVER = "Always", "CrossSubnet", "Never"
IPIP_PROTOCOL = 4
WORKLOAD_INTERFACES = "cali+"
CHAIN_INPUT = "cali-tunnel-input"
CHAIN_FORWARD = "cali-tunnel-forward"


def pool_encapsulation(pool: Mapping[str, Any]) -> str:
    """The encapsulation a pool really uses: none when its mode is Never."""
    encapsulation = str(pool.get("encapsulation", NONE))
    return NONE if pool.get("encapsulation_mode", NEVER) == NEVER else encapsulation


def encapsulations_in_use(pools: Iterable[Mapping[str, Any]]) -> list[str]:
    """ipip and/or vxlan, when at least one pool tunnels with it (in any mode but Never)."""
    return sorted({pool_encapsulation(p) for p in pools} - {NONE})


def tunnelled(subnet: str, next_hop: str, pool: Mapping[str, Any]) -> bool:
    """Calico's CrossSubnet decision for a route into ``pool`` whose BGP next hop is ``next_hop``.

    ``subnet`` is this host's underlay subnet (``calico_ip`` with its prefix).
    """
    if pool_encapsulation(pool) == NONE:
        return False
    if pool["encapsulation_mode"] == ALWAYS:
        return True
    return ipaddress.IPv4Address(next_hop) not in ipaddress.IPv4Network(subnet)


def pool_of(pools: Sequence[Mapping[str, Any]], block: str) -> Mapping[str, Any] | None:
    network = ipaddress.IPv4Network(block)
    for pool in pools:
        if network.subnet_of(ipaddress.IPv4Network(pool["cidr"])):
            return pool
    return None


def vtep_mac(host: str) -> str:
    """A stable, locally administered unicast MAC for the host's VXLAN device."""
    digest = hashlib.sha256(f"calico-vtep.{host}".encode()).digest()
    octets = [0x66, *digest[:5]]  # 0x66: locally administered (bit 1), unicast (bit 0 clear)
    return ":".join(f"{octet:02x}" for octet in octets)


def check_fleet(pools: Sequence[Any], hosts: Sequence[Any], problems: Problems) -> None:
    """CrossSubnet needs every host's subnet: a bare calico_ip is an error, not "tunnel all"."""
    cross = [p for p in pools if p.encapsulation != NONE and p.encapsulation_mode == CROSS_SUBNET]
    if not cross:
        return
    names = ", ".join(str(p.cidr) for p in cross)
    for host in hosts:
        if host.interface is not None and not host.prefixed:
            problems.error(
                host.name,
                "calico_ip",
                f"{host.interface.ip} has no prefix, but pool {names} uses CrossSubnet, which "
                "compares each route's next hop with the host's subnet",
                f"write the address with its subnet's prefix, e.g. calico_ip: "
                f"{host.interface.ip}/24",
            )


def host_tunnel(model: Mapping[str, Any], me: Mapping[str, Any]) -> dict[str, Any]:
    """One host's tunnel plan: devices, BIRD's tunnel prefixes, VXLAN routes, ARP and FDB."""
    pools = model["pools"]
    used = encapsulations_in_use(pools)
    # The model's hosts are in underlay-address order already (model.py).
    others = [h for h in model["hosts"].values() if h["name"] != me["name"]]
    routes: list[dict[str, str]] = []
    vteps: dict[str, Mapping[str, Any]] = {}
    # Only VXLAN needs a route per other host's prefix (IPIP's come from BIRD); skipping the
    # loop otherwise keeps a slice linear in the fleet's size without a per-prefix pool lookup.
    for other in others if VXLAN in used else ():
        for prefix in _advertised(other):
            pool = pool_of(pools, prefix)
            if pool is None or pool_encapsulation(pool) != VXLAN:
                continue
            if tunnelled(me["subnet"], other["ip"], pool):
                routes.append({"dst": prefix, "via": other["host_address"], "host": other["name"]})
                vteps[other["name"]] = other
    vtep_hosts = [vteps[h["name"]] for h in others if h["name"] in vteps]
    return {
        "subnet": me["subnet"],
        "address": me["host_address"],
        "encapsulations": used,
        "route_protocol": ROUTE_PROTOCOL,
        "bird": {IPIP: _modes(pools, IPIP), VXLAN: _modes(pools, VXLAN)},
        "ipip": IPIP in used,
        "vxlan": {
            "enabled": VXLAN in used,
            "vni": VXLAN_VNI,
            "port": VXLAN_PORT,
            "mac": vtep_mac(me["name"]),
            "routes": routes,
            "neighbors": [
                {"ip": h["host_address"], "mac": vtep_mac(h["name"])} for h in vtep_hosts
            ],
            "fdb": [{"mac": vtep_mac(h["name"]), "dst": h["ip"]} for h in vtep_hosts],
        },
    }


def _advertised(host: Mapping[str, Any]) -> list[str]:
    """What a host advertises into the pools: its blocks and its workloads' floating IPs."""
    floating = [
        f"{ip}/32" for workload in host["workloads"] for ip in workload.get("floating_ips", [])
    ]
    return [*host["blocks"], *sorted(floating, key=ipaddress.IPv4Network)]


def _modes(pools: Iterable[Mapping[str, Any]], encapsulation: str) -> dict[str, list[str]]:
    """The pools' prefix filters (``cidr{block_size,32}``) per mode, for BIRD's filters."""

    def prefixes(mode: str) -> list[str]:
        return [
            f"{p['cidr']}{{{p['block_size']},32}}"
            for p in pools
            if pool_encapsulation(p) == encapsulation and p["encapsulation_mode"] == mode
        ]

    return {"always": prefixes(ALWAYS), "cross_subnet": prefixes(CROSS_SUBNET)}


def filter_table(encapsulations: Iterable[str], fleet: Iterable[str]) -> dict[str, Any]:
    """The filter table's tunnel rules, in calico.network.calico_iptables' ``tables.filter`` form.

    Felix's rules: encapsulated packets are accepted only from fleet hosts and dropped from
    anywhere else; workloads may not send them at all (to this host or through it).
    """
    matches = {IPIP: f"-p {IPIP_PROTOCOL}", VXLAN: f"-p udp -m udp --dport {VXLAN_PORT}"}
    from_workloads = [f"-i {WORKLOAD_INTERFACES} {matches[e]} -j DROP" for e in (IPIP, VXLAN)]
    hosts = sorted(fleet, key=ipaddress.IPv4Address)
    input_rules = list(from_workloads)
    for encapsulation in sorted(set(encapsulations)):
        input_rules += [f"{matches[encapsulation]} -s {ip}/32 -j ACCEPT" for ip in hosts]
        input_rules.append(f"{matches[encapsulation]} -j DROP")
    return {
        "chains": {CHAIN_INPUT: input_rules, CHAIN_FORWARD: from_workloads},
        "hooks": [
            {"chain": "INPUT", "rule": f"-j {CHAIN_INPUT}"},
            {"chain": "FORWARD", "rule": f"-j {CHAIN_FORWARD}"},
        ],
    }
