"""Flag ``calico_*`` variables that no role knows: almost always a typo.

A misspelt ``calico_bgp_pasword`` would otherwise be ignored without a word and the sessions
would run without their key. The known names come from the roles' argument specs (generated
into known_variables.py); the internal names are facts and registered results the project's
own playbooks set, which show up in hostvars of later plays.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.known_variables import (
    KNOWN_VARIABLES,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems

# Facts (set_fact) and registered results of the project's roles and playbooks.
# tests/unit/plugin_utils/test_unknown_variables.py scans their YAML (roles/ and playbooks/)
# and keeps this list complete.
INTERNAL_VARIABLES = frozenset(
    {
        "calico_bird_package",
        "calico_bird_routes",
        "calico_bird_unit",
        "calico_bird_version",
        "calico_bird_version_installed",
        "calico_felix_rpfilter",
        "calico_model_result",
        "calico_node_bundle",
        "calico_node_started",
        "calico_node_stopped",
        "calico_network",
        "calico_network_json",
        "calico_tunnel_state",
        "calico_verify",
        "calico_verify_listening",
        "calico_verify_probes",
        "calico_verify_protocols",
        "calico_verify_report",
    }
)
CLOSE_ENOUGH = 0.75


def closest_known(name: str) -> str | None:
    matches = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=CLOSE_ENOUGH)
    return matches[0] if matches else None


def check_unknown_variables(host_vars: Mapping[str, Mapping[str, Any]], problems: Problems) -> None:
    """Warn once per unknown variable, naming the hosts that carry it and the likely fix."""
    carriers: dict[str, list[str]] = {}
    for host, values in host_vars.items():
        for name in values:
            if name.startswith("calico_") and name not in KNOWN_VARIABLES | INTERNAL_VARIABLES:
                carriers.setdefault(name, []).append(host)
    for name in sorted(carriers):
        hosts = carriers[name]
        where = FLEET if len(hosts) == len(host_vars) > 1 else ", ".join(sorted(hosts))
        guess = closest_known(name)
        if guess:
            problems.warn(
                where,
                name,
                f"is not a calico-ansible variable (did you mean {guess}?)",
                f"rename it to {guess}, or remove it",
            )
        else:
            problems.warn(
                where,
                name,
                "is not a calico-ansible variable, so nothing reads it",
                "remove it or check docs/variables.md for the right name",
            )
