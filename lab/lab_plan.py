"""The lab's address plan and its conflicts with the machine: pure, data in, data out.

lab.py gathers facts (the hosts from lab_inventory.py, podman's networks and containers, the
machine's routes) and hands them to these functions, so every decision the lab makes about
networks, the router, routes and what already exists is unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_network
from pathlib import Path
from typing import Any

from lab_errors import LabError
from lab_inventory import Host

LABEL = "calico-lab"
LABEL_INVENTORY = "calico-lab.inventory"
LABEL_ROLE = "calico-lab.role"
NETWORK_PREFIX = "calico-lab"


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    subnet: IPv4Network
    gateway: IPv4Address
    router_address: IPv4Address | None


@dataclass(frozen=True)
class Route:
    destination: IPv4Network
    via: IPv4Address


@dataclass(frozen=True)
class HostPlan:
    name: str
    network: str
    address: IPv4Address
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class RouterPlan:
    name: str
    attachments: tuple[tuple[str, IPv4Address], ...]  # (network name, address), first = --network


@dataclass(frozen=True)
class LabPlan:
    inventory: str
    prefix: str
    networks: tuple[NetworkPlan, ...]
    hosts: tuple[HostPlan, ...]
    router: RouterPlan | None

    def container_names(self) -> list[str]:
        names = [h.name for h in self.hosts]
        return [*names, self.router.name] if self.router else names


# --- underlay subnets ----------------------------------------------------------------------


def group_by_subnet(hosts: Iterable[Host]) -> dict[IPv4Network, list[Host]]:
    """Hosts per underlay subnet, subnets and hosts in address order; overlaps are refused."""
    groups: dict[IPv4Network, list[Host]] = {}
    for host in hosts:
        groups.setdefault(host.subnet, []).append(host)
    subnets = sorted(groups)
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            if a.overlaps(b):
                names = f"{groups[a][0].name!r} ({a}) and {groups[b][0].name!r} ({b})"
                raise LabError(
                    f"hosts {names} have overlapping but different subnets in calico_ip; "
                    "hosts of one underlay subnet must use the same prefix length"
                )
    return {s: sorted(groups[s], key=lambda h: h.address) for s in subnets}


# --- addresses and names ---------------------------------------------------------------------


def lowest_free_address(subnet: IPv4Network, used: Iterable[IPv4Address]) -> IPv4Address:
    taken = set(used)
    for address in subnet.hosts():
        if address not in taken:
            return address
    raise LabError(f"subnet {subnet} has no free address left for the lab")


def highest_free_address(subnet: IPv4Network, used: Iterable[IPv4Address]) -> IPv4Address:
    taken = set(used)
    address = subnet.broadcast_address - 1
    while address > subnet.network_address:
        if address not in taken:
            return address
        address -= 1
    raise LabError(f"subnet {subnet} has no free address left for the lab")


def network_name(subnet: IPv4Network) -> str:
    dashed = str(subnet.network_address).replace(".", "-")
    return f"{NETWORK_PREFIX}-{dashed}-{subnet.prefixlen}"


def lab_prefix(inventory_path: Path, is_dir: bool) -> str:
    """Name stem for lab-wide containers: the inventory directory's name (file → its parent)."""
    path = inventory_path if is_dir else inventory_path.parent
    stem = re.sub(r"[^a-z0-9-]+", "-", path.name.lower()).strip("-")
    return stem or "calico-lab"


def plan_lab(hosts: Sequence[Host], inventory: str, prefix: str) -> LabPlan:
    """Networks, addresses and routes for the inventory's hosts (a router only if >1 subnet)."""
    groups = group_by_subnet(hosts)
    routed = len(groups) > 1
    networks: list[NetworkPlan] = []
    for subnet, members in groups.items():
        used = [h.address for h in members]
        router = lowest_free_address(subnet, used) if routed else None
        gateway = highest_free_address(subnet, [*used, *([router] if router else [])])
        networks.append(NetworkPlan(network_name(subnet), subnet, gateway, router))
    host_plans = tuple(
        HostPlan(h.name, network_name(h.subnet), h.address, _routes_for(h.subnet, networks))
        for members in groups.values()
        for h in members
    )
    router_plan = None
    if routed:
        router_plan = RouterPlan(
            f"{prefix}-router",
            tuple((n.name, n.router_address) for n in networks if n.router_address),
        )
        if router_plan.name in {h.name for h in host_plans}:
            raise LabError(
                f"host {router_plan.name!r}: the name is reserved for the lab's router; "
                "rename the host"
            )
    return LabPlan(inventory, prefix, tuple(networks), host_plans, router_plan)


def _routes_for(own: IPv4Network, networks: Sequence[NetworkPlan]) -> tuple[Route, ...]:
    via = next(n.router_address for n in networks if n.subnet == own)
    if via is None:
        return ()
    return tuple(Route(n.subnet, via) for n in networks if n.subnet != own)


# --- conflicts with what exists on the machine ---------------------------------------------


def owned_by(labels: Mapping[str, str] | None, inventory: str | None) -> bool:
    """Is an object labelled by the lab (for `inventory`, or for any inventory when None)?"""
    labels = labels or {}
    if labels.get(LABEL) != "1":
        return False
    return inventory is None or labels.get(LABEL_INVENTORY) == inventory


