"""The rtnetlink parser of module_utils/netlink.py, on captured and hand-built messages.

``netlink_dumps.json`` holds the four raw dumps of a real workload namespace with clutter (see
tests/integration/test_netlink_netns.py, which also wrote it) and what iproute2 made of the
same namespace at the same moment: iproute2 is the oracle, and the key facts of the layout are
written out here too. Hand-built messages cover what a capture cannot show on demand: errors,
interrupted dumps, tunnel addresses, unknown numbers.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.module_utils import netlink
from ansible_collections.calico.network.plugins.module_utils.iproute import Link, Route

FIXTURE = json.loads((Path(__file__).parent / "netlink_dumps.json").read_text())


def captured():
    return netlink.state_from_dumps([bytes.fromhex(dump) for dump in FIXTURE["dumps"]])


def test_a_captured_namespace_parses_as_iproute2_showed_it():
    # Through JSON, as the fixture was stored: tuples read back as lists.
    assert json.loads(json.dumps(dataclasses.asdict(captured()))) == FIXTURE["iproute2"]


def test_the_captured_workload_side_is_what_calico_workloads_builds():
    state = captured()

    eth0 = state.links["eth0"]
    assert (eth0.kind, eth0.mtu, eth0.up, eth0.mac != "") == ("veth", 1410, True, True)
    assert eth0.addresses == ("172.18.0.4/32",)
    assert eth0.peer_index == 44 and eth0.peer_netnsid is not None and eth0.peer_name is None
    assert state.links["lo"].up and state.links["lo"].addresses == ("127.0.0.1/8",)
    routes = {route.dst: route for route in state.routes}
    assert routes["default"] == Route("default", "eth0", "169.254.1.1", "global", "boot")
    assert routes["169.254.1.1/32"] == Route("169.254.1.1/32", "eth0", None, "link", "boot")
    assert routes["10.8.0.0/16"] == Route(
        "10.8.0.0/16", None, None, "global", "openr", 7, "blackhole"
    )
    assert "10.6.0.0/16" not in routes  # table 100
    neighbours = {n.dst: (n.dev, n.lladdr, n.state) for n in state.neighbours}
    assert neighbours["169.254.1.1"] == ("eth0", "ee:ee:ee:ee:ee:ee", ("PERMANENT",))
    assert "10.1.2.7" not in neighbours  # NOARP only


# --------------------------------------------------------------------------- hand-built


def attribute(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * (-length % 4)


def message(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, 1, 0) + payload


def link_message(index: int, name: str, device_type: int = 1, *extra: bytes) -> bytes:
    payload = struct.pack("=BxHiII", 0, device_type, index, 0, 0)
    payload += attribute(netlink.IFLA_IFNAME, name.encode() + b"\0") + b"".join(extra)
    return message(netlink.RTM_NEWLINK, payload)


def test_an_ipip_device_address_reads_as_ipv4_like_iproute2_prints_it():
    data = link_message(3, "tunl0", 768, attribute(netlink.IFLA_ADDRESS, bytes([0, 0, 0, 0])))
    state = netlink.netns_state(netlink.parse_messages(data), [], [], [])

    assert state.links["tunl0"] == Link("tunl0", 3, mac="0.0.0.0")


def test_a_veth_whose_peer_is_unknown_names_it_as_iproute2_does():
    kind = attribute(netlink.IFLA_LINKINFO, attribute(netlink.IFLA_INFO_KIND, b"veth\0"))
    data = link_message(5, "v0", 1, attribute(netlink.IFLA_LINK, struct.pack("=I", 9)), kind)

    link = netlink.netns_state(netlink.parse_messages(data), [], [], []).links["v0"]

    assert (link.kind, link.peer_name, link.peer_index) == ("veth", "if9", None)


def test_unknown_route_protocol_and_scope_numbers_read_as_numbers():
    header = struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, 77, 17, 1, 0)
    dst = attribute(netlink.RTA_DST, socket.inet_aton("10.3.0.0"))
    data = message(netlink.RTM_NEWROUTE, header + dst + attribute(netlink.RTA_OIF, b"\7\0\0\0"))

    (route,) = netlink.netns_state([], [], netlink.parse_messages(data), []).routes

    assert route == Route("10.3.0.0/24", "if7", None, "17", "77")


def test_a_truncated_message_is_an_error_not_a_short_read():
    data = message(netlink.RTM_NEWLINK, b"\0" * 16)

    with pytest.raises(netlink.NetlinkError, match="truncated"):
        netlink.parse_messages(data[:-4])


def test_iproute2_names_files_are_read_with_comments_and_hex():
    text = "# comment\n0x63\topenr\n200 site # trailing\nbad line here\n"

    assert netlink.parse_names(text) == {99: "openr", 200: "site"}


class Socket:
    """Replies queued per request: what the kernel would send back."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def recv(self, _size: int) -> bytes:
        return self.replies.pop(0)


DONE = message(netlink.NLMSG_DONE, struct.pack("=i", 0))


def test_a_dump_asks_again_when_the_kernel_says_it_was_interrupted():
    first = link_message(1, "lo")
    interrupted = message(netlink.NLMSG_DONE, struct.pack("=i", 0), netlink.NLM_F_DUMP_INTR)
    sock = Socket(first + interrupted, first + DONE)

    replies = netlink.dump(sock, netlink.RTM_GETLINK, b"\0" * 16, 1)

    assert len(sock.sent) == 2 and replies == first + DONE


def test_a_dump_the_kernel_refuses_is_an_error_naming_the_reason():
    error = message(netlink.NLMSG_ERROR, struct.pack("=i", -1) + b"\0" * 16)

    with pytest.raises(netlink.NetlinkError, match="Operation not permitted"):
        netlink.dump(Socket(error), netlink.RTM_GETROUTE, b"\0" * 12, 3)


def test_a_namespace_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(netlink.NetlinkError, match=r"'w9'.*No such file"):
        netlink.read_namespaces(["w9"], str(tmp_path))


def test_no_namespace_to_read_starts_no_thread(monkeypatch):
    monkeypatch.setattr(netlink.threading, "Thread", None)

    assert netlink.read_namespaces([]) == {}
