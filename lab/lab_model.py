"""Pure planning logic of the podman lab: data in, data out, no podman and no I/O.

lab.py gathers facts (the inventory, podman's networks and containers, the machine's routes)
and hands them to these functions, so every decision the lab makes is unit-testable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_network
from pathlib import Path
from typing import Any

LABEL = "calico-lab"
LABEL_INVENTORY = "calico-lab.inventory"
LABEL_ROLE = "calico-lab.role"
NETWORK_PREFIX = "calico-lab"
IMAGE_NAME = "localhost/calico-lab-node"
IMAGE_SUITE = "bookworm"
IMAGE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "iproute2",
    "iptables",
    "bird2",
    "iputils-ping",
    "procps",
    "kmod",
    "netcat-openbsd",
    "tcpdump",
    "frr",
)
# Everything that shapes the image besides the package list. lab.py executes exactly these
# steps, so the image tag (a hash of this data) changes whenever the build changes.
IMAGE_RECIPE: Mapping[str, Any] = {
    "version": 1,
    "debootstrap": ["--variant=minbase", "--components=main"],
    "suite": IMAGE_SUITE,
    # FRR is in the image for ToR-router tests, which start it themselves; hosts must not run it.
    "chroot": [["systemctl", "disable", "frr.service"]],
    "remove": ["var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"],
    "empty": ["etc/machine-id"],
    "tar": ["--numeric-owner"],
    "import_change": ['CMD ["/sbin/init"]'],
}
MIN_PREFIX_WITH_ROOM = 30  # a /30 holds two hosts at most; smaller subnets leave no gateway
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
CALICO_IP_EXAMPLE = "192.168.100.100/24"


class LabError(Exception):
    """A problem the operator must fix; the message says what and where."""


@dataclass(frozen=True)
class Host:
    name: str
    interface: IPv4Interface

    @property
    def address(self) -> IPv4Address:
        return self.interface.ip

    @property
    def subnet(self) -> IPv4Network:
        return self.interface.network


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


# --- inventory -------------------------------------------------------------------------------


def parse_calico_ip(host: str, value: object) -> IPv4Interface:
    """Return the host's underlay interface, or raise naming the host, the variable and the fix."""
    fix = f"set calico_ip to the host's IPv4 underlay address with prefix, e.g. {CALICO_IP_EXAMPLE}"
    if value is None:
        raise LabError(f"host {host!r}: calico_ip is missing; {fix}")
    if not isinstance(value, str) or "/" not in value:
        raise LabError(f"host {host!r}: calico_ip {value!r} has no prefix length; {fix}")
    try:
        iface = IPv4Interface(value.strip())
    except ValueError:
        raise LabError(
            f"host {host!r}: calico_ip {value!r} is not an IPv4 address; {fix}"
        ) from None
    net = iface.network
    if net.prefixlen > MIN_PREFIX_WITH_ROOM:
        raise LabError(
            f"host {host!r}: calico_ip {value!r}: a /{net.prefixlen} leaves no room for the "
            f"lab's bridge address; use a prefix of /{MIN_PREFIX_WITH_ROOM} or shorter"
        )
    if iface.ip in (net.network_address, net.broadcast_address):
        raise LabError(
            f"host {host!r}: calico_ip {value!r} is the network or broadcast address of {net}"
        )
    return iface


def inventory_host_names(inventory: Mapping[str, Any]) -> list[str]:
    """All hosts of `ansible-inventory --list` output (hosts without vars appear only in groups)."""
    names: set[str] = set(inventory.get("_meta", {}).get("hostvars", {}))
    for group, data in inventory.items():
        if group != "_meta" and isinstance(data, Mapping):
            names.update(data.get("hosts", []))
    return sorted(names)


def hosts_from_inventory(inventory: Mapping[str, Any]) -> list[Host]:
    """Validate every host at once so one run reports every problem."""
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    hosts: list[Host] = []
    errors: list[str] = []
    for name in inventory_host_names(inventory):
        if not _CONTAINER_NAME.match(name):
            errors.append(
                f"host {name!r}: the inventory hostname becomes the container name and must "
                "match [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 63 characters)"
            )
            continue
        try:
            hosts.append(Host(name, parse_calico_ip(name, hostvars.get(name, {}).get("calico_ip"))))
        except LabError as exc:
            errors.append(str(exc))
    if not hosts and not errors:
        errors.append("the inventory has no hosts")
    errors.extend(duplicate_address_errors(hosts))
    if errors:
        raise LabError("\n".join(errors))
    return hosts


def duplicate_address_errors(hosts: Sequence[Host]) -> list[str]:
    seen: dict[IPv4Address, str] = {}
    errors = []
    for host in hosts:
        if host.address in seen:
            errors.append(
                f"host {host.name!r}: calico_ip {host.address} is also used by "
                f"{seen[host.address]!r}"
            )
        seen.setdefault(host.address, host.name)
    return errors


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


# --- image -----------------------------------------------------------------------------------


def image_tag(packages: Iterable[str], recipe: Mapping[str, Any]) -> str:
    """12 hex of sha256 over the sorted package list and the recipe: same input, same tag."""
    blob = json.dumps({"packages": sorted(set(packages)), "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def image_ref(tag: str | None = None) -> str:
    return f"{IMAGE_NAME}:{tag or image_tag(IMAGE_PACKAGES, IMAGE_RECIPE)}"


def apt_source_entries(
    deb822: Sequence[str], one_line: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """(URI, suites) of the enabled binary sources in deb822 and one-line apt source texts."""
    entries: list[tuple[str, list[str]]] = []
    for text in deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields = _deb822_fields(stanza)
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            suites = fields.get("suites", "").split()
            entries.extend((uri, suites) for uri in fields.get("uris", "").split())
    for text in one_line:
        for line in text.splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
    return entries


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def pick_mirror(entries: Sequence[tuple[str, list[str]]], suite: str = IMAGE_SUITE) -> str:
    """The machine's own Debian mirror: a source for `suite`, else one for any main suite."""
    for uri, suites in entries:
        if suite in suites:
            return uri.rstrip("/")
    for uri, suites in entries:
        if any(re.fullmatch(r"[a-z]+", s) for s in suites):
            return uri.rstrip("/")
    raise LabError(
        f"no Debian mirror found in the apt sources for {suite!r}; pass --mirror URL "
        "(the URL apt uses for Debian)"
    )


# --- status and teardown ---------------------------------------------------------------------


def select_owned(
    items: Sequence[Mapping[str, Any]], inventory: str | None
) -> list[Mapping[str, Any]]:
    """Containers (`Labels`) or networks (`labels`) the lab created for `inventory` (or any)."""
    return [i for i in items if owned_by(i.get("Labels") or i.get("labels"), inventory)]


def container_name(ctr: Mapping[str, Any]) -> str:
    names = ctr.get("Names") or [ctr.get("Name", "?")]
    return str(names[0])