def network_conflicts(plan: LabPlan, networks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Errors for existing podman networks (`podman network inspect` dicts) in the lab's way."""
    wanted = {n.name: n for n in plan.networks}
    errors = []
    for net in networks:
        name, labels = net.get("name", ""), net.get("labels") or {}
        if name in wanted:
            errors.extend(_same_name_errors(plan, wanted[name], net))
            continue
        for subnet in _subnets(net):
            for mine in plan.networks:
                if subnet.overlaps(mine.subnet):
                    owner = labels.get(LABEL_INVENTORY, "not the lab")
                    errors.append(
                        f"subnet {mine.subnet} overlaps podman network {name!r} ({subnet}, "
                        f"created by {owner})"
                    )
    return errors


def _same_name_errors(plan: LabPlan, mine: NetworkPlan, net: Mapping[str, Any]) -> list[str]:
    labels = net.get("labels") or {}
    if not owned_by(labels, None):
        return [f"podman network {mine.name!r} exists but was not created by the lab"]
    if labels.get(LABEL_INVENTORY) != plan.inventory:
        other = labels.get(LABEL_INVENTORY)
        return [
            f"podman network {mine.name!r} belongs to inventory {other}; run "
            f"`lab.py down -i {other}` first or use another subnet"
        ]
    lab_addresses = {h.address for h in plan.hosts if h.network == mine.name}
    lab_addresses |= {mine.router_address} if mine.router_address else set()
    gateways = {s.get("gateway") for s in net.get("subnets", [])}
    clash = sorted(g for g in gateways if g and IPv4Address(g) in lab_addresses)
    if clash:
        return [
            f"podman network {mine.name!r} has its bridge on {', '.join(clash)}, which the "
            f"inventory now gives a container; run `lab.py down -i {plan.inventory}` and up again"
        ]
    return []


def _subnets(net: Mapping[str, Any]) -> list[IPv4Network]:
    found = []
    for entry in net.get("subnets") or []:
        subnet = ip_network(entry.get("subnet", ""), strict=False)
        if subnet.version == 4:
            found.append(subnet)
    return found


def podman_bridges(networks: Sequence[Mapping[str, Any]]) -> set[str]:
    """Bridge interfaces of all podman networks: network_conflicts already judges their subnets."""
    return {net["network_interface"] for net in networks if net.get("network_interface")}


def route_conflicts(
    plan: LabPlan, routes: Sequence[Mapping[str, Any]], bridges: set[str]
) -> list[str]:
    """Errors for machine routes (`ip -j route show table all`) overlapping the lab's subnets.

    One error per lab subnet and interface: a connected subnet also has local and broadcast
    routes, which say nothing new.
    """
    hits: dict[tuple[IPv4Network, str], list[str]] = {}
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") in bridges:
            continue
        destination = ip_network(dst, strict=False)
        for mine in plan.networks:
            if destination.prefixlen and destination.overlaps(mine.subnet):
                hits.setdefault((mine.subnet, route.get("dev", "?")), []).append(str(destination))
    return [
        f"subnet {subnet} overlaps the machine's routes on {dev} ({', '.join(dests)}); "
        "choose calico_ip addresses in an unused range"
        for (subnet, dev), dests in hits.items()
    ]


def container_conflicts(plan: LabPlan, containers: Sequence[Mapping[str, Any]]) -> list[str]:
    """Errors for existing containers (`podman ps -a --format json`) holding the lab's names."""
    wanted = set(plan.container_names())
    errors = []
    for ctr in containers:
        for name in set(ctr.get("Names") or []) & wanted:
            labels = ctr.get("Labels") or {}
            if not owned_by(labels, None):
                errors.append(f"container {name!r} exists but was not created by the lab")
            elif labels.get(LABEL_INVENTORY) != plan.inventory:
                other = labels.get(LABEL_INVENTORY)
                errors.append(
                    f"container {name!r} belongs to inventory {other}; run "
                    f"`lab.py down -i {other}` first or rename the host"
                )
    return errors


def expected_addresses(plan: LabPlan) -> dict[str, dict[str, IPv4Address]]:
    """container → network → address, for hosts and the router."""
    wanted = {h.name: {h.network: h.address} for h in plan.hosts}
    if plan.router:
        wanted[plan.router.name] = dict(plan.router.attachments)
    return wanted


def address_mismatches(
    plan: LabPlan, inspected: Sequence[Mapping[str, Any]], *, booted: bool = False
) -> list[str]:
    """Errors for existing containers (`podman container inspect`) with other addresses.

    A stopped container shows no address, so only `booted` (after up started everything)
    counts a missing one. A network the router is not on yet is fine: up connects it.
    """
    wanted = expected_addresses(plan)
    errors = []
    for ctr in inspected:
        name = ctr.get("Name", "")
        attached = (ctr.get("NetworkSettings") or {}).get("Networks") or {}
        for net, address in wanted.get(name, {}).items():
            have = (attached.get(net) or {}).get("IPAddress")
            if net in attached and (have or booted) and have != str(address):
                errors.append(
                    f"container {name!r} has {have or 'no address'} on {net}, the inventory "
                    f"says {address}; run `lab.py down -i {plan.inventory}` and up again"
                )
    return errors


def missing_attachments(plan: LabPlan, inspected: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(network, address) pairs the existing router still needs `podman network connect` for."""
    if not plan.router:
        return []
    attached = (inspected.get("NetworkSettings") or {}).get("Networks") or {}
    return [(net, str(addr)) for net, addr in plan.router.attachments if net not in attached]


# --- status and teardown ---------------------------------------------------------------------


def select_owned(
    items: Sequence[Mapping[str, Any]], inventory: str | None
) -> list[Mapping[str, Any]]:
    """Containers (`Labels`) or networks (`labels`) the lab created for `inventory` (or any)."""
    return [i for i in items if owned_by(i.get("Labels") or i.get("labels"), inventory)]


def container_name(ctr: Mapping[str, Any]) -> str:
    names = ctr.get("Names") or [ctr.get("Name", "?")]
    return str(names[0])
