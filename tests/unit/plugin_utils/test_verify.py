"""Verification report: session parsing and the summary lines."""

from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, host_slice
from ansible_collections.calico.network.plugins.plugin_utils.verify import (
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


def slices(m):
    """Every host's slice with its verification plan, as verify.yml hands them to the report."""
    return {host: host_slice(m, host, verify_plan=True) for host in m["hosts"]}


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
    result = report(slices(m), all_up(m))
    assert result["ok"]
    assert result["lines"][-2:] == [
        "bgp: 6/6 sessions established",
        "reachability: 6/6 probes as expected (6 allowed, 0 denied by policy)",
    ]


def test_a_host_without_results_counts_as_down_instead_of_vanishing():
    m = model()
    results = all_up(m)
    del results["host2"]
    result = report(slices(m), results)
    assert not result["ok"]
    assert result["bgp"] == "bgp: 4/6 sessions established"
    assert result["reachability"] == (
        "reachability: 4/6 probes as expected (6 allowed, 0 denied by policy)"
    )
    failure = "    host2/w2 -> host0/w0 (172.17.0.1) ping: expected allow, no result"
    assert failure in result["lines"]


def test_policy_ports_and_floating_ips_get_probes_with_the_predicted_outcome():
    from ansible_collections.calico.network.plugins.plugin_utils.verify import listener_plan
    from tests.unit.plugin_utils.test_policy import fleet

    m = build_model(fleet())
    plan = {(p["src"], p["dst"], p["dst_ip"], p["kind"], p["port"]): p for p in probe_plan(m, "h2")}
    db1 = next(w for w in m["hosts"]["h1"]["workloads"] if w["name"] == "db-1")
    assert plan[("cache-2", "db-1", db1["ip"], "tcp", 5432)]["expect"] is False
    assert plan[("cache-2", "db-1", db1["ip"], "ping", None)]["expect"] is False
    floating = plan[("cache-2", "web-1", "10.66.255.10", "ping", None)]
    assert floating["floating"] and floating["expect"]
    assert listener_plan(m, "h1") == [{"netns": "db-1", "port": 5432}]


def test_a_denied_pair_that_connects_fails_the_report():
    from tests.unit.plugin_utils.test_policy import fleet

    m = build_model(fleet())
    results = {
        host: {"protocols": "", "probes": [{**p, "ok": True} for p in probe_plan(m, host)]}
        for host in m["hosts"]
    }
    result = report(slices(m), results)
    assert not result["ok"]
    assert any("tcp/5432: expected deny, connected" in line for line in result["lines"])


def test_sessions_are_shown_and_counted_by_kind_in_a_rack_fleet():
    from ansible_collections.calico.network.plugins.plugin_utils.model import host_slice
    from tests.unit.plugin_utils.test_peers import TOR, with_peers
    from tests.unit.plugin_utils.test_racks import fleet

    m = build_model(with_peers(fleet([3, 2]), [TOR], hosts={"r1h1", "r1h2", "r1h3"}))
    results = {}
    for host in m["hosts"]:
        rows = [
            f"{p['name']} BGP --- up 2026-11-26 00:00:00 Established"
            for p in host_slice(m, host)["peers"]
            if (host, p["name"]) != ("r2h1", "Rack_192_168_1_2")  # r2h1 lost its session to r1h2
        ]
        results[host] = {"protocols": "\n".join(rows), "probes": []}
    result = report(slices(m), results)
    lines = result["lines"]
    reflector = next(line for line in lines if line.startswith("r1h1 "))
    assert reflector.endswith("rr-client 1/1, rr-peer 1/1, ebgp 2/2, external 1/1")
    client = next(line for line in lines if line.startswith("r1h3 "))
    assert client.endswith("rr-client 2/2")
    assert "    external  Peer_tor1                    up     Established" in lines
    assert (
        "    ebgp      Rack_192_168_1_2             absent (BIRD does not know this session)"
        in lines
    )
    # r1h1: 5, r1h2: 5, r1h3: 2, r2h1: 1 + 2 eBGP, r2h2: 1 + 2 eBGP; one session absent on r2h1
    assert result["bgp"] == "bgp: 17/18 sessions established"
    assert not result["ok"]
