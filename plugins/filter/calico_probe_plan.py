"""Filter: the reachability probes a host sends in verification."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.verify import plan_part

DOCUMENTATION = r"""
name: calico_probe_plan
author: calico-ansible developers
version_added: "0.1.0"
short_description: List the reachability probes a host runs in verification
description:
  - A ping from every workload of the host to every other workload of the fleet and to every
    floating IP of another host, and a TCP connect to every port a policy names, each with the
    outcome the policies predict (C(expect)).
  - Reads the host's slice made with C(verify_plan=true) (the C(calico_model) role makes it
    with C(calico_model_verify_plan=true)).
options:
  _input:
    description: The host's slice (C(calico_host)) with its verification plan.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Ping every other workload
  calico.network.calico_probe:
    probes: "{{ calico_host | calico.network.calico_probe_plan
                | map('ansible.utils.keep_keys', target=['src', 'dst_ip', 'kind', 'port']) }}"
# calico_host | calico.network.calico_probe_plan =>
#   [{src_host: host1, src: web-1, dst_host: host1, dst: db-1, dst_ip: 172.17.0.2, kind: ping,
#     port: null, floating: false, expect: true}, ...]
"""

RETURN = r"""
_value:
  description: The probes.
  type: list
  elements: dict
  contains:
    src_host:
      description: The host that sends the probe.
      type: str
    src:
      description: The source workload (its network namespace).
      type: str
    dst_host:
      description: The destination workload's host.
      type: str
    dst:
      description: The destination workload.
      type: str
    dst_ip:
      description: The address probed (the workload's, or one of its floating IPs).
      type: str
    kind:
      description: C(ping) or C(tcp).
      type: str
    port:
      description: The TCP port, null for a ping.
      type: int
    floating:
      description: Whether C(dst_ip) is a floating IP.
      type: bool
    expect:
      description: Whether the policies let it through.
      type: bool
"""


def calico_probe_plan(host_slice: dict[str, Any]) -> list[Any]:
    return plan_part(host_slice, "probes")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_probe_plan": calico_probe_plan}
