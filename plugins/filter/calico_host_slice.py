"""Filter: one host's view of the network model, as the roles consume it."""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.calico.network.plugins.plugin_utils.model import host_slice
from ansible_collections.calico.network.plugins.plugin_utils.shapes import FleetModel, HostSlice

DOCUMENTATION = r"""
name: calico_host_slice
author: calico-ansible developers
version_added: "0.1.0"
short_description: Select one host's slice of the network model
description:
  - Returns the host's own entry of the fleet model, extended with what the roles need from the
    rest of the fleet, computed here, per host, so the fleet model stays linear in size even for
    a full mesh - its BGP sessions, its tunnel plan, the inputs of its Felix chains and, on
    request, its verification plan.
options:
  _input:
    description:
      - The fleet model (C(model) of C(calico.network.calico_network_model)), or its JSON text
        (C(calico_network_json), which the calico_model role keeps). Prefer the text per host;
        Ansible hands a filter a mapping wrapped element by element, and reading a big fleet
        through those wrappers costs far more than the slice itself, while a string is passed
        whole and parsed here at C speed.
    type: raw
    required: true
  host:
    description: The inventory hostname, normally C(inventory_hostname).
    type: str
    required: true
  verify_plan:
    description:
      - Add the verification plan (C(verify)) - the probes and listeners of
        C(playbooks/verify.yml). It grows with every workload of the fleet, so it is left out
        (null) unless asked for.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Select this host's slice of the network model
  ansible.builtin.set_fact:
    calico_host: >-
      {{ hostvars['localhost'].calico_network_json
         | calico.network.calico_host_slice(inventory_hostname) }}
  no_log: true
# calico_host.peers[0] =>
#   {name: Mesh_192_168_100_101, kind: mesh, host: host2, ip: 192.168.100.101, as: 64512,
#    passive: true, password: "", rr_client: false, rr_cluster_id: "", multihop: false,
#    next_hop_keep: false, ttl_security: false, accept: [], prefix_limit: 0}
"""

RETURN = r"""
_value:
  description: The host's slice of the network model.
  type: dict
  contains:
    name:
      description: The inventory hostname.
      type: str
    ip:
      description: The host's underlay address (C(calico_ip) without its prefix).
      type: str
    subnet:
      description: The host's underlay subnet.
      type: str
    as:
      description: The host's AS number.
      type: int
    router_id:
      description: The BGP router id.
      type: str
    blocks:
      description: The host's blocks.
      type: list
      elements: str
    host_address:
      description: The host's own address in its block (its tunnel address).
      type: str
    endpoint_to_host_action:
      description: C(ACCEPT), C(DROP) or C(RETURN).
      type: str
    workloads:
      description: The local workloads - C(name), C(ip), C(interface), C(labels), C(floating_ips).
      type: list
      elements: dict
    rack:
      description: The host's rack, null in a mesh.
      type: str
    route_reflector:
      description: Whether the host reflects routes for its rack.
      type: bool
    pools:
      description: The fleet's pools.
      type: list
      elements: dict
    bgp_passwords:
      description: The TCP-MD5 keys this host's sessions use, by name.
      type: dict
    external_accept:
      description: The external prefixes this host may install and pass on.
      type: list
      elements: str
    peers:
      description: The host's BGP sessions, every key set for every kind.
      type: list
      elements: dict
      contains:
        name:
          description: The BIRD protocol's name (C(Mesh_<ip>), C(RR_<ip>), C(Peer_<name>), ...).
          type: str
        kind:
          description: C(mesh), C(rr-client), C(rr-peer), C(ebgp) or C(external).
          type: str
        host:
          description: The peer's host or router name.
          type: str
        ip:
          description: The peer's address.
          type: str
        as:
          description: The peer's AS.
          type: int
        passive:
          description: Whether this side waits for the peer to dial.
          type: bool
        password:
          description: The name of the session's key in the secrets file, or empty.
          type: str
        rr_client:
          description: The peer is this reflector's client.
          type: bool
        rr_cluster_id:
          description: The rack's cluster id on reflector sessions, else empty.
          type: str
        multihop:
          description: False for a direct session, true or a hop count otherwise.
          type: raw
        next_hop_keep:
          description: Keep the next hop (eBGP between racks).
          type: bool
        ttl_security:
          description: GTSM on an external session.
          type: bool
        accept:
          description: The prefix patterns taken from an external router.
          type: list
          elements: str
        prefix_limit:
          description: At most this many routes from an external router (0 - no limit).
          type: int
    tunnel:
      description: The tunnel plan.
      type: dict
      contains:
        subnet:
          description: The host's underlay subnet.
          type: str
        address:
          description: The host's tunnel address.
          type: str
        encapsulations:
          description: C(ipip) and/or C(vxlan), those some pool uses.
          type: list
          elements: str
        route_protocol:
          description: The kernel protocol number of the VXLAN routes.
          type: int
        bird:
          description: Per encapsulation, BIRD's pool prefix filters C(always) and C(cross_subnet).
          type: dict
        ipip:
          description: Whether tunl0 is needed.
          type: bool
        vxlan:
          description: The VXLAN device's plan.
          type: dict
          contains:
            enabled:
              description: Whether vxlan.calico is needed.
              type: bool
            vni:
              description: The VNI.
              type: int
            port:
              description: The UDP port.
              type: int
            mac:
              description: The device's MAC.
              type: str
            routes:
              description: Routes to remote blocks (C(dst), C(via), C(host)).
              type: list
              elements: dict
            neighbors:
              description: Permanent neighbour entries (C(ip), C(mac)).
              type: list
              elements: dict
            fdb:
              description: FDB entries (C(mac), C(dst)).
              type: list
              elements: dict
    bgp:
      description: C(bfd) and C(graceful_restart_time).
      type: dict
    felix:
      description: What the host's Felix chains need from the rest of the fleet.
      type: dict
      contains:
        policies:
          description: The policies that apply to a local workload, each rule's C(peers) resolved.
          type: list
          elements: dict
        default_profile:
          description: C(fleet) or C(deny).
          type: str
        host_addresses:
          description: Every fleet host's underlay address, in address order.
          type: list
          elements: str
    verify:
      description: With O(verify_plan), C(probes) and C(listeners); null otherwise.
      type: dict
      contains:
        probes:
          description: The probes this host sends (see C(calico.network.calico_probe_plan)).
          type: list
          elements: dict
        listeners:
          description: The listeners this host starts (see C(calico.network.calico_listener_plan)).
          type: list
          elements: dict
"""


def calico_host_slice(model: FleetModel | str, host: str, verify_plan: bool = False) -> HostSlice:
    if isinstance(model, str):
        model = json.loads(model)
    if not model or host not in model["hosts"]:  # anything else is a bug: let it show whole
        raise AnsibleFilterError(f"{host} is not in the network model (is it in the inventory?)")
    return host_slice(model, host, verify_plan)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_host_slice": calico_host_slice}
