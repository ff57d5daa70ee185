"""Filter: one host's view of the network model, as the roles consume it."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.calico.network.plugins.plugin_utils.model import host_slice

DOCUMENTATION = r"""
name: calico_host_slice
author: calico-ansible developers
version_added: "0.1.0"
short_description: Select one host's slice of the network model
description:
  - Returns the host's own entry of the fleet model, extended with its BGP peers (computed here,
    per host, so the fleet model stays linear in size even for a full mesh) and the pools.
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
- name: Select this host's slice of the network model
  ansible.builtin.set_fact:
    calico_host: "{{ calico_network | calico.network.calico_host_slice(inventory_hostname) }}"
  no_log: true
# calico_host.peers[0] =>
#   {name: Mesh_192_168_100_101, kind: mesh, host: host2, ip: 192.168.100.101, as: 64512,
#    passive: true, password: ""}
"""

RETURN = r"""
_value:
  description:
    - The host entry (C(name), C(ip), C(subnet), C(as), C(router_id), C(blocks),
      C(host_address), C(workloads)) plus C(pools), C(bgp_passwords) and C(peers).
  type: dict
"""


def calico_host_slice(model: dict[str, Any], host: str) -> dict[str, Any]:
    if not model or host not in model["hosts"]:  # anything else is a bug: let it show whole
        raise AnsibleFilterError(f"{host} is not in the network model (is it in the inventory?)")
    return host_slice(model, host)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_host_slice": calico_host_slice}
