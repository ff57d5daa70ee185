"""Unknown calico_* variables are reported as likely typos, with the closest known name."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.calico.network.plugins.plugin_utils.known_variables import (
    KNOWN_VARIABLES,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.unknown_variables import (
    INTERNAL_VARIABLES,
    check_unknown_variables,
)

REPO = Path(__file__).resolve().parents[3]


def warnings_for(host_vars: dict[str, dict[str, object]]) -> list[str]:
    problems = Problems()
    check_unknown_variables(host_vars, problems)
    assert not problems.errors
    return problems.warning_messages()


def test_typo_names_the_closest_known_variable() -> None:
    found = warnings_for({"h1": {"calico_bgp_pasword": "x"}, "h2": {}})
    assert found == [
        "h1: calico_bgp_pasword: is not a calico-ansible variable (did you mean "
        "calico_bgp_password?). Fix: rename it to calico_bgp_password, or remove it."
    ]


def test_variable_on_every_host_is_reported_once_for_the_fleet() -> None:
    found = warnings_for({"h1": {"calico_pool": []}, "h2": {"calico_pool": []}})
    assert len(found) == 1
    assert found[0].startswith("all hosts: calico_pool: ")
    assert "did you mean calico_pools?" in found[0]


def test_name_far_from_every_known_one_gets_no_guess() -> None:
    found = warnings_for({"h1": {"calico_zebra_stripes": 1}})
    assert "did you mean" not in found[0]
    assert "docs/variables.md" in found[0]


def test_known_internal_and_foreign_variables_are_quiet() -> None:
    assert (
        warnings_for(
            {"h1": {"calico_ip": "1.2.3.4/24", "calico_network": {}, "ansible_host": "x", "cal": 1}}
        )
        == []
    )


def _project_set_names() -> set[str]:
    """Every calico_* name the production YAML (roles/, playbooks/) registers or sets as a fact.

    Test scenarios (molecule/) name their facts without the calico_ prefix, so production code
    lists nothing of theirs.
    """
    names: set[str] = set()
    paths = [*(REPO / "roles").glob("**/*.yml"), *(REPO / "playbooks").glob("**/*.yml")]
    for path in paths:
        text = path.read_text()
        names.update(re.findall(r"register:\s*(calico_\w+)", text))
        for document in yaml.safe_load_all(text):
            names.update(_set_fact_keys(document))
    return names


def _set_fact_keys(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("ansible.builtin.set_fact", "set_fact") and isinstance(value, dict):
                found.update(k for k in value if str(k).startswith("calico_"))
            found |= _set_fact_keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _set_fact_keys(item)
    return found


def test_every_fact_the_project_sets_is_known_or_internal() -> None:
    missing = _project_set_names() - KNOWN_VARIABLES - INTERNAL_VARIABLES
    assert not missing, f"add to INTERNAL_VARIABLES in unknown_variables.py: {sorted(missing)}"


def test_internal_list_has_no_dead_entries() -> None:
    dead = INTERNAL_VARIABLES - _project_set_names()
    assert not dead, f"no YAML sets these any more: {sorted(dead)}"
