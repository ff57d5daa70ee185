#!/usr/bin/python
"""Module: send real packets from workload namespaces and report what got through."""

from __future__ import annotations

DOCUMENTATION = r"""
module: calico_probe
short_description: Probe reachability from workload network namespaces
version_added: "0.1.0"
author:
  - calico-ansible developers (@calico-ansible)
description:
  - Runs C(ping) or a TCP connect (C(nc -z)) from inside workload network namespaces, many at
    once, and reports which probes got an answer. Read-only; it never changes the host, so it
    runs in check mode too.
options:
  probes:
    description: The probes to run.
    type: list
    elements: dict
    required: true
    suboptions:
      netns:
        description: Network namespace to send from (the workload's name).
        type: str
        required: true
      dst_ip:
        description: Address to probe.
        type: str
        required: true
      kind:
        description: C(ping) (ICMP echo) or C(tcp) (connect to I(port)).
        type: str
        choices: [ping, tcp]
        default: ping
      port:
        description: TCP port, for I(kind=tcp).
        type: int
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 2
  parallel:
    description: How many probes run at the same time.
    type: int
    default: 16
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Shows what changed (or would change in check mode) with --diff.
    support: none
"""

EXAMPLES = r"""
- name: Ping every other workload
  calico.network.calico_probe:
    probes:
      - {netns: web-1, dst_ip: 172.17.1.1}
      - {netns: web-1, dst_ip: 172.17.1.2, kind: tcp, port: 5432}
"""

RETURN = r"""
results:
  description: One entry per probe, in the order given, with C(ok) added.
  type: list
  elements: dict
  returned: always
  sample: [{netns: web-1, dst_ip: 172.17.1.1, kind: ping, port: null, ok: true}]
"""

# Ansible's convention: imports follow the documentation (ansible-test validate-modules).
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def probe_command(probe: dict[str, Any], timeout: int) -> list[str]:
    inside = ["ip", "netns", "exec", probe["netns"]]
    if probe["kind"] == "tcp":
        return [*inside, "nc", "-z", "-w", str(timeout), probe["dst_ip"], str(probe["port"])]
    return [*inside, "ping", "-c", "1", "-W", str(timeout), probe["dst_ip"]]


def run_probes(module: AnsibleModule) -> list[dict[str, Any]]:
    timeout = module.params["timeout"]
    probes = module.params["probes"]

    def run(probe: dict[str, Any]) -> dict[str, Any]:
        rc = module.run_command(probe_command(probe, timeout))[0]
        return {**probe, "ok": rc == 0}

    with ThreadPoolExecutor(max_workers=max(1, module.params["parallel"])) as pool:
        return list(pool.map(run, probes))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "probes": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "netns": {"type": "str", "required": True},
                    "dst_ip": {"type": "str", "required": True},
                    "kind": {"type": "str", "choices": ["ping", "tcp"], "default": "ping"},
                    "port": {"type": "int"},
                },
                "required_if": [("kind", "tcp", ("port",))],
            },
            "timeout": {"type": "int", "default": 2},
            "parallel": {"type": "int", "default": 16},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, results=run_probes(module))


if __name__ == "__main__":
    main()
