"""calico-node on a real podman fleet: reboot, drift, foreign state, a bad desired state, status.

The fleet (tests/faults/node_inventory): agt-h1 and agt-h2 on 10.42.1.0/24, agt-h3 on
10.42.2.0/24 behind the lab's router (VXLAN CrossSubnet), four workloads, resync interval 5 s.
site.yml converges it once; after that no playbook runs except the idempotence check: every
repair below is the agent's. Run with `make faults` (root, podman). The times printed are
measurements; the bounds asserted are the ones the docs promise (a repair within the resync
interval, the dataplane back within 15 s of systemd reaching `running` after a reboot).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra
import yaml

from tests.faults.fleet import Fleet, wait_for

NODE_INVENTORY = Path(__file__).resolve().parent / "node_inventory"
SETTINGS = yaml.safe_load((NODE_INVENTORY / "group_vars" / "all" / "calico.yml").read_text())
RESYNC = SETTINGS["calico_node_resync_interval"]
# A repair lands within one interval of the drift, plus the reconcile itself and our polling.
REPAIR_BOUND = RESYNC + 2.0
REBOOT_BOUND = 15.0  # docs/operations.md: back within 15 s of systemd reaching `running`
H1, H2, H3 = "agt-h1", "agt-h2", "agt-h3"

# What calico-ansible owns on a host, printed without anything a reboot renumbers (ifindex,
# netns ids) or counts (iptables counters): routes on cali veths and vxlan.calico, the tunnel
# device, its neighbour and FDB entries, the veths, the namespaces' addresses, routes and
# neighbours, the veths' sysctls and every cali chain and rule.
OWNED = r"""
set -o pipefail
ip -d link show vxlan.calico 2>/dev/null | sed -E 's/^[0-9]+: //' | grep -v '^ *link/ether' || true
ip -o link show type veth | sed -E 's/^[0-9]+: //' | grep '^cali' || true
ip -4 route show table main | grep -E 'dev (cali|vxlan)' || true
ip -4 neigh show dev vxlan.calico nud permanent 2>/dev/null || true
bridge fdb show dev vxlan.calico 2>/dev/null | grep ' dst ' || true
for ns in $(ip netns list | cut -d' ' -f1 | sort); do
  echo "netns $ns"
  ip -n "$ns" -o -4 addr show | sed -E 's/^[0-9]+: //; s/ +valid_lft.*//'
  ip -n "$ns" -4 route show
  ip -n "$ns" -4 neigh show nud permanent
done
grep -H . /proc/sys/net/ipv4/conf/cali*/proxy_arp /proc/sys/net/ipv4/conf/cali*/forwarding \
  /proc/sys/net/ipv4/neigh/cali*/proxy_delay 2>/dev/null || true
