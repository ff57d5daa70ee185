"""The catalog of inventories: each bad one fails validation with exactly its recorded messages,
each tricky valid one (severity ``valid``) passes without an error or a warning.

Every case runs through the real playbooks/validate.yml (ansible-playbook, this repository's
collection), so the test covers the inventory loading, the filter and the playbook's output, not
only the model. Cases run four at a time, each in its own process running ansible-playbook's
CLI, forked after Ansible is imported once (tests/catalog/batch.py).
"""

from __future__ import annotations

import re

import pytest

from tests.catalog.catalog import Outcome, case_names, load_case, run_validate_many

MINIMUM_CASES = 100
MINIMUM_VALID_CASES = 5
# "host: variable: what is wrong. Fix: what to do." with the host (quoted when its name holds a
# quote or a control character), or "all hosts", or a list of hosts.
HOST = r"""([\w.-]+|'[^']*'|"[^"]*")"""
MESSAGE = re.compile(
    rf"(all hosts|{HOST}(, {HOST})*( and \d+ more hosts)?): calico_[\w\[\].]+: .+\. Fix: .+\.",
    re.DOTALL,
)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return run_validate_many({name: load_case(name)["inventory"] for name in case_names()})


def test_catalog_has_enough_cases() -> None:
    assert len(case_names()) >= MINIMUM_CASES
    valid = [name for name in case_names() if load_case(name)["severity"] == "valid"]
    assert len(valid) >= MINIMUM_VALID_CASES


@pytest.mark.parametrize("name", case_names())
def test_case_expectations_name_host_variable_and_fix(name: str) -> None:
    case = load_case(name)
    assert case["severity"] in ("error", "warning", "valid")
    if case["severity"] == "valid":
        assert case["expect"] == [], "a valid inventory expects no message"
        return
    assert case["expect"], "record the expected messages: tests/catalog/catalog.py --write"
    for message in case["expect"]:
        assert MESSAGE.fullmatch(message), message


@pytest.mark.parametrize("name", case_names())
def test_case_produces_its_messages(name: str, outcomes: dict[str, Outcome]) -> None:
    case, outcome = load_case(name), outcomes[name]
    if case["severity"] == "error":
        assert outcome.returncode != 0
        assert outcome.errors == case["expect"]
    else:  # a warning or a valid inventory: validation passes
        assert outcome.returncode == 0, outcome.errors
        assert outcome.errors == []
        assert outcome.warnings == case["expect"]
