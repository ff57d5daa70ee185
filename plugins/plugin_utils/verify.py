"""Read-only checks of a running fleet: BGP session states and workload reachability.

The plan (``verify_plan``: probes with the outcome policy predicts, listeners) is computed from
the fleet model into each host's slice; the report reads the slices, so it knows what every
host should have even when one gave no answer. Pure functions: the probe module runs the
commands, the report filter formats what they found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.policy import policies_for
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    FleetModel,
    HostSlice,
    Listener,
    Probe,
    VerifyPlan,
    VerifyReport,
    Workload,
)
from ansible_collections.calico.network.plugins.plugin_utils.verdict import verdict

# The kinds of BGP sessions, in the order the report shows them.
SESSION_KINDS = ("mesh", "rr-client", "rr-peer", "ebgp", "external")


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


def verify_plan(model: FleetModel, host: str) -> VerifyPlan:
    """The slice's ``verify`` part: the probes ``host`` sends and the listeners it starts."""
    return {"probes": probe_plan(model, host), "listeners": listener_plan(model, host)}


def probe_plan(model: FleetModel, host: str) -> list[Probe]:
    """The probes ``host`` sends, each with the outcome the policy predicts (``expect``).

    * a ping from every workload of ``host`` to every other workload of the fleet;
    * a TCP connect to every port a policy rule names, from every workload of ``host`` to every
      other workload that policy selects (the destination runs a short-lived listener);
    * a ping from every workload of ``host`` to every floating IP of another host.
    """
    hosts = model["hosts"]
    targets = [(other, w) for other in sorted(hosts) for w in hosts[other]["workloads"]]
    probes: list[Probe] = []
    for source in hosts[host]["workloads"]:
        for other, workload in targets:
            if (other, workload["name"]) == (host, source["name"]):
                continue
            probes.append(_probe(model, host, source, other, workload, workload["ip"], None))
            for port in listener_ports(model, workload):
                probes.append(_probe(model, host, source, other, workload, workload["ip"], port))
            if other != host:
                for address in workload.get("floating_ips", []):
                    probes.append(_probe(model, host, source, other, workload, address, None))
    return probes


def _probe(
    model: FleetModel,
    host: str,
    source: Workload,
    other: str,
    workload: Workload,
    address: str,
    port: int | None,
) -> Probe:
    protocol = "tcp" if port is not None else "icmp"
    return {
        "src_host": host,
        "src": source["name"],
        "dst_host": other,
        "dst": workload["name"],
        "dst_ip": address,
        "kind": "tcp" if port is not None else "ping",
        "port": port,
        "floating": address != workload["ip"],
        "expect": verdict(model, source, workload, protocol, port),
    }


def listener_ports(model: FleetModel, workload: Workload) -> list[int]:
    """TCP ports of the policies selecting ``workload``: the first port of each rule."""
    ports = {
        int(rule["ports"][0].split(":")[0])
        for policy in policies_for(model["policy"]["policies"], workload["labels"], "ingress")
        for rule in policy["ingress"]  # type: ignore[typeddict-item]
        if rule.get("protocol") == "tcp" and rule.get("ports")
    }
    return sorted(ports)


def listener_plan(model: FleetModel, host: str) -> list[Listener]:
    """The TCP listeners ``host`` starts for verification: one per local workload and port."""
    return [
        {"netns": workload["name"], "port": port}
        for workload in model["hosts"][host]["workloads"]
        for port in listener_ports(model, workload)
    ]


