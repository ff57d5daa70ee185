"""Per-rack route reflectors: which rack each host is in, and the sessions that follow.

Racks are inventory groups that are children of the group ``calico_racks``. In
``calico_bgp_mode: route_reflector`` every host is in exactly one rack; each rack has its own AS
(``calico_as`` on the rack group) and one or two hosts with ``calico_route_reflector: true``.

- A client (any other host) peers iBGP with the reflectors of its own rack only (``RR_<ip>``).
- A reflector has ``rr client`` towards its clients (``Client_<ip>``), peers plain iBGP with the
  other reflector of its rack (``RR_<ip>``), both with the rack's cluster id, and peers eBGP,
  multihop with ``next hop keep``, with the reflectors of every other rack (``Rack_<ip>``), so a
  host routes straight to the host that owns a block, never through a reflector.

Pure Python: the rack membership comes in with each host's variables under the derived key
``rack_groups`` (see ``rack_groups_from_inventory`` and ``rack_groups_from_inventory_json``);
it is not an Ansible variable, so no inventory can set or collide with it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.sessions import fleet_session
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    BgpSession,
    FleetModel,
    HostEntry,
)
from ansible_collections.calico.network.plugins.plugin_utils.shapes import Rack as RackEntry
from ansible_collections.calico.network.plugins.plugin_utils.spec import FleetSpec, check_host_name
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    is_unset,
    read_bool,
    read_password,
    read_router_id,
)

RACKS_GROUP = "calico_racks"
# Derived per host from the inventory's groups (no calico_ prefix: not a user variable).
RACK_GROUPS = "rack_groups"
RACK_PASSWORD = "calico_password_rack"
EBGP_PASSWORD = "calico_password_ebgp"
MAX_REFLECTORS = 2
# What only a route-reflector fleet reads: set in a mesh, it would be silently ignored.
RACK_VARIABLES = ("calico_route_reflector", "calico_rr_cluster_id", "calico_rack_bgp_password")


@dataclass
class Rack:
    name: str
    asn: int | None = None
    cluster_id: str = ""
    password: str = ""
    hosts: list[str] = field(default_factory=list)
    reflectors: list[str] = field(default_factory=list)


# --- rack membership from the inventory ---------------------------------------------------------


def rack_groups_from_inventory(hostvars: Any) -> dict[str, list[str]]:
    """``{rack group: [hosts]}`` from the inventory behind Ansible's ``hostvars``.

    Ansible gives templates no group hierarchy, only flat memberships, so the children of
    ``calico_racks`` are read from the inventory object that ``hostvars`` wraps.
    """
    inventory = getattr(hostvars, "_inventory", None)
    groups = getattr(inventory, "groups", None) or {}
    parent = groups.get(RACKS_GROUP)
    if parent is None:
        return {}
    return {
        child.name: sorted(host.name for host in child.get_hosts()) for child in parent.child_groups
    }


def rack_groups_from_inventory_json(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """The same, from ``ansible-inventory --list`` output (tests, benchmarks, tools)."""

    def hosts_of(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        entry = data.get(group) or {}
        found = set(entry.get("hosts", []))
        for child in entry.get("children", []):
            if child not in seen:
                found |= hosts_of(child, seen | {group})
        return found

    children = (data.get(RACKS_GROUP) or {}).get("children", [])
    return {rack: sorted(hosts_of(rack)) for rack in children}


def assign_rack_groups(
    picked: dict[str, dict[str, Any]], racks: Mapping[str, list[str]]
) -> dict[str, dict[str, Any]]:
    """Add ``rack_groups`` (the racks a host is in) to every host's variables."""
    for values in picked.values():
        values[RACK_GROUPS] = []
    for rack in sorted(racks):
        for host in racks[rack]:
            if host in picked:
                picked[host][RACK_GROUPS].append(rack)
    return picked


# --- reading and checking -----------------------------------------------------------------------


