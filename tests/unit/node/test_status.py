"""``calico-node status`` and the metrics: BIRD's table read, the text and the exposition format."""

from __future__ import annotations

import re

from ansible_collections.calico.network.plugins.module_utils.node_status import (
    parse_protocols,
    render_metrics,
    render_text,
)

# BIRD 2.0.12 in the lab (timeformat with date and time), and BIRD's short default form.
BIRD2 = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-27 14:37:35
calico_kernel Kernel     master4    up     2026-11-27 14:39:06
Mesh_10_42_1_12 BGP        ---        up     2026-11-27 14:39:07  Established
Mesh_10_42_2_13 BGP  ---  start  2026-11-27 14:40:01  Active        Socket: Connection refused
rr_Peer_1  BGP        ---        down   10:00:00.000  BGP Error: Bad peer AS
"""


def test_every_bgp_row_is_read_with_its_state_since_and_info():
    sessions = parse_protocols(BIRD2)
    assert [(s.name, s.bgp_state, s.since) for s in sessions] == [
        ("Mesh_10_42_1_12", "Established", "2026-11-27 14:39:07"),
        ("Mesh_10_42_2_13", "Active", "2026-11-27 14:40:01"),
        ("rr_Peer_1", "Down", "10:00:00.000"),
    ]
    assert sessions[1].info == "Active Socket: Connection refused"


STATUS = {
    "host": "agt-h1",
    "agent": {"state": "running", "pid": 42},
    "desired": {"path": "/etc/calico/node.json", "state": "ok"},
    "bgp": [
        {
            "peer": "agt-h2",
            "ip": "10.42.1.12",
            "kind": "mesh",
            "state": "Established",
            "since": "2026-11-27 14:39:07",
            "info": "Established",
        },
    ],
    "workloads": [
        {"name": "n1a", "ip": "10.247.0.1", "interface": "calia0223c5a146", "state": "up"}
    ],
    "tunnels": [{"name": "vxlan.calico", "state": "up", "mtu": 1450, "address": "10.247.0.0/32"}],
    "chains": 21,
    "last_reconcile": {
        "started": 1000.0,
        "duration": 0.042,
        "repairs": [{"kind": "tunnel", "findings": ["missing vxlan.calico up mtu 1450"]}],
        "errors": [],
    },
}


def test_the_text_shows_sessions_workloads_tunnels_chains_and_the_last_repair():
    text = render_text(STATUS, now=1010.0)
    assert text.startswith("calico-node on agt-h1: running\n")
    assert "| agt-h2 | 10.42.1.12 | mesh | Established | 2026-11-27 14:39:07 |" in text
    assert "| n1a  | 10.247.0.1 | calia0223c5a146 | up    |" in text
    assert "  vxlan.calico up mtu 1450 10.247.0.0/32\n" in text
    assert "cali-* chains: 21\n" in text
    assert "(10 s ago), 0.042 s\n  repaired tunnel: missing vxlan.calico up mtu 1450\n" in text


def test_no_peers_and_no_reconcile_are_said_plainly():
    quiet = {**STATUS, "bgp": [], "workloads": [], "tunnels": [], "last_reconcile": None}
    text = render_text(quiet, now=0)
    assert "No IPv4 peers found." in text and "No workloads." in text
    assert "Last reconcile: none yet" in text


VALUES = {
    "bgp": {"Established": 2},
    "workloads": 2,
    "last_started": 1795790351.5,
    "last_duration": 0.04,
    "reconciles": 8,
    "repairs": {"iptables": 1},
    "errors": 0,
    "desired_errors": 1,
}
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[^}]*)?\})? \S+$')


def test_metrics_follow_the_text_format_without_timestamps():
    text = render_metrics(VALUES)
    assert text.endswith("\n")
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert helps == types and len(set(helps)) == len(helps)  # one HELP and TYPE per family
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in samples), samples  # name, labels, value: no stamp
    assert 'calico_node_bgp_sessions{state="Established"} 2' in samples
    assert 'calico_node_bgp_sessions{state="Active"} 0' in samples
    assert 'calico_node_repairs_total{kind="tunnel"} 0' in samples
    assert "calico_node_desired_state_errors_total 1" in samples
    assert "calico_node_last_reconcile_timestamp_seconds 1795790351.5" in samples
    counters = [
        t.split()[2] for t in text.splitlines() if t.startswith("# TYPE ") and "counter" in t
    ]
    assert all(name.endswith("_total") for name in counters)
