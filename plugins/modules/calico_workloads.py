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
  - State is read with C(ip -j) (two commands for the root namespace and one per namespace) and
    changes are applied with C(ip -batch -) in the root namespace and C(ip -n NS -batch -) per
    workload namespace.
  - The module never touches an interface whose name is not C(cali) + 11 hex digits, a route that
    is not on such an interface, or a namespace that does not hold one of their peers. It refuses
    (fails) rather than replace a foreign route to a workload address or a foreign C(eth0) in a
    workload namespace.
author:
  - calico-ansible developers
options:
  workloads:
    description:
      - All workloads this host must have. With O(prune=true) this list is complete; an empty list
        removes every C(cali) workload veth.
    type: list
    elements: dict
    required: true
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
        type: int
        default: 1500
  prune:
    description:
      - Remove host-side C(cali) veths that are not in O(workloads).
      - The namespace of such a veth is deleted only if it holds nothing but C(lo) and the C(eth0)
        peer of that veth; otherwise only the veth is removed and a warning is issued.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
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

- name: Remove every workload of this host
  calico.network.calico_workloads:
    workloads: []
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
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.calico.network.plugins.module_utils.workloads import (  # noqa: E402
    NETNS_READ,
    ROOT_READ,
    HostState,
    Plan,
    PlanError,
    Workload,
    WorkloadError,
    namespaces_to_read,
    parse_links,
    parse_netns_list,
    parse_netns_state,
    parse_routes,
    plan_workloads,
    split_json_documents,
    sysctl_keys,
    validate_workloads,
)

ARGUMENT_SPEC = {
    "workloads": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "ip": {"type": "str", "required": True},
            "interface": {"type": "str", "required": True},
            "mtu": {"type": "int", "default": 1500},
        },
    },
    "prune": {"type": "bool", "default": True},
}

PROC_SYS = "/proc/sys"


class IpRunner:
    """Runs ``ip`` without a shell and fails the module with the command and its stderr."""

    def __init__(self, module: AnsibleModule, ip: str) -> None:
        self.module = module
        self.ip = ip
        self.done: list[str] = []

    def _base(self, netns: str | None) -> list[str]:
        return [self.ip, "-n", netns] if netns else [self.ip]

    def run(self, args: list[str], data: str | None = None) -> str:
        rc, out, err = self.module.run_command(args, data=data, check_rc=False)
        if rc != 0:
            self.module.fail_json(
                msg=f"{' '.join(args)} failed (rc={rc}): {err.strip()}",
                cmd=args,
                stdin=data,
                rc=rc,
                stdout=out,
                stderr=err,
                commands=self.done,
                changed=bool(self.done),
            )
        return out

    def read(self, netns: str | None, lines: tuple[str, ...]) -> list:
        """One ``ip -j -d -batch -``; falls back to one command per line on a mismatch."""
        out = self.run([*self._base(netns), "-j", "-d", "-batch", "-"], data="\n".join(lines))
        documents = split_json_documents(out)
        if len(documents) == len(lines):
            return documents
        # Older iproute2 releases do not print one JSON document per batch line.
        return [self.read_one(netns, line.split()) for line in lines]

    def read_one(self, netns: str | None, words: list[str]) -> list:
        documents = split_json_documents(self.run([*self._base(netns), "-j", "-d", *words]))
        return documents[0] if documents else []

    def batch(self, netns: str | None, lines: list[str], shown: list[str]) -> None:
        self.run([*self._base(netns), "-batch", "-"], data="\n".join(lines))
        self.done += shown


def read_sysctls(interfaces: list[str]) -> dict[str, str]:
    values = {}
    for interface in interfaces:
        for key in sysctl_keys(interface):
            try:
                with open(os.path.join(PROC_SYS, key)) as handle:
                    values[key] = handle.read().strip()
            except OSError:
                continue  # Missing or unreadable: planned as a write, which reports any error.
    return values


def read_state(runner: IpRunner, desired: list[Workload], prune: bool) -> HostState:
    # Links before `netns list`: dumping a veth allocates the peer namespace's id if needed.
    links, routes = runner.read(None, ROOT_READ)
    names, ids = parse_netns_list(runner.read_one(None, ["netns", "list"]))
    state = HostState(
        links=parse_links(links), routes=parse_routes(routes), netns_names=names, netns_ids=ids
    )
    for netns in namespaces_to_read(desired, state, prune):
        state.netns[netns] = parse_netns_state(runner.read(netns, NETNS_READ))
    present = [w.interface for w in desired if w.interface in state.links]
    state.sysctls = read_sysctls(present)
    return state


def write_sysctls(module: AnsibleModule, runner: IpRunner, sysctls: list[tuple[str, str]]) -> None:
    for key, value in sysctls:
        path = os.path.join(PROC_SYS, key)
        try:
            with open(path, "w") as handle:
                handle.write(value)
        except OSError as error:
            module.fail_json(
                msg=f"writing {value} to {path} failed: {error}",
                commands=runner.done,
                changed=bool(runner.done),
            )
        runner.done.append(f"sysctl -w {key.replace('/', '.')}={value}")


def apply(module: AnsibleModule, runner: IpRunner, plan: Plan) -> None:
    if plan.root:
        runner.batch(None, plan.root, [f"ip {line}" for line in plan.root])
    write_sysctls(module, runner, plan.sysctls)
    for netns, lines in plan.netns.items():
        runner.batch(netns, lines, [f"ip -n {netns} {line}" for line in lines])


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        desired = validate_workloads(module.params["workloads"])
    except WorkloadError as error:
        module.fail_json(msg=str(error))
    prune = module.params["prune"]
    runner = IpRunner(module, module.get_bin_path("ip", required=True))
    state = read_state(runner, desired, prune)
    try:
        plan = plan_workloads(desired, state, prune)
    except PlanError as error:
        module.fail_json(msg=str(error))
    for warning in plan.warnings:
        module.warn(warning)
    if plan.changed and not module.check_mode:
        apply(module, runner, plan)
        commands = runner.done
    else:
        commands = plan.commands()
    result = {
        "changed": plan.changed,
        "commands": commands,
        "workloads": [w.as_result() for w in desired],
    }
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
