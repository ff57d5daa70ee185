"""Filter: the fleet's verification report (sessions and reachability)."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.shapes import HostSlice, VerifyReport
from ansible_collections.calico.network.plugins.plugin_utils.verify import report

DOCUMENTATION = r"""
name: calico_verify_report
author: calico-ansible developers
version_added: "0.1.0"
short_description: Build the verification report of a fleet
description:
  - "Takes every host's slice (its expected sessions and probe plan) and, per host, the output
    of C(birdc show protocols) and the results of C(calico.network.calico_probe), and returns a
    compact table per host that ends with the lines C(bgp: E/T sessions established) and
    C(reachability: R/P probes as expected (A allowed, D denied by policy))."
  - What is expected comes from the slices, so a host that gave no answer counts with all of
    its sessions down and all of its probes failed instead of vanishing from the totals.
options:
  _input:
    description:
      - Per host, its slice C(calico_host), made with C(verify_plan=true) (see
        C(calico.network.calico_host_slice)).
    type: dict
    required: true
  results:
    description: Per host, a dict with C(protocols) (birdc output) and C(probes) (probe results).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report
  ansible.builtin.debug:
    msg: "{{ (calico_slices | calico.network.calico_verify_report(calico_results)).lines }}"
  vars:
    calico_slices: {host1: "{{ hostvars.host1.calico_host }}"}
    calico_results:
      host1: {protocols: "{{ bird_out.stdout }}", probes: "{{ probe_out.results }}"}
# =>
#   host1                bgp 3/3 established   probes as expected 17/17   mesh 3/3
#       mesh      Mesh_192_168_100_101         up     Established
#   ...
#   bgp: 12/12 sessions established
#   reachability: 76/76 probes as expected (56 allowed, 20 denied by policy)
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    lines:
      description: The report's lines, ending with the two summary lines.
      type: list
      elements: str
    bgp:
      description: "The summary line C(bgp: E/T sessions established)."
      type: str
    reachability:
      description: >-
        The summary line C(reachability: R/P probes as expected (A allowed, D denied by
        policy)).
      type: str
    ok:
      description: Whether every session is established and every probe went as expected.
      type: bool
"""


def calico_verify_report(
    slices: dict[str, HostSlice], results: dict[str, dict[str, Any]]
) -> VerifyReport:
    return report(slices, results)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_verify_report": calico_verify_report}
