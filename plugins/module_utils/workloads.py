"""Pure logic of ``calico.network.calico_workloads``: no I/O happens here.

The kernel state is read with ``ip -j`` and parsed by the iproute core (``parse_*``); this
file turns it into a ``HostState``, compares it with the desired ``Workload`` list and produces a
``Plan``: the ``ip -batch`` lines for the root namespace and for each workload namespace, the
sysctl writes, warnings and the diff text. Keeping this pure lets the unit tests cover every
partial state without root. ``workloads_host`` reads the state and applies a plan.

Wiring per workload is Calico's CNI wiring: a veth pair whose host end ``cali`` + 11 hex digits (MAC
ee:ee:ee:ee:ee:ee) stays in the root namespace and whose peer ``eth0`` lives in the workload's
namespace with the workload address as /32 and a link-local gateway 169.254.1.1.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.iproute import (
    Link,
    Neighbour,
    NetnsState,
    Route,
)

INTERFACE_PATTERN = re.compile(r"^cali[0-9a-f]{11}\Z")
# A workload's name names its network namespace and appears in interface hashes and chain names,
# so it is a DNS label: safe as a file name under /run/netns and in shell output. The model's
# validation (plugin_utils/spec.py) and this module share the rule.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
WORKLOAD_MAC = "ee:ee:ee:ee:ee:ee"
GATEWAY = "169.254.1.1"
PEER = "eth0"
# Devices the kernel itself puts in every network namespace once a tunnel module is loaded
# (tunl0 with ipip, on every IPIP host): they do not make a namespace someone else's.
KERNEL_FALLBACK_DEVICES = frozenset(
    {"tunl0", "gre0", "gretap0", "erspan0", "sit0", "ip6tnl0", "ip6gre0", "ip_vti0", "ip6_vti0"}
)
MIN_MTU = 68
MAX_MTU = 65535

# `ip -j -d -batch -` reads: one JSON document per line. `netns list` is read on its own because
# it prints nothing at all (not even `[]`) when /run/netns does not exist yet.
ROOT_READ = ("link show", "route show")
NETNS_READ = ("addr show", "route show", "neigh show")

# (path below /proc/sys, wanted value, diff marker); the values Calico's CNI plugin writes.
SYSCTLS = (
    ("net/ipv4/conf/{}/proxy_arp", "1", "proxy_arp"),
    ("net/ipv4/neigh/{}/proxy_delay", "0", "proxy_delay"),
    ("net/ipv4/conf/{}/forwarding", "1", "forwarding"),
)


class WorkloadError(ValueError):
    """The desired workloads are invalid."""


class PlanError(RuntimeError):
    """The host is in a state the module must not change on its own."""


# --------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class Workload:
    name: str
    ip: str
    interface: str
    mtu: int = 1500

    @property
    def cidr(self) -> str:
        return f"{self.ip}/32"

    def line(self) -> str:
        return f"{self.name} ns={self.name} if={self.interface} ip={self.cidr} mtu={self.mtu}"

    def as_result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "netns": self.name,
            "interface": self.interface,
            "ip": self.ip,
            "mtu": self.mtu,
        }


def _validate_ip(where: str, value: str) -> str:
    if "/" in value:
        raise WorkloadError(f"{where}: ip {value!r} must be a bare IPv4 address, without a prefix")
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise WorkloadError(f"{where}: ip {value!r} is not a valid IPv4 address") from None
    if (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address.is_reserved
    ):
        raise WorkloadError(
            f"{where}: ip {value} cannot be a workload address "
            "(unspecified, loopback, multicast, link-local or reserved)"
        )
    return str(address)


def _validate_one(index: int, item: dict[str, Any]) -> Workload:
    name = str(item.get("name") or "")
    where = f"workloads[{index}] ({name or 'unnamed'})"
    if not NAME_PATTERN.match(name):
        raise WorkloadError(
            f"{where}: name {name!r} must match {NAME_PATTERN.pattern} (it names the namespace)"
        )
    interface = str(item.get("interface") or "")
    if not INTERFACE_PATTERN.match(interface):
        raise WorkloadError(
            f"{where}: interface {interface!r} must match {INTERFACE_PATTERN.pattern} "
            "(cali + 11 lowercase hex digits, 15 characters)"
        )
    mtu = item.get("mtu")
    mtu = 1500 if mtu is None else mtu
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        raise WorkloadError(f"{where}: mtu {mtu!r} must be an integer from {MIN_MTU} to {MAX_MTU}")
    ip = _validate_ip(where, str(item.get("ip") or ""))
    return Workload(name=name, ip=ip, interface=interface, mtu=mtu)


def _reject_duplicates(workloads: list[Workload], attribute: str) -> None:
    seen: dict[str, str] = {}
    for workload in workloads:
        value = getattr(workload, attribute)
        if value in seen:
            raise WorkloadError(
                f"duplicate {attribute} {value!r}: used by workloads {seen[value]!r} "
                f"and {workload.name!r}"
            )
        seen[value] = workload.name


def validate_workloads(items: list[dict[str, Any]]) -> list[Workload]:
    """Turn the module's ``workloads`` option into checked ``Workload`` objects."""
    workloads = [_validate_one(index, item) for index, item in enumerate(items)]
    for attribute in ("name", "interface", "ip"):
        _reject_duplicates(workloads, attribute)
    return workloads


