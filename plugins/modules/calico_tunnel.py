#!/usr/bin/python
"""Ansible module calico.network.calico_tunnel: Calico's tunnel devices and VXLAN routes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: calico_tunnel
short_description: Converge Calico's tunl0 and vxlan.calico devices and the VXLAN routes of a host
version_added: "0.1.0"
description:
  - Brings up the tunnel devices a host needs, as Felix does. C(tunl0) (the kernel's fallback
    IPIP device) is up with the host's tunnel address as its only address (a /32) and
    MTU = underlay - 20. C(vxlan.calico) (VNI, UDP port, no learning, a stable MAC, bound to the
    underlay interface and address) has the tunnel address as a /32 and MTU = underlay - 50.
  - Programs the VXLAN routes, neighbour and FDB entries computed by the network model - one
    route per remote block C(DST via TUNNEL-ADDRESS dev vxlan.calico onlink proto 80), a
    permanent neighbour (remote tunnel address -> remote VTEP MAC) and a permanent FDB entry
    (remote VTEP MAC -> remote underlay address). Stale ones are removed.
  - A device that is no longer wanted is cleaned - C(vxlan.calico) is deleted, C(tunl0) (which
    cannot be deleted) loses its addresses and goes down.
  - The underlay MTU is read from the interface holding O(underlay_ip) unless O(underlay_mtu) is
    set. The module returns the device MTUs and the workload MTU (the smallest in use).
  - Before changing anything it checks, in a throw-away network namespace (C(unshare --net)),
    that the kernel can create the wanted device types, and fails with the alternative when it
    cannot.
  - Owns only C(tunl0), C(vxlan.calico) and routes of protocol 80 on C(vxlan.calico).
author:
  - calico-ansible developers
options:
  stage:
    description:
      - V(probe) only checks the kernel's features and reports the MTUs; it never changes anything.
      - V(devices) converges the devices, the neighbour and FDB entries and removes stale routes,
        but adds no route. Run it before BIRD is (re)configured, so BIRD and this module never
        install competing routes for the same block.
      - V(all) converges everything, routes included. Run it after BIRD is reconfigured.
    type: str
    choices: [probe, devices, all]
    default: all
  address:
    description: The host's tunnel address (the first address of its block), configured as a /32.
    type: str
    required: true
  underlay_ip:
    description: The host's underlay address; VXLAN packets leave from it and its interface's MTU
      is the underlay MTU.
    type: str
    required: true
  underlay_mtu:
    description: The underlay MTU; V(0) reads it from the interface holding O(underlay_ip).
    type: int
    default: 0
  ipip:
    description: Whether C(tunl0) is wanted.
    type: bool
    default: false
  vxlan:
    description: Whether C(vxlan.calico) is wanted, and what it carries.
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Whether C(vxlan.calico) is wanted.
        type: bool
        default: false
      vni:
        description: The VXLAN network identifier.
        type: int
        default: 4096
      port:
        description: The UDP destination port.
        type: int
        default: 4789
      mac:
        description: The device's MAC (required when enabled).
        type: str
      routes:
        description: Routes C({dst, via}); C(via) is the remote host's tunnel address.
        type: list
        elements: dict
        default: []
      neighbors:
        description: Permanent neighbour entries C({ip, mac}).
        type: list
        elements: dict
        default: []
      fdb:
        description: Permanent FDB entries C({mac, dst}); C(dst) is the remote underlay address.
        type: list
        elements: dict
        default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One line per device, address, route, neighbour and FDB entry the module owns.
"""

EXAMPLES = r"""
- name: Bring up the tunnel devices
  calico.network.calico_tunnel:
    stage: devices
    address: 172.17.0.0
    underlay_ip: 192.168.100.100
    vxlan:
      enabled: true
      mac: "66:0c:1f:2e:3d:4c"
      routes: [{dst: 172.17.2.0/24, via: 172.17.2.0}]
      neighbors: [{ip: 172.17.2.0, mac: "66:aa:bb:cc:dd:ee"}]
      fdb: [{mac: "66:aa:bb:cc:dd:ee", dst: 192.168.200.102}]
  register: calico_tunnel_state
"""

RETURN = r"""
underlay_interface:
  description: The interface holding the underlay address.
  type: str
  returned: always
  sample: eth0
underlay_mtu:
  description: The underlay MTU used.
  type: int
  returned: always
  sample: 1500
mtu:
  description: MTU per wanted device, and C(workload) (the smallest, or the underlay's).
  type: dict
  returned: always
  sample: {vxlan.calico: 1450, workload: 1450}
workload_mtu:
  description: The MTU workload veths must have.
  type: int
  returned: always
  sample: 1450
tunl0_changed:
  description: Whether tunl0 was created, brought up or re-addressed (BIRD must re-import).
  type: bool
  returned: always
commands:
  description: The ip and bridge commands run (or that would run in check mode).
  type: list
  elements: str
  returned: always
"""

