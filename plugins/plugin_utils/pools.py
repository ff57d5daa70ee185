"""Read ``calico_pools``: the container address pools, cut into per-host blocks by ipam.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    check_keys,
    kind_of,
    read_bool,
    read_int,
    shown,
)

POOL_DEFAULTS: dict[str, Any] = {"block_size": 26, "encapsulation": "none"}
POOL_KEYS = ("cidr", "block_size", "nat_outgoing", "encapsulation", "encapsulation_mode")
ENCAPSULATIONS = ("none", "ipip", "vxlan")
ENCAPSULATION_MODES = ("Always", "CrossSubnet", "Never")
# Ranges a pool may not touch, and why.
SPECIAL_RANGES = (
    (ipaddress.IPv4Network("0.0.0.0/8"), "0.0.0.0/8 (this network), which no host may route"),
    (ipaddress.IPv4Network("127.0.0.0/8"), "127.0.0.0/8, the loopback range"),
    (
        ipaddress.IPv4Network("169.254.0.0/16"),
        "169.254.0.0/16, the link-local range where workloads have their gateway 169.254.1.1",
    ),
    (ipaddress.IPv4Network("224.0.0.0/4"), "224.0.0.0/4, the multicast range"),
    (
        ipaddress.IPv4Network("240.0.0.0/4"),
        "240.0.0.0/4, the reserved range with the broadcast address 255.255.255.255",
    ),
)
MIN_BLOCK, MAX_BLOCK = 20, 32


@dataclass(frozen=True)
class Pool:
    cidr: ipaddress.IPv4Network
    block_size: int
    nat_outgoing: bool = False
    encapsulation: str = "none"
    encapsulation_mode: str = "Never"


def read_pools(raw: Any, problems: Problems) -> list[Pool]:
    if raw is None:
        problems.error(
            FLEET,
            "calico_pools",
            "is not set",
            "define the container address pools in group_vars/all, "
            "e.g. calico_pools: [{cidr: 172.17.0.0/16, block_size: 24}]",
        )
        return []
    if not isinstance(raw, list) or not raw:
        problems.error(FLEET, "calico_pools", "must be a non-empty list", "list at least one pool")
        return []
    pools = [_read_pool(index, item, problems) for index, item in enumerate(raw)]
    valid = [pool for pool in pools if pool is not None]
    _check_pool_overlaps(valid, problems)
    return valid


def _read_pool(index: int, item: Any, problems: Problems) -> Pool | None:
    where = f"calico_pools[{index}]"
    if not isinstance(item, Mapping) or "cidr" not in item:
        problems.error(FLEET, where, "must be a mapping with a cidr", "write {cidr: 172.17.0.0/16}")
        return None
    check_keys(FLEET, where, item, POOL_KEYS, problems)
    nat_outgoing = read_bool(FLEET, f"{where}.nat_outgoing", item.get("nat_outgoing"), problems)
    cidr = _read_cidr(f"{where}.cidr", item["cidr"], problems)
    if cidr is None:
        return None
    block_size = read_int(
        FLEET, f"{where}.block_size", item.get("block_size", POOL_DEFAULTS["block_size"]), problems
    )
    if block_size is None:
        return None
    if not MIN_BLOCK <= block_size <= MAX_BLOCK:
        problems.error(
            FLEET,
            f"{where}.block_size",
            f"/{block_size} is outside {MIN_BLOCK}-{MAX_BLOCK}",
            f"choose a block size from {MIN_BLOCK} to {MAX_BLOCK} (Calico's default is 26)",
        )
        return None
    if block_size < cidr.prefixlen:
        problems.error(
            FLEET,
            f"{where}.block_size",
            f"/{block_size} blocks are larger than the pool {cidr}",
            f"use a block size of at least {cidr.prefixlen}, or a larger pool",
        )
        return None
    encapsulation, mode = read_encapsulation(where, item, problems)
    return Pool(
        cidr=cidr,
        block_size=block_size,
        nat_outgoing=nat_outgoing,
        encapsulation=encapsulation,
        encapsulation_mode=mode,
    )


def _read_cidr(where: str, raw: Any, problems: Problems) -> ipaddress.IPv4Network | None:
    """A pool's network: written exactly (no host bits), outside every special range."""
    try:
        if not isinstance(raw, str):
            raise ValueError(f"it is {kind_of(raw)}")
        cidr = ipaddress.IPv4Network(raw, strict=True)
    except ValueError as err:
        problems.error(
            FLEET,
            where,
            f"{shown(raw)} is not an IPv4 network ({err})",
            "write the network address with its prefix, e.g. 172.17.0.0/16",
        )
        return None
    for special, what in SPECIAL_RANGES:
        if cidr.overlaps(special):
            problems.error(
                FLEET,
                where,
                f"{cidr} overlaps {what}",
                "choose a pool in private unicast space, e.g. inside 10.0.0.0/8 or 172.16.0.0/12",
            )
            return None
    return cidr