# --------------------------------------------------------------------------- observed state


@dataclass
class HostState:
    links: dict[str, Link] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    netns_names: set[str] = field(default_factory=set)
    netns_ids: dict[int, str] = field(default_factory=dict)
    netns: dict[str, NetnsState] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)

    def netns_of(self, link: Link) -> str | None:
        """Name of the namespace holding the peer of ``link``, if it has a name."""
        if link.peer_netnsid is None:
            return None
        return self.netns_ids.get(link.peer_netnsid)


def is_stale_candidate(link: Link, keep: set[str]) -> bool:
    return (
        link.kind == "veth" and bool(INTERFACE_PATTERN.match(link.name)) and link.name not in keep
    )


def namespaces_to_read(desired: list[Workload], state: HostState, prune: bool) -> list[str]:
    """Namespaces whose content the plan needs: desired ones and those of stale veths."""
    names = {w.name for w in desired if w.name in state.netns_names}
    if prune:
        keep = {w.interface for w in desired}
        for link in state.links.values():
            netns = state.netns_of(link)
            if netns and is_stale_candidate(link, keep):
                names.add(netns)
    return sorted(names)


def sysctl_keys(interface: str) -> list[str]:
    return [path.format(interface) for path, _value, _name in SYSCTLS]


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    teardown: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    sysctls: list[tuple[str, str]] = field(default_factory=list)
    netns: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    # Workload addresses this plan takes away from a veth: their conntrack entries are flushed
    # after the plan ran, so a new owner of the address never gets the old owner's flows.
    released: list[str] = field(default_factory=list)

    @property
    def root(self) -> list[str]:
        # Deletions first: a route or a namespace's eth0 must be free before it is re-created.
        return self.teardown + self.setup

    @property
    def changed(self) -> bool:
        return bool(self.root or self.sysctls or self.netns)

    def commands(self) -> list[str]:
        """Equivalent single commands, in the order they run."""
        commands = [f"ip {line}" for line in self.root]
        commands += [f"sysctl -w {key.replace('/', '.')}={value}" for key, value in self.sysctls]
        for netns, lines in self.netns.items():
            commands += [f"ip -n {netns} {line}" for line in lines]
        commands += [" ".join(argv) for argv in conntrack_flushes(self.released)]
        return commands

    def release(self, cidr: str) -> None:
        address = cidr[:-3] if cidr.endswith("/32") else cidr
        if "/" not in address and address not in self.released:
            self.released.append(address)

    def diff(self) -> dict[str, str]:
        return {
            "before_header": "calico workloads (before)",
            "after_header": "calico workloads (after)",
            "before": "".join(f"{line}\n" for line in sorted(self.before)),
            "after": "".join(f"{line}\n" for line in sorted(self.after)),
        }

    def delete_link(self, link: Link) -> None:
        if link.name in self.gone:
            return
        if link.peer_name and not INTERFACE_PATTERN.match(link.peer_name):
            raise PlanError(
                f"{link.name} is a veth paired with {link.peer_name}, which is not a cali "
                "interface; refusing to delete it"
            )
        self.teardown.append(f"link del {link.name}")
        self.gone.add(link.name)
        if link.peer_name:
            self.gone.add(link.peer_name)


