"""BGP sessions: one builder for every kind (mesh, rack and external), every key always set.

A session of a host's slice is what bird.conf.j2 renders as one ``protocol bgp``. The mesh's
sessions are here; racks.py and peers.py decide which rack and external sessions a host has and
build each with ``bgp_session``, so templates need no defaults and no kind lacks a key.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence

from ansible_collections.calico.network.plugins.plugin_utils.shapes import BgpSession, HostEntry

MESH_PASSWORD = "calico_password_mesh"


def bgp_session(
    name: str,
    kind: str,
    host: str,
    ip: str,
    asn: int,
    *,
    passive: bool = False,
    password: str = "",
    rr_client: bool = False,
    rr_cluster_id: str = "",
    multihop: int | bool = False,
    next_hop_keep: bool = False,
    ttl_security: bool = False,
    accept: Sequence[str] = (),
    prefix_limit: int = 0,
) -> BgpSession:
    """One session; ``password`` is the name of its key in the secrets file, or empty."""
    return {
        "name": name,
        "kind": kind,
        "host": host,
        "ip": ip,
        "as": asn,
        "passive": passive,
        "password": password,
        "rr_client": rr_client,
        "rr_cluster_id": rr_cluster_id,
        "multihop": multihop,
        "next_hop_keep": next_hop_keep,
        "ttl_security": ttl_security,
        "accept": list(accept),
        "prefix_limit": prefix_limit,
    }


@functools.cache
def _address(ip: str) -> ipaddress.IPv4Address:
    """A parsed address, parsed once: a mesh slice compares its host with every other host."""
    return ipaddress.IPv4Address(ip)


def fleet_session(
    me: HostEntry,
    other: HostEntry,
    prefix: str,
    kind: str,
    password: str,
    **options: object,
) -> BgpSession:
    """A session between two fleet hosts, named ``<prefix><ip>``.

    The side with the higher address is passive, so the two never dial each other at the same
    time (which aborts graceful restart). Calico compares addresses as strings; numbers are what
    an operator expects, and both ends of a session agree either way.
    """
    passive = _address(other["ip"]) > _address(me["ip"])
    return bgp_session(
        prefix + other["ip"].replace(".", "_"),
        kind,
        other["name"],
        other["ip"],
        other["as"],
        passive=passive,
        password=password,
        **options,  # type: ignore[arg-type]
    )


def mesh_sessions(
    me: HostEntry, hosts: Mapping[str, HostEntry], passwords: Mapping[str, str]
) -> list[BgpSession]:
    """Calico's node-to-node mesh: one iBGP session per other host, in address order.

    ``hosts`` is the model's, already in underlay-address order (model.py).
    """
    password = MESH_PASSWORD if MESH_PASSWORD in passwords else ""
    return [
        fleet_session(me, other, "Mesh_", "mesh", password)
        for other in hosts.values()
        if other["name"] != me["name"]
    ]
