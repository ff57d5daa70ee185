"""Malformed values of every type, fed to every variable: always messages, never a Python error.

The variables and their declared types come from the roles' argument specs (the same source as
docs/variables.md and the known-variable list), so a new variable is fed bad values without
anyone adding it here. List-of-mapping variables also get bad values in every key of an item.
Each value is set on every host, so a message cannot come from the fleet-wide check that values
agree; it must come from the variable's own reader.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import build
from ansible_collections.calico.network.plugins.plugin_utils.settings import MODEL_FACTS
from tools.variables_doc import load_specs

POOLS = [{"cidr": "10.244.0.0/16", "block_size": 24}]
HOSTS = {"h1": "192.0.2.11/24", "h2": "192.0.2.12/24"}
# A value of the wrong kind for each declared type: other types, text that looks right to
# Python but not to the reader (Unicode digits, a trailing line break), numbers out of range.
MALFORMED: dict[str, list[Any]] = {
    "int": [
        "\uff15",  # fullwidth 5
        "\u0663",  # Arabic-Indic 3
        "12\n",
        "ten",
        1.5,
        math.nan,
        math.inf,
        10**30,
        -(10**30),
        True,
        [1],
        {"a": 1},
    ],
    "float": ["five", math.nan, math.inf, True, [1], {"a": 1}, 10**30],
    "bool": ["maybe", "yes please", 2, -1, 1.5, [True], {"a": 1}, "true\x00"],
    "str": [["x"], {"k": "v"}, True, 1.5, 10**30, "a\nb", "tab\there\n", "\u2028"],
    "path": [["/x"], {"k": "v"}, True, 7, "/etc/bird\n", '/etc/"x"'],
    "list": [{"k": "v"}, "text", True, 5, 1.5, [None], [["nested"]], [{"unknown_key": 1}]],
    "dict": ["text", ["x"], True, 5, {"blocks": ["x"]}, {"unknown_key": {}}],
}
# A minimal valid item of each list-of-mapping variable, into whose keys bad values go.
VALID_ITEM = {
    "calico_pools": {"cidr": "10.244.0.0/16", "block_size": 24},
    "calico_workloads": {"name": "web"},
    "calico_bgp_peers": {"name": "tor", "ip": "192.0.2.1", "as": 65000},
    "calico_policies": {"name": "web", "selector": "all()", "ingress": [{"action": "allow"}]},
}


def declared() -> dict[str, Mapping[str, Any]]:
    """Every variable's first declaration (type, sub-options), from the argument specs."""
    options: dict[str, Mapping[str, Any]] = {}
    for entry_points in load_specs().values():
        for spec in entry_points.values():
            for name, option in (spec.get("options") or {}).items():
                options.setdefault(name, option)
    return {name: options[name] for name in sorted(options) if name not in MODEL_FACTS}


def cases() -> Iterator[Any]:
    for variable, option in declared().items():
        kind = option.get("type", "str")
        for value in MALFORMED[kind]:
            yield pytest.param(variable, value, id=f"{variable}={value!r}"[:80])
        if variable in VALID_ITEM:
            for key, sub in (option.get("options") or {}).items():
                for value in MALFORMED[sub.get("type", "str")]:
                    item = {**VALID_ITEM[variable], key: value}
                    yield pytest.param(variable, [item], id=f"{variable}[0].{key}={value!r}"[:80])


def host_vars(variable: str, value: Any) -> dict[str, dict[str, Any]]:
    hosts = {name: {"calico_ip": ip, "calico_pools": POOLS} for name, ip in HOSTS.items()}
    for values in hosts.values():
        values[variable] = value
    return hosts


@pytest.mark.parametrize(("variable", "value"), list(cases()))
def test_a_malformed_value_gives_a_message_naming_the_variable(variable: str, value: Any) -> None:
    result = build(host_vars(variable, value))  # raises nothing
    messages = result["errors"] + result["warnings"]
    assert any(f": {variable}" in message for message in messages), messages
    for message in messages:
        assert "Traceback" not in message
        assert ". Fix: " in message


def test_every_declared_variable_is_fed_malformed_values() -> None:
    fed = {case.values[0] for case in cases()}
    assert fed == set(declared())
    assert len(fed) >= 30


def test_the_malformed_values_run_fast() -> None:
    started = time.perf_counter()
    count = sum(1 for case in cases() if build(host_vars(*case.values)) is not None)
    print(f"{count} malformed inventories built in {time.perf_counter() - started:.2f} s")
