"""Filter: the fleet's network model, computed from every host's calico_* variables."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, calico_vars
from ansible_collections.calico.network.plugins.plugin_utils.problems import InventoryError

DOCUMENTATION = r"""
name: calico_network_model
author: calico-ansible developers
version_added: "0.1.0"
short_description: Compute the fleet's network model (blocks, addresses, AS, peers)
description:
  - Reads the C(calico_*) variables of the given hosts, validates them and computes the fleet's
    network model once, on the controller. Blocks and workload addresses are stable thanks to the
    IPAM ledger (C(calico_ipam_ledger)).
  - Fails with one line per problem, each naming the host, the variable and the fix.
options:
  _input:
    description: Ansible's C(hostvars).
    type: dict
    required: true
  hosts:
    description: The inventory hosts that form the fleet, normally C(groups['all']).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Compute the network model
  ansible.builtin.set_fact:
    calico_network: "{{ hostvars | calico.network.calico_network_model(groups['all']) }}"
  run_once: true
  no_log: true  # the model carries BGP passwords
# calico_network.hosts.host1 =>
#   {name: host1, ip: 192.168.100.100, subnet: 192.168.100.0/24, as: 64512,
#    router_id: 192.168.100.100, blocks: [172.17.0.0/24], host_address: 172.17.0.0,
#    workloads: [{name: web-1, ip: 172.17.0.1, interface: cali0d2a1c3e4f5, labels: {}}]}
"""

RETURN = r"""
_value:
  description:
    - The fleet model with keys C(version), C(bgp_mode), C(pools), C(hosts) (one entry per
      host), C(bgp_passwords), C(ledger) (what to write back as C(calico_ipam_ledger)) and
      C(warnings).
  type: dict
"""


def calico_network_model(hostvars: Any, hosts: list[str]) -> dict[str, Any]:
    try:
        return build_model(calico_vars(hostvars, list(hosts)))
    except InventoryError as err:
        raise AnsibleFilterError(str(err)) from err


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_network_model": calico_network_model}
