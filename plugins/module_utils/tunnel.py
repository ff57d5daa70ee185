"""The tunnel core: Calico's tunnel devices as a host sees them, and how to converge them.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The
controller's encapsulation plan (plugins/plugin_utils/encap.py) imports the facts (device names,
overheads, VNI, port, route protocol) from here, so each is written down once.

The rest is the host side of ``calico.network.calico_tunnel``, callable without Ansible: the
kernel feature probes, readers of ``ip -j``/``bridge -j`` state through a ``Runner``, pure
planning functions that turn that state into ``ip -batch``/``bridge -batch`` lines, the
before/after views for --diff, and ``apply``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.runner import Runner, RunnerError

IPIP, VXLAN = "ipip", "vxlan"
DEVICES = {IPIP: "tunl0", VXLAN: "vxlan.calico"}
OVERHEAD = {IPIP: 20, VXLAN: 50}
VXLAN_VNI = 4096
VXLAN_PORT = 4789
# The kernel route protocol of the VXLAN routes (Felix's): BIRD's kernel protocol learns every
# alien route, and its import filter drops this protocol so BIRD never re-advertises them.
ROUTE_PROTOCOL = 80


def mtus(underlay_mtu: int, encapsulations: Iterable[str]) -> dict[str, int]:
    """Device MTUs and the workload MTU (the smallest of the encapsulations in use)."""
    used = sorted(set(encapsulations))
    devices = {DEVICES[e]: underlay_mtu - OVERHEAD[e] for e in used}
    return {**devices, "workload": min(devices.values(), default=underlay_mtu)}


# --------------------------------------------------------------------------- kernel features

TUNL = DEVICES[IPIP]
VXDEV = DEVICES[VXLAN]
# Each probe runs in a throw-away network namespace (``unshare --net``): nothing on the host
# changes. Adding tunl0 loads the ipip module, whose fallback device is tunl0 itself, so the
# add may answer "File exists"; what counts is that tunl0 exists afterwards.
PROBES = {
    IPIP: "ip link add name tunl0 type ipip 2>/dev/null; ip link show tunl0",
    VXLAN: f"ip link add name calico-probe type vxlan id {VXLAN_VNI} dstport {VXLAN_PORT}",
}
ALTERNATIVE = {
    IPIP: "use encapsulation: vxlan in calico_pools (this kernel's VXLAN support is checked the "
    "same way), or load the ipip module (CONFIG_NET_IPIP)",
    VXLAN: "use encapsulation: ipip in calico_pools, or a kernel with CONFIG_VXLAN",
}


def probe_argv(kind: str, unshare: str = "unshare") -> list[str]:
    """The command that succeeds exactly when this kernel can create ``kind`` devices."""
    return [unshare, "--net", "sh", "-c", PROBES[kind]]


def can_create(runner: Runner, kind: str) -> tuple[bool, str]:
    """Whether the kernel can create ``kind`` devices, and the probe's error when it cannot."""
    rc, _out, err = runner.attempt(probe_argv(kind, runner.binary("unshare")))
    return rc == 0, err.strip()


def unsupported(kind: str, error: str) -> str:
    """The failure message for an encapsulation this kernel cannot create."""
    return (
        f"encapsulation {kind} is requested (calico_pools) but this kernel cannot "
        f"create {kind.upper()} devices ({error or 'device type unknown'}). "
        f"Fix: {ALTERNATIVE[kind]}."
    )


# --------------------------------------------------------------------------- observed state


def read_json(runner: Runner, argv: list[str]) -> list[dict[str, Any]]:
    return json.loads(runner.read(argv) or "[]")


def read_links(runner: Runner) -> list[dict[str, Any]]:
    """``ip -j -d address show``: every link with its details and addresses."""
    return read_json(runner, [runner.binary("ip"), "-j", "-d", "address", "show"])


