"""The policy scenario against a table written here by hand, not derived from the model.

playbooks/verify.yml takes its expectations from the same model that writes the rules: if the
policies were silently dropped, rules and expectations would both become "allow all" and it
would still pass. This table states what inventory/group_vars/all/policy.yml means, read from
docs/iptables.md ("Policy"), and every row is a real TCP connect between workload namespaces.

A denied row counts only if a DROP rule in a cali- chain (on the source or the destination
host) counted the packets, so a missing route or namespace cannot pass as "denied"; the rows
that cross the logged cache-egress rule also need its LOG counter to move.

Run by verify.yml (molecule verify) through pytest-testinfra's podman backend.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import testinfra
import yaml

INVENTORY = Path(__file__).resolve().parent / "inventory" / "hosts.yml"
SCENARIO_POLICY = INVENTORY.parent / "group_vars" / "all" / "policy.yml"
LAB_POLICY = Path(__file__).resolve().parents[2] / "inventory/lab/group_vars/all/policy.yml"
# (from workload, to workload, TCP port, expected, why)
TABLE = [
    ("web-1", "db-2", 5432, "allow", "LAB: db accepts PostgreSQL from web (other host)"),
    ("web-2", "db-1", 5432, "allow", "LAB: db accepts PostgreSQL from web (other host)"),
    ("web-2", "db-2", 5432, "allow", "LAB: db accepts PostgreSQL from web (same host)"),
    ("db-1", "db-2", 5432, "deny", "LAB: db accepts PostgreSQL from web only"),
    ("web-1", "db-2", 8080, "deny", "LAB: db's ingress opens 5432 only"),
    ("db-2", "web-1", 8080, "allow", "LAB: no policy selects db's egress or web: fleet profile"),
    ("cache-3", "db-1", 5432, "deny", "cache may not open PostgreSQL connections"),
    ("cache-3", "web-1", 5432, "deny", "cache's egress denies 5432 whatever the target"),
    ("cache-3", "web-2", 8080, "allow", "cache may send anything else; web has the profile"),
    ("web-1", "cache-3", 5432, "allow", "no policy selects cache's ingress: fleet profile"),
]
LOGGED = {("cache-3", 5432)}  # cache-egress logs its PostgreSQL attempts before denying
COUNTER = re.compile(r"^\[(\d+):\d+\] -A (cali-\S+) (.*)$")


def owners() -> dict[str, str]:
    """Workload name -> podman host, from the scenario's inventory."""
    hosts = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["calico_hosts"]["hosts"]
    return {w["name"]: host for host, v in hosts.items() for w in v["calico_workloads"]}


def host(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"podman://{name}")


def counted(node: testinfra.host.Host, target: str) -> int:
    """Packets counted by the `-j target` rules of the cali- chains in the filter table."""
    total = 0
    for line in node.check_output("iptables-save -c -t filter").splitlines():
        match = COUNTER.match(line)
        if match and re.search(rf"-j {target}\b", match[3]):
            total += int(match[1])
    return total


def address(node: testinfra.host.Host, netns: str) -> str:
    out = node.check_output(f"ip -n {netns} -4 -o address show dev eth0")
    return out.split()[3].split("/")[0]


def listen(node: testinfra.host.Host, netns: str, port: int) -> None:
    node.check_output(
        f"setsid ip netns exec {netns} timeout 30 nc -dlk {port} </dev/null >/dev/null 2>&1 &"
    )
    for _ in range(40):
        if node.run(f"ip netns exec {netns} ss -Hltn sport = :{port}").stdout.strip():
            return
        node.run("sleep 0.25")
    pytest.fail(f"no listener on {netns}:{port}")


def test_the_scenario_runs_the_labs_demo_policy() -> None:
    """The LAB rows hold for the lab only if the scenario runs the lab's policy unchanged."""
    lab = yaml.safe_load(LAB_POLICY.read_text())
    scenario = yaml.safe_load(SCENARIO_POLICY.read_text())
    assert scenario["calico_default_profile"] == lab["calico_default_profile"]
    for policy in lab["calico_policies"]:
        assert policy in scenario["calico_policies"], f"the lab's policy {policy['name']} changed"
    # cache-egress selects no workload the lab's policies select: it cannot alter the LAB rows.
    assert {p["name"] for p in scenario["calico_policies"]} - {"db"} == {"cache-egress"}


@pytest.mark.parametrize(("src", "dst", "port", "expected", "why"), TABLE)
def test_policy_table(src: str, dst: str, port: int, expected: str, why: str) -> None:
    owner = owners()
    src_host, dst_host = host(owner[src]), host(owner[dst])
    nodes = {owner[src]: src_host, owner[dst]: dst_host}.values()
    target = address(dst_host, dst)
    listen(dst_host, dst, port)
    drops = sum(counted(node, "DROP") for node in nodes)
    logs = sum(counted(node, "LOG") for node in nodes)

    connect = src_host.run(f"ip netns exec {src} nc -z -w 2 {target} {port}")

    dropped = sum(counted(node, "DROP") for node in nodes) - drops
    logged = sum(counted(node, "LOG") for node in nodes) - logs
    got = "allow" if connect.rc == 0 else "deny"
    print(f"{src} -> {dst}:{port} {got} ({why}); cali- DROP +{dropped}, LOG +{logged}")
    assert got == expected, f"{src} -> {dst} ({target}):{port}: {why}"
    if expected == "deny":
        assert dropped > 0, f"{src} -> {dst}:{port} failed, but no cali- DROP rule counted it"
    if (src, port) in LOGGED:
        assert logged > 0, f"{src} -> {dst}:{port}: the cache-egress LOG rule did not count it"
