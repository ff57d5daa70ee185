"""Check the roles' settings (calico_bird_*, calico_felix_*, MTUs, paths) before any role runs.

Each role checks its own settings against its argument specs when it starts, but by then the
roles before it have changed hosts. The network model runs first, so it checks every setting's
type and choices here, from the same argument specs (generated into known_variables.py), with
one message per problem like every other variable. The inventory variables are read, and
checked, by spec.py and its readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.known_variables import (
    ROLE_SETTINGS,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    is_unset,
    read_bool,
    read_int_in,
    read_text,
    shown,
)

# Set by calico_model itself (set_fact) for every host, not an inventory variable.
MODEL_FACTS = frozenset({"calico_host"})
# The values each whole-number setting may take: (low, high), and what the number is.
MTU = ((0, 65535), "an MTU (0 reads it from the host), at least 576 otherwise")
MIN_MTU = 576  # the least every IPv4 host must accept (RFC 791)
INT_RANGES: dict[str, tuple[tuple[int, int], str]] = {
    "calico_bird_scan_time": ((1, 3600), "seconds"),
    "calico_bird_bfd_interval_ms": ((10, 60000), "milliseconds"),
    "calico_bird_bfd_multiplier": ((1, 255), "a count of packets"),
    "calico_tunnel_underlay_mtu": MTU,
    "calico_workloads_mtu": MTU,
}
DEFAULT_RANGE = ((0, 2**31 - 1), "a whole number")


def check_role_settings(host_vars: Mapping[str, Mapping[str, Any]], problems: Problems) -> None:
    """Every role setting a host has, checked by its argument spec's type and choices."""
    for host, values in host_vars.items():
        for variable, (kind, choices) in ROLE_SETTINGS.items():
            # A model fact is in hostvars whenever the model is built again in the same run.
            if variable in MODEL_FACTS or variable not in values:
                continue
            _check(host, variable, kind, choices, values[variable], problems)


def _check(
    host: str, variable: str, kind: str, choices: tuple[str, ...], raw: Any, problems: Problems
) -> None:
    if kind in ("list", "dict"):
        return  # structured settings have readers of their own (calico_ipam_release: ledger.py)
    if kind == "bool":
        read_bool(host, variable, raw, problems)
    elif kind == "int":
        bounds, what = INT_RANGES.get(variable, DEFAULT_RANGE)
        number = read_int_in(host, variable, raw, problems, bounds, what)
        if number is not None and INT_RANGES.get(variable) == MTU and 0 < number < MIN_MTU:
            problems.error(host, variable, f"{number} is below {MIN_MTU}", f"write {what}")
    elif choices:
        if not isinstance(raw, str) or raw not in choices:
            problems.error(
                host, variable, f"{shown(raw)} is not a choice", f"use one of: {', '.join(choices)}"
            )
    elif is_unset(raw):
        problems.error(host, variable, "is empty", "write a value, or remove it for the default")
    else:  # str and path: rendered into files (bird.conf's include) and task arguments
        read_text(
            host,
            variable,
            raw,
            problems,
            "write it on one line, without quotes or backslashes",
        )
