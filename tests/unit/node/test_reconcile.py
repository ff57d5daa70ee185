"""calico-node's reconcile against a fake kernel: drift found, repair planned, nothing else touched.

The kernel is a converged lab host's recorded answers (tests/unit/node/fake_kernel.py); each
test breaks it the way an operator or a reboot would and states what must be repaired, in its
own words: the expected commands are written out here, not derived from the code under test.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.calico.network.plugins.module_utils import iptables_host
from ansible_collections.calico.network.plugins.module_utils.node import (
    Desired,
    Memo,
    load_desired,
    reconcile,
)
from tests.unit.node.fake_kernel import (
    LINKS,
    ROOT_READ,
    VXLAN_ROUTES,
    FakeKernel,
    desired_text,
    proc_sys,
)

# The converged host's facts, as the lab wrote them (tests/unit/node/data/node.json).
N1A = ("n1a", "10.247.0.1", "calia0223c5a146")
N1B = ("n1b", "10.247.0.2", "calie807ec6ca09")
REMOTE_BLOCK = "10.247.0.128/26"
REMOTE_TUNNEL = "10.247.0.128"


@pytest.fixture
def desired() -> Desired:
    return load_desired(desired_text())


@pytest.fixture
def sysctls(tmp_path) -> str:
    return proc_sys(tmp_path / "proc-sys", [N1A[2], N1B[2]])


def kinds(outcome) -> dict[str, list[str]]:
    return {repair.kind: list(repair.findings) for repair in outcome.repairs}


def test_a_converged_host_needs_nothing_and_gets_no_write(desired, sysctls):
    kernel = FakeKernel()

    outcome = reconcile(kernel, desired, sysctls)

    assert outcome.ok, outcome.errors
    assert outcome.repairs == []
    assert kernel.writes == []


def test_a_flushed_cali_forward_is_found_and_only_the_filter_table_is_restored(desired, sysctls):
    kernel = FakeKernel()
    kernel.restore_save(lambda text: "\n".join(
        line for line in text.splitlines() if not line.startswith("-A cali-FORWARD ")
    ) + "\n")  # fmt: skip

    outcome = reconcile(kernel, desired, sysctls)

    findings = kinds(outcome)["iptables"]
    assert len(findings) == 1 and findings[0].startswith("filter cali-FORWARD: ")
    assert findings[0].endswith(" rules missing, 0 unexpected")
    restores = [argv for argv, _ in kernel.writes if argv[0] == "iptables-nft-restore"]
    assert restores == [("iptables-nft-restore", "--noflush", "--wait=10")]
    payload = kernel.writes[0][1] or ""
    assert payload.startswith("*filter\n:cali-FORWARD - [0:0]\n-A cali-FORWARD ")
    assert "-F " not in payload and "-X " not in payload  # nothing else rewritten
    kernel.writes.clear()
    assert reconcile(kernel, desired, sysctls).repairs == []
    assert kernel.writes == []


def test_a_deleted_vxlan_device_is_planned_back_with_its_route_neighbour_and_fdb(desired, sysctls):
    kernel = FakeKernel(check_mode=True)

    def without_vxlan(documents):
        documents[0][:] = [link for link in documents[0] if link["ifname"] != "vxlan.calico"]

    kernel.edit_json(LINKS, without_vxlan)
    kernel.edit(VXLAN_ROUTES, lambda _text: "[]\n")  # the kernel drops them with the device

    outcome = reconcile(kernel, desired, sysctls)

    assert set(kinds(outcome)) == {"tunnel"}
    assert kernel.writes == []  # check mode: planned, not applied
    commands = outcome.commands
    assert commands[0].startswith("ip link add vxlan.calico address ")
    assert " type vxlan id 4096 dstport 4789 local 10.42.1.11 dev eth0 nolearning" in commands[0]
    assert "ip link set vxlan.calico up" in commands
    assert "ip address add 10.247.0.0/32 dev vxlan.calico" in commands
    assert (
        f"ip route replace {REMOTE_BLOCK} via {REMOTE_TUNNEL} dev vxlan.calico onlink proto 80"
        in commands
    )
    assert any(c.startswith(f"ip neigh replace {REMOTE_TUNNEL} lladdr ") for c in commands)
    assert any(c.startswith("bridge fdb replace ") and "dst 10.42.2.13" in c for c in commands)
    assert (
        f"missing route {REMOTE_BLOCK} via {REMOTE_TUNNEL} dev vxlan.calico onlink"
        in (kinds(outcome)["tunnel"])
    )


def test_a_deleted_workload_host_route_is_replaced(desired, sysctls):
    kernel = FakeKernel()
    name, ip, interface = N1A

    def without_route(documents):
        routes = documents[1]
        routes[:] = [r for r in routes if not (r["dst"] == ip and r.get("dev") == interface)]

    kernel.edit_json(ROOT_READ, without_route, "link show\nroute show\n")

    outcome = reconcile(kernel, desired, sysctls)

    assert kinds(outcome) == {"workloads": [f"{name}: host-route"]}
    assert kernel.written() == [f"ip route replace {ip}/32 dev {interface} scope link"]


def test_flushed_routes_in_a_workload_namespace_are_put_back(desired, sysctls):
    kernel = FakeKernel()
    name, _ip, _interface = N1B
    argv, stdin = kernel.netns_read(name)

    def flushed(documents):
        documents[1][:] = []

    kernel.edit_json(argv, flushed, stdin)

    outcome = reconcile(kernel, desired, sysctls)

    assert kinds(outcome) == {"workloads": [f"{name}: gw-route, default-route"]}
    assert kernel.written() == [
        f"ip -n {name} route replace 169.254.1.1 dev eth0 scope link",
        f"ip -n {name} route replace default via 169.254.1.1 dev eth0",
    ]


# Foreign rules in all four tables and in INPUT, FORWARD and OUTPUT, where an operator's
# `iptables -A` puts them; in FORWARD and nat POSTROUTING above Calico's appended rules.
FOREIGN_RULES = """*filter
:FOREIGN - [0:0]
-A INPUT -s 198.51.100.0/24 -j FOREIGN
-A OUTPUT -d 198.51.100.7/32 -j ACCEPT
-A FOREIGN -p tcp --dport 9 -j DROP
COMMIT
*mangle
-A PREROUTING -s 198.51.100.0/24 -j MARK --set-mark 0x1
COMMIT
*raw
-A PREROUTING -s 198.51.100.0/24 -j NOTRACK
COMMIT
"""


def with_foreign_rules(save: str) -> str:
    """Splice the foreign lines into the recorded save, inside their tables."""
    extra: dict[str, list[str]] = {}
    table = ""
    for line in FOREIGN_RULES.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line != "COMMIT":
            extra.setdefault(table, []).append(line)
    out, table, seen = [], "", set()
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT":
            out += extra.get(table, [])
        if line.startswith("-A FORWARD ") and "--mark 0x10000/0x10000 -j ACCEPT" in line:
            out.append(FOREIGN_FORWARD)
        if line.startswith("-A POSTROUTING ") and "-j cali-POSTROUTING" in line:
            out.append(FOREIGN_POSTROUTING)
        out.append(line)
        if line.startswith("*"):
            seen.add(table)
    for table in sorted(set(extra) - seen):  # a table without any of our rules (mangle)
        out += [f"*{table}", *extra[table], "COMMIT"]
    return "\n".join(out) + "\n"


FOREIGN_FORWARD = "-A FORWARD -s 198.51.100.0/24 -j DROP"
# Above Calico's appended hook, as when it was there before Calico (`iptables -A` after it
# would make Calico move its hook back to the end, as Felix does in append position).
FOREIGN_POSTROUTING = "-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE"


def foreign_lines(save: str) -> list[str]:
    return [line for line in save.splitlines() if "198.51.100" in line or "FOREIGN" in line]


def test_foreign_rules_routes_and_devices_get_no_write(desired, sysctls):
    kernel = FakeKernel()
    kernel.restore_save(with_foreign_rules)
    foreign = foreign_lines(kernel.iptables.save())
    assert len(foreign) == 8

    def foreign_route_and_device(documents):
        links, routes = documents
        links.append({"ifindex": 99, "ifname": "dummy0", "flags": ["UP"], "mtu": 1500})
        routes.append({"dst": "198.51.100.0/24", "dev": "dummy0", "protocol": "static"})
        routes.append({"dst": "203.0.113.5", "type": "blackhole", "protocol": "static"})

    kernel.edit_json(ROOT_READ, foreign_route_and_device, "link show\nroute show\n")

    outcome = reconcile(kernel, desired, sysctls)

    assert outcome.repairs == [] and outcome.ok
    assert kernel.writes == []
    assert foreign_lines(kernel.iptables.save()) == foreign


def test_drift_among_foreign_rules_rewrites_only_our_rules(desired, sysctls):
    kernel = FakeKernel()
    kernel.restore_save(lambda text: "\n".join(
        line for line in with_foreign_rules(text).splitlines()
        if not (line.startswith(("-A INPUT ", "-A cali-FORWARD ")) and "cali:" in line)
    ) + "\n")  # fmt: skip
    foreign = foreign_lines(kernel.iptables.save())

    outcome = reconcile(kernel, desired, sysctls)

    assert {f.split(":")[0] for f in kinds(outcome)["iptables"]} == {
        "filter INPUT",
        "filter cali-FORWARD",
    }
    payloads = "".join(data or "" for argv, data in kernel.writes)
    assert "FOREIGN" not in payloads and "198.51.100" not in payloads
    assert foreign_lines(kernel.iptables.save()) == foreign


def test_a_stale_workload_is_pruned_and_its_address_flows_flushed(desired, sysctls):
    kernel = FakeKernel()
    data = json.loads(desired_text())
    data["workloads"]["items"] = [w for w in data["workloads"]["items"] if w["name"] != N1B[0]]
    fewer = load_desired(json.dumps(data))

    outcome = reconcile(kernel, fewer, sysctls)

    assert kinds(outcome)["workloads"] == [f"stale {N1B[2]} ({N1B[0]}) removed"]
    assert kinds(outcome)["conntrack"] == [f"flushed {N1B[1]}"]
    assert f"ip link del {N1B[2]}" in kernel.written()
    assert kernel.written()[-2:] == [
        f"conntrack -D -f ipv4 --orig-src {N1B[1]}",
        f"conntrack -D -f ipv4 --reply-src {N1B[1]}",
    ]


def test_a_failing_part_is_reported_and_the_others_still_run(desired, sysctls):
    kernel = FakeKernel()
    kernel.save_rc = 1  # iptables-nft-save fails

    outcome = reconcile(kernel, desired, sysctls)

    assert len(outcome.errors) == 1 and outcome.errors[0].startswith("iptables: ")
    assert outcome.repairs == []  # tunnel and workloads were read and are fine


# --------------------------------------------------------------------------- the agent's memo


def count_plans(monkeypatch) -> list[int]:
    planned = [0]
    converge = iptables_host.converge

    def counting(*args, **kwargs):
        planned[0] += 1
        return converge(*args, **kwargs)

    monkeypatch.setattr(iptables_host, "converge", counting)
    return planned


def test_the_memo_skips_planning_rules_seen_in_sync_even_when_counters_move(
    desired, sysctls, monkeypatch
):
    kernel, memo = FakeKernel(), Memo()
    planned = count_plans(monkeypatch)
    assert reconcile(kernel, desired, sysctls, memo=memo).repairs == []
    # Traffic moves the chain counters and a new save has a new date: not drift.
    kernel.save_noise = lambda text: text.replace("[0:0]", "[17:2048]").replace(
        "00:00:00", "00:00:30"
    )

    outcome = reconcile(kernel, desired, sysctls, memo=memo)

    assert outcome.ok and outcome.repairs == [] and kernel.writes == []
    assert planned == [1]


def test_the_memo_still_finds_a_flushed_cali_forward(desired, sysctls, monkeypatch):
    kernel, memo = FakeKernel(), Memo()
    planned = count_plans(monkeypatch)
    reconcile(kernel, desired, sysctls, memo=memo)
    kernel.restore_save(lambda text: "\n".join(
        line for line in text.splitlines() if not line.startswith("-A cali-FORWARD ")
    ) + "\n")  # fmt: skip

    outcome = reconcile(kernel, desired, sysctls, memo=memo)

    assert [finding.split(":")[0] for finding in kinds(outcome)["iptables"]] == [
        "filter cali-FORWARD"
    ]
    assert planned == [2]
    # Repaired, read back in sync, remembered again: the next cycle plans nothing.
    kernel.writes.clear()
    assert reconcile(kernel, desired, sysctls, memo=memo).repairs == []
    assert reconcile(kernel, desired, sysctls, memo=memo).repairs == []
    assert planned == [3] and kernel.writes == []


def test_the_memo_is_not_used_for_another_spec_nor_filled_in_check_mode(
    desired, sysctls, monkeypatch
):
    memo = Memo()
    planned = count_plans(monkeypatch)
    reconcile(FakeKernel(check_mode=True), desired, sysctls, memo=memo)
    assert memo.iptables is None
    reconcile(FakeKernel(), desired, sysctls, memo=memo)
    changed = load_desired(desired_text().replace('"wait": 10', '"wait": 5'))

    reconcile(FakeKernel(), changed, sysctls, memo=memo)

    assert planned == [3]
