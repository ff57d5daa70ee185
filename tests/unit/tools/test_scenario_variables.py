"""Scenario and test playbooks keep their facts out of the calico_ namespace.

Registered results and set_fact facts land in hostvars, where the model's unknown-variable
check reads every calico_* name. A name that only molecule/ or tests/ sets would either warn
as a typo or need an entry in the production list INTERNAL_VARIABLES: scenario facts take
another prefix (scenario_, xs_, rk_, molecule_) instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ansible_collections.calico.network.plugins.plugin_utils.known_variables import (
    KNOWN_VARIABLES,
)

REPO = Path(__file__).resolve().parents[3]
SCANNED = ("molecule", "tests")
SET_FACT = ("ansible.builtin.set_fact", "set_fact")
TEMPLATED_NAME = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")


def _walk(node: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair of every mapping in a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def templated_fact_names(documents: list[object]) -> set[str]:
    """Variables whose value names a fact: ``set_fact: {"{{ n }}": ...}`` gives ``n``."""
    found = set()
    for key, value in (pair for document in documents for pair in _walk(document)):
        if key in SET_FACT and isinstance(value, dict):
            found.update(m.group(1) for m in map(TEMPLATED_NAME.match, map(str, value)) if m)
    return found


def facts_set(documents: list[object], templated: set[str] | None = None) -> set[str]:
    """Names the documents register or set as facts; a value given to a variable of
    ``templated`` (default: the documents' own templated set_fact keys) is a fact name too,
    wherever the include that passes it is."""
    if templated is None:
        templated = templated_fact_names(documents)
    names: set[str] = set()
    for key, value in (pair for document in documents for pair in _walk(document)):
        if key == "register" and isinstance(value, str):
            names.add(value)
        elif key in SET_FACT and isinstance(value, dict):
            names.update(str(fact) for fact in value if not TEMPLATED_NAME.match(str(fact)))
        elif key in templated and isinstance(value, str):
            names.add(value)
    return names


def scenario_yaml() -> Iterator[Path]:
    for top in SCANNED:
        yield from sorted((REPO / top).rglob("*.yml"))


def foreign_calico_names(documents: list[object], templated: set[str] | None = None) -> set[str]:
    return {
        name
        for name in facts_set(documents, templated)
        if name.startswith("calico_") and name not in KNOWN_VARIABLES
    }


def test_scenarios_and_tests_set_no_calico_fact_that_is_not_a_role_variable():
    documents = {path: list(yaml.safe_load_all(path.read_text())) for path in scenario_yaml()}
    templated = templated_fact_names([doc for docs in documents.values() for doc in docs])
    found = {}
    for path, docs in documents.items():
        names = foreign_calico_names(docs, templated)
        if names:
            found[str(path.relative_to(REPO))] = sorted(names)
    assert not found, f"rename these facts with a scenario prefix (e.g. scenario_): {found}"


def test_the_scan_reads_the_scenarios():
    scanned = [path for path in scenario_yaml() if "molecule" in path.parts]
    assert len(scanned) > 10
    everything = [doc for path in scanned for doc in yaml.safe_load_all(path.read_text())]
    assert {
        "scenario_dry_run",
        "scenario_before",
        "xs_devices",
        "xs_initial",
        "rk_protocols",
    } <= facts_set(everything)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("- command: ip route\n  register: calico_routes\n", {"calico_routes"}),
        ("- set_fact:\n    calico_lines: []\n", {"calico_lines"}),
        (
            "- include_tasks: snap.yml\n  vars: {name_of: calico_before}\n"
            '- ansible.builtin.set_fact:\n    "{{ name_of }}": 1\n',
            {"calico_before"},
        ),
        ("- set_fact:\n    calico_host: {}\n    scenario_x: 1\n", set()),
        ("- command: ip route\n  register: scenario_routes\n", set()),
    ],
)
def test_the_check_flags_calico_facts_that_no_role_defines(text, flagged):
    assert foreign_calico_names(list(yaml.safe_load_all(text))) == flagged
