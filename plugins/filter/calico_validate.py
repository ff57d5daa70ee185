"""Filter: every problem of an inventory, for playbooks/validate.yml and site.yml."""

from __future__ import annotations

from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.model import calico_vars, validate

DOCUMENTATION = r"""
name: calico_validate
author: calico-ansible developers
version_added: "0.1.0"
short_description: Validate the fleet's calico_* variables without changing anything
description:
  - Runs every check of the network model and returns the problems instead of failing, so a
    playbook can print all of them at once. Each message names the host (or C(all hosts) for
    fleet-wide variables), the variable and the fix.
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
- name: Validate the inventory
  ansible.builtin.assert:
    that: calico_check.errors | length == 0
    fail_msg: "{{ calico_check.errors }}"
  vars:
    calico_check: "{{ hostvars | calico.network.calico_validate(groups['all']) }}"
# calico_check =>
#   {errors: ["host2: calico_ip: '10.0.0.300/24' is not an IPv4 address. Fix: set the host's
#              underlay address with its prefix, e.g. calico_ip: 192.168.100.100/24."],
#    warnings: []}
"""

RETURN = r"""
_value:
  description: C(errors) and C(warnings), each a list of messages.
  type: dict
"""


def calico_validate(hostvars: Any, hosts: list[str]) -> dict[str, list[str]]:
    problems = validate(calico_vars(hostvars, list(hosts)))
    return {"errors": problems.messages(), "warnings": problems.warning_messages()}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"calico_validate": calico_validate}
