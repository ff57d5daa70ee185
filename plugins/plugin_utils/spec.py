"""Read the user's inventory variables into typed, validated specifications.

Everything here is about syntax and single values: a CIDR that does not parse, a block size out
of range, a workload without a name. The generic readers (flags, numbers, addresses, passwords)
are in values.py, the pools in pools.py, the workloads in workload_spec.py, the policies in
policy.py. Relations between hosts (overlaps, duplicates, exhaustion) are checked where they are
computed, in ipam.py and model.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.ledger import read_ledger
from ansible_collections.calico.network.plugins.plugin_utils.policy import read_policy_settings
from ansible_collections.calico.network.plugins.plugin_utils.pools import Pool, read_pools
from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    is_unset,
    read_address,
    read_as,
    read_bool,
    read_int,
    read_password,
)
from ansible_collections.calico.network.plugins.plugin_utils.workload_spec import (
    WorkloadSpec,
    read_workloads,
)

# The canonical defaults of the inventory variables. The calico_model role's argument specs
# (roles/calico_model/meta/argument_specs.yml, entry point "inventory") document the same values;
# tests/unit/plugin_utils/test_model.py keeps the two in step.
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

BGP_MODES = ("mesh", "route_reflector")
AS_FIX = "use 1-4294967295 except 23456; private ranges are 64512-65534 and 4200000000-4294967294"
ROUTER_ID_FIX = "remove it (the host address is used) or write a dotted quad"
FLEET_VARIABLES = (
    "calico_pools",
    "calico_bgp_mode",
    "calico_bgp_password",
    "calico_mesh_warn_hosts",
    "calico_ipam_ledger",
    "calico_ipam_release",
    "calico_policies",
    "calico_default_profile",
    "calico_bfd",
    "calico_bgp_graceful_restart_time",
)


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
    # Hosts whose ledger entries the operator released in this run (calico_ipam_release), each
    # with the block the ledger recorded (None: nothing was recorded).
    ledger_released: dict[str, str | None] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    bgp: dict[str, Any] = field(default_factory=dict)


def read_fleet(hostvars: Mapping[str, Mapping[str, Any]], problems: Problems) -> FleetSpec:
    """Turn ``{host: {calico_*: value}}`` into a FleetSpec, recording every problem found."""
    fleet = _fleet_values(hostvars, problems)
    hosts = [_read_host(name, values, problems) for name, values in hostvars.items()]
    ledger = read_ledger(
        fleet.get("calico_ipam_ledger"), fleet.get("calico_ipam_release"), problems
    )
    return FleetSpec(
        pools=read_pools(fleet.get("calico_pools"), problems),
        bgp_mode=_read_bgp_mode(
            fleet.get("calico_bgp_mode", DEFAULTS["calico_bgp_mode"]), problems
        ),
        bgp_password=read_password(
            FLEET, "calico_bgp_password", fleet.get("calico_bgp_password", ""), problems
        ),
        mesh_warn_hosts=read_int(
            FLEET,
            "calico_mesh_warn_hosts",
            fleet.get("calico_mesh_warn_hosts", DEFAULTS["calico_mesh_warn_hosts"]),
            problems,
        ),
        ledger_blocks=ledger.blocks,
        ledger_addresses=ledger.addresses,
        ledger_released=ledger.released,
        hosts=hosts,
        policy=read_policy_settings(fleet, hostvars, problems),
        bgp=_read_bgp_liveness(fleet, problems),
    )


def _read_bgp_liveness(fleet: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """BFD and the graceful-restart time: how fast peers notice, and forget, a silent host."""
    bfd = read_bool(FLEET, "calico_bfd", fleet.get("calico_bfd"), problems, DEFAULTS["calico_bfd"])
    raw = fleet.get("calico_bgp_graceful_restart_time", GRACEFUL_RESTART_TIME[bfd])
    seconds = read_int(FLEET, "calico_bgp_graceful_restart_time", raw, problems)
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


def _read_bgp_mode(raw: Any, problems: Problems) -> str:
    if raw not in BGP_MODES:
        problems.error(
            FLEET,
            "calico_bgp_mode",
            f"{raw!r} is not a BGP mode",
            f"use one of: {', '.join(BGP_MODES)}",
        )
    return str(raw)


def _read_host(name: str, values: Mapping[str, Any], problems: Problems) -> HostSpec:
    router_id = values.get("calico_router_id")
    return HostSpec(
        name=name,
        interface=read_host_ip(name, values.get("calico_ip"), problems),
        asn=read_as(
            name, "calico_as", values.get("calico_as", DEFAULTS["calico_as"]), problems, AS_FIX
        ),
        router_id=None
        if is_unset(router_id)
        else read_address(name, "calico_router_id", router_id, problems, ROUTER_ID_FIX),
        block=_read_block(name, values.get("calico_block"), problems),
        workloads=read_workloads(name, values.get("calico_workloads", []), problems),
        prefixed="/" in str(values.get("calico_ip") or ""),
    )


def read_host_ip(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Interface | None:
    fix = "set the host's underlay address with its prefix, e.g. calico_ip: 192.168.100.100/24"
    if is_unset(raw):
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


def _read_block(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Network | None:
    if is_unset(raw):
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
