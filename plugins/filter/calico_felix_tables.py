"""Filter: Felix's iptables chains for one host, as calico_iptables takes them."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.calico.network.plugins.plugin_utils.felix import render_tables
from ansible_collections.calico.network.plugins.plugin_utils.model import host_slice

DOCUMENTATION = r"""
name: calico_felix_tables
author: calico-ansible developers
version_added: "0.1.0"
short_description: Render Felix's cali-* chain layout for one host
description:
  - From the fleet model, the C(tables) option of C(calico.network.calico_iptables) for one
    host - raw anti-spoofing, the filter dispatch, workload, policy and profile chains, and the
    nat floating-IP and outgoing-NAT chains, with their hooks.
  - Policies whose selector matches a workload of the host get chains; their peer selectors
    expand to the matching workloads' addresses on every host.
options:
  _input:
    description: The fleet model from C(calico.network.calico_network_model).
    type: dict
    required: true
  host:
    description: The inventory hostname, normally C(inventory_hostname).
    type: str
    required: true
  anti_spoofing:
    description:
      - C(rpfilter) - Felix's strict reverse-path check (the kernel's C(rpfilter) match).
      - C(source) - one source-address check per local workload, for kernels without it.
    type: str
    default: rpfilter
  endpoint_to_host_action:
    description: C(ACCEPT), C(DROP) or C(RETURN); default the host's value in the model.
    type: str
"""

EXAMPLES = r"""
- name: Lay down Felix's chains
  calico.network.calico_iptables:
    tables: "{{ calico_network | calico.network.calico_felix_tables(inventory_hostname) }}"
# calico_network | calico.network.calico_felix_tables('host1') =>
#   {raw: {chains: {cali-PREROUTING: [...]}, hooks: [...]}, mangle: {chains: {}},
#    filter: {chains: {cali-FORWARD: [...], ...}, hooks: [...], append: [...]}, nat: {...}}
"""

RETURN = r"""
_value:
  description: C(raw), C(mangle), C(filter) and C(nat), each with C(chains), C(hooks), C(append).
  type: dict
"""


def calico_felix_tables(
    model: dict[str, Any],
    host: str,
    anti_spoofing: str = "rpfilter",
    endpoint_to_host_action: str | None = None,
) -> dict[str, Any]:
    try:
        return render_tables(host_slice(model, host), anti_spoofing, endpoint_to_host_action)
    except KeyError as err:
        raise AnsibleFilterError(f"{host} is not in the network model: {err}") from err
    except ValueError as err:
        raise AnsibleFilterError(str(err)) from err


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_felix_tables": calico_felix_tables}