def conntrack_flushes(addresses: list[str], binary: str = "conntrack") -> list[list[str]]:
    """Felix's flush of a released address: flows it started and flows answered by it (the
    latter also catches DNAT'd inbound flows). No matching entry is exit code 1."""
    return [
        [binary, "-D", "-f", "ipv4", direction, address]
        for address in addresses
        for direction in ("--orig-src", "--reply-src")
    ]


def _is_host_route(route: Route, workload: Workload) -> bool:
    return (
        route.dst == workload.cidr
        and route.dev == workload.interface
        and route.type == "unicast"
        and route.gateway is None
        and route.scope == "link"
        and route.protocol == "boot"
        and route.metric == 0
    )


def _is_gateway_route(route: Route) -> bool:
    return (
        route.dst == f"{GATEWAY}/32"
        and route.dev == PEER
        and route.type == "unicast"
        and route.gateway is None
        and route.scope == "link"
        and route.metric == 0
    )


def _is_default_route(route: Route) -> bool:
    return (
        route.dst == "default"
        and route.dev == PEER
        and route.type == "unicast"
        and route.gateway == GATEWAY
        and route.metric == 0
    )


def _is_gateway_neighbour(neighbour: Neighbour) -> bool:
    return (
        neighbour.dst == GATEWAY
        and neighbour.dev == PEER
        and neighbour.lladdr == WORKLOAD_MAC
        and "PERMANENT" in neighbour.state
    )


def host_route_line(workload: Workload) -> str:
    # Default protocol (boot): BIRD's kernel protocol learns it as an alien route.
    return f"route replace {workload.cidr} dev {workload.interface} scope link"


NETNS_GATEWAY_LINES = (
    f"route replace {GATEWAY} dev {PEER} scope link",
    f"route replace default via {GATEWAY} dev {PEER}",
    f"neigh replace {GATEWAY} lladdr {WORKLOAD_MAC} dev {PEER} nud permanent",
)


def check_route_conflicts(desired: list[Workload], state: HostState) -> None:
    """Refuse to replace a route to a workload address that is not ours (not on a cali veth)."""
    for workload in desired:
        for route in state.routes:
            if route.dst != workload.cidr or route.metric != 0:
                continue
            if route.dev is None or not INTERFACE_PATTERN.match(route.dev):
                raise PlanError(
                    f"workload {workload.name}: the main routing table already has a route to "
                    f"{workload.cidr} that is not on a cali interface "
                    f"(dev {route.dev or '-'}, type {route.type}, proto {route.protocol}); "
                    "refusing to replace it"
                )


def is_peered(link: Link | None, netns: str, state: HostState) -> bool:
    """True if ``link`` is a veth whose peer is ``eth0`` in namespace ``netns``."""
    if link is None or link.kind != "veth" or state.netns_of(link) != netns:
        return False
    inside = state.netns.get(netns)
    peer = inside.links.get(PEER) if inside else None
    return peer is not None and peer.index == link.peer_index


def _eth0_owner(netns: str, inside: NetnsState, state: HostState) -> Link:
    """The root-namespace veth paired with ``eth0`` in ``netns``; it must be a cali veth."""
    eth0 = inside.links[PEER]
    for link in state.links.values():
        if link.kind == "veth" and state.netns_of(link) == netns and link.peer_index == eth0.index:
            if not INTERFACE_PATTERN.match(link.name):
                raise PlanError(
                    f"namespace {netns} already has an eth0 paired with {link.name}, which is "
                    "not a cali interface; refusing to touch it"
                )
            return link
    raise PlanError(
        f"namespace {netns} already has an eth0 that is not the peer of a veth in the root "
        "namespace; refusing to replace it"
    )


