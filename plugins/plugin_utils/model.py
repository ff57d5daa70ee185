"""The network model: the whole fleet's routing plan, computed once per run on the controller.

``build`` validates the inventory and returns the compact, JSON-friendly fleet model (one entry
per host: address, AS, rack, blocks, workloads, external peers) together with every error and
warning, so one call serves validation and the roles alike. ``host_slice`` expands one host's
view of it (its BGP sessions, tunnel plan, Felix's inputs and, on request, its verification
plan), which is all the roles consume. The split keeps the fleet model linear in the number of
hosts even for a full mesh, whose sessions grow with the square. shapes.py declares both.

No Ansible imports here: the filters, the tests and the benchmarks call these functions alike.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils import (
    encap,
    felix,
    ipam,
    peers,
    racks,
    verify,
)
from ansible_collections.calico.network.plugins.plugin_utils.ledger import (
    VARIABLE as LEDGER_VARIABLE,
)
from ansible_collections.calico.network.plugins.plugin_utils.ledger import (
    LedgerFile,
    with_ledger_file,
)
from ansible_collections.calico.network.plugins.plugin_utils.policy import check_floating_ips
from ansible_collections.calico.network.plugins.plugin_utils.pools import check_pools_against_hosts
from ansible_collections.calico.network.plugins.plugin_utils.problems import (
    FLEET,
    InventoryError,
    Problems,
)
from ansible_collections.calico.network.plugins.plugin_utils.sessions import (
    MESH_PASSWORD,
    mesh_sessions,
)
from ansible_collections.calico.network.plugins.plugin_utils.settings import check_role_settings
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    ExternalPeer,
    FleetModel,
    HostEntry,
    HostSlice,
    ModelResult,
    Pool,
)
from ansible_collections.calico.network.plugins.plugin_utils.spec import (
    FleetSpec,
    HostSpec,
    read_fleet,
)
from ansible_collections.calico.network.plugins.plugin_utils.unknown_variables import (
    check_unknown_variables,
)
from ansible_collections.calico.network.plugins.plugin_utils.values import Unreadable, read_plain

INTERFACE_PREFIX = "cali"
MODEL_VERSION = 1


def calico_vars(
    hostvars: Mapping[str, Any],
    hosts: list[str],
    read: Callable[[Mapping[str, Any], str], Any] = read_plain,
    skip: Collection[str] = (),
) -> dict[str, dict[str, Any]]:
    """Pick the ``calico_*`` variables of each host out of Ansible's (lazy) hostvars.

    ``read`` gives one variable's value as plain data, or Unreadable for what Ansible cannot
    template (an undefined variable, a vaulted value without its password). ``skip``: names
    not read at all, because the caller has them from elsewhere (the ledger file: a copy per
    host of a ledger that lists every host would cost time quadratic in the fleet).
    """
    picked: dict[str, dict[str, Any]] = {}
    for host in hosts:
        values = hostvars[host]
        picked[host] = {
            key: read(values, key)
            for key in values
            if key.startswith("calico_") and key not in skip
        }
    return racks.assign_rack_groups(picked, racks.rack_groups_from_inventory(hostvars))


def report_unreadable(
    host_vars: Mapping[str, Mapping[str, Any]], problems: Problems
) -> dict[str, dict[str, Any]]:
    """Report every variable Ansible could not read, and leave it out of the values.

    Its other problems ("is not set", a fleet-wide value that differs) are the same root cause,
    so they are silenced.
    """
    readable: dict[str, dict[str, Any]] = {}
    for host, values in host_vars.items():
        readable[host] = {}
        for key, value in values.items():
            if not isinstance(value, Unreadable):
                readable[host][key] = value
                continue
            problems.error(
                host,
                key,
                f"cannot be read: {value.reason}",
                "define the variable it refers to, or give ansible-playbook the vault password "
                "(--ask-vault-pass or --vault-password-file)",
            )
            problems.silence(host, key)
            problems.silence(FLEET, key)
    return readable


def build(
    host_vars: Mapping[str, Mapping[str, Any]], ledger_file: LedgerFile | None = None
) -> ModelResult:
    """The fleet model with every error and warning; the model is None while there are errors.

    ``ledger_file``, the IPAM ledger file the role read, replaces ``calico_ipam_ledger``.
    """
    problems = Problems()
    model = _build(with_ledger_file(host_vars, ledger_file, problems), problems)
    return {
        "model": None if problems else model,
        "errors": problems.messages(),
        "warnings": problems.warning_messages(),
    }


def build_from_hostvars(
    hostvars: Mapping[str, Any], hosts: list[str], ledger_text: str = "", ledger_file: str = ""
) -> ModelResult:
    """``build`` from Ansible's hostvars and the ledger file's text ("" when there is none).

    The file's ledger replaces the hosts' ``calico_ipam_ledger`` (ledger.with_ledger_file), so
    that variable, which group_vars gives every host, is not read once per host.
    """
    found = LedgerFile(path=ledger_file, text=ledger_text) if ledger_text.strip() else None
    skip = {LEDGER_VARIABLE} if found else set()
    return build(calico_vars(hostvars, hosts, skip=skip), found)


def validate(host_vars: Mapping[str, Mapping[str, Any]]) -> Problems:
    """Every problem of the inventory (tests and tools that want the Problem objects)."""
    problems = Problems()
    _build(host_vars, problems)
    return problems


def build_model(host_vars: Mapping[str, Mapping[str, Any]]) -> FleetModel:
    """The fleet model; raises InventoryError listing every problem when the input is bad."""
    problems = Problems()
    model = _build(host_vars, problems)
    if problems:
        raise InventoryError(problems.errors)
    return model


def _build(host_vars: Mapping[str, Mapping[str, Any]], problems: Problems) -> FleetModel:
    problems.fleet = frozenset(host_vars)
    host_vars = report_unreadable(host_vars, problems)
    fleet = read_fleet(host_vars, problems)
    _check_hosts(fleet, problems)
    rack_plan = racks.read_racks(host_vars, fleet, problems)
    reflectors = {name for rack in rack_plan.values() for name in rack.reflectors}
    external = peers.read_peers(host_vars, fleet, reflectors, problems)
    check_pools_against_hosts(fleet.pools, fleet.hosts, problems)
    encap.check_fleet(fleet.pools, fleet.hosts, problems)
    allocation = ipam.allocate(fleet, problems)
    _check_scale(fleet, problems)
    check_unknown_variables(host_vars, problems)
    check_role_settings(host_vars, problems)
    # In underlay-address order, once: every host's slice lists its peers, tunnel routes and the
    # fleet's addresses in this order, and sorting them again per host would cost N log N per
    # host (quadratic work for the fleet).
    modelled = sorted(
        (
            host
            for host in fleet.hosts
            if host.interface is not None and host.name in allocation.blocks
        ),
        key=lambda host: host.interface.ip,  # type: ignore[union-attr]
    )
    membership = racks.membership(rack_plan, (host.name for host in modelled))
    hosts = {
        host.name: _host_entry(
            host,
            allocation,
            fleet.policy,
            membership.get(host.name, (None, False)),
            external.get(host.name, []),
        )
        for host in modelled
    }
    pools: list[Pool] = [
        {
            "cidr": str(pool.cidr),
            "block_size": pool.block_size,
            "nat_outgoing": pool.nat_outgoing,
            "encapsulation": pool.encapsulation,
            "encapsulation_mode": pool.encapsulation_mode,
        }
        for pool in fleet.pools
    ]
    check_floating_ips(hosts, pools, problems)
    fleet_accept, rack_accept = peers.external_accept_lists(hosts)
    addresses = {name: entry["ip"] for name, entry in hosts.items()}
    return {
        "version": MODEL_VERSION,
        "bgp_mode": fleet.bgp_mode,
        "pools": pools,
        "hosts": hosts,
        "policy": {
            "policies": fleet.policy["policies"],
            "default_profile": fleet.policy["default_profile"],
        },
        "bgp": {
            "bfd": fleet.bgp["bfd"],
            "graceful_restart_time": fleet.bgp["graceful_restart_time"],
        },
        # BIRD reads the keys from a separate, tightly-moded file under these names, so no
        # rendered config or diff ever shows them.
        "bgp_passwords": {MESH_PASSWORD: fleet.bgp_password} if fleet.bgp_password else {},
        "ledger": ipam.ledger(allocation),
        "racks": racks.model_racks(rack_plan, addresses, rack_accept),
        "external_accept": fleet_accept,
    }


def _host_entry(
    host: HostSpec,
    allocation: ipam.Allocation,
    policy: Mapping[str, Any],
    rack: tuple[str | None, bool],
    bgp_peers: list[ExternalPeer],
) -> HostEntry:
    interface = host.interface
    if interface is None:  # hosts without an address are not modelled
        raise ValueError(f"{host.name} has no address and cannot be modelled")
    block = allocation.blocks[host.name]
    addresses = allocation.addresses.get(host.name, {})
    return {
        "name": host.name,
        "ip": str(interface.ip),
        "subnet": str(interface.network),
        "as": host.asn,  # type: ignore[typeddict-item]  # None only in a model with errors
        "router_id": str(host.router_id or interface.ip),
        "blocks": [str(block)],
        "host_address": str(block.network_address),
        "endpoint_to_host_action": policy["endpoint_to_host_action"][host.name],
        "workloads": [
            {
                "name": workload.name,
                "ip": str(addresses[workload.name]),
                "interface": interface_name(host.name, workload.name),
                "labels": workload.labels,
                "floating_ips": list(workload.floating_ips),
            }
            for workload in host.workloads
            if workload.name in addresses
        ],
        "rack": rack[0],
        "route_reflector": rack[1],
        "bgp_peers": bgp_peers,
    }


def interface_name(host: str, workload: str) -> str:
    """``cali`` + 11 hex characters, as Calico's CNI plugin names the host end of a veth."""
    digest = hashlib.sha1(f"{host}.{workload}".encode(), usedforsecurity=False).hexdigest()
    return INTERFACE_PREFIX + digest[:11]


