"""Network policy of the fleet: reading policies, checking floating IPs, which policies apply.

Reads ``calico_policies``, ``calico_default_profile`` and the per-host
``calico_endpoint_to_host_action`` into validated, JSON-friendly structures for the network
model, and checks floating IPs against the pools and blocks. The selector language is in
selector.py; what the rendered chains do with a packet (the verification plan's expectation) is
in verdict.py.

Semantics (Calico's, reduced to one tier and IPv4):

* A policy applies to the workloads its ``selector`` matches, on every host. It has ingress
  rules, egress rules or both; a direction it lists (even with no rules) is enforced for the
  workloads it selects: the first ``allow`` or ``deny`` rule that matches decides, ``log`` logs
  and goes on, and a packet no rule decides is dropped at the end of the policies.
* Policies run by ``order`` (lower first; ties by name).
* A workload that no policy selects for a direction gets the default profile: ``fleet`` lets in
  what comes from the fleet (any pool address or host address) and lets out everything;
  ``deny`` drops both directions.
* A rule's peer is a ``selector`` (the matching workloads' addresses, on any host) and/or
  ``cidr`` networks; a rule without a peer matches any address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems
from ansible_collections.calico.network.plugins.plugin_utils.selector import (
    SELECTOR_HELP,
    SelectorError,
    parse_selector,
    selector_matches,
)
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    check_keys,
    finite_number,
    kind_of,
    read_name,
    shown,
    text_problem,
)

ACTIONS = ("allow", "deny", "log")
PROTOCOLS = ("tcp", "udp", "icmp", "sctp")
PORT_PROTOCOLS = ("tcp", "udp", "sctp")
PROFILES = ("fleet", "deny")
ENDPOINT_TO_HOST_ACTIONS = ("ACCEPT", "DROP", "RETURN")
DEFAULT_ORDER = 1000
MAX_ORDER = 10**9
CIDR_FIX = "write networks such as 10.0.0.0/8, or bare addresses"
MAX_PORTS = 15  # the multiport match's limit
POLICY_KEYS = {"name", "selector", "order", "ingress", "egress"}
RULE_KEYS = {"action", "protocol", "ports", "selector", "cidr"}
# A policy's name becomes part of a chain name and of shell-visible output.
POLICY_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")
PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits: str.isdigit() accepts fullwidth digits too


def read_policy_settings(
    fleet_values: Mapping[str, Any],
    host_values: Mapping[str, Mapping[str, Any]],
    problems: Problems,
) -> dict[str, Any]:
    """The model's ``policy`` entry: the policies in evaluation order and the defaults."""
    profile = fleet_values.get("calico_default_profile", "fleet")
    if not isinstance(profile, str) or profile not in PROFILES:
        problems.error(
            FLEET,
            "calico_default_profile",
            f"{shown(profile)} is not a profile",
            f"use one of: {', '.join(PROFILES)}",
        )
        profile = "fleet"
    policies = read_policies(fleet_values.get("calico_policies"), problems)
    return {
        "policies": sorted(policies, key=lambda p: (p["order"], p["name"])),
        "default_profile": profile,
        "endpoint_to_host_action": {
            host: read_endpoint_to_host_action(host, values, problems)
            for host, values in host_values.items()
        },
    }


def read_endpoint_to_host_action(host: str, values: Mapping[str, Any], problems: Problems) -> str:
    raw = values.get("calico_endpoint_to_host_action", "ACCEPT")
    action = raw.upper() if isinstance(raw, str) else None
    if action not in ENDPOINT_TO_HOST_ACTIONS:
        problems.error(
            host,
            "calico_endpoint_to_host_action",
            f"{shown(raw)} is not an action",
            f"use one of: {', '.join(ENDPOINT_TO_HOST_ACTIONS)}",
        )
        return "ACCEPT"
    return action


def read_policies(raw: Any, problems: Problems) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        problems.error(
            FLEET,
            "calico_policies",
            "must be a list",
            "write a list of {name, selector, ingress?, egress?}",
        )
        return []
    policies: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        policy = _read_policy(f"calico_policies[{index}]", item, problems)
        if policy is None:
            continue
        if policy["name"] in seen:
            problems.error(
                FLEET,
                f"calico_policies[{index}].name",
                f"{policy['name']!r} is used twice",
                "give every policy its own name",
            )
            continue
        seen.add(policy["name"])
        policies.append(policy)
    return policies