def read_encapsulation(where: str, item: Mapping[str, Any], problems: Problems) -> tuple[str, str]:
    """A pool's ``encapsulation`` and ``encapsulation_mode`` (Calico's ipipMode/vxlanMode).

    The mode defaults to Always for a tunnel and Never without one; a tunnel mode without a
    tunnel is a contradiction, not a silent no-op.
    """
    encapsulation = item.get("encapsulation", POOL_DEFAULTS["encapsulation"])
    if not isinstance(encapsulation, str) or encapsulation not in ENCAPSULATIONS:
        problems.error(
            FLEET,
            f"{where}.encapsulation",
            f"{shown(encapsulation)} is not an encapsulation",
            f"use one of: {', '.join(ENCAPSULATIONS)}",
        )
        encapsulation = "none"
    default_mode = "Never" if encapsulation == "none" else "Always"
    mode = item.get("encapsulation_mode", default_mode)
    if not isinstance(mode, str) or mode not in ENCAPSULATION_MODES:
        problems.error(
            FLEET,
            f"{where}.encapsulation_mode",
            f"{shown(mode)} is not an encapsulation mode",
            f"use one of: {', '.join(ENCAPSULATION_MODES)} (spelled as in Calico)",
        )
        mode = default_mode
    if encapsulation == "none" and mode != "Never":
        problems.error(
            FLEET,
            f"{where}.encapsulation_mode",
            f"{mode} needs a tunnel, but the pool's encapsulation is none",
            "set encapsulation: ipip or vxlan, or remove encapsulation_mode",
        )
        mode = "Never"
    return encapsulation, mode


def _check_pool_overlaps(pools: list[Pool], problems: Problems) -> None:
    for i, first in enumerate(pools):
        for second in pools[i + 1 :]:
            if first.cidr.overlaps(second.cidr):
                problems.error(
                    FLEET,
                    "calico_pools",
                    f"pools {first.cidr} and {second.cidr} overlap",
                    "make the pools disjoint",
                )


def check_pools_against_hosts(pools: list[Pool], hosts: list[Any], problems: Problems) -> None:
    """A pool must not overlap an underlay subnet: containers would be routed over hosts' links.

    One message per pool and subnet, naming the hosts on that subnet.
    """
    for pool in pools:
        touched: dict[ipaddress.IPv4Network, list[str]] = {}
        for host in hosts:
            if host.interface is not None and pool.cidr.overlaps(host.interface.network):
                touched.setdefault(host.interface.network, []).append(host.name)
        for subnet, names in touched.items():
            problems.error(
                FLEET,
                "calico_pools",
                f"pool {pool.cidr} overlaps the subnet {subnet} of {_listed(names)} (calico_ip)",
                "choose a pool that no host subnet touches",
            )


def _listed(names: list[str], most: int = 5) -> str:
    shown_names = sorted(names)[:most]
    rest = len(names) - len(shown_names)
    return ", ".join(shown_names) + (f" and {rest} more hosts" if rest else "")