def _check_hosts(fleet: FleetSpec, problems: Problems) -> None:
    """Relations between hosts: unique addresses and router ids, one AS for a mesh.

    A host without calico_router_id uses its address as its router id; a host that sets
    calico_router_id to an id already in use is the one named, never the host it collides with.
    """
    hosts = sorted(fleet.hosts, key=lambda h: h.name)
    seen_ip: dict[ipaddress.IPv4Address, str] = {}
    for host in hosts:
        if host.interface is not None:
            claim_unique(seen_ip, host.interface.ip, host.name, "calico_ip", "address", problems)
    seen_router_id: dict[ipaddress.IPv4Address, str] = {}
    for host in hosts:  # a duplicate address is reported once, not again as a router id
        if host.router_id is None and host.interface is not None:
            seen_router_id.setdefault(host.interface.ip, host.name)
    for host in hosts:
        if host.router_id is not None:
            claim_unique(
                seen_router_id, host.router_id, host.name, "calico_router_id", "router id", problems
            )
    if fleet.bgp_mode == "mesh":
        _check_single_as(fleet, problems)


def claim_unique(
    seen: dict[ipaddress.IPv4Address, str],
    value: ipaddress.IPv4Address,
    host: str,
    variable: str,
    what: str,
    problems: Problems,
) -> None:
    if value in seen:
        problems.error(
            host,
            variable,
            f"{what} {value} is {seen[value]}'s too",
            f"give every host its own {what}",
        )
    else:
        seen[value] = host