def _read_policy(where: str, item: Any, problems: Problems) -> dict[str, Any] | None:
    name = read_name(
        FLEET,
        where,
        item,
        problems,
        POLICY_NAME,
        "an iptables chain",
        (
            "write {name: db, selector: \"app == 'db'\", ...}",
            "use 1-63 lower-case letters, digits, dots, dashes and underscores, starting and "
            "ending with a letter or digit",
        ),
    )
    if name is None:
        return None
    check_keys(FLEET, where, item, sorted(POLICY_KEYS), problems)
    selector = _read_selector(f"{where}.selector", item.get("selector", "all()"), problems)
    order = item.get("order", DEFAULT_ORDER)
    if not finite_number(order) or abs(order) > MAX_ORDER:
        problems.error(
            FLEET,
            f"{where}.order",
            f"{shown(order)} is not a number from -{MAX_ORDER} to {MAX_ORDER}",
            "write order: 100",
        )
        order = DEFAULT_ORDER
    directions = [d for d in ("ingress", "egress") if d in item] or ["ingress"]
    policy: dict[str, Any] = {"name": name, "selector": selector, "order": order}
    for direction in directions:
        rules = item.get(direction) or []
        if not isinstance(rules, list):
            problems.error(
                FLEET, f"{where}.{direction}", "must be a list of rules", "write [{action: allow}]"
            )
            rules = []
        policy[direction] = [
            rule
            for index, entry in enumerate(rules)
            if (rule := _read_rule(f"{where}.{direction}[{index}]", entry, problems)) is not None
        ]
    return policy


def _read_selector(where: str, raw: Any, problems: Problems) -> str:
    if not isinstance(raw, str):
        problems.error(
            FLEET, where, f"{shown(raw)} is {kind_of(raw)}, not a selector", SELECTOR_HELP
        )
        return "all()"
    reason = text_problem(raw.strip(), quotes=False)
    if reason:
        problems.error(FLEET, where, f"{shown(raw)} {reason}", SELECTOR_HELP)
        return "all()"
    text = raw.strip()
    try:
        parse_selector(text)
    except SelectorError as err:
        problems.error(FLEET, where, f"selector {err}", SELECTOR_HELP)
        return "all()"
    return text


def _read_rule(where: str, item: Any, problems: Problems) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        problems.error(FLEET, where, "must be a mapping", "write {action: allow, protocol: tcp}")
        return None
    check_keys(FLEET, where, item, sorted(RULE_KEYS), problems)
    action = item.get("action", "")
    if not isinstance(action, str) or action not in ACTIONS:
        problems.error(
            FLEET,
            f"{where}.action",
            f"{shown(action)} is not an action",
            f"use one of: {', '.join(ACTIONS)}",
        )
        return None
    rule: dict[str, Any] = {"action": action}
    protocol = item.get("protocol")
    if protocol is not None:
        if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
            problems.error(
                FLEET,
                f"{where}.protocol",
                f"{shown(protocol)} is not a protocol",
                f"use one of {', '.join(PROTOCOLS)}, or leave it out for any",
            )
            return None
        protocol = protocol.lower()
        rule["protocol"] = protocol
    if "ports" in item:
        ports = _read_ports(where, item["ports"], protocol, problems)
        if ports is None:
            return None
        rule["ports"] = ports
    if "selector" in item and "cidr" in item:
        problems.error(
            FLEET,
            where,
            "has both selector and cidr",
            "split it into two rules: one with a selector, one with cidr",
        )
        return None
    if "selector" in item:
        rule["selector"] = _read_selector(f"{where}.selector", item["selector"], problems)
    if "cidr" in item:
        cidrs = _read_cidrs(f"{where}.cidr", item["cidr"], problems)
        if cidrs is None:
            return None
        rule["cidr"] = cidrs
    return rule


