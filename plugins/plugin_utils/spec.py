"""Read the user's inventory variables into typed, validated specifications.

Everything here is about syntax and single values: a CIDR that does not parse, a block size out
of range, a workload without a name. Relations between hosts (overlaps, duplicates, exhaustion)
are checked where they are computed, in ipam.py and model.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.workloads import NAME_PATTERN
from ansible_collections.calico.network.plugins.plugin_utils.policy import (
    read_floating_ips,
    read_policy_settings,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems

# The canonical defaults of the fleet-wide variables. roles/calico_model/defaults/main.yml
# documents the same values; tests/unit/module_utils/test_spec.py keeps the two in step.
DEFAULTS: dict[str, Any] = {
    "calico_as": 64512,
    "calico_bgp_mode": "mesh",
    "calico_bgp_password": "",
    "calico_mesh_warn_hosts": 100,
    "calico_workloads": [],
    "calico_bfd": False,
}
# How long peers keep a silent host's routes as stale graceful-restart routes. With BFD a dead
# host is noticed in half a second, so its routes go after this; a BIRD restart must reconnect
# within it (about a second) to lose nothing. Without BFD, BIRD's own default.
GRACEFUL_RESTART_TIME = {True: 3, False: 120}
MAX_GRACEFUL_RESTART_TIME = 4095  # the capability's 12-bit field
POOL_DEFAULTS: dict[str, Any] = {"block_size": 26, "encapsulation": "none"}
POOL_KEYS = ("cidr", "block_size", "nat_outgoing", "encapsulation", "encapsulation_mode")
ENCAPSULATIONS = ("none", "ipip", "vxlan")
ENCAPSULATION_MODES = ("Always", "CrossSubnet", "Never")

BGP_MODES = ("mesh", "route_reflector")
FLEET_VARIABLES = (
    "calico_pools",
    "calico_bgp_mode",
    "calico_bgp_password",
    "calico_mesh_warn_hosts",
    "calico_ipam_ledger",
    "calico_policies",
    "calico_default_profile",
    "calico_bfd",
    "calico_bgp_graceful_restart_time",
)

LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
MIN_BLOCK, MAX_BLOCK = 20, 32
# AS 0 and AS_TRANS (RFC 6793) may not be used on a session.
RESERVED_AS = (0, 23456)
MAX_AS = 2**32 - 1
BGP_PASSWORD_MAX = 80


@dataclass(frozen=True)
class Pool:
    cidr: ipaddress.IPv4Network
    block_size: int
    nat_outgoing: bool = False
    encapsulation: str = "none"
    encapsulation_mode: str = "Never"


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    ip: ipaddress.IPv4Address | None
    labels: dict[str, str]
    floating_ips: tuple[str, ...] = ()


@dataclass
class HostSpec:
    name: str
    interface: ipaddress.IPv4Interface | None
    asn: int | None
    router_id: ipaddress.IPv4Address | None
    block: ipaddress.IPv4Network | None
    workloads: list[WorkloadSpec] = field(default_factory=list)
    # calico_ip was written with its prefix: CrossSubnet needs the host's subnet from it.
    prefixed: bool = True


@dataclass
class FleetSpec:
    pools: list[Pool]
    bgp_mode: str
    bgp_password: str
    mesh_warn_hosts: int | None
    ledger_blocks: dict[str, str]
    ledger_addresses: dict[str, dict[str, str]]
    hosts: list[HostSpec]
    policy: dict[str, Any] = field(default_factory=dict)
    bgp: dict[str, Any] = field(default_factory=dict)


def read_fleet(hostvars: Mapping[str, Mapping[str, Any]], problems: Problems) -> FleetSpec:
    """Turn ``{host: {calico_*: value}}`` into a FleetSpec, recording every problem found."""
    fleet = _fleet_values(hostvars, problems)
    hosts = [_read_host(name, values, problems) for name, values in hostvars.items()]
    ledger = fleet.get("calico_ipam_ledger") or {}
    return FleetSpec(
        pools=_read_pools(fleet.get("calico_pools"), problems),
        bgp_mode=_read_bgp_mode(
            fleet.get("calico_bgp_mode", DEFAULTS["calico_bgp_mode"]), problems
        ),
        bgp_password=_read_password(
            FLEET, "calico_bgp_password", fleet.get("calico_bgp_password", ""), problems
        ),
        mesh_warn_hosts=_read_int(
            FLEET,
            "calico_mesh_warn_hosts",
            fleet.get("calico_mesh_warn_hosts", DEFAULTS["calico_mesh_warn_hosts"]),
            problems,
        ),
        ledger_blocks=dict(_mapping(ledger).get("blocks") or {}),
        ledger_addresses={
            str(h): dict(v or {}) for h, v in (_mapping(ledger).get("addresses") or {}).items()
        },
        hosts=hosts,
        policy=read_policy_settings(fleet, hostvars, problems),
        bgp=_read_bgp_liveness(fleet, problems),
    )


def _read_bgp_liveness(fleet: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """BFD and the graceful-restart time: how fast peers notice, and forget, a silent host."""
    bfd = fleet.get("calico_bfd", DEFAULTS["calico_bfd"])
    if not isinstance(bfd, bool):
        problems.error(FLEET, "calico_bfd", f"{bfd!r} is not true or false", "write true or false")
        bfd = False
    raw = fleet.get("calico_bgp_graceful_restart_time", GRACEFUL_RESTART_TIME[bfd])
    seconds = _read_int(FLEET, "calico_bgp_graceful_restart_time", raw, problems)
    if seconds is not None and not 1 <= seconds <= MAX_GRACEFUL_RESTART_TIME:
        problems.error(
            FLEET,
            "calico_bgp_graceful_restart_time",
            f"{seconds} s is outside 1-{MAX_GRACEFUL_RESTART_TIME}",
            f"use 1-{MAX_GRACEFUL_RESTART_TIME} seconds, or remove it for the default "
            f"({GRACEFUL_RESTART_TIME[True]} with BFD, {GRACEFUL_RESTART_TIME[False]} without)",
        )
        seconds = None
    return {"bfd": bfd, "graceful_restart_time": seconds or GRACEFUL_RESTART_TIME[bfd]}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _fleet_values(hostvars: Mapping[str, Mapping[str, Any]], problems: Problems) -> dict[str, Any]:
    """Fleet-wide variables must agree on every host: the first host's value is the fleet's."""
    fleet: dict[str, Any] = {}
    first_host: dict[str, str] = {}
    for host, values in hostvars.items():
        for variable in FLEET_VARIABLES:
            if variable not in values:
                continue
            if variable not in fleet:
                fleet[variable], first_host[variable] = values[variable], host
            elif values[variable] != fleet[variable]:
                problems.error(
                    host,
                    variable,
                    f"differs from the value on {first_host[variable]}; it is fleet-wide",
                    "set it once for every host, in group_vars/all",
                )
    return fleet


def _read_pools(raw: Any, problems: Problems) -> list[Pool]:
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
    unknown = sorted(set(item) - set(POOL_KEYS))
    if unknown:
        problems.error(
            FLEET,
            where,
            f"has unknown key(s) {', '.join(unknown)}",
            f"use only {', '.join(POOL_KEYS)}",
        )
    nat_outgoing = item.get("nat_outgoing", False)
    if not isinstance(nat_outgoing, bool):
        problems.error(FLEET, f"{where}.nat_outgoing", "must be true or false", "write true")
    try:
        cidr = ipaddress.IPv4Network(str(item["cidr"]), strict=True)
    except ValueError as err:
        problems.error(
            FLEET,
            f"{where}.cidr",
            f"{item['cidr']!r} is not an IPv4 network ({err})",
            "write the network address with its prefix, e.g. 172.17.0.0/16",
        )
        return None
    block_size = _read_int(
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
    if cidr.overlaps(LINK_LOCAL):
        problems.error(
            FLEET,
            f"{where}.cidr",
            f"{cidr} overlaps 169.254.0.0/16, which workloads use for their gateway",
            "choose a pool outside 169.254.0.0/16",
        )
        return None
    encapsulation, mode = read_encapsulation(where, item, problems)
    return Pool(
        cidr=cidr,
        block_size=block_size,
        nat_outgoing=nat_outgoing is True,
        encapsulation=encapsulation,
        encapsulation_mode=mode,
    )


def read_encapsulation(where: str, item: Mapping[str, Any], problems: Problems) -> tuple[str, str]:
    """A pool's ``encapsulation`` and ``encapsulation_mode`` (Calico's ipipMode/vxlanMode).

    The mode defaults to Always for a tunnel and Never without one; a tunnel mode without a
    tunnel is a contradiction, not a silent no-op.
    """
    encapsulation = str(item.get("encapsulation", POOL_DEFAULTS["encapsulation"]))
    if encapsulation not in ENCAPSULATIONS:
        problems.error(
            FLEET,
            f"{where}.encapsulation",
            f"{encapsulation!r} is not an encapsulation",
            f"use one of: {', '.join(ENCAPSULATIONS)}",
        )
        encapsulation = "none"
    default_mode = "Never" if encapsulation == "none" else "Always"
    mode = str(item.get("encapsulation_mode", default_mode))
    if mode not in ENCAPSULATION_MODES:
        problems.error(
            FLEET,
            f"{where}.encapsulation_mode",
            f"{mode!r} is not an encapsulation mode",
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


def _read_bgp_mode(raw: Any, problems: Problems) -> str:
    if raw not in BGP_MODES:
        problems.error(
            FLEET,
            "calico_bgp_mode",
            f"{raw!r} is not a BGP mode",
            f"use one of: {', '.join(BGP_MODES)}",
        )
    return str(raw)


def _read_password(host: str, variable: str, raw: Any, problems: Problems) -> str:
    if raw in (None, ""):
        return ""
    text = str(raw)
    if len(text) > BGP_PASSWORD_MAX or '"' in text or "\\" in text:
        problems.error(
            host,
            variable,
            f"is {len(text)} characters or holds a quote or backslash; TCP-MD5 keys are "
            f"at most {BGP_PASSWORD_MAX} plain characters",
            f"use a password of at most {BGP_PASSWORD_MAX} characters without quotes",
        )
    return text


def _read_int(host: str, variable: str, raw: Any, problems: Problems) -> int | None:
    try:
        if isinstance(raw, bool):  # int(True) is 1: a flag is not a number
            raise ValueError(raw)
        return int(str(raw))
    except ValueError:
        problems.error(host, variable, f"{raw!r} is not a whole number", "write a number")
        return None


def _read_host(name: str, values: Mapping[str, Any], problems: Problems) -> HostSpec:
    return HostSpec(
        name=name,
        interface=read_host_ip(name, values.get("calico_ip"), problems),
        asn=_read_as(name, values.get("calico_as", DEFAULTS["calico_as"]), problems),
        router_id=_read_router_id(name, values.get("calico_router_id"), problems),
        block=_read_block(name, values.get("calico_block"), problems),
        workloads=_read_workloads(name, values.get("calico_workloads", []), problems),
        prefixed="/" in str(values.get("calico_ip") or ""),
    )


def read_host_ip(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Interface | None:
    fix = "set the host's underlay address with its prefix, e.g. calico_ip: 192.168.100.100/24"
    if raw in (None, ""):
        problems.error(host, "calico_ip", "is not set", fix)
        return None
    try:
        interface = ipaddress.IPv4Interface(str(raw))
    except ValueError:
        problems.error(host, "calico_ip", f"{raw!r} is not an IPv4 address", fix)
        return None
    if (
        "/" in str(raw)
        and interface.ip == interface.network.network_address
        and (interface.network.prefixlen < 31)
    ):
        problems.error(
            host, "calico_ip", f"{raw} is the network address of its subnet, not a host's", fix
        )
    return interface


def _read_as(host: str, raw: Any, problems: Problems) -> int | None:
    asn = _read_int(host, "calico_as", raw, problems)
    if asn is None:
        return None
    if not 0 < asn <= MAX_AS or asn in RESERVED_AS:
        problems.error(
            host,
            "calico_as",
            f"{asn} is not a usable AS number",
            "use 1-4294967295 except 23456; private ranges are 64512-65534 and "
            "4200000000-4294967294",
        )
        return None
    return asn


def _read_router_id(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Address | None:
    if raw in (None, ""):
        return None
    try:
        return ipaddress.IPv4Address(str(raw))
    except ValueError:
        problems.error(
            host,
            "calico_router_id",
            f"{raw!r} is not an IPv4 address",
            "remove it (the host address is used) or write a dotted quad",
        )
        return None


def _read_block(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Network | None:
    if raw in (None, ""):
        return None
    try:
        return ipaddress.IPv4Network(str(raw), strict=True)
    except ValueError as err:
        problems.error(
            host,
            "calico_block",
            f"{raw!r} is not an IPv4 network ({err})",
            "write a block of the pool's block size, e.g. 172.17.3.0/24, or remove the pin",
        )
        return None


def _read_workloads(host: str, raw: Any, problems: Problems) -> list[WorkloadSpec]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        problems.error(
            host, "calico_workloads", "must be a list", "write a list of {name, ip?, labels?}"
        )
        return []
    workloads: list[WorkloadSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        workload = _read_workload(host, index, item, problems)
        if workload is None:
            continue
        if workload.name in seen:
            problems.error(
                host,
                f"calico_workloads[{index}].name",
                f"{workload.name!r} is used twice on this host",
                "give every workload on a host its own name",
            )
            continue
        seen.add(workload.name)
        workloads.append(workload)
    return workloads


def _read_workload(host: str, index: int, item: Any, problems: Problems) -> WorkloadSpec | None:
    where = f"calico_workloads[{index}]"
    if not isinstance(item, Mapping) or not item.get("name"):
        problems.error(host, where, "has no name", "write {name: web-1}")
        return None
    name = str(item["name"])
    if not NAME_PATTERN.match(name):
        problems.error(
            host,
            f"{where}.name",
            f"{name!r} cannot name a network namespace",
            "use 1-63 lower-case letters, digits and inner dashes (a DNS label)",
        )
        return None
    unknown = sorted(set(item) - {"name", "ip", "labels", "floating_ips"})
    if unknown:
        problems.error(
            host,
            where,
            f"has unknown key(s) {', '.join(unknown)}",
            "use only name, ip, labels and floating_ips",
        )
    return WorkloadSpec(
        name=name,
        ip=_read_workload_ip(host, where, item.get("ip"), problems),
        labels=_read_labels(host, where, item.get("labels"), problems),
        floating_ips=read_floating_ips(host, where, item.get("floating_ips"), problems),
    )


def _read_workload_ip(
    host: str, where: str, raw: Any, problems: Problems
) -> ipaddress.IPv4Address | None:
    if raw in (None, ""):
        return None
    try:
        return ipaddress.IPv4Address(str(raw))
    except ValueError:
        problems.error(
            host,
            f"{where}.ip",
            f"{raw!r} is not an IPv4 address",
            "write a bare address from the host's block, or remove it to have one allocated",
        )
        return None


def _read_labels(host: str, where: str, raw: Any, problems: Problems) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        problems.error(host, f"{where}.labels", "must be a mapping", "write {app: web}")
        return {}
    return {str(key): str(value) for key, value in raw.items()}
