"""iproute2's JSON (``ip -j``) as typed, frozen views: links, routes, neighbours, namespaces.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The parsers
are pure; ``read_batch``/``read_one`` read through a ``Runner`` (root namespace or ``ip -n NS``).
The workloads core plans on these views; a host agent or CNI plugin can read the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.runner import Runner


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None = None
    mac: str = ""
    mtu: int = 0
    up: bool = False
    # A veth's peer: in another namespace it is (netnsid, ifindex there), in the same one a name.
    peer_netnsid: int | None = None
    peer_index: int | None = None
    peer_name: str | None = None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    dst: str
    dev: str | None = None
    gateway: str | None = None
    scope: str = "global"
    protocol: str = "boot"
    metric: int = 0
    type: str = "unicast"

    def delete_line(self) -> str:
        words = ["route", "del"]
        if self.type != "unicast":
            words.append(self.type)
        words.append(self.dst)
        if self.gateway:
            words += ["via", self.gateway]
        if self.dev:
            words += ["dev", self.dev]
        if self.metric:
            words += ["metric", str(self.metric)]
        return " ".join(words)


@dataclass(frozen=True)
class Neighbour:
    dst: str
    dev: str
    lladdr: str = ""
    state: tuple[str, ...] = ()


@dataclass
class NetnsState:
    links: dict[str, Link] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)


def split_json_documents(text: str) -> list[Any]:
    """Split the output of ``ip -j -batch -``: one JSON document per batch line."""
    decoder = json.JSONDecoder()
    documents = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return documents
        document, position = decoder.raw_decode(text, position)
        documents.append(document)


def _ipv4_addresses(entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{info['local']}/{info['prefixlen']}"
        for info in entry.get("addr_info", [])
        if info.get("family") == "inet"
    )


def parse_links(document: list[dict[str, Any]]) -> dict[str, Link]:
    """Parse ``ip -j -d link show`` or ``ip -j -d addr show`` (which adds ``addr_info``)."""
    links = {}
    for entry in document:
        netnsid = entry.get("link_netnsid")
        kind = (entry.get("linkinfo") or {}).get("info_kind")
        link = Link(
            name=entry["ifname"],
            index=entry["ifindex"],
            kind=kind,
            mac=entry.get("address", ""),
            mtu=entry.get("mtu", 0),
            up="UP" in entry.get("flags", []),
            peer_netnsid=netnsid,
            peer_index=entry.get("link_index") if netnsid is not None else None,
            # Other kinds name their lower device here (a VLAN's parent): not a peer.
            peer_name=entry.get("link") if kind == "veth" else None,
            addresses=_ipv4_addresses(entry),
        )
        links[link.name] = link
    return links


def normalise_dst(dst: str) -> str:
    if dst == "default" or "/" in dst:
        return dst
    return f"{dst}/32"


def parse_routes(document: list[dict[str, Any]]) -> list[Route]:
    """Parse ``ip -j [-d] route show``; without ``-d`` the defaults are simply left out."""
    return [
        Route(
            dst=normalise_dst(entry["dst"]),
            dev=entry.get("dev"),
            gateway=entry.get("gateway"),
            scope=entry.get("scope", "global"),
            protocol=str(entry.get("protocol", "boot")),
            metric=entry.get("metric", 0),
            type=entry.get("type", "unicast"),
        )
        for entry in document
    ]


def parse_neighbours(document: list[dict[str, Any]]) -> list[Neighbour]:
    return [
        Neighbour(
            dst=entry["dst"],
            dev=entry.get("dev", ""),
            lladdr=entry.get("lladdr", ""),
            state=tuple(entry.get("state", [])),
        )
        for entry in document
        if ":" not in entry.get("dst", ":")
    ]


def parse_netns_list(document: list[dict[str, Any]]) -> tuple[set[str], dict[int, str]]:
    """Parse ``ip -j netns list``: the names and the ids (as the root namespace sees them)."""
    names = {entry["name"] for entry in document}
    ids = {entry["id"]: entry["name"] for entry in document if "id" in entry}
    return names, ids


def parse_netns_state(documents: list[Any]) -> NetnsState:
    """Parse the answers to ``NETNS_READ`` inside one namespace."""
    addresses, routes, neighbours = documents
    return NetnsState(
        links=parse_links(addresses),
        routes=parse_routes(routes),
        neighbours=parse_neighbours(neighbours),
    )


# --------------------------------------------------------------------------- reading


def ip_argv(runner: Runner, netns: str | None) -> list[str]:
    ip = runner.binary("ip")
    return [ip, "-n", netns] if netns else [ip]


def read_batch(runner: Runner, netns: str | None, lines: tuple[str, ...]) -> list[Any]:
    """One ``ip -j -d -batch -``; falls back to one command per line on a mismatch."""
    out = runner.read([*ip_argv(runner, netns), "-j", "-d", "-batch", "-"], "\n".join(lines) + "\n")
    documents = split_json_documents(out)
    if len(documents) == len(lines):
        return documents
    # Older iproute2 releases do not print one JSON document per batch line.
    return [read_one(runner, netns, line.split()) for line in lines]


def read_one(runner: Runner, netns: str | None, words: list[str]) -> Any:
    """One ``ip -j -d WORDS``; ``[]`` when it prints nothing (``netns list`` without /run/netns)."""
    documents = split_json_documents(runner.read([*ip_argv(runner, netns), "-j", "-d", *words]))
    return documents[0] if documents else []