iptables-save | grep -E '^(\*|:cali-|-A .*cali)' | sed -E 's/ \[[0-9]+:[0-9]+\]//'
"""
# Everything on a host that calico-ansible does not own.
FOREIGN_SETUP = """
set -e
iptables -N FOREIGN-CHAIN
iptables -A FOREIGN-CHAIN -p tcp --dport 9 -j DROP
iptables -A INPUT -s 198.51.100.0/24 -j FOREIGN-CHAIN
iptables -A FORWARD -s 198.51.100.0/24 -j DROP
iptables -A OUTPUT -d 198.51.100.7 -j ACCEPT
iptables -t nat -A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
iptables -t mangle -A PREROUTING -s 198.51.100.0/24 -j MARK --set-mark 0x1
iptables -t raw -A PREROUTING -s 198.51.100.0/24 -j NOTRACK
ip link add foreign0 type veth peer name foreign1
ip link set foreign0 up
ip route add 198.51.100.0/24 dev foreign0
ip route add blackhole 203.0.113.0/24
"""
FOREIGN_STATE = r"""
iptables-save | grep -v '^#' | grep -v cali | sed -E 's/ \[[0-9]+:[0-9]+\]//'
ip -o link show foreign0 | sed -E 's/^[0-9]+: //'
ip -4 route show table all | grep -E '198\.51\.100|203\.0\.113'
"""
FOREIGN_TEARDOWN = """
iptables -D INPUT -s 198.51.100.0/24 -j FOREIGN-CHAIN
iptables -F FOREIGN-CHAIN; iptables -X FOREIGN-CHAIN
iptables -D FORWARD -s 198.51.100.0/24 -j DROP
iptables -D OUTPUT -d 198.51.100.7 -j ACCEPT
iptables -t nat -D POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
iptables -t mangle -D PREROUTING -s 198.51.100.0/24 -j MARK --set-mark 0x1
iptables -t raw -D PREROUTING -s 198.51.100.0/24 -j NOTRACK
ip link del foreign0; ip route del blackhole 203.0.113.0/24
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # The copy is named agt, so the lab's router is agt-router.
    fleet = Fleet(tmp_path_factory.mktemp("node"), NODE_INVENTORY, "agt")
    fleet.lab("up")
    try:
        started = time.monotonic()
        run = fleet.playbook("site.yml")
        assert run.returncode == 0, run.output
        print(f"\nsite.yml (first run): {time.monotonic() - started:.0f} s")
        wait_for("a full mesh", lambda: all(fleet.established(h) == 2 for h in fleet.hosts), 60)
        yield fleet
    finally:
        if not os.environ.get("CALICO_KEEP_LAB"):
            fleet.lab("down")


def owned(fleet: Fleet, host: str) -> str:
    return fleet.sh(host, OWNED)


def workloads(fleet: Fleet) -> dict[str, tuple[str, str]]:
    """Workload name -> (host, address), from the ledger site.yml wrote."""
    return {
        name: (host, str(address))
        for host, names in fleet.ledger()["addresses"].items()
        for name, address in names.items()
    }


def pinging_pairs(fleet: Fleet) -> set[tuple[str, str]]:
    """Every (from, to) workload pair whose ping is answered."""
    all_workloads = workloads(fleet)
    pairs = set()
    for source, (host, _ip) in all_workloads.items():
        for target, (_host, address) in all_workloads.items():
            if source != target and fleet.ping_count(host, source, address, 1)[1] == 1:
                pairs.add((source, target))
    return pairs


def journal_since(fleet: Fleet, host: str, cursor: str) -> str:
    return fleet.sh(host, f"journalctl -u calico-node --no-pager -o cat --after-cursor='{cursor}'")


def cursor(fleet: Fleet, host: str) -> str:
    out = fleet.sh(host, "journalctl -u calico-node -n 0 --show-cursor --no-pager")
    return out.strip().rsplit("cursor: ", 1)[-1]


def generation(fleet: Fleet, host: str) -> int:
    return json.loads(fleet.sh(host, "cat /run/calico/node-status.json"))["generation"]


def wait_cycles(fleet: Fleet, host: str, cycles: int) -> None:
    first = generation(fleet, host)
    wait_for(f"{cycles} agent cycles on {host}", lambda: generation(fleet, host) >= first + cycles,
             cycles * RESYNC + 10, step=0.2)  # fmt: skip


# --------------------------------------------------------------------------- converge


def test_the_agent_runs_enabled_with_a_root_only_desired_state(fleet: Fleet) -> None:
    for name in fleet.hosts:
        host = testinfra.get_host(f"podman://{name}")
        service = host.service("calico-node")
        assert service.is_running and service.is_enabled
        desired = host.file("/etc/calico/node.json")
        assert (desired.user, desired.group, desired.mode) == ("root", "root", 0o600)
        assert host.file("/usr/local/sbin/calico-node").mode == 0o755
        # The cores in one zip (one copy task per host), not a tree of files.
        assert host.file("/usr/local/lib/calico-node/cores.zip").mode == 0o644
        assert not host.file("/usr/local/lib/calico-node/ansible_collections").exists
        # Ordered before BIRD, after the network is online.
        unit = host.run("systemctl show calico-node -p After -p Before").stdout
        assert "network-online.target" in unit and "bird.service" in unit