def report(
    slices: Mapping[str, HostSlice], results: Mapping[str, Mapping[str, Any]]
) -> VerifyReport:
    """The fleet's report: a table per host, the failures, and two summary lines.

    ``slices`` maps every host of the fleet to its slice (with its verification plan);
    ``results`` maps a host to ``{"protocols": <birdc show protocols>, "probes": [{..., "ok"}]}``.
    What is expected comes from the slices, so a host that could not be reached counts with all
    of its sessions down and all of its probes failed, instead of vanishing from the totals.
    """
    lines: list[str] = []
    totals = {"established": 0, "sessions": 0, "reachable": 0, "pairs": 0, "allowed": 0}
    failures: list[str] = []
    policy_lines: list[str] = []
    for host in sorted(slices):
        piece = slices[host]
        result = results.get(host) or {}
        expected = {peer["name"]: peer["kind"] for peer in piece["peers"]}
        sessions = [s for s in bgp_sessions(result.get("protocols", "")) if s["name"] in expected]
        up = sum(1 for s in sessions if is_established(s))
        plan = piece["verify"]["probes"] if piece["verify"] else []
        probes = result.get("probes") or [{**p, "ok": None} for p in plan]
        ok = sum(1 for p in probes if p["ok"] == p["expect"])
        allowed = sum(1 for p in probes if p["expect"])
        totals["established"] += up
        totals["sessions"] += len(expected)
        totals["reachable"] += ok
        totals["pairs"] += len(probes)
        totals["allowed"] += allowed
        lines.append(
            f"{host:<20} bgp {up}/{len(expected)} established   probes as expected "
            f"{ok}/{len(probes)}   {_kind_counts(sessions, expected)}"
        )
        lines.extend(_session_lines(sessions, expected))
        policy_lines.extend(_policy_lines(probes))
        failures.extend(_failure_lines(probes))
    if policy_lines:
        lines.append("policy and floating-IP probes (expected -> seen):")
        lines.extend(policy_lines)
    if failures:
        lines.append("probes that did not go as expected:")
        lines.extend(failures)
    bgp_line = f"bgp: {totals['established']}/{totals['sessions']} sessions established"
    reach_line = (
        f"reachability: {totals['reachable']}/{totals['pairs']} probes as expected "
        f"({totals['allowed']} allowed, {totals['pairs'] - totals['allowed']} denied by policy)"
    )
    lines.extend([bgp_line, reach_line])
    return {
        "lines": lines,
        "bgp": bgp_line,
        "reachability": reach_line,
        "ok": totals["established"] == totals["sessions"]
        and totals["reachable"] == totals["pairs"],
    }


def _kind_counts(sessions: Iterable[Mapping[str, str]], expected: Mapping[str, str]) -> str:
    """``mesh 3/3`` or ``rr-client 1/1, rr-peer 1/1, ebgp 2/2``: established/expected per kind."""
    up = {s["name"] for s in sessions if is_established(s)}
    kinds = [k for k in SESSION_KINDS if k in expected.values()]
    kinds += sorted(set(expected.values()) - set(kinds))
    counts = []
    for kind in kinds:
        names = [name for name, k in expected.items() if k == kind]
        counts.append(f"{kind} {sum(1 for n in names if n in up)}/{len(names)}")
    return ", ".join(counts)


def _session_lines(sessions: Iterable[Mapping[str, str]], expected: Mapping[str, str]) -> list[str]:
    found = {s["name"]: s for s in sessions}
    return [
        f"    {expected[name]:<9} {name:<28} {found[name]['state']:<6} {found[name]['info']}"
        if name in found
        else f"    {expected[name]:<9} {name:<28} absent (BIRD does not know this session)"
        for name in sorted(expected, key=lambda n: (_kind_order(expected[n]), n))
    ]


def _describe(probe: Mapping[str, Any]) -> str:
    what = f"tcp/{probe['port']}" if probe.get("kind") == "tcp" else "ping"
    if probe.get("floating"):
        what += " to its floating IP"
    return (
        f"    {probe['src_host']}/{probe['src']} -> {probe['dst_host']}/{probe['dst']} "
        f"({probe['dst_ip']}) {what}"
    )


def _seen(ok: bool | None) -> str:
    return "no result" if ok is None else ("connected" if ok else "blocked")


def _policy_lines(probes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Probes worth showing: TCP and floating-IP probes, and everything policy denies."""
    return [
        f"{_describe(p)}: {'allow' if p['expect'] else 'deny'} -> {_seen(p['ok'])}"
        for p in probes
        if p.get("kind") == "tcp" or p.get("floating") or not p["expect"]
    ]


def _kind_order(kind: str) -> int:
    return SESSION_KINDS.index(kind) if kind in SESSION_KINDS else len(SESSION_KINDS)


def _failure_lines(probes: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"{_describe(p)}: expected {'allow' if p['expect'] else 'deny'}, {_seen(p['ok'])}"
        for p in probes
        if p["ok"] != p["expect"]
    ]


def plan_part(host_slice: Mapping[str, Any], part: str) -> list[Any]:
    """``probes`` or ``listeners`` of a slice's verification plan."""
    plan = host_slice.get("verify")
    if not plan:
        raise ValueError(
            "the slice has no verification plan: make it with calico_host_slice(host, "
            "verify_plan=true) (the calico_model role does with calico_model_verify_plan: true)"
        )
    return list(plan[part])