import json  # noqa: E402
import shutil  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.calico.network.plugins.module_utils.tunnel import (  # noqa: E402
    DEVICES,
    IPIP,
    ROUTE_PROTOCOL,
    VXLAN,
    mtus,
)

TUNL = DEVICES[IPIP]
VXDEV = DEVICES[VXLAN]
PROBES = {
    IPIP: "ip link add name tunl0 type ipip 2>/dev/null; ip link show tunl0",
    VXLAN: "ip link add name calico-probe type vxlan id 4096 dstport 4789",
}
ALTERNATIVE = {
    IPIP: "use encapsulation: vxlan in calico_pools (this kernel's VXLAN support is checked the "
    "same way), or load the ipip module (CONFIG_NET_IPIP)",
    VXLAN: "use encapsulation: ipip in calico_pools, or a kernel with CONFIG_VXLAN",
}


class Host:
    """Reads and writes the host's links through ip/bridge, honouring check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.ip = module.get_bin_path("ip", required=True)
        self.bridge = module.get_bin_path("bridge", required=False) or "bridge"
        self.commands: list[str] = []

    def read_json(self, args: list[str]) -> list[dict[str, Any]]:
        rc, out, err = self.module.run_command(args, check_rc=False)
        if rc != 0:
            self.module.fail_json(msg=f"{' '.join(args)} failed: {err.strip()}")
        return json.loads(out or "[]")

    def probe(self, kind: str) -> tuple[bool, str]:
        unshare = shutil.which("unshare") or "unshare"
        rc, _out, err = self.module.run_command(
            [unshare, "--net", "sh", "-c", PROBES[kind]], check_rc=False
        )
        return rc == 0, err.strip()

    def run(self, tool: str, lines: list[str]) -> None:
        if not lines:
            return
        self.commands += [f"{tool} {line}" for line in lines]
        if self.module.check_mode:
            return
        binary = self.ip if tool == "ip" else self.bridge
        rc, _out, err = self.module.run_command(
            [binary, "-batch", "-"], data="\n".join(lines) + "\n", check_rc=False
        )
        if rc != 0:
            self.module.fail_json(msg=f"{tool} -batch failed: {err.strip()}", commands=lines)


def underlay(links: list[dict[str, Any]], ip: str) -> dict[str, Any] | None:
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
    if not spec["enabled"]:
        return [f"link del {VXDEV}"] if link is not None else []
    mac = spec["mac"].lower()
    create = (
        f"link add {VXDEV} address {mac} mtu {mtu} type vxlan id {spec['vni']} "
        f"dstport {spec['port']} local {local} dev {parent} nolearning"
    )
    if link is None:
        return [create, f"link set {VXDEV} up", f"address add {address}/32 dev {VXDEV}"]
    if not vxlan_matches(link, spec, local, parent):
        return [
            f"link del {VXDEV}",
            create,
            f"link set {VXDEV} up",
            f"address add {address}/32 dev {VXDEV}",
        ]
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
    have = {
        n["dst"]: n.get("lladdr", "").lower() for n in actual if "PERMANENT" in n.get("state", [])
    }
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "stage": {"type": "str", "choices": ["probe", "devices", "all"], "default": "all"},
            "address": {"type": "str", "required": True},
            "underlay_ip": {"type": "str", "required": True},
            "underlay_mtu": {"type": "int", "default": 0},
            "ipip": {"type": "bool", "default": False},
            "vxlan": {
                "type": "dict",
                "default": {},
                "options": {
                    "enabled": {"type": "bool", "default": False},
                    "vni": {"type": "int", "default": 4096},
                    "port": {"type": "int", "default": 4789},
                    "mac": {"type": "str"},
                    "routes": {"type": "list", "elements": "dict", "default": []},
                    "neighbors": {"type": "list", "elements": "dict", "default": []},
                    "fdb": {"type": "list", "elements": "dict", "default": []},
                },
            },
        },
        supports_check_mode=True,
    )
    p = module.params
    spec = p["vxlan"]
    if spec["enabled"] and not spec.get("mac"):
        module.fail_json(msg="vxlan.mac is required when vxlan.enabled is true")
    host = Host(module)
    links = host.read_json([host.ip, "-j", "-d", "address", "show"])
    parent = underlay(links, p["underlay_ip"])
    if parent is None:
        module.fail_json(
            msg=f"no interface holds the underlay address {p['underlay_ip']} (calico_ip); "
            "fix calico_ip or configure the address on the host first"
        )
    underlay_mtu = p["underlay_mtu"] or int(parent["mtu"])
    wanted = [k for k, on in ((IPIP, p["ipip"]), (VXLAN, spec["enabled"])) if on]
    mtu = mtus(underlay_mtu, wanted)
    result: dict[str, Any] = {
        "changed": False,
        "underlay_interface": parent["ifname"],
        "underlay_mtu": underlay_mtu,
        "mtu": mtu,
        "workload_mtu": mtu["workload"],
        "tunl0_changed": False,
        "commands": [],
    }
    for kind in wanted:
        if link_named(links, DEVICES[kind]) is None:
            supported, error = host.probe(kind)
            if not supported:
                module.fail_json(
                    msg=f"encapsulation {kind} is requested (calico_pools) but this kernel cannot "
                    f"create {kind.upper()} devices ({error or 'device type unknown'}). "
                    f"Fix: {ALTERNATIVE[kind]}.",
                    **result,
                )
    if p["stage"] == "probe":
        module.exit_json(**result)

    vx = link_named(links, VXDEV)
    routes = [
        r
        for r in host.read_json(
            [host.ip, "-j", "-4", "route", "show", "proto", str(ROUTE_PROTOCOL)]
        )
        if r.get("dev") == VXDEV
    ]
    neighbors = host.read_json([host.ip, "-j", "-4", "neigh", "show", "dev", VXDEV]) if vx else []
    fdb = host.read_json([host.bridge, "-j", "fdb", "show", "dev", VXDEV]) if vx else []
    before = view(links, routes, [n for n in neighbors if "PERMANENT" in n.get("state", [])], fdb)

    tunl_lines, create_tunl = plan_tunl0(
        link_named(links, TUNL), p["ipip"], p["address"], mtu.get(TUNL, 0)
    )
    vx_lines = plan_vxlan_device(
        vx, spec, p["address"], p["underlay_ip"], parent["ifname"], mtu.get(VXDEV, 0)
    )
    recreated = any(line.startswith(f"link add {VXDEV}") for line in vx_lines)
    if recreated or not spec["enabled"]:
        routes, neighbors, fdb = [], [], []
    wanted_routes = spec["routes"] if spec["enabled"] else []
    route_lines = plan_routes(routes, wanted_routes, add=p["stage"] == "all")
    neigh_lines = plan_neighbors(neighbors, spec["neighbors"] if spec["enabled"] else [])
    fdb_lines = plan_fdb(fdb, spec["fdb"] if spec["enabled"] else [])

    if create_tunl:
        # Adding tunl0 loads the ipip module, whose fallback device is tunl0 itself: the add may
        # then answer "File exists". What counts is that tunl0 exists afterwards.
        host.commands.append(f"ip link add name {TUNL} type ipip")
        if not module.check_mode:
            module.run_command([host.ip, "link", "add", "name", TUNL, "type", "ipip"])
            if link_named(host.read_json([host.ip, "-j", "link", "show"]), TUNL) is None:
                module.fail_json(msg="tunl0 could not be created (is the ipip module loadable?)")
    host.run("ip", tunl_lines + vx_lines + neigh_lines + route_lines)
    host.run("bridge", fdb_lines)

    result["commands"] = host.commands
    result["changed"] = bool(host.commands)
    result["tunl0_changed"] = create_tunl or bool(tunl_lines and p["ipip"])
    if module._diff:
        after = expected_view(p, spec, mtu, wanted_routes, p["stage"] == "all", routes)
        result["diff"] = {"before": before, "after": after if result["changed"] else before}
    module.exit_json(**result)


def expected_view(
    p: dict[str, Any],
    spec: dict[str, Any],
    mtu: dict[str, int],
    wanted_routes: list[dict[str, Any]],
    add: bool,
    actual_routes: list[dict[str, Any]],
) -> str:
    """The owned state as it will be, in the same form as ``view``."""
    lines = []
    if p["ipip"]:
        lines.append(f"{TUNL} up mtu {mtu[TUNL]} {p['address']}/32")
    if spec["enabled"]:
        lines.append(f"{VXDEV} up mtu {mtu[VXDEV]} {p['address']}/32")
        kept = {r["dst"] for r in actual_routes} if not add else set()
        lines += [
            f"route {r['dst']} via {r['via']} dev {VXDEV} onlink"
            for r in wanted_routes
            if add or r["dst"] in kept
        ]
        lines += [f"neigh {n['ip']} lladdr {n['mac'].lower()}" for n in spec["neighbors"]]
        lines += [f"fdb {f['mac'].lower()} dst {f['dst']}" for f in spec["fdb"]]
    return "\n".join(sorted(lines)) + "\n"


if __name__ == "__main__":
    main()