def test_a_second_run_changes_nothing_and_check_diff_neither(fleet: Fleet) -> None:
    for args, label in (((), "second run"), (("--check", "--diff"), "--check --diff")):
        started = time.monotonic()
        run = fleet.playbook("site.yml", *args)
        print(f"\nsite.yml ({label}): {time.monotonic() - started:.0f} s, recap {run.recap}")
        assert run.returncode == 0, run.output
        assert all(r["changed"] == 0 for r in run.recap.values()), run.output


# --------------------------------------------------------------------------- status


def test_status_shows_the_sessions_and_workloads_the_host_has(fleet: Fleet) -> None:
    for host in fleet.hosts:
        status = json.loads(fleet.sh(host, "calico-node status --json"))
        text = fleet.sh(host, "calico-node status")
        assert status["agent"]["state"] == "running"
        assert {s["peer"] for s in status["bgp"]} == set(fleet.hosts) - {host}
        assert {s["state"] for s in status["bgp"]} == {"Established"}
        assert len(status["bgp"]) == fleet.established(host)  # birdc, read independently
        mine = fleet.ledger()["addresses"][host]
        assert {w["name"]: w["ip"] for w in status["workloads"]} == {
            n: str(a) for n, a in mine.items()
        }
        assert {w["state"] for w in status["workloads"]} == {"up"}
        chains = int(fleet.sh(host, "iptables-save | grep -c '^:cali-'"))
        assert status["chains"] == chains
        assert [t["name"] for t in status["tunnels"]] == ["vxlan.calico"]
        for name in mine:
            assert re.search(rf"\| {name} +\| {mine[name]} +\| cali[0-9a-f]{{11}} +\| up", text)
        assert text.count("| mesh | Established |") == 2
    metrics = fleet.sh(H1, "cat /var/lib/prometheus/node-exporter/calico-node.prom")
    assert 'calico_node_bgp_sessions{state="Established"} 2\n' in metrics
    served = fleet.sh(H1, "python3 -c \"import urllib.request as u; print(u.urlopen("
                      "'http://127.0.0.1:9091/metrics').read().decode(), end='')\"")  # fmt: skip
    assert served.splitlines()[:3] == metrics.splitlines()[:3]


# --------------------------------------------------------------------------- drift


def host_route_of(fleet: Fleet, name: str) -> str:
    host, address = workloads(fleet)[name]
    return fleet.sh(host, f"ip -4 route show {address}/32 | grep -o 'dev cali[0-9a-f]*'").strip()


