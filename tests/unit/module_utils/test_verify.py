"""Verification report: session parsing and the summary lines."""

from ansible_collections.calico.network.plugins.module_utils.model import build_model
from ansible_collections.calico.network.plugins.module_utils.verify import (
    bgp_sessions,
    probe_plan,
    report,
)

SHOW_PROTOCOLS = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-26 00:12:01
calico_kernel Kernel  master4    up     2026-11-26 00:12:01
Mesh_192_168_100_101 BGP        ---        up     2026-11-26 00:12:05  Established
Mesh_192_168_100_102 BGP        ---        start  2026-11-26 00:12:01  Active  Socket: refused
"""

POOLS = [{"cidr": "172.17.0.0/16", "block_size": 24}]


def model():
    return build_model(
        {
            f"host{i}": {
                "calico_ip": f"192.168.100.{100 + i}/24",
                "calico_pools": POOLS,
                "calico_workloads": [{"name": f"w{i}"}],
            }
            for i in range(3)
        }
    )


def test_bgp_rows_are_parsed_with_their_info():
    assert bgp_sessions(SHOW_PROTOCOLS) == [
        {"name": "Mesh_192_168_100_101", "state": "up", "info": "Established"},
        {
            "name": "Mesh_192_168_100_102",
            "state": "start",
            "info": "Active Socket: refused",
        },
    ]


def test_every_workload_probes_every_other_workload():
    plan = probe_plan(model(), "host0")
    assert [(p["src"], p["dst"], p["dst_ip"]) for p in plan] == [
        ("w0", "w1", "172.17.1.1"),
        ("w0", "w2", "172.17.2.1"),
    ]


def all_up(m):
    def protocols(host):
        rows = [
            f"Mesh_{p['ip'].replace('.', '_')} BGP --- up 2026-11-26 00:00:00 Established"
            for p in m["hosts"].values()
            if p["name"] != host
        ]
        return "\n".join(rows)

    return {
        host: {
            "protocols": protocols(host),
            "probes": [{**p, "ok": True} for p in probe_plan(m, host)],
        }
        for host in m["hosts"]
    }


def test_a_healthy_fleet_reports_full_counts_and_passes():
    m = model()
    result = report(m, all_up(m))
    assert result["ok"]
    assert result["lines"][-2:] == [
        "bgp: 6/6 sessions established",
        "reachability: 6/6 probes as expected (6 allowed, 0 denied by policy)",
    ]


def test_a_host_without_results_counts_as_down_instead_of_vanishing():
    m = model()
    results = all_up(m)
    del results["host2"]
    result = report(m, results)
    assert not result["ok"]
    assert result["bgp"] == "bgp: 4/6 sessions established"
    assert result["reachability"] == (
        "reachability: 4/6 probes as expected (6 allowed, 0 denied by policy)"
    )
    failure = "    host2/w2 -> host0/w0 (172.17.0.1) ping: expected allow, no result"
    assert failure in result["lines"]