def read_racks(
    host_vars: Mapping[str, Mapping[str, Any]], fleet: FleetSpec, problems: Problems
) -> dict[str, Rack]:
    """The racks of a route-reflector fleet (empty in mesh mode), with every problem recorded."""
    reflector_flags = {
        name: read_bool(
            name, "calico_route_reflector", values.get("calico_route_reflector"), problems
        )
        for name, values in host_vars.items()
    }
    if fleet.bgp_mode != "route_reflector":
        for name, values in host_vars.items():
            for variable in RACK_VARIABLES:
                flag = reflector_flags[name] if variable == "calico_route_reflector" else None
                if flag or (flag is None and not is_unset(values.get(variable))):
                    problems.warn(
                        name,
                        variable,
                        f"has no effect with calico_bgp_mode: {fleet.bgp_mode}",
                        "set calico_bgp_mode: route_reflector to use route reflectors, or "
                        "remove it",
                    )
        return {}
    specs = {host.name: host for host in fleet.hosts}
    racks: dict[str, Rack] = {}
    for name in sorted(host_vars):
        groups = list(host_vars[name].get(RACK_GROUPS) or [])
        if not groups:
            problems.error(
                name,
                RACKS_GROUP,
                "the host is in no rack, and calico_bgp_mode is route_reflector",
                f"put it in exactly one rack: a child group of {RACKS_GROUP}",
            )
            continue
        if len(groups) > 1:
            problems.error(
                name,
                RACKS_GROUP,
                f"the host is in {len(groups)} racks ({', '.join(groups)})",
                f"put it in exactly one child group of {RACKS_GROUP}",
            )
            continue
        if not check_host_name(groups[0], problems, RACKS_GROUP, "rack group"):
            continue
        rack = racks.setdefault(groups[0], Rack(groups[0]))
        rack.hosts.append(name)
        if reflector_flags[name]:
            rack.reflectors.append(name)
    for rack in racks.values():
        _check_rack(rack, host_vars, specs, fleet, problems)
    _check_distinct_as(racks, problems)
    return racks


def _check_rack(
    rack: Rack,
    host_vars: Mapping[str, Mapping[str, Any]],
    specs: Mapping[str, Any],
    fleet: FleetSpec,
    problems: Problems,
) -> None:
    numbers = {h: specs[h].asn for h in rack.hosts if h in specs and specs[h].asn is not None}
    if numbers:
        # The AS most of the rack's hosts have is the rack's; the others are named.
        counts = Counter(numbers.values())
        rack.asn = max(sorted(counts), key=lambda asn: counts[asn])
        for host, asn in numbers.items():
            if asn != rack.asn:
                problems.error(
                    host,
                    "calico_as",
                    f"AS {asn} differs from AS {rack.asn} of rack {rack.name}; a rack is one AS",
                    f"set calico_as once, on the rack group {rack.name}",
                )
    if not rack.reflectors:
        problems.error(
            rack.name,
            "calico_route_reflector",
            "no host of this rack is a route reflector",
            "set calico_route_reflector: true on one or two of its hosts (two for redundancy)",
        )
    elif len(rack.reflectors) > MAX_REFLECTORS:
        problems.error(
            rack.name,
            "calico_route_reflector",
            f"{len(rack.reflectors)} hosts are route reflectors ({', '.join(rack.reflectors)})",
            f"make at most {MAX_REFLECTORS} hosts of a rack reflectors; the others are clients",
        )
    elif len(rack.reflectors) == 1 and len(rack.hosts) > 1:
        problems.warn(
            rack.name,
            "calico_route_reflector",
            f"{rack.reflectors[0]} is the rack's only route reflector; its clients lose every "
            "route when it is down",
            "make a second host of the rack a reflector",
        )
    raw_cluster_id = _rack_value(rack, host_vars, "calico_rr_cluster_id", problems)
    if not is_unset(raw_cluster_id):
        cluster_id = read_router_id(
            rack.name,
            "calico_rr_cluster_id",
            raw_cluster_id,
            problems,
            "write a dotted quad such as 244.0.0.1, or remove it for the default",
        )
        rack.cluster_id = str(cluster_id) if cluster_id is not None else ""
    elif rack.asn is not None:
        # Stable and distinct per rack: racks have distinct AS numbers.
        rack.cluster_id = str(ipaddress.IPv4Address(rack.asn))
    rack.password = read_password(
        rack.name,
        "calico_rack_bgp_password",
        _rack_value(rack, host_vars, "calico_rack_bgp_password", problems) or fleet.bgp_password,
        problems,
    )