def read_vxlan(runner: Runner, present: bool) -> tuple[list[Any], list[Any], list[Any]]:
    """The proto-80 routes on vxlan.calico and, when it exists, its neighbour and FDB entries."""
    ip = runner.binary("ip")
    routes = [
        r
        for r in read_json(runner, [ip, "-j", "-4", "route", "show", "proto", str(ROUTE_PROTOCOL)])
        if r.get("dev") == VXDEV
    ]
    if not present:
        return routes, [], []
    neighbors = read_json(runner, [ip, "-j", "-4", "neigh", "show", "dev", VXDEV])
    fdb = read_json(runner, [runner.binary("bridge"), "-j", "fdb", "show", "dev", VXDEV])
    return routes, neighbors, fdb


def underlay(links: list[dict[str, Any]], ip: str) -> dict[str, Any] | None:
    """The link holding the IPv4 address ``ip``."""
    for link in links:
        for address in link.get("addr_info", []):
            if address.get("family") == "inet" and address.get("local") == ip:
                return link
    return None


def link_named(links: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((link for link in links if link.get("ifname") == name), None)


def addresses(link: dict[str, Any] | None) -> list[str]:
    if link is None:
        return []
    return sorted(
        f"{a['local']}/{a['prefixlen']}"
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    )


def is_up(link: dict[str, Any]) -> bool:
    return "UP" in link.get("flags", [])


def permanent(neighbors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in neighbors if "PERMANENT" in n.get("state", [])]


# --------------------------------------------------------------------------- planning


def converge_addresses(name: str, link: dict[str, Any] | None, wanted: list[str]) -> list[str]:
    have = addresses(link)
    return [f"address del {a} dev {name}" for a in have if a not in wanted] + [
        f"address add {a} dev {name}" for a in wanted if a not in have
    ]


def plan_tunl0(
    link: dict[str, Any] | None, wanted: bool, address: str, mtu: int
) -> tuple[list[str], bool]:
    """ip commands for tunl0, and whether tunl0 must be created first."""
    if not wanted:
        if link is None:
            return [], False
        lines = converge_addresses(TUNL, link, [])
        if is_up(link):
            lines.append(f"link set {TUNL} down")
        return lines, False
    lines = []
    if link is None or link.get("mtu") != mtu or not is_up(link):
        lines.append(f"link set {TUNL} mtu {mtu} up")
    lines += converge_addresses(TUNL, link, [f"{address}/32"])
    return lines, link is None


def vxlan_matches(link: dict[str, Any], spec: dict[str, Any], local: str, parent: str) -> bool:
    info = link.get("linkinfo", {})
    data = info.get("info_data", {})
    return (
        info.get("info_kind") == "vxlan"
        and data.get("id") == spec["vni"]
        and data.get("port") == spec["port"]
        and data.get("local") == local
        and data.get("link") == parent
        and not data.get("learning", False)
    )


def plan_vxlan_device(
    link: dict[str, Any] | None,
    spec: dict[str, Any],
    address: str,
    local: str,
    parent: str,
    mtu: int,
) -> list[str]:
    """ip commands for vxlan.calico: created, re-created when its identity differs, or deleted."""
    if not spec["enabled"]:
        return [f"link del {VXDEV}"] if link is not None else []
    mac = spec["mac"].lower()
    create = [
        f"link add {VXDEV} address {mac} mtu {mtu} type vxlan id {spec['vni']} "
        f"dstport {spec['port']} local {local} dev {parent} nolearning",
        f"link set {VXDEV} up",
        f"address add {address}/32 dev {VXDEV}",
    ]
    if link is None:
        return create
    if not vxlan_matches(link, spec, local, parent):
        return [f"link del {VXDEV}", *create]
    lines = []
    if link.get("address", "").lower() != mac:
        lines.append(f"link set {VXDEV} address {mac}")
    if link.get("mtu") != mtu or not is_up(link):
        lines.append(f"link set {VXDEV} mtu {mtu} up")
    return lines + converge_addresses(VXDEV, link, [f"{address}/32"])


def prefix(dst: str) -> str:
    """``ip -j route`` prints a host route's destination without its /32; the model has it."""
    return dst if "/" in dst else f"{dst}/32"


def route_key(route: dict[str, Any]) -> tuple[str, str, bool]:
    return (prefix(route["dst"]), route.get("gateway", ""), "onlink" in route.get("flags", []))


def plan_routes(actual: list[dict[str, Any]], wanted: list[dict[str, Any]], add: bool) -> list[str]:
    """Delete stale proto-80 routes on vxlan.calico; with ``add``, (re)place missing ones."""
    have = {prefix(r["dst"]): route_key(r) for r in actual if r.get("dev") == VXDEV}
    want = {prefix(r["dst"]): (prefix(r["dst"]), r["via"], True) for r in wanted}
    lines = [
        f"route del {dst} dev {VXDEV} proto {ROUTE_PROTOCOL}"
        for dst in sorted(have)
        if dst not in want or (have[dst] != want[dst] and not add)
    ]
    if add:
        lines += [
            f"route replace {dst} via {via} dev {VXDEV} onlink proto {ROUTE_PROTOCOL}"
            for dst, (_d, via, _o) in sorted(want.items())
            if have.get(dst) != want[dst]
        ]
    return lines


def plan_neighbors(actual: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    have = {n["dst"]: n.get("lladdr", "").lower() for n in permanent(actual)}
    want = {n["ip"]: n["mac"].lower() for n in wanted}
    lines = [f"neigh del {ip} dev {VXDEV}" for ip in sorted(have) if ip not in want]
    lines += [
        f"neigh replace {ip} lladdr {mac} dev {VXDEV} nud permanent"
        for ip, mac in sorted(want.items())
        if have.get(ip) != mac
    ]
    return lines


def plan_fdb(actual: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    have = {(f["mac"].lower(), f["dst"]) for f in actual if "dst" in f}
    want = {(f["mac"].lower(), f["dst"]) for f in wanted}
    lines = [f"fdb del {mac} dev {VXDEV} dst {dst} self" for mac, dst in sorted(have - want)]
    lines += [
        f"fdb replace {mac} dev {VXDEV} dst {dst} self permanent"
        for mac, dst in sorted(want - have)
    ]
    return lines


# --------------------------------------------------------------------------- the whole host


@dataclass(frozen=True)
class Wanted:
    """What the host must have: the tunnel address, the underlay address and the devices."""

    address: str
    local: str
    ipip: bool
    vxlan: dict[str, Any]

    @property
    def encapsulations(self) -> list[str]:
        return [k for k, on in ((IPIP, self.ipip), (VXLAN, self.vxlan["enabled"])) if on]


@dataclass
class Plan:
    create_tunl0: bool = False
    ip: list[str] = field(default_factory=list)
    bridge: list[str] = field(default_factory=list)
    tunl0_changed: bool = False
    before: str = "\n"
    after: str = "\n"

    @property
    def changed(self) -> bool:
        return bool(self.create_tunl0 or self.ip or self.bridge)


def plan_tunnel(
    wanted: Wanted,
    links: list[dict[str, Any]],
    vxlan_state: tuple[list[Any], list[Any], list[Any]],
    parent: str,
    mtu: dict[str, int],
    add: bool,
) -> Plan:
    """Everything that brings the devices and the VXLAN entries from the host's state to
    ``wanted``; with ``add`` false, missing routes are left for a later run."""
    routes, neighbors, fdb = vxlan_state
    spec = wanted.vxlan
    before = view(links, routes, permanent(neighbors), fdb)
    tunl_lines, create = plan_tunl0(
        link_named(links, TUNL), wanted.ipip, wanted.address, mtu.get(TUNL, 0)
    )
    vx_lines = plan_vxlan_device(
        link_named(links, VXDEV), spec, wanted.address, wanted.local, parent, mtu.get(VXDEV, 0)
    )
    recreated = any(line.startswith(f"link add {VXDEV}") for line in vx_lines)
    if recreated or not spec["enabled"]:
        routes, neighbors, fdb = [], [], []
    on = spec if spec["enabled"] else {"routes": [], "neighbors": [], "fdb": []}
    plan = Plan(
        create_tunl0=create,
        ip=tunl_lines + vx_lines + plan_neighbors(neighbors, on["neighbors"]),
        bridge=plan_fdb(fdb, on["fdb"]),
        tunl0_changed=create or bool(tunl_lines and wanted.ipip),
    )
    plan.ip += plan_routes(routes, on["routes"], add=add)
    plan.before = before
    plan.after = expected_view(wanted, mtu, on["routes"], add, routes) if plan.changed else before
    return plan


def apply(runner: Runner, plan: Plan) -> None:
    """Create tunl0 if needed, then one ``ip -batch`` and one ``bridge -batch``."""
    ip = runner.binary("ip")
    if plan.create_tunl0:
        # The add may answer "File exists" (see PROBES): what counts is that tunl0 exists.
        runner.write(
            [ip, "link", "add", "name", TUNL, "type", "ipip"],
            shown=[f"ip link add name {TUNL} type ipip"],
            check=False,
        )
        if (
            not runner.check_mode
            and link_named(read_json(runner, [ip, "-j", "link", "show"]), TUNL) is None
        ):
            raise RunnerError("tunl0 could not be created (is the ipip module loadable?)")
    for tool, lines in (("ip", plan.ip), ("bridge", plan.bridge)):
        if lines:
            runner.write(
                [runner.binary(tool), "-batch", "-"],
                data="\n".join(lines) + "\n",
                shown=[f"{tool} {line}" for line in lines],
            )


# --------------------------------------------------------------------------- diff views


def view(
    links: list[dict[str, Any]],
    routes: list[dict[str, Any]],
    neighbors: list[dict[str, Any]],
    fdb: list[dict[str, Any]],
) -> str:
    """The owned state as sorted lines, for --diff."""
    lines = []
    for name in (TUNL, VXDEV):
        link = link_named(links, name)
        if link is not None and (is_up(link) or addresses(link)):
            state = "up" if is_up(link) else "down"
            lines.append(
                f"{name} {state} mtu {link.get('mtu')} {' '.join(addresses(link))}".rstrip()
            )
    lines += [
        f"route {prefix(r['dst'])} via {r.get('gateway', r.get('via'))} dev {VXDEV} onlink"
        for r in routes
    ]
    lines += [
        f"neigh {n.get('dst', n.get('ip'))} lladdr {n.get('lladdr', n.get('mac'))}"
        for n in neighbors
    ]
    lines += [f"fdb {f['mac']} dst {f['dst']}" for f in fdb if "dst" in f]
    return "\n".join(sorted(lines)) + "\n"


def expected_view(
    wanted: Wanted,
    mtu: dict[str, int],
    wanted_routes: list[dict[str, Any]],
    add: bool,
    actual_routes: list[dict[str, Any]],
) -> str:
    """The owned state as it will be, in the same form as ``view``."""
    lines = []
    spec = wanted.vxlan
    if wanted.ipip:
        lines.append(f"{TUNL} up mtu {mtu[TUNL]} {wanted.address}/32")
    if spec["enabled"]:
        lines.append(f"{VXDEV} up mtu {mtu[VXDEV]} {wanted.address}/32")
        kept = {r["dst"] for r in actual_routes} if not add else set()
        lines += [
            f"route {r['dst']} via {r['via']} dev {VXDEV} onlink"
            for r in wanted_routes
            if add or r["dst"] in kept
        ]
        lines += [f"neigh {n['ip']} lladdr {n['mac'].lower()}" for n in spec["neighbors"]]
        lines += [f"fdb {f['mac'].lower()} dst {f['dst']}" for f in spec["fdb"]]
    return "\n".join(sorted(lines)) + "\n"


# --------------------------------------------------------------------------- workload MTU


def workload_mtu(
    links: list[dict[str, Any]], underlay_ip: str, underlay_mtu: int, used: Iterable[str]
) -> int:
    """The workloads' MTU: ``underlay_mtu`` (0 = the MTU of the link holding ``underlay_ip``)
    less the largest overhead of the encapsulations in use."""
    if not underlay_mtu:
        parent = underlay(links, underlay_ip)
        if parent is None:
            raise RunnerError(no_underlay(underlay_ip))
        underlay_mtu = int(parent["mtu"])
    return mtus(underlay_mtu, used)["workload"]


def no_underlay(ip: str) -> str:
    return (
        f"no interface holds the underlay address {ip} (calico_ip); "
        "fix calico_ip or configure the address on the host first"
    )
