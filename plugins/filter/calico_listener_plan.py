"""Filter: which short-lived TCP listeners a host starts for policy verification."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.verify import listener_plan

DOCUMENTATION = r"""
name: calico_listener_plan
author: calico-ansible developers
version_added: "0.1.0"
short_description: List the TCP listeners a host runs while policy is verified
description:
  - From the fleet model, one listener per local workload and TCP port that a policy selecting
    the workload names in an ingress rule (the first port of each rule), so the TCP probes of
    C(calico.network.calico_probe_plan) meet a real socket when policy lets them through.
options:
  _input:
    description: The fleet model from C(calico.network.calico_network_model).
    type: dict
    required: true
  host:
    description: The inventory hostname, normally C(inventory_hostname).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Start the listeners
  ansible.builtin.command: ip netns exec {{ item.netns }} timeout 120 nc -dlk {{ item.port }}
  loop: "{{ calico_network | calico.network.calico_listener_plan(inventory_hostname) }}"
  async: 130
  poll: 0
  changed_when: false
# calico_network | calico.network.calico_listener_plan('host1') => [{netns: db-1, port: 5432}]
"""

RETURN = r"""
_value:
  description: Listeners with C(netns) (the workload's name) and C(port).
  type: list
  elements: dict
"""


def calico_listener_plan(model: dict[str, Any], host: str) -> list[dict[str, Any]]:
    return listener_plan(model, host)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_listener_plan": calico_listener_plan}
