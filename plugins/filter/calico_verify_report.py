"""Filter: the fleet's verification report (sessions and reachability)."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.model import host_slice
from ansible_collections.calico.network.plugins.plugin_utils.verify import report

DOCUMENTATION = r"""
name: calico_verify_report
author: calico-ansible developers
version_added: "0.1.0"
short_description: Build the verification report of a fleet
description:
  - "Takes the fleet model and, per host, the output of C(birdc show protocols) and the results
    of C(calico.network.calico_probe), and returns a compact table that ends with the lines
    C(bgp: E/T sessions established) and C(reachability: R/P workload pairs reachable)."
  - What is expected (sessions, pairs) comes from the model, so a host that gave no answer
    counts as all down instead of vanishing from the totals.
options:
  _input:
    description: The fleet model from C(calico.network.calico_network_model).
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
    msg: "{{ (calico_network | calico.network.calico_verify_report(calico_results)).lines }}"
  vars:
    calico_results:
      host1: {protocols: "{{ bird_out.stdout }}", probes: "{{ probe_out.results }}"}
"""

RETURN = r"""
_value:
  description: C(lines) (the report), C(bgp) and C(reachability) (the summary lines), C(ok).
  type: dict
"""


def calico_verify_report(
    model: dict[str, Any], results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    slices = {host: host_slice(model, host, verify_plan=True) for host in model["hosts"]}
    return report(slices, results)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_verify_report": calico_verify_report}
