"""calico-node's views: ``calico-node status`` (text and JSON) and the Prometheus metrics.

Runs on the host (shipped with the agent): standard library only, Python >= 3.9. Pure functions
over what the agent gathered: BIRD's ``show protocols`` (every BGP row, whatever its name), the
kernel's links and iptables chains, the desired state and the last reconcile.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BGP_STATES = ("Established", "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Down")
TIME = re.compile(r"^\d\d:\d\d:\d\d")
REPAIR_KINDS = ("iptables", "tunnel", "workloads", "conntrack")


@dataclass(frozen=True)
class Session:
    name: str
    state: str  # BIRD's protocol state: up, down, start, ...
    since: str
    info: str

    @property
    def bgp_state(self) -> str:
        """The BGP state BIRD shows in the info column (Established, Active ...); Down when the
        protocol is down and shows only an error."""
        first = self.info.split()[0] if self.info else ""
        return first if first in BGP_STATES else "Down"


def parse_protocols(text: str) -> list[Session]:
    """The BGP rows of ``birdc show protocols`` (BIRD 1's and 2's header alike)."""
    sessions = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1].lower() != "bgp":
            continue
        since, info = fields[4], fields[5:]
        if info and TIME.match(info[0]):  # a `timeformat protocol` with date and time
            since = f"{since} {info.pop(0)}"
        sessions.append(Session(fields[0], fields[3], since, " ".join(info)))
    return sessions


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """``calicoctl node status``'s +---+ table."""
    # Index-based: zip(strict=...) needs Python 3.10, hosts may have 3.9.
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {str(cells[i]).ljust(w)} " for i, w in enumerate(widths)) + "|"

    return [rule, line(headers), rule, *(line(r) for r in rows), rule]


def when(timestamp: float | None, now: float) -> str:
    if not timestamp:
        return "never"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    return f"{stamp} ({now - timestamp:.0f} s ago)"


def render_text(status: Mapping[str, Any], now: float) -> str:
    """The plain-text status: agent, BGP, workloads, tunnels, chains, last reconcile."""
    agent = status["agent"]
    lines = [
        f"calico-node on {status['host']}: {agent['state']}",
        f"Desired state: {status['desired']['path']} ({status['desired']['state']})",
        "",
        "IPv4 BGP status",
    ]
    sessions = status["bgp"]
    if sessions:
        keys = ("peer", "ip", "kind", "state", "since", "info")
        rows = [[s[key] for key in keys] for s in sessions]
        lines += table(["PEER", "ADDRESS", "TYPE", "STATE", "SINCE", "INFO"], rows)
    else:
        lines.append("No IPv4 peers found.")
    lines += ["", "Workloads"]
    workloads = status["workloads"]
    if workloads:
        rows = [[w["name"], w["ip"], w["interface"], w["state"]] for w in workloads]
        lines += table(["NAME", "ADDRESS", "INTERFACE", "STATE"], rows)
    else:
        lines.append("No workloads.")
    lines += ["", "Tunnel devices"]
    tunnels = status["tunnels"]
    lines += [f"  {t['name']} {t['state']} mtu {t['mtu']} {t['address']}".rstrip() for t in tunnels]
    if not tunnels:
        lines.append("  none")
    lines += ["", f"cali-* chains: {status['chains']}", ""]
    last = status["last_reconcile"]
    if last:
        lines.append(f"Last reconcile: {when(last['started'], now)}, {last['duration']:.3f} s")
        repairs = last["repairs"]
        for repair in repairs:
            lines.append(f"  repaired {repair['kind']}: {'; '.join(repair['findings'])}")
        if not repairs:
            lines.append("  nothing to repair")
        lines += [f"  error: {error}" for error in last["errors"]]
    else:
        lines.append("Last reconcile: none yet")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- metrics

METRICS: tuple[tuple[str, str, str], ...] = (
    ("calico_node_up", "gauge", "1 while the agent runs."),
    ("calico_node_bgp_sessions", "gauge", "BGP sessions of this host by BGP state."),
    ("calico_node_workloads", "gauge", "Workloads in the desired state of this host."),
    (
        "calico_node_last_reconcile_timestamp_seconds",
        "gauge",
        "Unix time the last reconcile started.",
    ),
    ("calico_node_last_reconcile_duration_seconds", "gauge", "Duration of the last reconcile."),
    ("calico_node_reconciles_total", "counter", "Reconciles run since the agent started."),
    ("calico_node_repairs_total", "counter", "Repairs made since the agent started, by kind."),
    (
        "calico_node_reconcile_errors_total",
        "counter",
        "Reconcile parts that failed since the agent started.",
    ),
    (
        "calico_node_desired_state_errors_total",
        "counter",
        "Times the desired-state file was refused since the agent started.",
    ),
)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(values: Mapping[str, Any]) -> str:
    """Prometheus text format 0.0.4: one HELP and TYPE per family, no timestamps (node_exporter's
    textfile collector drops a file with any), every line ending in a newline."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {
        "calico_node_up": [({}, 1)],
        "calico_node_bgp_sessions": [
            ({"state": state}, values["bgp"].get(state, 0))
            for state in sorted(set(BGP_STATES) | set(values["bgp"]))
        ],
        "calico_node_workloads": [({}, values["workloads"])],
        "calico_node_last_reconcile_timestamp_seconds": [({}, values["last_started"])],
        "calico_node_last_reconcile_duration_seconds": [({}, values["last_duration"])],
        "calico_node_reconciles_total": [({}, values["reconciles"])],
        "calico_node_repairs_total": [
            ({"kind": kind}, values["repairs"].get(kind, 0))
            for kind in sorted(set(REPAIR_KINDS) | set(values["repairs"]))
        ],
        "calico_node_reconcile_errors_total": [({}, values["errors"])],
        "calico_node_desired_state_errors_total": [({}, values["desired_errors"])],
    }
    lines = []
    for name, kind, text in METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, value in samples[name]:
            label = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(value)
            lines.append(f"{name}{{{label}}} {number}" if label else f"{name} {number}")
    return "\n".join(lines) + "\n"