def _check_single_as(fleet: FleetSpec, problems: Problems) -> None:
    """The AS most hosts have is the mesh's; the hosts with another one are named."""
    counts = Counter(host.asn for host in fleet.hosts if host.asn is not None)
    if len(counts) <= 1:
        return
    first = max(sorted(counts), key=lambda asn: counts[asn])
    for host in fleet.hosts:
        if host.asn is not None and host.asn != first:
            problems.error(
                host.name,
                "calico_as",
                f"AS {host.asn} differs from AS {first} of other hosts; a full mesh is one AS",
                "set one calico_as for the whole fleet",
            )


def _check_scale(fleet: FleetSpec, problems: Problems) -> None:
    if fleet.mesh_warn_hosts is None:  # not a number: reported where it is read
        return
    if fleet.bgp_mode == "mesh" and len(fleet.hosts) > fleet.mesh_warn_hosts:
        problems.warn(
            FLEET,
            "calico_bgp_mode",
            f"a full mesh of {len(fleet.hosts)} hosts needs "
            f"{len(fleet.hosts) * (len(fleet.hosts) - 1) // 2} BGP sessions",
            "switch to route reflectors per rack (calico_bgp_mode: route_reflector, see "
            "docs/racks.md), or raise calico_mesh_warn_hosts",
        )


def host_slice(model: FleetModel, host: str, verify_plan: bool = False) -> HostSlice:
    """One host's view: its own entry, its BGP sessions, tunnel plan and Felix's inputs.

    With ``verify_plan`` also the probes and listeners of playbooks/verify.yml (left out
    otherwise: a host's probe plan grows with every workload of the fleet).
    """
    hosts = model["hosts"]
    if host not in hosts:
        raise KeyError(f"{host} is not in the network model (is it in the inventory?)")
    me = hosts[host]
    sessions = (
        mesh_sessions(me, hosts, model["bgp_passwords"])
        if model["bgp_mode"] == "mesh"
        else racks.rack_sessions(model, me)
    ) + peers.external_sessions(me)
    # Only the keys this host's sessions use reach its secrets file.
    known = {
        **model["bgp_passwords"],
        **racks.rack_passwords(model, me),
        **peers.external_passwords(me),
    }
    used = {peer["password"] for peer in sessions if peer["password"]}
    return {
        "name": me["name"],
        "ip": me["ip"],
        "subnet": me["subnet"],
        "as": me["as"],
        "router_id": me["router_id"],
        "blocks": me["blocks"],
        "host_address": me["host_address"],
        "endpoint_to_host_action": me["endpoint_to_host_action"],
        "workloads": me["workloads"],
        "rack": me["rack"],
        "route_reflector": me["route_reflector"],
        "pools": model["pools"],
        "bgp_passwords": {name: known[name] for name in sorted(used)},
        "external_accept": peers.external_accept(model, me),
        "peers": sessions,
        "tunnel": encap.host_tunnel(model, me),
        "bgp": model["bgp"],
        "felix": felix.felix_inputs(model, me),
        "verify": verify.verify_plan(model, host) if verify_plan else None,
    }
