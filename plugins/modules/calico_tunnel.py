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
  - With O(state=absent) nothing is wanted - C(vxlan.calico) is deleted (its routes, neighbour
    and FDB entries go with it) and C(tunl0) is stripped, as a reset does.
author:
  - calico-ansible developers (@calico-ansible)
options:
  state:
    description:
      - V(present) converges the devices and entries to the other options.
      - V(absent) removes everything the module owns; the other options are then not needed
        and are ignored (except O(stage)).
    type: str
    choices: [present, absent]
    default: present
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
    description:
      - The host's tunnel address (the first address of its block), configured as a /32.
      - Required when O(state=present).
    type: str
  underlay_ip:
    description:
      - The host's underlay address; VXLAN packets leave from it and its interface's MTU is the
        underlay MTU.
      - Required when O(state=present).
    type: str
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
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Shows what changed (or would change in check mode) with --diff.
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

- name: Remove the tunnel devices (reset)
  calico.network.calico_tunnel:
    state: absent
"""

RETURN = r"""
underlay_interface:
  description: The interface holding the underlay address (empty with O(state=absent)).
  type: str
  returned: always
  sample: eth0
underlay_mtu:
  description: The underlay MTU used (O(underlay_mtu) with O(state=absent)).
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

# Ansible reads DOCUMENTATION/EXAMPLES/RETURN as module-level literals, so imports follow them.
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.calico.network.plugins.module_utils import tunnel  # noqa: E402
from ansible_collections.calico.network.plugins.module_utils.runner import (  # noqa: E402
    AnsibleRunner,
    RunnerError,
)

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "stage": {"type": "str", "choices": ["probe", "devices", "all"], "default": "all"},
    "address": {"type": "str"},
    "underlay_ip": {"type": "str"},
    "underlay_mtu": {"type": "int", "default": 0},
    "ipip": {"type": "bool", "default": False},
    "vxlan": {
        "type": "dict",
        "default": {},
        "options": {
            "enabled": {"type": "bool", "default": False},
            "vni": {"type": "int", "default": tunnel.VXLAN_VNI},
            "port": {"type": "int", "default": tunnel.VXLAN_PORT},
            "mac": {"type": "str"},
            "routes": {"type": "list", "elements": "dict", "default": []},
            "neighbors": {"type": "list", "elements": "dict", "default": []},
            "fdb": {"type": "list", "elements": "dict", "default": []},
        },
    },
}
NOTHING = {"enabled": False, "routes": [], "neighbors": [], "fdb": []}


def wanted(params: dict[str, Any]) -> tunnel.Wanted:
    if params["state"] == "absent":
        return tunnel.Wanted(address="", local="", ipip=False, vxlan=NOTHING)
    return tunnel.Wanted(
        address=params["address"],
        local=params["underlay_ip"],
        ipip=params["ipip"],
        vxlan=params["vxlan"],
    )


def underlay(module: AnsibleModule, links: list[dict[str, Any]]) -> tuple[str, int]:
    """The underlay interface and MTU; none is needed when nothing is wanted."""
    if module.params["state"] == "absent":
        return "", module.params["underlay_mtu"]
    ip = module.params["underlay_ip"]
    parent = tunnel.underlay(links, ip)
    if parent is None:
        module.fail_json(msg=tunnel.no_underlay(ip))
    return parent["ifname"], module.params["underlay_mtu"] or int(parent["mtu"])


def probe(module: AnsibleModule, runner: AnsibleRunner, links: list, result: dict) -> None:
    """Fail, naming the alternative, when the kernel cannot create a wanted, missing device."""
    for kind in wanted(module.params).encapsulations:
        if tunnel.link_named(links, tunnel.DEVICES[kind]) is None:
            supported, error = tunnel.can_create(runner, kind)
            if not supported:
                module.fail_json(msg=tunnel.unsupported(kind, error), **result)


def converge(module: AnsibleModule, runner: AnsibleRunner, links: list, result: dict) -> None:
    want = wanted(module.params)
    present = tunnel.link_named(links, tunnel.VXDEV) is not None
    plan = tunnel.plan_tunnel(
        want,
        links,
        tunnel.read_vxlan(runner, present),
        result["underlay_interface"],
        result["mtu"],
        add=module.params["stage"] == "all",
    )
    tunnel.apply(runner, plan)
    result.update(
        changed=bool(runner.commands),
        commands=runner.commands,
        tunl0_changed=plan.tunl0_changed,
    )
    if module._diff:
        result["diff"] = {"before": plan.before, "after": plan.after}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ("address", "underlay_ip"))],
        supports_check_mode=True,
    )
    want = wanted(module.params)
    if want.vxlan["enabled"] and not want.vxlan.get("mac"):
        module.fail_json(msg="vxlan.mac is required when vxlan.enabled is true")
    module.get_bin_path("ip", required=True)
    runner = AnsibleRunner(module)
    try:
        links = tunnel.read_links(runner)
        interface, underlay_mtu = underlay(module, links)
        mtu = tunnel.mtus(underlay_mtu, want.encapsulations)
        result: dict[str, Any] = {
            "changed": False,
            "underlay_interface": interface,
            "underlay_mtu": underlay_mtu,
            "mtu": mtu,
            "workload_mtu": mtu["workload"],
            "tunl0_changed": False,
            "commands": [],
        }
        probe(module, runner, links, result)
        if module.params["stage"] != "probe":
            converge(module, runner, links, result)
    except RunnerError as error:
        runner.fail(error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
