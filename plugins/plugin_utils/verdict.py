"""Verdicts: what the rendered chains do with a packet between two workloads of the fleet.

The verification plan (verify.py) and the tests use it as the expected outcome of a probe. It
follows the semantics policy.py documents: the first allow or deny rule of the applying policies
decides, a packet no rule decides is dropped, a workload no policy selects gets the profile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.policy import (
    peer_addresses,
    policies_for,
)


@dataclass(frozen=True)
class Endpoint:
    """One end of a packet: an address, and the labels when it is a workload of the fleet."""

    ip: str
    labels: Mapping[str, str] | None = None


def _rule_matches(
    rule: Mapping[str, Any],
    peer: Endpoint,
    protocol: str,
    port: int | None,
    workloads: Iterable[Mapping[str, Any]],
) -> bool:
    if "protocol" in rule and rule["protocol"] != protocol:
        return False
    if "ports" in rule and (port is None or not any(_port_in(port, s) for s in rule["ports"])):
        return False
    addresses = peer_addresses(rule, workloads)
    if addresses is None:
        return True
    ip = ipaddress.IPv4Address(peer.ip)
    return any(ip in ipaddress.IPv4Network(a) for a in addresses)


def _port_in(port: int, spec: str) -> bool:
    low, _sep, high = spec.partition(":")
    return int(low) <= port <= int(high or low)


def direction_allows(
    model: Mapping[str, Any],
    me: Mapping[str, str],
    peer: Endpoint,
    direction: str,
    protocol: str,
    port: int | None,
) -> bool:
    """What the chains of workload ``me`` (its labels) do with a packet to or from ``peer``."""
    settings = model["policy"]
    workloads = [w for h in model["hosts"].values() for w in h["workloads"]]
    applied = policies_for(settings["policies"], me, direction)
    if not applied:
        if settings["default_profile"] == "deny":
            return False
        if direction == "egress":
            return True
        return in_fleet(model, peer.ip)
    for policy in applied:
        for rule in policy[direction]:
            if rule["action"] == "log":
                continue
            if _rule_matches(rule, peer, protocol, port, workloads):
                return rule["action"] == "allow"
    return False


def in_fleet(model: Mapping[str, Any], address: str) -> bool:
    ip = ipaddress.IPv4Address(address)
    if any(ip in ipaddress.IPv4Network(p["cidr"]) for p in model["pools"]):
        return True
    return any(h["ip"] == address for h in model["hosts"].values())


def verdict(
    model: Mapping[str, Any],
    source: Mapping[str, Any],
    destination: Mapping[str, Any],
    protocol: str,
    port: int | None = None,
) -> bool:
    """Whether a new connection from workload ``source`` to workload ``destination`` passes.

    Both are workload entries of the model; the source's egress and the destination's ingress
    must both allow it.
    """
    return direction_allows(
        model, source["labels"], Endpoint(destination["ip"]), "egress", protocol, port
    ) and direction_allows(
        model, destination["labels"], Endpoint(source["ip"]), "ingress", protocol, port
    )
