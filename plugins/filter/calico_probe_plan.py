"""Filter: which workload pairs a host should probe."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.verify import probe_plan

DOCUMENTATION = r"""
name: calico_probe_plan
author: calico-ansible developers
version_added: "0.1.0"
short_description: List the reachability probes a host runs in verification
description:
  - From the fleet model, one probe per pair (a workload of this host, every other workload of
    the fleet), each with the source namespace and the destination address.
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
- name: Ping every other workload
  calico.network.calico_probe:
    probes: "{{ calico_network | calico.network.calico_probe_plan(inventory_hostname)
                | map('ansible.utils.keep_keys', target=['src', 'dst_ip']) }}"
# calico_network | calico.network.calico_probe_plan('host1') =>
#   [{src_host: host1, src: web-1, dst_host: host1, dst: db-1, dst_ip: 172.17.0.2}, ...]
"""

RETURN = r"""
_value:
  description: Probes with C(src_host), C(src), C(dst_host), C(dst) and C(dst_ip).
  type: list
  elements: dict
"""


def calico_probe_plan(model: dict[str, Any], host: str) -> list[dict[str, str]]:
    return probe_plan(model, host)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_probe_plan": calico_probe_plan}
