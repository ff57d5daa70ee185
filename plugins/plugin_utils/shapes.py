"""The declared shapes of the network model and of a host's slice, as TypedDicts.

The model is JSON-friendly plain data (Ansible stores it as a fact), so its shapes are dicts
with known keys. The builders are annotated with these; tests/unit/plugin_utils/test_shapes.py
checks that real models and slices have exactly these keys, and that each filter's RETURN
documents them. Keys that are Python keywords (``as``) need the functional syntax. No
``from __future__ import annotations``: TypedDict must see NotRequired unevaluated to know
which keys are optional.
"""

from typing import Literal, NotRequired, TypedDict


class Pool(TypedDict):
    cidr: str
    block_size: int
    nat_outgoing: bool
    encapsulation: str
    encapsulation_mode: str


class Workload(TypedDict):
    name: str
    ip: str
    interface: str
    labels: dict[str, str]
    floating_ips: list[str]


ExternalPeer = TypedDict(
    "ExternalPeer",
    {
        "name": str,
        "ip": str,
        "as": int,
        "password": str,
        "ttl_security": bool,
        "multihop": int | None,
        "accept": list[str],
        "prefix_limit": int,
    },
)

HostCore = TypedDict(
    "HostCore",
    {
        "name": str,
        "ip": str,
        "subnet": str,
        "as": int,
        "router_id": str,
        "blocks": list[str],
        "host_address": str,
        "endpoint_to_host_action": str,
        "workloads": list[Workload],
        "rack": str | None,
        "route_reflector": bool,
    },
)


class HostEntry(HostCore):
    """A host of the fleet model."""

    bgp_peers: list[ExternalPeer]


Rack = TypedDict(
    "Rack",
    {
        "as": int | None,
        "cluster_id": str,
        "hosts": list[str],
        "reflectors": list[str],
        "password": str,
        "external_accept": list[str],
    },
)


class Rule(TypedDict):
    action: Literal["allow", "deny", "log"]
    protocol: NotRequired[str]
    ports: NotRequired[list[str]]
    selector: NotRequired[str]
    cidr: NotRequired[list[str]]


class PolicyHead(TypedDict):
    """What names a policy and picks the workloads it applies to."""

    name: str
    selector: str


class Policy(PolicyHead):
    order: float
    ingress: NotRequired[list[Rule]]
    egress: NotRequired[list[Rule]]


class PolicySettings(TypedDict):
    policies: list[Policy]
    default_profile: str


class BgpSettings(TypedDict):
    bfd: bool
    graceful_restart_time: int


class Ledger(TypedDict):
    version: int  # ledger.LEDGER_VERSION
    blocks: dict[str, str]
    addresses: dict[str, dict[str, str]]


class FleetModel(TypedDict):
    version: int
    bgp_mode: str
    pools: list[Pool]
    hosts: dict[str, HostEntry]
    policy: PolicySettings
    bgp: BgpSettings
    bgp_passwords: dict[str, str]
    ledger: Ledger
    racks: dict[str, Rack]
    external_accept: list[str]


class ModelResult(TypedDict):
    """What ``calico_network_model`` returns: the model (None while there are errors)."""

    model: FleetModel | None
    errors: list[str]
    warnings: list[str]


BgpSession = TypedDict(
    "BgpSession",
    {
        "name": str,
        "kind": Literal["mesh", "rr-client", "rr-peer", "ebgp", "external"],
        "host": str,
        "ip": str,
        "as": int,
        "passive": bool,
        "password": str,
        "rr_client": bool,
        "rr_cluster_id": str,
        "multihop": int | bool,
        "next_hop_keep": bool,
        "ttl_security": bool,
        "accept": list[str],
        "prefix_limit": int,
    },
)


class VxlanRoute(TypedDict):
    dst: str
    via: str
    host: str


class VxlanNeighbor(TypedDict):
    ip: str
    mac: str


class VxlanFdb(TypedDict):
    mac: str
    dst: str


class BirdTunnelModes(TypedDict):
    always: list[str]
    cross_subnet: list[str]


class VxlanPlan(TypedDict):
    enabled: bool
    vni: int
    port: int
    mac: str
    routes: list[VxlanRoute]
    neighbors: list[VxlanNeighbor]
    fdb: list[VxlanFdb]


class TunnelPlan(TypedDict):
    subnet: str
    address: str
    encapsulations: list[str]
    route_protocol: int
    bird: dict[str, BirdTunnelModes]
    ipip: bool
    vxlan: VxlanPlan


class FelixRule(Rule):
    """A policy rule with its peers resolved: None for any address, else networks."""

    peers: list[str] | None


class FelixPolicy(PolicyHead):
    """A policy that applies to a local workload; the list of them is in evaluation order."""

    ingress: NotRequired[list[FelixRule]]
    egress: NotRequired[list[FelixRule]]


class FelixInputs(TypedDict):
    """What Felix's chains of one host need beyond its workloads and the pools."""

    policies: list[FelixPolicy]
    default_profile: str
    host_addresses: list[str]


class Probe(TypedDict):
    src_host: str
    src: str
    dst_host: str
    dst: str
    dst_ip: str
    kind: Literal["ping", "tcp"]
    port: int | None
    floating: bool
    expect: bool


class Listener(TypedDict):
    netns: str
    port: int


class VerifyPlan(TypedDict):
    probes: list[Probe]
    listeners: list[Listener]


class HostSlice(HostCore):
    """One host's view of the model: its entry (less its peers), and what it needs of the rest."""

    pools: list[Pool]
    bgp_passwords: dict[str, str]
    external_accept: list[str]
    peers: list[BgpSession]
    tunnel: TunnelPlan
    bgp: BgpSettings
    felix: FelixInputs
    verify: VerifyPlan | None


class IptablesTable(TypedDict):
    chains: dict[str, list[str]]
    hooks: NotRequired[list[dict[str, str]]]
    append: NotRequired[list[dict[str, str]]]


class FelixTables(TypedDict):
    raw: IptablesTable
    mangle: IptablesTable
    filter: IptablesTable
    nat: IptablesTable


class VerifyReport(TypedDict):
    lines: list[str]
    bgp: str
    reachability: str
    ok: bool
