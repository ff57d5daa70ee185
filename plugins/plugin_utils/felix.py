"""Render Felix's iptables chain layout for one host from its slice of the network model.

``felix_inputs`` puts into the slice what the host's chains need from the rest of the fleet
(the policies that apply to its workloads, with their peers resolved to addresses, and every
fleet host's address); ``render_tables`` renders from the slice alone, so the anti-spoofing
mode can be chosen on the host at run time.

The result is the ``tables`` option of ``calico.network.calico_iptables``: all four tables,
their ``cali-*`` chains, the hooks at the top of the builtin chains and the rules always
appended. Layout and mark bits follow Felix v3.29 (iptables data plane), without host
endpoints, IPVS and IP sets:

* raw ``cali-PREROUTING``: clear the Calico mark bits, mark what comes from a ``cali+``
  interface, drop it when its source does not route back out of the same interface (strict
  reverse-path check with the ``rpfilter`` match, or, where the kernel lacks it, one source check
  per local workload);
* filter ``cali-INPUT`` → ``cali-wl-to-host`` → ``cali-from-wl-dispatch`` → ``cali-fw-<if>``, then
  the workload-to-host action; ``cali-FORWARD`` → the from/to dispatch chains → ``cali-fw-<if>`` /
  ``cali-tw-<if>`` → ``cali-po-<policy>`` / ``cali-pi-<policy>`` in order, or the default
  profile ``cali-pro-fleet`` / ``cali-pri-fleet``; ``cali-OUTPUT``; the accept-mark rule appended
  to FORWARD;
* nat ``cali-PREROUTING`` and ``cali-OUTPUT`` → ``cali-fip-dnat``; ``cali-POSTROUTING`` →
  ``cali-fip-snat`` and ``cali-nat-outgoing`` (masquerade from ``nat_outgoing`` pools to
  anything outside every pool, without IP sets);
* mangle: nothing (stale ``cali-*`` chains there are removed).

Pure functions: the filter plugin, the golden tests and the benchmark call them alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.iptables import chain_name
from ansible_collections.calico.network.plugins.module_utils.tunnel import VXLAN_PORT
from ansible_collections.calico.network.plugins.plugin_utils import encap
from ansible_collections.calico.network.plugins.plugin_utils.policy import (
    peer_addresses,
    policies_for,
)
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    FelixInputs,
    FelixPolicy,
    FelixTables,
    FleetModel,
    HostEntry,
    HostSlice,
    Pool,
)

PREFIX = "cali-"
ACCEPT_MARK = "0x10000"
PASS_MARK = "0x20000"
SCRATCH0 = "0x40000"
ALL_MARKS = "0xf0000"
IS_ACCEPTED = f"-m mark --mark {ACCEPT_MARK}/{ACCEPT_MARK}"
NO_PASS = f"-m mark --mark 0x0/{PASS_MARK}"
SET_ACCEPT = f"-j MARK --set-xmark {ACCEPT_MARK}/{ACCEPT_MARK}"
RETURN_IF_ACCEPTED = f"{IS_ACCEPTED} -j RETURN"
LOG_PREFIX = '-j LOG --log-prefix "calico-packet: "'
ANTI_SPOOFING = ("rpfilter", "source")
PROFILE = "fleet"


def felix_inputs(model: FleetModel, me: HostEntry) -> FelixInputs:
    """The slice's ``felix`` part: what the host's chains need from the rest of the fleet."""
    policies = model["policy"]["policies"]
    applied = {
        policy["name"]
        for workload in me["workloads"]
        for direction in ("ingress", "egress")
        for policy in policies_for(policies, workload["labels"], direction)
    }
    everyone = [w for h in model["hosts"].values() for w in h["workloads"]] if applied else []
    resolved: list[FelixPolicy] = []
    for policy in policies:
        if policy["name"] not in applied:
            continue
        entry: dict[str, Any] = {"name": policy["name"], "selector": policy["selector"]}
        for direction in ("ingress", "egress"):
            if direction in policy:
                entry[direction] = [
                    {**rule, "peers": peer_addresses(rule, everyone)}
                    for rule in policy[direction]  # type: ignore[literal-required]
                ]
        resolved.append(entry)  # type: ignore[arg-type]
    return {
        "policies": resolved,
        "default_profile": model["policy"]["default_profile"],
        # In address order: the model's hosts are sorted once (model.py).
        "host_addresses": [h["ip"] for h in model["hosts"].values()],
    }


def render_tables(
    piece: HostSlice,
    anti_spoofing: str = "rpfilter",
    endpoint_to_host_action: str | None = None,
) -> FelixTables:
    """The ``tables`` argument of calico_iptables for the host of ``piece`` (its slice)."""
    if anti_spoofing not in ANTI_SPOOFING:
        raise ValueError(f"anti_spoofing must be one of {ANTI_SPOOFING}, not {anti_spoofing!r}")
    workloads = sorted(piece["workloads"], key=lambda w: w["interface"])
    action = endpoint_to_host_action or piece["endpoint_to_host_action"]
    return {
        "raw": _raw(workloads, anti_spoofing),
        "mangle": {"chains": {}},
        "filter": _with_tunnel_rules(_filter(piece, workloads, action), piece),
        "nat": _nat(piece["pools"], workloads),
    }


def _with_tunnel_rules(table: dict[str, Any], piece: HostSlice) -> dict[str, Any]:
    """Add the IPIP/VXLAN rules (encap.filter_table) when a pool tunnels.

    calico_iptables owns every cali- chain of a table per call, so the tunnel chains must come
    in this same call; their hooks go first, so a tunnel packet from outside the fleet is
    dropped before anything else sees it.
    """
    used = encap.encapsulations_in_use(piece["pools"])
    if not used:
        return table
    others = [ip for ip in piece["felix"]["host_addresses"] if ip != piece["ip"]]
    tunnel = encap.filter_table(used, others)
    return {
        **table,
        "chains": {**table["chains"], **tunnel["chains"]},
        "hooks": [*tunnel["hooks"], *table["hooks"]],
    }


def policy_chain(direction: str, policy: str) -> str:
    """``cali-pi-<policy>`` (ingress) or ``cali-po-<policy>`` (egress), hashed when too long."""
    return chain_name(PREFIX + ("pi-" if direction == "ingress" else "po-"), policy)


def workload_chain(direction: str, interface: str) -> str:
    """``cali-tw-<if>`` (to the workload) or ``cali-fw-<if>`` (from it)."""
    return chain_name(PREFIX + ("tw-" if direction == "ingress" else "fw-"), interface)


def _raw(workloads: list[Mapping[str, Any]], anti_spoofing: str) -> dict[str, Any]:
    rules = [
        f"-j MARK --set-xmark 0x0/{ALL_MARKS}",
        f"-i cali+ -j MARK --set-xmark {SCRATCH0}/{SCRATCH0}",
    ]
    if anti_spoofing == "rpfilter":
        rules.append(
            f"-m mark --mark {SCRATCH0}/{SCRATCH0} -m rpfilter --validmark --invert -j DROP"
        )
    else:
        rules += [f"-i {w['interface']} ! -s {w['ip']}/32 -j DROP" for w in workloads]
    return {
        "chains": {"cali-PREROUTING": rules},
        "hooks": [{"chain": "PREROUTING", "rule": "-j cali-PREROUTING"}],
    }


def _filter(piece: HostSlice, workloads: list[Mapping[str, Any]], action: str) -> dict[str, Any]:
    policy = piece["felix"]
    chains: dict[str, list[str]] = {
        "cali-INPUT": ["-i cali+ -g cali-wl-to-host"],
        "cali-wl-to-host": ["-j cali-from-wl-dispatch", f"-j {action}"],
        "cali-FORWARD": [
            "-j MARK --set-xmark 0x0/0xe0000",
            "-i cali+ -j cali-from-wl-dispatch",
            "-o cali+ -j cali-to-wl-dispatch",
        ],
        # Host-to-local-workload traffic is not policed by the workload's ingress (Felix's
        # choice); this is where host-endpoint policy would go.
        "cali-OUTPUT": ["-o cali+ -j RETURN"],
        "cali-from-wl-dispatch": [
            *(
                f"-i {w['interface']} -g {workload_chain('egress', w['interface'])}"
                for w in workloads
            ),
            "-j DROP",
        ],
        "cali-to-wl-dispatch": [
            *(
                f"-o {w['interface']} -g {workload_chain('ingress', w['interface'])}"
                for w in workloads
            ),
            "-j DROP",
        ],
    }
    used: set[tuple[str, str]] = set()
    needs_profile = False
    for workload in workloads:
        for direction in ("ingress", "egress"):
            applied = policies_for(policy["policies"], workload["labels"], direction)
            used.update((direction, p["name"]) for p in applied)
            needs_profile = needs_profile or not applied
            chains[workload_chain(direction, workload["interface"])] = _endpoint_chain(
                direction, [p["name"] for p in applied], policy["default_profile"]
            )
    for spec in policy["policies"]:
        for direction in ("ingress", "egress"):
            if (direction, spec["name"]) in used:
                chains[policy_chain(direction, spec["name"])] = _policy_rules(
                    direction,
                    spec[direction],  # type: ignore[literal-required]
                )
    if needs_profile and policy["default_profile"] == PROFILE:
        chains["cali-pri-fleet"] = [
            *(f"-s {network} {SET_ACCEPT}" for network in fleet_networks(piece)),
            RETURN_IF_ACCEPTED,
        ]
        chains["cali-pro-fleet"] = [SET_ACCEPT, RETURN_IF_ACCEPTED]
    return {
        "chains": chains,
        "hooks": [
            {"chain": "INPUT", "rule": "-j cali-INPUT"},
            {"chain": "FORWARD", "rule": "-j cali-FORWARD"},
            {"chain": "OUTPUT", "rule": "-j cali-OUTPUT"},
        ],
        "append": [{"chain": "FORWARD", "rule": f"{IS_ACCEPTED} -j ACCEPT"}],
    }


def fleet_networks(piece: HostSlice) -> list[str]:
    """What the ``fleet`` profile lets in: every pool and every host's address."""
    pools = [p["cidr"] for p in piece["pools"]]
    return pools + [f"{ip}/32" for ip in piece["felix"]["host_addresses"]]


