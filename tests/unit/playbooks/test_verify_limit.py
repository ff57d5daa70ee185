"""verify.yml --limit reports on the limited hosts only.

Three mesh hosts without workloads run verify.yml on this machine (local connection, no BIRD
session can be up): limited to h1 the report must count h1's own two sessions (0/2), not the
six of the fleet, and show no line for h2 or h3.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from tests.unit.playbooks.ansible_run import ansible_playbook
from tools.render import REPO


def test_verify_with_limit_reports_only_the_limited_hosts(tmp_path: Path) -> None:
    local = {
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
    }
    hosts = {f"h{i}": {"calico_ip": f"192.0.2.1{i}/24", **local} for i in (1, 2, 3)}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"calico_pools": [{"cidr": "10.244.0.0/16", "block_size": 26}]},
                    "children": {"calico_hosts": {"hosts": hosts}},
                }
            }
        )
    )
    done = ansible_playbook(inventory, REPO / "playbooks" / "verify.yml", "--limit", "h1")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output  # no session is up here
    assert "bgp: 0/2 sessions established" in output, output
    report = output[output.index("Report sessions and reachability") :]
    assert "h1 " in report
    assert "h2 " not in report and "h3 " not in report
