"""Read-only checks of a running fleet: BGP session states and workload reachability.

Pure functions: the probe module runs the commands, the report filter formats what they found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.model import host_slice


def bgp_sessions(show_protocols: str) -> list[dict[str, str]]:
    """The BGP rows of ``birdc show protocols``: name, state and info."""
    sessions = []
    for line in show_protocols.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "BGP":
            # Name Proto Table State Since... Info; Since is one field with 'iso long' times
            # split in two (date and time), so take the info as what follows the timestamp.
            info = " ".join(fields[6:]) if len(fields) > 6 else ""
            sessions.append({"name": fields[0], "state": fields[3], "info": info})
    return sessions


def is_established(session: Mapping[str, str]) -> bool:
    return session["info"].startswith("Established")


def probe_plan(model: Mapping[str, Any], host: str) -> list[dict[str, str]]:
    """Ping probes from every workload of ``host`` to every other workload of the fleet."""
    hosts = model["hosts"]
    targets = [
        (other, workload) for other in sorted(hosts) for workload in hosts[other]["workloads"]
    ]
    return [
        {
            "src_host": host,
            "src": source["name"],
            "dst_host": other,
            "dst": workload["name"],
            "dst_ip": workload["ip"],
        }
        for source in hosts[host]["workloads"]
        for other, workload in targets
        if (other, workload["name"]) != (host, source["name"])
    ]


def report(model: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet's report: a table per host, the failures, and two summary lines.

    ``results`` maps a host to ``{"protocols": <birdc show protocols>, "probes": [{..., "ok"}]}``.
    What is expected comes from the model, so a host that could not be reached counts with all
    of its sessions down and all of its pairs unreachable, instead of vanishing from the totals.
    """
    lines: list[str] = []
    totals = {"established": 0, "sessions": 0, "reachable": 0, "pairs": 0}
    failures: list[str] = []
    for host in sorted(model["hosts"]):
        result = results.get(host) or {}
        expected = {peer["name"] for peer in host_slice(model, host)["peers"]}
        sessions = [s for s in bgp_sessions(result.get("protocols", "")) if s["name"] in expected]
        up = sum(1 for s in sessions if is_established(s))
        probes = result.get("probes") or [{**p, "ok": False} for p in probe_plan(model, host)]
        ok = sum(1 for p in probes if p["ok"])
        totals["established"] += up
        totals["sessions"] += len(expected)
        totals["reachable"] += ok
        totals["pairs"] += len(probes)
        lines.append(
            f"{host:<20} bgp {up}/{len(expected)} established   reachability {ok}/{len(probes)}"
        )
        lines.extend(_session_lines(sessions, expected))
        failures.extend(_failure_lines(probes))
    if failures:
        lines.append("unreachable pairs:")
        lines.extend(failures)
    bgp_line = f"bgp: {totals['established']}/{totals['sessions']} sessions established"
    reach_line = f"reachability: {totals['reachable']}/{totals['pairs']} workload pairs reachable"
    lines.extend([bgp_line, reach_line])
    return {
        "lines": lines,
        "bgp": bgp_line,
        "reachability": reach_line,
        "ok": totals["established"] == totals["sessions"]
        and totals["reachable"] == totals["pairs"],
    }


def _session_lines(sessions: Iterable[Mapping[str, str]], expected: set[str]) -> list[str]:
    found = {s["name"]: s for s in sessions}
    return [
        f"    {name:<28} {found[name]['state']:<6} {found[name]['info']}"
        if name in found
        else f"    {name:<28} absent (BIRD does not know this session)"
        for name in sorted(expected)
    ]


def _failure_lines(probes: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"    {p['src_host']}/{p['src']} -> {p['dst_host']}/{p['dst']} ({p['dst_ip']})"
        for p in probes
        if not p["ok"]
    ]
