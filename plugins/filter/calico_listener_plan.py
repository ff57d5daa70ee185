"""Filter: which short-lived TCP listeners a host starts for policy verification."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.verify import plan_part

DOCUMENTATION = r"""
name: calico_listener_plan
author: calico-ansible developers
version_added: "0.1.0"
short_description: List the TCP listeners a host runs while policy is verified
description:
  - One listener per local workload and TCP port that a policy selecting the workload names in
    an ingress rule (the first port of each rule), so the TCP probes of
    C(calico.network.calico_probe_plan) meet a real socket when policy lets them through.
  - Reads the host's slice made with C(verify_plan=true) (the C(calico_model) role makes it
    with C(calico_model_verify_plan=true)).
options:
  _input:
    description: The host's slice (C(calico_host)) with its verification plan.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Start the listeners
  ansible.builtin.command: ip netns exec {{ item.netns }} timeout 120 nc -dlk {{ item.port }}
  loop: "{{ calico_host | calico.network.calico_listener_plan }}"
  async: 130
  poll: 0
  changed_when: false
# calico_host | calico.network.calico_listener_plan => [{netns: db-1, port: 5432}]
"""

RETURN = r"""
_value:
  description: The listeners.
  type: list
  elements: dict
  contains:
    netns:
      description: The workload's name (its network namespace).
      type: str
    port:
      description: The TCP port.
      type: int
"""


def calico_listener_plan(host_slice: dict[str, Any]) -> list[Any]:
    return plan_part(host_slice, "listeners")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_listener_plan": calico_listener_plan}
