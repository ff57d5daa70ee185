#!/usr/bin/python
"""Ansible module calico.network.calico_workloads: wire all workloads of a host in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: calico_workloads
short_description: Wire Calico-style workload namespaces (veth, /32, link-local gateway) on a host
version_added: "0.1.0"
description:
  - Brings every workload of one host into Calico's CNI wiring in a single call. Each gets a
    network namespace named after the workload, a veth pair whose host end (C(cali) + 11 hex
    digits, MAC V(ee:ee:ee:ee:ee:ee)) stays in the root namespace and whose peer C(eth0)
    carries the workload address as a /32.
  - Inside the namespace, C(lo) and C(eth0) are up, with the routes C(169.254.1.1 dev eth0 scope
    link) and C(default via 169.254.1.1 dev eth0) and a PERMANENT neighbour
    C(169.254.1.1 lladdr ee:ee:ee:ee:ee:ee). The static neighbour keeps workloads working when the
    host has no default route, where proxy ARP would stay silent.
  - On the host, the veth gets C(net.ipv4.conf.IF.proxy_arp=1), C(net.ipv4.neigh.IF.proxy_delay=0)
    and C(net.ipv4.conf.IF.forwarding=1) (written to /proc/sys directly) and the route
    C(IP/32 dev IF scope link) with the default protocol, so BIRD's kernel protocol (C(learn))
    sees it as an alien route and can export it.
  - Partial states converge with the fewest commands (only what differs is changed). A veth whose
    peer is not C(eth0) in the workload's namespace is re-created.
  - State is read with C(ip -j) (two commands for the root namespace and one per namespace, plus
    C(ip -j -d address show) when the MTU is derived from the underlay interface) and changes
    are applied with C(ip -batch -) in the root namespace and C(ip -n NS -batch -) per workload
    namespace.
  - With O(state=absent) every C(cali) workload veth is removed (with its namespace when that
    holds nothing else), as O(workloads=[]) with O(prune=true) does; a reset uses it.
  - The module never touches an interface whose name is not C(cali) + 11 hex digits, a route that
    is not on such an interface, or a namespace that does not hold one of their peers. It refuses
    (fails) rather than replace a foreign route to a workload address or a foreign C(eth0) in a
    workload namespace.
author:
  - calico-ansible developers (@calico-ansible)
options:
  state:
    description:
      - V(present) wires O(workloads).
      - V(absent) removes every C(cali) workload veth (and its namespace when that holds nothing
        else); the other options are then not needed and are ignored.
    type: str
    choices: [present, absent]
    default: present
  workloads:
    description:
      - All workloads this host must have. With O(prune=true) this list is complete; an empty list
        removes every C(cali) workload veth.
      - Required when O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Workload name, also the name of its network namespace (under /run/netns).
          - A DNS label (1-63 lower-case letters, digits and inner dashes), unique.
        type: str
        required: true
      ip:
        description:
          - IPv4 address of the workload, without a prefix; it is configured as /32. Unique.
        type: str
        required: true
      interface:
        description:
          - Name of the host end of the veth, C(cali) followed by 11 lowercase hex digits
            (15 characters, the kernel's limit). Unique.
        type: str
        required: true
      mtu:
        description:
          - MTU of both ends of the veth (68 to 65535).
          - Defaults to O(mtu).
        type: int
  mtu:
    description:
      - MTU of the workloads that set none.
      - V(0) derives it as Calico does - the underlay MTU less the largest overhead of
        O(encapsulations) (IPIP 20, VXLAN 50), or the underlay MTU when none is used. The
        underlay MTU is O(underlay_mtu), or that of the interface holding O(underlay_ip).
        Without either, it is 1500.
    type: int
    default: 0
  encapsulations:
    description: The tunnel encapsulations this host uses (the network model's
      C(calico_host.tunnel.encapsulations)), for the derived O(mtu).
    type: list
    elements: str
    choices: [ipip, vxlan]
    default: []
  underlay_ip:
    description: The host's underlay address (C(calico_host.ip)); its interface's MTU is the
      underlay MTU of the derived O(mtu).
    type: str
  underlay_mtu:
    description: The underlay MTU of the derived O(mtu); V(0) reads it from the interface
      holding O(underlay_ip).
    type: int
    default: 0
  prune:
    description:
      - Remove host-side C(cali) veths that are not in O(workloads).
      - The namespace of such a veth is deleted only if it holds nothing but C(lo) and the C(eth0)
        peer of that veth; otherwise only the veth is removed and a warning is issued.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Shows what changed (or would change in check mode) with --diff.
    support: full
    details:
      - One sorted line per workload (C(NAME ns=NS if=IF ip=IP/32 mtu=MTU)); observed lines carry
        markers such as C(!host-route), C(!neigh), C(!proxy_arp) or C(!prune) for what is wrong.
notes:
  - Needs root and iproute2 with JSON output (C(ip -j)).
  - IPv4 only; IPv6 addresses, routes and neighbours are left alone.
requirements:
  - iproute2
"""