def _rack_value(
    rack: Rack, host_vars: Mapping[str, Mapping[str, Any]], variable: str, problems: Problems
) -> Any:
    """A rack-wide variable: every host of the rack must agree (set it on the rack group).

    The value most of the rack's hosts have is the rack's (ties: unset, then the first host's);
    the hosts with another value are named.
    """
    groups: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for host in rack.hosts:
        value = host_vars[host].get(variable)
        key = "" if is_unset(value) else repr(value)
        groups.setdefault(key, []).append(host)
        values.setdefault(key, value)
    winner = max(groups, key=lambda k: (len(groups[k]), k == ""))
    for key, hosts in groups.items():
        if key != winner:
            for host in hosts:
                problems.error(
                    host,
                    variable,
                    f"differs from the value on {groups[winner][0]}; it is rack-wide",
                    f"set it once, on the rack group {rack.name}",
                )
    return values[winner]


def _check_distinct_as(racks: Mapping[str, Rack], problems: Problems) -> None:
    owner: dict[int, str] = {}
    for rack in sorted(racks.values(), key=lambda r: r.name):
        if rack.asn is None:
            continue
        if rack.asn in owner:
            problems.error(
                rack.name,
                "calico_as",
                f"AS {rack.asn} is rack {owner[rack.asn]}'s too; racks peer eBGP with each other",
                "give every rack its own calico_as (e.g. 65001, 65002, ...)",
            )
        else:
            owner[rack.asn] = rack.name


# --- the model's part and the sessions ----------------------------------------------------------


def membership(racks: Mapping[str, Rack], hosts: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """``{host: (its rack, whether it reflects)}`` for the given hosts that are in a rack."""
    present = set(hosts)
    return {
        host: (rack.name, host in rack.reflectors)
        for rack in racks.values()
        for host in rack.hosts
        if host in present
    }


def model_racks(
    racks: Mapping[str, Rack],
    addresses: Mapping[str, str],
    external_accept: Mapping[str, list[str]],
) -> dict[str, RackEntry]:
    """The racks as the fleet model keeps them: hosts and reflectors in address order.

    ``addresses`` maps the hosts of the model to their address; ``external_accept`` the racks to
    the external prefixes their reflectors accept (see peers.external_accept_lists).
    """

    def by_address(names: list[str]) -> list[str]:
        present = [n for n in names if n in addresses]
        return sorted(present, key=lambda n: ipaddress.IPv4Address(addresses[n]))

    return {
        rack.name: {
            "as": rack.asn,
            "cluster_id": rack.cluster_id,
            "hosts": by_address(rack.hosts),
            "reflectors": by_address(rack.reflectors),
            "password": rack.password,
            "external_accept": list(external_accept.get(rack.name, [])),
        }
        for rack in sorted(racks.values(), key=lambda r: r.name)
    }


def rack_sessions(model: FleetModel, me: HostEntry) -> list[BgpSession]:
    """The host's sessions in a route-reflector fleet (see the module docstring)."""
    hosts = model["hosts"]
    racks = model["racks"]
    rack = racks[me["rack"] or ""]
    password = RACK_PASSWORD if rack["password"] else ""
    if not me["route_reflector"]:
        return [
            fleet_session(me, hosts[r], "RR_", "rr-client", password) for r in rack["reflectors"]
        ]
    cluster = rack["cluster_id"]
    sessions: list[BgpSession] = []
    for name in rack["hosts"]:
        if name == me["name"]:
            continue
        if name in rack["reflectors"]:
            sessions.append(
                fleet_session(me, hosts[name], "RR_", "rr-peer", password, rr_cluster_id=cluster)
            )
        else:
            sessions.append(
                fleet_session(
                    me,
                    hosts[name],
                    "Client_",
                    "rr-client",
                    password,
                    rr_client=True,
                    rr_cluster_id=cluster,
                )
            )
    ebgp_password = EBGP_PASSWORD if model["bgp_passwords"] else ""
    for rack_name in sorted(racks):
        if rack_name == me["rack"]:
            continue
        sessions.extend(
            fleet_session(
                me,
                hosts[name],
                "Rack_",
                "ebgp",
                ebgp_password,
                multihop=True,
                next_hop_keep=True,
            )
            for name in racks[rack_name]["reflectors"]
        )
    return sessions


def rack_passwords(model: FleetModel, me: HostEntry) -> dict[str, str]:
    """The password values the host's rack sessions may refer to."""
    fleet = next(iter(model["bgp_passwords"].values()), "")
    passwords = {EBGP_PASSWORD: fleet} if fleet else {}
    if me["rack"] and model["racks"][me["rack"]]["password"]:
        passwords[RACK_PASSWORD] = model["racks"][me["rack"]]["password"]
    return passwords