# Each drift checks first that what it breaks is there (so a failure means nothing was broken;
# checking afterwards would race with the agent, which may repair at once), and the journal line
# its repair must produce.
DRIFTS = {
    "iptables -F cali-FORWARD": (
        "test $(iptables -S cali-FORWARD | wc -l) -gt 1 && iptables -F cali-FORWARD",
        "repaired iptables (resync): filter cali-FORWARD: 3 of 3 rules missing",
    ),
    "ip link del vxlan.calico": (
        "ip link del vxlan.calico",  # fails when there is none
        "repaired tunnel (resync): missing fdb",
    ),
    "deleted workload host route": (
        "ip route del {n1a}/32",  # fails when there is none
        "repaired workloads (resync): n1a: host-route",
    ),
    "flushed workload namespace routes": (
        'test -n "$(ip -n n1b route show)" && ip -n n1b route flush all',
        "repaired workloads (resync): n1b: gw-route, default-route",
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_drift_is_repaired_within_the_resync_interval_and_logged(fleet: Fleet, drift: str) -> None:
    command, logged = DRIFTS[drift]
    before = owned(fleet, H1)
    mark = cursor(fleet, H1)

    fleet.sh(H1, command.format(n1a=workloads(fleet)["n1a"][1]))  # fails if nothing changed
    took = wait_for(f"{drift} repaired", lambda: owned(fleet, H1) == before, REPAIR_BOUND, 0.1)

    print(f"\n{drift}: repaired in {took:.2f} s (resync interval {RESYNC} s)")
    assert logged in journal_since(fleet, H1, mark)
    target = workloads(fleet)["n3a"][1]  # across the subnets, through vxlan.calico
    assert fleet.ping_count(H1, "n1a", target, 3)[1] >= 1


# --------------------------------------------------------------------------- foreign state


def test_foreign_state_stays_byte_identical_across_reconciles(fleet: Fleet) -> None:
    fleet.sh(H2, FOREIGN_SETUP)
    try:
        before = fleet.sh(H2, FOREIGN_STATE)
        # INPUT, FORWARD, OUTPUT, nat, mangle, raw and the route: seven foreign lines.
        assert before.count("198.51.100") == 7
        fleet.sh(H2, "iptables -F cali-FORWARD")  # a repair must happen beside foreign rules
        wait_cycles(fleet, H2, 2)
        assert fleet.sh(H2, FOREIGN_STATE) == before
        assert fleet.sh(H2, "iptables -S cali-FORWARD | wc -l").strip() != "1"  # repaired
    finally:
        fleet.sh(H2, FOREIGN_TEARDOWN, check=False)


# --------------------------------------------------------------------------- bad desired state


def test_a_truncated_desired_state_is_refused_and_nothing_changes(fleet: Fleet) -> None:
    name, address = "n2a", workloads(fleet)["n2a"][1]
    mark = cursor(fleet, H2)
    fleet.sh(H2, "cp -p /etc/calico/node.json /root/node.json.good")
    fleet.sh(H2, "head -c 2000 /root/node.json.good > /etc/calico/node.json")
    try:
        # Drift the agent would repair with a good file: with this one it must not.
        fleet.sh(H2, f"ip route del {address}/32")
        broken = owned(fleet, H2)
        wait_cycles(fleet, H2, 2)
        assert owned(fleet, H2) == broken
        assert fleet.sh(H2, "systemctl is-active calico-node").strip() == "active"
        assert "refused: not valid JSON (truncated?)" in journal_since(fleet, H2, mark)
        status = json.loads(fleet.sh(H2, "calico-node status --json"))
        assert status["desired"]["state"].startswith("refused: not valid JSON")
    finally:
        fleet.sh(H2, "cp -p /root/node.json.good /etc/calico/node.json && systemctl reload "
                 "calico-node")  # fmt: skip
    assert f"repaired workloads (reload): {name}: host-route" in journal_since(fleet, H2, mark)


# --------------------------------------------------------------------------- reboot


def system_running(fleet: Fleet, host: str) -> bool:
    state = fleet.sh(host, "systemctl is-system-running", check=False).strip()
    return state in ("running", "degraded")


def test_a_rebooted_host_is_back_byte_for_byte_and_pings_again(fleet: Fleet) -> None:
    pinged = pinging_pairs(fleet)
    assert len(pinged) == 12  # four workloads, every ordered pair
    before = owned(fleet, H1)

    started = time.monotonic()
    fleet.podman("restart", H1)
    booted = wait_for(f"{H1} systemd running", lambda: system_running(fleet, H1), 120, 0.1)
    back = wait_for(f"{H1}'s dataplane back", lambda: owned(fleet, H1) == before, REBOOT_BOUND, 0.1)
    print(
        f"\nreboot of {H1}: systemd running after {booted:.1f} s, dataplane back "
        f"{back:.2f} s later ({time.monotonic() - started:.1f} s after the restart)"
    )
    assert "calico-node" not in fleet.sh(H1, "systemctl --failed --no-legend")

    # The lab's underlay route to the other subnet is lab plumbing (lab.py up), not ours.
    fleet.lab("up")
    took = wait_for("every pair pinging again", lambda: pinging_pairs(fleet) == pinged, 90, 1)
    print(f"reboot of {H1}: every workload pair pings again {took:.1f} s after the plumbing")