EXAMPLES = r"""
- name: Wire the workloads of this host
  calico.network.calico_workloads:
    workloads:
      - name: web-1
        ip: 172.17.0.1
        interface: cali1234567890a
      - name: db-1
        ip: 172.17.0.2
        interface: calib0c2e3d4f5a
        mtu: 1440

- name: Add workloads without removing the ones not listed
  calico.network.calico_workloads:
    workloads: "{{ host_workloads }}"
    prune: false

- name: Wire the workloads with the MTU Calico derives from the tunnels in use
  calico.network.calico_workloads:
    workloads: "{{ host_workloads }}"
    underlay_ip: 192.168.100.100
    encapsulations: [vxlan]

- name: Remove every workload of this host
  calico.network.calico_workloads:
    state: absent
"""

RETURN = r"""
workloads:
  description: The desired workloads, as validated.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Workload name.
      type: str
      sample: web-1
    netns:
      description: Network namespace of the workload.
      type: str
      sample: web-1
    interface:
      description: Host end of the veth.
      type: str
      sample: cali1234567890a
    ip:
      description: Workload IPv4 address (configured as /32).
      type: str
      sample: 172.17.0.1
    mtu:
      description: MTU of the veth pair.
      type: int
      sample: 1500
commands:
  description:
    - The changes that were made (or would be, in check mode), as equivalent single commands in
      the order they run. C(ip ...) lines run batched in one C(ip -batch -), C(ip -n NS ...) lines
      in one C(ip -n NS -batch -) per namespace; C(sysctl -w) lines are writes to /proc/sys.
    - Empty when the host already matches.
  returned: always
  type: list
  elements: str
  sample:
    - ip netns add web-1
    - >-
      ip link add cali1234567890a mtu 1500 address ee:ee:ee:ee:ee:ee up type veth
      peer name eth0 mtu 1500 netns web-1
    - ip route replace 172.17.0.1/32 dev cali1234567890a scope link
    - sysctl -w net.ipv4.conf.cali1234567890a.proxy_arp=1
    - sysctl -w net.ipv4.neigh.cali1234567890a.proxy_delay=0
    - sysctl -w net.ipv4.conf.cali1234567890a.forwarding=1
    - ip -n web-1 link set lo up
    - ip -n web-1 link set eth0 up
    - ip -n web-1 addr add 172.17.0.1/32 dev eth0
    - ip -n web-1 route replace 169.254.1.1 dev eth0 scope link
    - ip -n web-1 route replace default via 169.254.1.1 dev eth0
    - ip -n web-1 neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent
"""

# Ansible wants DOCUMENTATION, EXAMPLES and RETURN before any import.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.calico.network.plugins.module_utils.runner import (  # noqa: E402
    AnsibleRunner,
    RunnerError,
)
from ansible_collections.calico.network.plugins.module_utils.workloads import (  # noqa: E402
    PlanError,
    WorkloadError,
    plan_workloads,
)
from ansible_collections.calico.network.plugins.module_utils.workloads_host import (  # noqa: E402
    PROC_SYS,
    apply,
    desired_workloads,
    read_state,
)

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "workloads": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "ip": {"type": "str", "required": True},
            "interface": {"type": "str", "required": True},
            "mtu": {"type": "int"},
        },
    },
    "prune": {"type": "bool", "default": True},
    "mtu": {"type": "int", "default": 0},
    "encapsulations": {
        "type": "list",
        "elements": "str",
        "choices": ["ipip", "vxlan"],
        "default": [],
    },
    "underlay_ip": {"type": "str"},
    "underlay_mtu": {"type": "int", "default": 0},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ("workloads",))],
        supports_check_mode=True,
    )
    module.get_bin_path("ip", required=True)
    runner = AnsibleRunner(module)
    prune = module.params["prune"] or module.params["state"] == "absent"
    try:
        p = module.params
        items = [] if p["state"] == "absent" else p["workloads"] or []
        desired = desired_workloads(
            runner, items, p["mtu"], p["underlay_ip"], p["underlay_mtu"], p["encapsulations"]
        )
        state = read_state(runner, desired, prune, PROC_SYS)
        plan = plan_workloads(desired, state, prune)
        for warning in plan.warnings + apply(runner, plan, PROC_SYS):
            module.warn(warning)
    except (WorkloadError, PlanError) as error:
        module.fail_json(msg=str(error))
    except RunnerError as error:
        runner.fail(error)
    result = {
        "changed": plan.changed,
        "commands": runner.commands,
        "workloads": [w.as_result() for w in desired],
    }
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
