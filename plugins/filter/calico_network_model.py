"""Filter: the fleet's network model with every error and warning, built once per run."""

from __future__ import annotations

from typing import Any

from ansible.utils.display import Display

from ansible_collections.calico.network.plugins.plugin_utils.model import build_from_hostvars
from ansible_collections.calico.network.plugins.plugin_utils.shapes import ModelResult

DOCUMENTATION = r"""
name: calico_network_model
author: calico-ansible developers
version_added: "0.1.0"
short_description: Validate the inventory and compute the fleet's network model, in one call
description:
  - Reads the C(calico_*) variables of the given hosts, validates them and computes the fleet's
    network model once, on the controller. Blocks and workload addresses are stable thanks to the
    IPAM ledger (C(calico_ipam_ledger)).
  - Never fails on a bad inventory - it returns every problem, one message per problem naming the
    host, the variable and the fix, so a playbook can print them all at once; the model is then
    null. A variable Ansible cannot read (it refers to an undefined variable, or it is vaulted
    and no vault password was given) is one of these problems too.
  - At verbosity 2 (C(-vv)) it says each time it builds a model, so a run shows that it builds
    one.
options:
  _input:
    description: Ansible's C(hostvars).
    type: dict
    required: true
  hosts:
    description: The inventory hosts that form the fleet, normally C(groups['calico_hosts']).
    type: list
    elements: str
    required: true
  ledger_text:
    description:
      - The text of the IPAM ledger file (C(calico_ipam_ledger_file)); empty when there is none.
        When given, its C(calico_ipam_ledger) replaces the hosts' variable of that name.
    type: str
    default: ""
  ledger_file:
    description: The ledger file's path, for messages about it.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Validate the inventory and compute the network model
  ansible.builtin.set_fact:
    calico_model_result: "{{ hostvars | calico.network.calico_network_model(groups.calico_hosts) }}"
  run_once: true
  no_log: true  # the model carries BGP passwords
# calico_model_result =>
#   {model: {version: 1, bgp_mode: mesh, pools: [...], hosts: {host1: {...}, ...}, ...},
#    errors: [], warnings: []}
# calico_model_result.model.hosts.host1 =>
#   {name: host1, ip: 192.168.100.100, subnet: 192.168.100.0/24, as: 64512,
#    router_id: 192.168.100.100, blocks: [172.17.0.0/24], host_address: 172.17.0.0,
#    endpoint_to_host_action: ACCEPT, rack: null, route_reflector: false, bgp_peers: [],
#    workloads: [{name: web-1, ip: 172.17.0.1, interface: cali0d2a1c3e4f5, labels: {},
#                 floating_ips: []}]}
# with a bad inventory =>
#   {model: null, warnings: [],
#    errors: ["host2: calico_ip: '10.0.0.300/24' is not an IPv4 address. Fix: set the host's
#              underlay address with its prefix, e.g. calico_ip: 192.168.100.100/24."]}
"""

RETURN = r"""
_value:
  description: The fleet model, or null when the inventory has errors, and the messages.
  type: dict
  contains:
    model:
      description: The fleet model (null while C(errors) is not empty).
      type: dict
      contains:
        version:
          description: The model's format version.
          type: int
        bgp_mode:
          description: C(mesh) or C(route_reflector).
          type: str
        pools:
          description:
            - The pools - C(cidr), C(block_size), C(nat_outgoing), C(encapsulation),
              C(encapsulation_mode).
          type: list
          elements: dict
        hosts:
          description:
            - One entry per host - C(name), C(ip), C(subnet), C(as), C(router_id), C(blocks),
              C(host_address), C(endpoint_to_host_action), C(workloads), C(rack),
              C(route_reflector) and C(bgp_peers) (its external peers).
          type: dict
        policy:
          description: C(policies) in evaluation order and the C(default_profile).
          type: dict
        bgp:
          description: C(bfd) and C(graceful_restart_time).
          type: dict
        bgp_passwords:
          description: The fleet's TCP-MD5 keys by the name BIRD's secrets file gives them.
          type: dict
        ledger:
          description:
            - What to write back as C(calico_ipam_ledger) - C(version), C(blocks),
              C(addresses), including the entries of hosts missing from this run until they
              are released (C(calico_ipam_release)).
          type: dict
        racks:
          description:
            - Per rack C(as), C(cluster_id), C(hosts), C(reflectors), C(password),
              C(external_accept).
          type: dict
        external_accept:
          description: The external prefixes hosts outside racks may take from fleet peers.
          type: list
          elements: str
    errors:
      description: "One message per problem - C(host: variable: what. Fix: how.)"
      type: list
      elements: str
    warnings:
      description: One message per warning, in the same form.
      type: list
      elements: str
"""

display = Display()


def calico_network_model(
    hostvars: Any, hosts: list[str], ledger_text: str = "", ledger_file: str = ""
) -> ModelResult:
    fleet = [str(host) for host in hosts]
    result = build_from_hostvars(hostvars, fleet, ledger_text or "", ledger_file)
    display.vv(
        f"calico_network_model: built the model of {len(fleet)} hosts "
        f"({len(result['errors'])} errors, {len(result['warnings'])} warnings)"
    )
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_network_model": calico_network_model}
