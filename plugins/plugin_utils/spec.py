"""Read the user's inventory variables into typed, validated specifications.

Everything here is about syntax and single values: a CIDR that does not parse, a block size out
of range, a workload without a name. The generic readers (flags, numbers, addresses, passwords)
are in values.py, the pools in pools.py, the workloads in workload_spec.py, the policies in
policy.py. Relations between hosts (overlaps, duplicates, exhaustion) are checked where they are
computed, in ipam.py and model.py.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.ledger import read_ledger
from ansible_collections.calico.network.plugins.plugin_utils.policy import read_policy_settings
from ansible_collections.calico.network.plugins.plugin_utils.pools import Pool, read_pools
from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    is_unset,
    kind_of,
    read_as,
    read_bool,
    read_int,
    read_int_in,
    read_password,
    read_router_id,
    shown,
    special_address,
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
AS_FIX = (
    "use 1-4294967294 except 23456 and 65535; private ranges are 64512-65534 and "
    "4200000000-4294967294"
)
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
# Settings read once per run (run_once tasks, the play's host pattern): a host-level value
# would be silently ignored, so they too must agree on every host.
FLEET_ONLY_SETTINGS = (
    "calico_fleet_group",
    "calico_ipam_ledger_file",
    "calico_ipam_ledger_write",
    "calico_model_verify_plan",
)
_UNSET = object()  # a host without the variable (and without a documented default)
# An inventory host name: a DNS name, or Ansible's usual letters, digits and underscores.
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
MAX_HOSTS = 1_000_000


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
    for name in hostvars:
        check_host_name(name, problems)
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
        mesh_warn_hosts=read_int_in(
            FLEET,
            "calico_mesh_warn_hosts",
            fleet.get("calico_mesh_warn_hosts", DEFAULTS["calico_mesh_warn_hosts"]),
            problems,
            (0, MAX_HOSTS),
            "a number of hosts",
        ),
        ledger_blocks=ledger.blocks,
        ledger_addresses=ledger.addresses,
        ledger_released=ledger.released,
        hosts=hosts,
        policy=read_policy_settings(fleet, hostvars, problems),
        bgp=_read_bgp_liveness(fleet, problems),
    )


def check_host_name(
    name: str, problems: Problems, variable: str = "calico_fleet_group", what: str = "host"
) -> bool:
    """An inventory name that may appear in bird.conf (a peer's description) and messages."""
    if isinstance(name, str) and HOST_NAME.fullmatch(name):
        return True
    problems.error(
        name,
        variable,
        f"this {what} name cannot appear in BIRD's configuration",
        f"name the {what} with up to 253 letters, digits, dots, dashes and underscores, "
        "starting with a letter or digit",
    )
    return False


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
    """Fleet-wide variables must agree on every host.

    The value most hosts have is the fleet's (a host without the variable has the default);
    the hosts whose value differs are named: they hold a host-level value that would otherwise
    be silently ignored or, worse, silently applied to every host. On a tie the hosts that set
    nothing win, then the first host's value.
    """
    fleet: dict[str, Any] = {}
    for variable in FLEET_VARIABLES + FLEET_ONLY_SETTINGS:
        groups: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        # One key per object: hosts often share one (the ledger file's ledger is the same
        # object on every host), and a big value serialised once per host is quadratic work.
        keys: dict[int, str] = {}
        for host, host_values in hostvars.items():
            value = host_values.get(variable, DEFAULTS.get(variable, _UNSET))
            key = keys.get(id(value))
            if key is None:
                key = keys[id(value)] = _value_key(value)
            groups.setdefault(key, []).append(host)
            values.setdefault(key, value)
        if not groups:
            continue
        winner = max(groups, key=lambda k: (len(groups[k]), values[k] is _UNSET))
        if values[winner] is not _UNSET:
            fleet[variable] = values[winner]
        for key, hosts in groups.items():
            if key == winner:
                continue
            for host in hosts:
                problems.error(
                    host,
                    variable,
                    f"differs from the value on {groups[winner][0]}; it is fleet-wide",
                    "set it once for every host, in group_vars/all, and not per host or group",
                )
    return fleet


def _value_key(value: Any) -> str:
    """A comparable key for any value, whatever its type."""
    if value is _UNSET:
        return ""
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys of mixed types cannot be sorted
        return repr(value)


def _read_bgp_mode(raw: Any, problems: Problems) -> str:
    if not isinstance(raw, str) or raw not in BGP_MODES:
        problems.error(
            FLEET,
            "calico_bgp_mode",
            f"{shown(raw)} is not a BGP mode",
            f"use one of: {', '.join(BGP_MODES)}",
        )
        return DEFAULTS["calico_bgp_mode"]
    return raw


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
        else read_router_id(name, "calico_router_id", router_id, problems, ROUTER_ID_FIX),
        block=_read_block(name, values.get("calico_block"), problems),
        workloads=read_workloads(name, values.get("calico_workloads", []), problems),
        prefixed=isinstance(values.get("calico_ip"), str) and "/" in values["calico_ip"],
    )


def read_host_ip(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Interface | None:
    """``calico_ip``: a unicast host address, with its subnet's prefix or bare (a /32).

    Not the network or broadcast address of its own subnet, and no special address (0.0.0.0/8,
    loopback, link-local, multicast, 240.0.0.0/4, broadcast).
    """
    fix = "set the host's underlay address with its prefix, e.g. calico_ip: 192.168.100.100/24"
    if is_unset(raw):
        problems.error(host, "calico_ip", "is not set", fix)
        return None
    if not isinstance(raw, str):
        problems.error(
            host, "calico_ip", f"{shown(raw)} is not an IPv4 address (it is {kind_of(raw)})", fix
        )
        return None
    try:
        interface = ipaddress.IPv4Interface(raw)
    except ValueError:
        problems.error(host, "calico_ip", f"{shown(raw)} is not an IPv4 address", fix)
        return None
    reason = special_address(interface.ip)
    if reason is None and "/" in raw and interface.network.prefixlen < 31:
        if interface.ip == interface.network.network_address:
            reason = "is the network address of its subnet, not a host's"
        elif interface.ip == interface.network.broadcast_address:
            reason = "is the broadcast address of its subnet, not a host's"
    if reason:
        problems.error(host, "calico_ip", f"{raw} {reason}", fix)
        return None
    return interface


def _read_block(host: str, raw: Any, problems: Problems) -> ipaddress.IPv4Network | None:
    if is_unset(raw):
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError(f"it is {kind_of(raw)}")
        return ipaddress.IPv4Network(raw, strict=True)
    except ValueError as err:
        problems.error(
            host,
            "calico_block",
            f"{shown(raw)} is not an IPv4 network ({err})",
            "write a block of the pool's block size, e.g. 172.17.3.0/24, or remove the pin",
        )
        return None