def _recreate(plan: Plan, workload: Workload, state: HostState) -> list[str]:
    """Create the veth pair (and the namespace) from scratch; returns the diff markers."""
    issues = []
    link = state.links.get(workload.interface)
    inside = state.netns.get(workload.name)
    if workload.name not in state.netns_names:
        issues.append("netns")
        plan.setup.append(f"netns add {workload.name}")
    issues.append("veth")
    if link is not None:
        plan.delete_link(link)
    if inside is not None and PEER in inside.links:
        plan.delete_link(_eth0_owner(workload.name, inside, state))
    mtu = workload.mtu
    plan.setup += [
        f"link add {workload.interface} mtu {mtu} address {WORKLOAD_MAC} up type veth "
        f"peer name {PEER} mtu {mtu} netns {workload.name}",
        host_route_line(workload),
    ]
    plan.sysctls += [(path.format(workload.interface), value) for path, value, _name in SYSCTLS]
    lines = []
    lo = inside.links.get("lo") if inside else None
    if lo is None or not lo.up:
        lines.append("link set lo up")
        if inside is not None:
            issues.append("lo-down")
    lines += [f"link set {PEER} up", f"addr add {workload.cidr} dev {PEER}"]
    lines += NETNS_GATEWAY_LINES
    plan.netns[workload.name] = lines
    return issues


def _mtu_and_up(link: Link, mtu: int, marker_prefix: str) -> tuple[list[str], list[str]]:
    """The ``link set`` attributes that give ``link`` its MTU and bring it up, and the markers."""
    attributes: list[str] = []
    markers: list[str] = []
    if link.mtu != mtu:
        attributes += ["mtu", str(mtu)]
        markers.append(f"{marker_prefix}mtu")
    if not link.up:
        attributes.append("up")
        markers.append(f"{marker_prefix}down")
    return attributes, markers


def _converge_host_side(plan: Plan, workload: Workload, link: Link, state: HostState) -> list[str]:
    issues = []
    attributes = []
    if link.mac != WORKLOAD_MAC:
        attributes += ["address", WORKLOAD_MAC]
        issues.append("mac")
    mtu_and_up, markers = _mtu_and_up(link, workload.mtu, "")
    attributes += mtu_and_up
    issues += markers
    if attributes:
        plan.setup.append(f"link set dev {workload.interface} {' '.join(attributes)}")
    on_interface = [route for route in state.routes if route.dev == workload.interface]
    for route in on_interface:
        # `route replace` rewrites a wrong route to the workload itself; anything else is stale.
        # Kernel routes belong to an address on the veth and go away with it.
        replaced = route.dst == workload.cidr and route.metric == 0
        if not replaced and route.protocol != "kernel":
            plan.teardown.append(route.delete_line())
            plan.release(route.dst)
            issues.append("stale-route")
    if not any(_is_host_route(route, workload) for route in on_interface):
        plan.setup.append(host_route_line(workload))
        issues.append("host-route")
    for path, value, marker in SYSCTLS:
        key = path.format(workload.interface)
        if state.sysctls.get(key) != value:
            plan.sysctls.append((key, value))
            issues.append(marker)
    return issues


def _converge_netns_side(plan: Plan, workload: Workload, inside: NetnsState) -> list[str]:
    issues = []
    lines = []
    lo = inside.links.get("lo")
    if lo is None or not lo.up:
        lines.append("link set lo up")
        issues.append("lo-down")
    eth0 = inside.links[PEER]
    attributes, markers = _mtu_and_up(eth0, workload.mtu, f"{PEER}-")
    issues += markers
    if attributes:
        lines.append(f"link set dev {PEER} {' '.join(attributes)}")
    # Add before deleting: removing the last IPv4 address of eth0 makes the kernel flush its
    # routes and neighbours, gateway included. Two /32s never are primary and secondary.
    if workload.cidr not in eth0.addresses:
        lines.append(f"addr add {workload.cidr} dev {PEER}")
        issues.append("addr")
    for address in eth0.addresses:
        if address != workload.cidr:
            lines.append(f"addr del {address} dev {PEER}")
            plan.release(address)
            issues.append("stale-addr")
    checks = (
        (any(map(_is_gateway_route, inside.routes)), NETNS_GATEWAY_LINES[0], "gw-route"),
        (any(map(_is_default_route, inside.routes)), NETNS_GATEWAY_LINES[1], "default-route"),
        (any(map(_is_gateway_neighbour, inside.neighbours)), NETNS_GATEWAY_LINES[2], "neigh"),
    )
    for present, line, marker in checks:
        if not present:
            lines.append(line)
            issues.append(marker)
    if lines:
        plan.netns[workload.name] = lines
    return issues