def _endpoint_chain(direction: str, policies: list[str], profile: str) -> list[str]:
    rules = [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-m conntrack --ctstate INVALID -j DROP",
        "-j MARK --set-xmark 0x0/0x30000",
    ]
    if direction == "egress":
        # A workload must not tunnel around policy (Felix's default).
        rules += [f"-p udp -m multiport --dports {VXLAN_PORT} -j DROP", "-p 4 -j DROP"]
    if policies:
        rules.append(f"-j MARK --set-xmark 0x0/{PASS_MARK}")
        for name in policies:
            rules += [f"{NO_PASS} -j {policy_chain(direction, name)}", RETURN_IF_ACCEPTED]
        rules.append(f"{NO_PASS} -j DROP")
    elif profile == PROFILE:
        side = "pri" if direction == "ingress" else "pro"
        rules += [f"-j cali-{side}-{PROFILE}", RETURN_IF_ACCEPTED]
    rules.append("-j DROP")
    return rules


def _policy_rules(direction: str, rules: list[Mapping[str, Any]]) -> list[str]:
    rendered: list[str] = []
    peer_flag = "-s" if direction == "ingress" else "-d"
    for rule in rules:
        match = _protocol_match(rule)
        peers = rule["peers"]
        if peers == []:
            continue  # a peer selector that matches no workload matches no packet
        prefixes = [f"{peer_flag} {p} " for p in peers] if peers is not None else [""]
        for prefix in prefixes:
            body = f"{prefix}{match}".strip()
            if rule["action"] == "allow":
                rendered.append(f"{body} {SET_ACCEPT}".strip())
            elif rule["action"] == "deny":
                rendered.append(f"{body} -j DROP".strip())
            else:
                rendered.append(f"{body} {LOG_PREFIX}".strip())
        if rule["action"] == "allow":
            rendered.append(RETURN_IF_ACCEPTED)
    return rendered


