"""Filter: Felix's iptables chains for one host, as calico_iptables takes them."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.calico.network.plugins.plugin_utils.felix import render_tables
from ansible_collections.calico.network.plugins.plugin_utils.shapes import FelixTables, HostSlice

DOCUMENTATION = r"""
name: calico_felix_tables
author: calico-ansible developers
version_added: "0.1.0"
short_description: Render Felix's cali-* chain layout for one host
description:
  - From one host's slice of the network model alone, the C(tables) option of
    C(calico.network.calico_iptables) for that host - raw anti-spoofing, the filter dispatch,
    workload, policy and profile chains, and the nat floating-IP and outgoing-NAT chains, with
    their hooks.
  - Policies whose selector matches a workload of the host get chains; their peer selectors were
    expanded to the matching workloads' addresses on every host when the slice was made.
options:
  _input:
    description: The host's slice, C(calico_host) (from C(calico.network.calico_host_slice)).
    type: dict
    required: true
  anti_spoofing:
    description:
      - C(rpfilter) - Felix's strict reverse-path check (the kernel's C(rpfilter) match).
      - C(source) - one source-address check per local workload, for kernels without it.
    type: str
    default: rpfilter
  endpoint_to_host_action:
    description: C(ACCEPT), C(DROP) or C(RETURN); default the host's value in the slice.
    type: str
"""

EXAMPLES = r"""
- name: Lay down Felix's chains
  calico.network.calico_iptables:
    tables: "{{ calico_host | calico.network.calico_felix_tables('rpfilter') }}"
# calico_host | calico.network.calico_felix_tables =>
#   {raw: {chains: {cali-PREROUTING: [...]}, hooks: [...]}, mangle: {chains: {}},
#    filter: {chains: {cali-FORWARD: [...], ...}, hooks: [...], append: [...]}, nat: {...}}
"""

RETURN = r"""
_value:
  description:
    - The four tables, each with C(chains) and, where the table has any, C(hooks) and
      C(append).
  type: dict
  contains:
    raw:
      description: Anti-spoofing in C(cali-PREROUTING).
      type: dict
    mangle:
      description: No chains (stale C(cali-*) chains there are removed).
      type: dict
    filter:
      description: Dispatch, workload, policy, profile and tunnel chains.
      type: dict
    nat:
      description: Floating-IP and outgoing-NAT chains.
      type: dict
"""


def calico_felix_tables(
    piece: HostSlice,
    anti_spoofing: str = "rpfilter",
    endpoint_to_host_action: str | None = None,
) -> FelixTables:
    try:
        return render_tables(piece, anti_spoofing, endpoint_to_host_action)
    except KeyError as err:
        raise AnsibleFilterError(f"not a host's slice of the network model: no {err}") from err
    except ValueError as err:
        raise AnsibleFilterError(str(err)) from err


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_felix_tables": calico_felix_tables}