def _observed_line(workload: Workload, state: HostState, issues: list[str]) -> str | None:
    link = state.links.get(workload.interface)
    inside = state.netns.get(workload.name)
    if link is None and inside is None:
        return None
    eth0 = inside.links.get(PEER) if inside else None
    addresses = ",".join(eth0.addresses) if eth0 and eth0.addresses else "-"
    netns = workload.name if inside else "-"
    interface = workload.interface if link else "-"
    mtu = link.mtu if link else "-"
    markers = "".join(f" !{issue}" for issue in dict.fromkeys(issues))
    return f"{workload.name} ns={netns} if={interface} ip={addresses} mtu={mtu}{markers}"


def _plan_workload(plan: Plan, workload: Workload, state: HostState) -> None:
    link = state.links.get(workload.interface)
    if link is not None and is_peered(link, workload.name, state):
        issues = _converge_host_side(plan, workload, link, state)
        issues += _converge_netns_side(plan, workload, state.netns[workload.name])
    else:
        issues = _recreate(plan, workload, state)
    before = _observed_line(workload, state, issues)
    if before is not None:
        plan.before.append(before)
    plan.after.append(workload.line())


def provably_ours(inside: NetnsState | None, link: Link) -> bool:
    """A namespace holding nothing but ``lo``, the ``eth0`` peer of ``link`` and the kernel's
    fallback tunnel devices."""
    if inside is None or set(inside.links) - KERNEL_FALLBACK_DEVICES != {"lo", PEER}:
        return False
    eth0 = inside.links[PEER]
    return eth0.kind == "veth" and eth0.index == link.peer_index


def _stale_line(link: Link, netns: str | None, state: HostState) -> str:
    addresses = ",".join(route.dst for route in state.routes if route.dev == link.name) or "-"
    label = netns or "-"
    return f"{label} ns={label} if={link.name} ip={addresses} mtu={link.mtu} !prune"


def _prune_one(plan: Plan, link: Link, state: HostState, desired_names: set[str]) -> None:
    if link.peer_name and not INTERFACE_PATTERN.match(link.peer_name):
        plan.warnings.append(
            f"kept {link.name}: it is a veth paired with {link.peer_name}, "
            "which is not a cali interface"
        )
        return
    netns = state.netns_of(link)
    plan.delete_link(link)
    for route in state.routes:
        if route.dev == link.name and route.protocol != "kernel":
            plan.release(route.dst)
    plan.before.append(_stale_line(link, netns, state))
    if netns is None:
        if link.peer_netnsid is not None:
            plan.warnings.append(
                f"removed stale {link.name}; its peer was in a namespace without a name "
                f"(nsid {link.peer_netnsid}), which was left alone"
            )
    elif netns in desired_names:
        return
    elif provably_ours(state.netns.get(netns), link):
        plan.teardown.append(f"netns del {netns}")
    else:
        plan.warnings.append(
            f"removed stale {link.name} but kept namespace {netns}: it holds more than lo "
            f"and the eth0 peer of {link.name}"
        )


def plan_workloads(desired: list[Workload], state: HostState, prune: bool) -> Plan:
    """Everything needed to bring the host from ``state`` to ``desired``."""
    check_route_conflicts(desired, state)
    plan = Plan()
    for workload in sorted(desired, key=lambda w: w.name):
        _plan_workload(plan, workload, state)
    if prune:
        keep = {w.interface for w in desired}
        desired_names = {w.name for w in desired}
        for name in sorted(state.links):
            link = state.links[name]
            if is_stale_candidate(link, keep) and name not in plan.gone:
                _prune_one(plan, link, state, desired_names)
    return plan
