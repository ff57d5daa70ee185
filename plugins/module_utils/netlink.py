"""Read network namespaces through rtnetlink: no ``ip -n NS`` process per namespace.

Runs on the host (shipped with the modules and the agent): standard library only, Python >= 3.9.
A host with N workloads has N namespaces; reading each with ``ip -n NS -j -batch -`` costs one
process (about 5 ms) per namespace and reconcile. Here one short-lived thread enters each
namespace in turn (``setns(2)`` through ctypes: ``os.setns`` exists only from Python 3.12),
opens an rtnetlink socket there and dumps its links, IPv4 addresses, main-table IPv4 routes and
IPv4 neighbours. Only that thread changes namespace; the caller's threads never do.

The parser is pure (``parse_messages`` and ``netns_state``) and yields the same ``iproute``
views as ``ip -j -d`` would (``iproute.parse_netns_state`` of ``addr show``, ``route show``,
``neigh show``), with iproute2's names for route types, scopes, protocols and neighbour states,
and iproute2's default filters (table main; no NOARP-only neighbours).
"""

from __future__ import annotations

import ctypes
import functools
import os
import socket
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ansible_collections.calico.network.plugins.module_utils.iproute import (
    Link,
    Neighbour,
    NetnsState,
    Route,
    normalise_dst,
)
from ansible_collections.calico.network.plugins.module_utils.runner import RunnerError

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

# linux/netlink.h, linux/rtnetlink.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x10, 0x300
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWNEIGH, RTM_GETNEIGH = 28, 30
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_LINK_NETNSID = 18, 1, 37
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
NDA_DST, NDA_LLADDR = 1, 2
IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTM_F_CLONED = 0x200
NTF_PROXY, NTF_EXT_LEARNED = 0x08, 0x10
NUD_NOARP = 0x40
# Devices whose hardware address iproute2 prints as an IPv4 address (ipip, sit, gre).
ARPHRD_IPV4_TUNNELS = frozenset({768, 776, 778})

Names = tuple[dict[int, str], dict[int, str]]  # (protocols, scopes) by number
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBi")  # family, prefix length, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst/src length, tos, table, protocol, scope, type
NDMSG = struct.Struct("=BxxxiHBB")  # family, index, state, flags, type
RTATTR = struct.Struct("=HH")