def _read_ports(where: str, raw: Any, protocol: str | None, problems: Problems) -> list[str] | None:
    fix = "write ports: [5432, '8000:8080'] together with protocol: tcp, udp or sctp"
    if protocol not in PORT_PROTOCOLS:
        problems.error(FLEET, f"{where}.ports", "need a protocol with ports", fix)
        return None
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > MAX_PORTS:
        problems.error(FLEET, f"{where}.ports", f"must list 1-{MAX_PORTS} ports or ranges", fix)
        return None
    ports: list[str] = []
    for item in items:
        number = isinstance(item, int) and not isinstance(item, bool)
        bounds = [str(item)] if number else item.split(":") if isinstance(item, str) else ["x"]
        if (
            len(bounds) > 2
            or not all(PORT.fullmatch(b) and 0 < int(b) < 65536 for b in bounds)
            or (len(bounds) == 2 and int(bounds[0]) >= int(bounds[1]))
        ):
            problems.error(
                FLEET,
                f"{where}.ports",
                f"{shown(item)} is not a port (1-65535) or range lo:hi in ASCII digits",
                fix,
            )
            return None
        ports.append(":".join(str(int(b)) for b in bounds))
    return ports


def _read_cidrs(where: str, raw: Any, problems: Problems) -> list[str] | None:
    """A rule's peer networks, each written exactly: a network with host bits set is never
    widened (10.50.7.20/8 is not 10.0.0.0/8); a bare address is its /32."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        problems.error(FLEET, where, "is an empty list", "list networks such as 10.0.0.0/8")
        return None
    cidrs = []
    for item in items:
        if not isinstance(item, str):
            problems.error(
                FLEET, where, f"{shown(item)} is {kind_of(item)}, not a network", CIDR_FIX
            )
            return None
        try:
            network = ipaddress.IPv4Network(item, strict=False)
        except ValueError:
            problems.error(FLEET, where, f"{shown(item)} is not an IPv4 network", CIDR_FIX)
            return None
        address = item.split("/")[0]
        if ipaddress.IPv4Address(address) != network.network_address:
            problems.error(
                FLEET,
                where,
                f"{item} has host bits set; it is not the network {network}",
                f"write {network} if the whole network is meant, or {address}/32 for the one "
                "address",
            )
            return None
        cidrs.append(str(network))
    return cidrs


def check_floating_ips(
    model_hosts: Mapping[str, Any], pools: Iterable[Any], problems: Problems
) -> None:
    """Floating IPs must lie in a pool, outside every block, and be unique in the fleet.

    Outside the blocks because a host never imports routes inside its own block (it holds the
    block's blackhole), so the owner of that block could not reach the floating IP.
    """
    networks = [ipaddress.IPv4Network(str(p["cidr"])) for p in pools]
    blocks = {
        ipaddress.IPv4Network(block): host
        for host, entry in model_hosts.items()
        for block in entry["blocks"]
    }
    seen: dict[str, str] = {}
    for host, entry in sorted(model_hosts.items()):
        for index, workload in enumerate(entry["workloads"]):
            where = f"calico_workloads[{index}].floating_ips"
            for address in workload.get("floating_ips", []):
                ip = ipaddress.IPv4Address(address)
                owner = f"{host}/{workload['name']}"
                if not any(ip in net for net in networks):
                    problems.error(
                        host,
                        where,
                        f"{address} lies in no pool, so BIRD would not advertise it",
                        "choose an address inside one of calico_pools",
                    )
                    continue
                inside = [b for b in blocks if ip in b]
                if inside:
                    problems.error(
                        host,
                        where,
                        f"{address} lies in block {inside[0]} of {blocks[inside[0]]}",
                        "choose a pool address outside every host's block (e.g. the pool's "
                        "last block)",
                    )
                    continue
                if address in seen:
                    problems.error(
                        host,
                        where,
                        f"{address} is also the floating IP of {seen[address]}",
                        "give every floating IP to one workload only",
                    )
                    continue
                seen[address] = owner


def policies_for(
    policies: Iterable[Mapping[str, Any]], labels: Mapping[str, str], direction: str
) -> list[Mapping[str, Any]]:
    """The policies that apply to a workload with ``labels`` in ``direction``, in order."""
    return [p for p in policies if direction in p and selector_matches(p["selector"], labels)]


def peer_addresses(
    rule: Mapping[str, Any], workloads: Iterable[Mapping[str, Any]]
) -> list[str] | None:
    """The peer networks of a rule, or None when it has no peer (any address)."""
    if "selector" not in rule and "cidr" not in rule:
        return None
    addresses = list(rule.get("cidr", []))
    if "selector" in rule:
        addresses += sorted(
            {f"{w['ip']}/32" for w in workloads if selector_matches(rule["selector"], w["labels"])},
            key=ipaddress.IPv4Network,
        )
    return addresses
