"""One run builds the network model once: validate.yml, site.yml and verify.yml alike.

The model filter says at verbosity 2 each time it builds a model; each playbook runs with -vv
against the lab inventory whose hosts cannot be reached (ssh to a port nothing listens on), so
the model play, which needs no host, runs in full and the first task that needs a host stops.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.unit.playbooks.ansible_run import ansible_playbook
from tools.render import REPO

BUILT = "calico_network_model: built the model of 4 hosts (0 errors, 0 warnings)"
UNREACHABLE = {
    "ansible_connection": "ssh",
    "ansible_host": "127.0.0.1",
    "ansible_port": "9",  # discard: nothing listens on it here
    "ansible_timeout": "2",
    "calico_ipam_ledger_write": "false",  # the ledger beside the inventory stays untouched
}


def run_playbook(playbook: str) -> subprocess.CompletedProcess[str]:
    extra = [arg for key, value in UNREACHABLE.items() for arg in ("-e", f"{key}={value}")]
    return ansible_playbook(REPO / "inventory/lab", REPO / "playbooks" / playbook, "-vv", *extra)


@pytest.mark.parametrize(
    ("playbook", "reaches_hosts"),
    [("validate.yml", False), ("site.yml", True), ("verify.yml", True)],
)
def test_a_run_builds_the_model_exactly_once(playbook: str, reaches_hosts: bool) -> None:
    done = run_playbook(playbook)
    output = done.stdout + done.stderr
    assert output.count("calico_network_model: built the model") == 1, output
    assert BUILT in output
    if reaches_hosts:  # the model play passed, then a task that needs a host stopped the run
        assert "UNREACHABLE" in output, output
    else:
        assert done.returncode == 0, output
        assert "UNREACHABLE" not in output