# iproute2's names (lib/rt_names.c); a number it has no name for prints as the number.
ROUTE_TYPES = (
    "none", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
    "unreachable", "prohibit", "throw", "nat", "xresolve",
)  # fmt: skip
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
PROTOCOLS = {
    0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra",
    10: "mrt", 11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp",
    18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip",
    192: "eigrp",
}  # fmt: skip
# Where iproute2 reads more names (the first file found, then its .d/*.conf drop-ins).
IPROUTE2_DIRS = ("/etc/iproute2", "/usr/lib/iproute2", "/usr/share/iproute2")
NEIGHBOUR_STATES = (
    (0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"),
    (0x10, "PROBE"), (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"),
)  # fmt: skip


class NetlinkError(RunnerError):
    """A namespace could not be entered or dumped; the message names it."""


@dataclass(frozen=True)
class Message:
    type: int
    flags: int
    payload: bytes


# --------------------------------------------------------------------------- names


def parse_names(text: str) -> dict[int, str]:
    """An iproute2 names file (``rt_protos``, ``rt_scopes``): ``number name`` lines."""
    names = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            try:
                names[int(words[0], 0)] = words[1]
            except ValueError:
                continue  # iproute2 skips what it cannot parse too
    return names


def _names_file(name: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for directory in IPROUTE2_DIRS:
        try:
            with open(os.path.join(directory, name)) as handle:
                found = parse_names(handle.read())
            break
        except OSError:
            continue
    for directory in IPROUTE2_DIRS:
        drop_ins = os.path.join(directory, f"{name}.d")
        try:
            entries = sorted(os.listdir(drop_ins))
        except OSError:
            continue
        for entry in (e for e in entries if e.endswith(".conf")):
            try:
                with open(os.path.join(drop_ins, entry)) as handle:
                    found.update(parse_names(handle.read()))
            except OSError:
                continue
    return found


@functools.cache
def host_names() -> tuple[dict[int, str], dict[int, str]]:
    """(protocols, scopes): the built-in names with the host's iproute2 files over them, read
    once per process (the agent is long-lived; a renamed protocol needs a restart)."""
    return {**PROTOCOLS, **_names_file("rt_protos")}, {**SCOPES, **_names_file("rt_scopes")}


# --------------------------------------------------------------------------- parsing (pure)


def parse_messages(data: bytes) -> list[Message]:
    """Split a buffer of netlink messages; ``NetlinkError`` on a truncated one."""
    messages = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, flags, _seq, _port = HEADER.unpack_from(data, offset)
        if length < HEADER.size or offset + length > len(data):
            raise NetlinkError(f"truncated netlink message at byte {offset} (length {length})")
        messages.append(Message(kind, flags, data[offset + HEADER.size : offset + length]))
        offset += (length + 3) & ~3
    return messages


def parse_attributes(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """rtattrs from ``offset``: type -> value (the first of a repeated type wins)."""
    attributes: dict[int, bytes] = {}
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size:
            break
        attributes.setdefault(kind & NLA_TYPE_MASK, data[offset + RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return attributes


def _string(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _u32(value: bytes) -> int:
    return int(struct.unpack("=I", value[:4])[0])


def _s32(value: bytes) -> int:
    return int(struct.unpack("=i", value[:4])[0])


def _ipv4(value: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, value[:4])


def _hardware(value: bytes, device_type: int) -> str:
    if device_type in ARPHRD_IPV4_TUNNELS and len(value) == 4:
        return _ipv4(value)
    return ":".join(f"{byte:02x}" for byte in value)


def _link(payload: bytes, addresses: dict[int, list[str]]) -> tuple[Link, int]:
    """One link and the index of its lower device or peer (0: none)."""
    _family, device_type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    attributes = parse_attributes(payload, IFINFOMSG.size)
    info = parse_attributes(attributes.get(IFLA_LINKINFO, b""))
    lower = _u32(attributes[IFLA_LINK]) if IFLA_LINK in attributes else 0
    netnsid = _s32(attributes[IFLA_LINK_NETNSID]) if IFLA_LINK_NETNSID in attributes else None
    # As ``ip -j`` prints them: link_netnsid only when assigned, link_index only beside it.
    assigned = netnsid is not None and netnsid >= 0
    link = Link(
        name=_string(attributes.get(IFLA_IFNAME, b"")),
        index=index,
        kind=_string(info[IFLA_INFO_KIND]) if IFLA_INFO_KIND in info else None,
        mac=_hardware(attributes.get(IFLA_ADDRESS, b""), device_type),
        mtu=_u32(attributes[IFLA_MTU]) if IFLA_MTU in attributes else 0,
        up=bool(flags & IFF_UP),
        peer_netnsid=netnsid if assigned else None,
        peer_index=(lower or None) if assigned else None,
        addresses=tuple(addresses.get(index, ())),
    )
    return link, lower if netnsid is None else 0


def _addresses(messages: Iterable[Message]) -> dict[int, list[str]]:
    """IPv4 addresses per interface index, as ``local/prefixlen`` in dump order."""
    by_index: dict[int, list[str]] = {}
    for message in messages:
        if message.type != RTM_NEWADDR:
            continue
        family, prefixlen, _flags, _scope, index = IFADDRMSG.unpack_from(message.payload)
        if family != socket.AF_INET:
            continue
        attributes = parse_attributes(message.payload, IFADDRMSG.size)
        local = attributes.get(IFA_LOCAL, attributes.get(IFA_ADDRESS))
        if local is not None:
            by_index.setdefault(index, []).append(f"{_ipv4(local)}/{prefixlen}")
    return by_index


def _links(messages: Iterable[Message], addresses: dict[int, list[str]]) -> dict[int, Link]:
    parsed = [_link(m.payload, addresses) for m in messages if m.type == RTM_NEWLINK]
    names = {link.index: link.name for link, _lower in parsed}
    links = {}
    for link, lower in parsed:
        if link.kind == "veth" and lower:  # its peer in this namespace; ip prints ifN if unknown
            link = replace(link, peer_name=names.get(lower, f"if{lower}"))
        links[link.index] = link
    return links


def _route(payload: bytes, names: dict[int, str], table_names: Names) -> Route | None:
    family, dst_len, _src, _tos, table, protocol, scope, kind, flags = RTMSG.unpack_from(payload)
    attributes = parse_attributes(payload, RTMSG.size)
    if RTA_TABLE in attributes:
        table = _u32(attributes[RTA_TABLE])
    if family != socket.AF_INET or table != RT_TABLE_MAIN or flags & RTM_F_CLONED:
        return None
    if RTA_DST in attributes:
        dst = f"{_ipv4(attributes[RTA_DST])}/{dst_len}"
    else:
        dst = f"0/{dst_len}" if dst_len else "default"
    oif = _u32(attributes[RTA_OIF]) if RTA_OIF in attributes else None
    return Route(
        dst=normalise_dst(dst),
        dev=None if oif is None else names.get(oif, f"if{oif}"),
        gateway=_ipv4(attributes[RTA_GATEWAY]) if RTA_GATEWAY in attributes else None,
        scope=table_names[1].get(scope, str(scope)),
        protocol=table_names[0].get(protocol, str(protocol)),
        metric=_u32(attributes[RTA_PRIORITY]) if RTA_PRIORITY in attributes else 0,
        type=ROUTE_TYPES[kind] if kind < len(ROUTE_TYPES) else str(kind),
    )


def _neighbour(payload: bytes, names: dict[int, str]) -> Neighbour | None:
    family, index, state, flags, _kind = NDMSG.unpack_from(payload)
    shown = state & ~NUD_NOARP & 0xFF or flags & (NTF_PROXY | NTF_EXT_LEARNED)
    attributes = parse_attributes(payload, NDMSG.size)
    if family != socket.AF_INET or not shown or NDA_DST not in attributes:
        return None  # `ip neigh show` leaves NOARP-only entries out
    states = tuple(name for bit, name in NEIGHBOUR_STATES if state & bit) or ("NONE",)
    return Neighbour(
        dst=_ipv4(attributes[NDA_DST]),
        dev=names.get(index, f"if{index}"),
        lladdr=_hardware(attributes[NDA_LLADDR], 0) if NDA_LLADDR in attributes else "",
        state=states,
    )


def netns_state(
    links: Sequence[Message],
    addresses: Sequence[Message],
    routes: Sequence[Message],
    neighbours: Sequence[Message],
    table_names: Names = (PROTOCOLS, SCOPES),
) -> NetnsState:
    """One namespace's dumps as the views ``ip -j -d`` of ``NETNS_READ`` would give;
    ``table_names`` = (protocols, scopes) by number."""
    by_index = _links(links, _addresses(addresses))
    names = {index: link.name for index, link in by_index.items()}
    parsed_routes = [
        _route(m.payload, names, table_names) for m in routes if m.type == RTM_NEWROUTE
    ]
    parsed_neighbours = [_neighbour(m.payload, names) for m in neighbours if m.type == RTM_NEWNEIGH]
    return NetnsState(
        links={link.name: link for link in by_index.values()},
        routes=[route for route in parsed_routes if route is not None],
        neighbours=[n for n in parsed_neighbours if n is not None],
    )


# --------------------------------------------------------------------------- dumping (I/O)

# (request type, its family header): what ``netns_state`` takes, in its order.
DUMPS = (
    (RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)),
    (RTM_GETADDR, IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)),
    (RTM_GETROUTE, RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)),
    (RTM_GETNEIGH, NDMSG.pack(socket.AF_INET, 0, 0, 0, 0)),
)
RECEIVE_BUFFER = 1 << 16
DUMP_ATTEMPTS = 3


def dump(sock: socket.socket, request: int, header: bytes, sequence: int) -> bytes:
    """One dump request; every reply's bytes up to and including ``NLMSG_DONE``. A dump the
    kernel marks interrupted (the namespace changed meanwhile) is asked again."""
    for _attempt in range(DUMP_ATTEMPTS):
        replies, interrupted = _dump_once(sock, request, header, sequence)
        if not interrupted:
            return replies
    raise NetlinkError(f"netlink dump {request} kept changing during {DUMP_ATTEMPTS} attempts")


def _dump_once(
    sock: socket.socket, request: int, header: bytes, sequence: int
) -> tuple[bytes, bool]:
    flags = NLM_F_REQUEST | NLM_F_DUMP
    sock.send(HEADER.pack(HEADER.size + len(header), request, flags, sequence, 0) + header)
    replies = bytearray()
    interrupted = False
    while True:
        chunk = sock.recv(RECEIVE_BUFFER)
        replies += chunk
        for message in parse_messages(chunk):
            interrupted = interrupted or bool(message.flags & NLM_F_DUMP_INTR)
            if message.type not in (NLMSG_DONE, NLMSG_ERROR):
                continue
            code = -_s32(message.payload) if len(message.payload) >= 4 else 0
            if code > 0:
                raise NetlinkError(f"netlink dump {request} failed: {os.strerror(code)}")
            return bytes(replies), interrupted


def dump_all(sock: socket.socket) -> list[bytes]:
    """The four dumps of ``DUMPS`` from an open rtnetlink socket, as raw bytes."""
    return [dump(sock, kind, header, sequence) for sequence, (kind, header) in enumerate(DUMPS, 1)]


def state_from_dumps(
    dumps: Sequence[bytes], table_names: Names = (PROTOCOLS, SCOPES)
) -> NetnsState:
    links, addresses, routes, neighbours = (parse_messages(data) for data in dumps)
    return netns_state(links, addresses, routes, neighbours, table_names)


def _setns(libc: ctypes.CDLL, fd: int, what: str) -> None:
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise NetlinkError(f"cannot enter network namespace {what}: {os.strerror(code)}")


def _read_in(libc: ctypes.CDLL, name: str, directory: str) -> NetnsState:
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise NetlinkError(f"cannot open network namespace {name!r}: {error.strerror}") from None
    try:
        _setns(libc, fd, repr(name))
    finally:
        os.close(fd)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        return state_from_dumps(dump_all(sock), host_names())


def read_namespaces(names: Sequence[str], directory: str = NETNS_DIR) -> dict[str, NetnsState]:
    """Each named namespace (``ip netns`` names under ``directory``) read in one worker thread.
    Raises ``NetlinkError`` naming the first namespace that could not be read."""
    results: dict[str, NetnsState] = {}
    failure: list[BaseException] = []
    if not names:
        return results

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            for name in names:
                results[name] = _read_in(libc, name, directory)
        except (NetlinkError, OSError) as error:
            failure.append(error)
        # The thread ends in the last namespace it entered: nothing else runs on it.

    worker = threading.Thread(target=work, name="calico-netns-reader")
    worker.start()
    worker.join()
    if failure:
        error = failure[0]
        if isinstance(error, NetlinkError):
            raise error
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise NetlinkError(f"netlink read of the workload namespaces failed: {reason}")
    return results