def _protocol_match(rule: Mapping[str, Any]) -> str:
    if "protocol" not in rule:
        return ""
    match = f"-p {rule['protocol']}"
    if "ports" in rule:
        match += f" -m multiport --dports {','.join(rule['ports'])}"
    return match


def _nat(pools: list[Pool], workloads: list[Mapping[str, Any]]) -> dict[str, Any]:
    mappings = sorted(
        (ipaddress.IPv4Address(fip), ipaddress.IPv4Address(w["ip"]))
        for w in workloads
        for fip in w["floating_ips"]
    )
    # Hairpin SNAT: a workload with several floating IPs talks to itself from the lowest one.
    reverse: dict[ipaddress.IPv4Address, ipaddress.IPv4Address] = {}
    for fip, ip in mappings:
        reverse.setdefault(ip, fip)
    masquerade = [p["cidr"] for p in pools if p["nat_outgoing"]]
    outgoing = [f"-d {p['cidr']} -j RETURN" for p in pools] if masquerade else []
    outgoing += [f"-s {cidr} -j MASQUERADE" for cidr in masquerade]
    return {
        "chains": {
            "cali-PREROUTING": ["-j cali-fip-dnat"],
            "cali-OUTPUT": ["-j cali-fip-dnat"],
            "cali-POSTROUTING": ["-j cali-fip-snat", "-j cali-nat-outgoing"],
            "cali-fip-dnat": [f"-d {fip}/32 -j DNAT --to-destination {ip}" for fip, ip in mappings],
            "cali-fip-snat": [
                f"-s {ip}/32 -d {ip}/32 -j SNAT --to-source {fip}"
                for ip, fip in sorted(reverse.items())
            ],
            "cali-nat-outgoing": outgoing,
        },
        "hooks": [
            {"chain": "PREROUTING", "rule": "-j cali-PREROUTING"},
            {"chain": "OUTPUT", "rule": "-j cali-OUTPUT"},
        ],
        "append": [{"chain": "POSTROUTING", "rule": "-j cali-POSTROUTING"}],
    }
