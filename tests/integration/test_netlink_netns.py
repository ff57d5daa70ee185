"""The rtnetlink namespace reader (module_utils/netlink.py) against real namespaces.

The oracle is iproute2: for every namespace the reader must give exactly the views that
``ip -n NS -j -d -batch -`` (addr, route, neigh show) gives through ``iproute.parse_netns_state``
- the path the modules use - on wired workload namespaces and on drifted and cluttered ones
(flushed routes, a lost address, routes of other types and tables, NOARP and stale neighbours,
a veth pair inside). The layouts' key facts are also stated here in the test's own
words. Everything lives in an ``unshare`` sandbox (tests/support/sandbox.py).

``python -m tests.integration.test_netlink_netns --capture FILE`` (root) writes the unit tests'
fixture (tests/unit/module_utils/netlink_dumps.json): the raw dumps of the cluttered namespace
and iproute2's answer for it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.support import sandbox

REPO = Path(__file__).resolve().parents[2]
GATEWAY = "169.254.1.1"
MAC = "ee:ee:ee:ee:ee:ee"

# In the sandbox: both readers over the named namespaces, as JSON (and the thread's own
# namespace before and after, which must not change); or, with "capture", the raw dumps.
PROBE = """
import dataclasses, json, os, sys
from ansible_collections.calico.network.plugins.module_utils import netlink
from ansible_collections.calico.network.plugins.module_utils.iproute import (
    parse_netns_state, read_batch)
from ansible_collections.calico.network.plugins.module_utils.runner import SubprocessRunner
from ansible_collections.calico.network.plugins.module_utils.workloads import NETNS_READ
mode, names = sys.argv[1], sys.argv[2:]
if mode == "capture":
    import ctypes, socket
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + names[0], os.O_RDONLY)
    netlink._setns(libc, fd, names[0])
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        dumps = [data.hex() for data in netlink.dump_all(sock)]
    print(json.dumps(dumps))
    sys.exit(0)
before = os.stat("/proc/thread-self/ns/net").st_ino
try:
    netlink_views = {n: dataclasses.asdict(s) for n, s in netlink.read_namespaces(names).items()}
except netlink.NetlinkError as error:
    print(json.dumps({"error": str(error)}))
    sys.exit(0)
runner = SubprocessRunner()
ip_views = {
    n: dataclasses.asdict(parse_netns_state(read_batch(runner, n, NETNS_READ))) for n in names
}
after = os.stat("/proc/thread-self/ns/net").st_ino
print(json.dumps({"netlink": netlink_views, "ip": ip_views, "same_ns": before == after}))
"""


class Box(sandbox.Sandbox):
    def ip(self, *lines: str) -> None:
        """``ip -batch``, one per run of lines for the same namespace (``-n NS line``)."""
        groups: list[tuple[list[str], list[str]]] = []
        for line in lines:
            words = line.split()
            prefix, rest = (words[:2], words[2:]) if words[0] == "-n" else ([], words)
            if not groups or groups[-1][0] != prefix:
                groups.append((prefix, []))
            groups[-1][1].append(" ".join(rest))
        for prefix, batch in groups:
            self.run("ip", *prefix, "-batch", "-", input="".join(f"{b}\n" for b in batch))

    def probe(self, mode: str, names: list[str]) -> dict | list:
        env = {**os.environ, "PYTHONPATH": str(REPO / ".collections")}
        result = self.run(sys.executable, "-c", PROBE, mode, *names, env=env)
        return json.loads(result.stdout)

    def workload(self, name: str, ip: str, index: int) -> None:
        """A wired workload as calico_workloads leaves it (host end cali<index>)."""
        host = f"cali{index:011d}"
        self.ip(
            f"netns add {name}",
            f"link add {host} index {index} type veth peer name eth0 netns {name}",
            f"link set {host} address {MAC} up",
            f"route add {ip}/32 dev {host} scope link",
            f"-n {name} link set lo up",
            f"-n {name} link set eth0 mtu 1410 up",
            f"-n {name} addr add {ip}/32 dev eth0",
            f"-n {name} route replace {GATEWAY} dev eth0 scope link",
            f"-n {name} route replace default via {GATEWAY} dev eth0",
            f"-n {name} neigh replace {GATEWAY} lladdr {MAC} dev eth0 nud permanent",
        )

    def clutter(self, name: str) -> None:
        """What a workload namespace must never confuse with ours: other route types and
        tables, a proto number, a metric, neighbours in other states, a veth pair."""
        self.ip(
            f"-n {name} link add inner0 type veth peer name inner1",
            f"-n {name} link set inner0 up",
            f"-n {name} addr add 10.1.2.3/24 dev inner0",
            f"-n {name} addr add 10.1.9.9/32 dev inner0",
            f"-n {name} link add big0 mtu 9000 type veth peer name big1",
            f"-n {name} route add blackhole 10.8.0.0/16 metric 7 proto 99",
            f"-n {name} route add unreachable 10.9.0.0/16",
            f"-n {name} route add 10.7.0.0/16 via 10.1.2.1 dev inner0 proto static",
            f"-n {name} route add 10.6.0.0/16 dev inner0 table 100",
            f"-n {name} neigh add 10.1.2.8 lladdr 02:00:00:00:00:08 dev inner0 nud stale",
            f"-n {name} neigh add 10.1.2.7 lladdr 02:00:00:00:00:07 dev inner0 nud noarp",
            f"-n {name} neigh add 10.1.2.6 lladdr 02:00:00:00:00:06 dev inner0 nud reachable",
        )


@pytest.fixture(scope="module")
def box():
    if os.geteuid() != 0:
        pytest.fail("tests/integration/test_netlink_netns.py needs root", pytrace=False)
    holder = Box()
    holder.workload("wired", "172.18.0.1", 41)
    holder.workload("flushed", "172.18.0.2", 42)
    holder.ip("-n flushed route flush table main")
    holder.workload("lost-addr", "172.18.0.3", 43)
    holder.ip("-n lost-addr addr flush dev eth0")
    holder.workload("cluttered", "172.18.0.4", 44)
    holder.clutter("cluttered")
    holder.ip("netns add empty")
    yield holder
    holder.close()


NAMESPACES = ["wired", "flushed", "lost-addr", "cluttered", "empty"]


def test_every_namespace_reads_as_iproute2_shows_it(box):
    answer = box.probe("compare", NAMESPACES)

    assert answer["same_ns"], "the caller's thread changed network namespace"
    for name in NAMESPACES:
        assert answer["netlink"][name] == answer["ip"][name], name


def test_the_layouts_read_as_they_were_built(box):
    views = box.probe("compare", NAMESPACES)["netlink"]

    wired = views["wired"]
    eth0 = wired["links"]["eth0"]
    assert (eth0["kind"], eth0["mtu"], eth0["up"], eth0["addresses"]) == (
        "veth", 1410, True, ["172.18.0.1/32"]
    )  # fmt: skip
    assert eth0["peer_index"] == 41 and eth0["peer_netnsid"] is not None
    assert [(r["dst"], r["dev"], r["gateway"], r["scope"]) for r in wired["routes"]] == [
        ("default", "eth0", GATEWAY, "global"),
        (f"{GATEWAY}/32", "eth0", None, "link"),
    ]
    assert [(n["dst"], n["lladdr"], n["state"]) for n in wired["neighbours"]] == [
        (GATEWAY, MAC, ["PERMANENT"])
    ]
    assert views["flushed"]["routes"] == []
    assert views["lost-addr"]["links"]["eth0"]["addresses"] == []
    assert views["lost-addr"]["routes"] == []  # the kernel drops them with the last address
    assert set(views["empty"]["links"]) == {"lo"} and not views["empty"]["links"]["lo"]["up"]


def test_clutter_is_read_with_iproute2s_names_and_filters(box):
    cluttered = box.probe("compare", ["cluttered"])["netlink"]["cluttered"]

    links = cluttered["links"]
    assert (links["inner0"]["peer_name"], links["inner1"]["peer_name"]) == ("inner1", "inner0")
    assert links["inner0"]["addresses"] == ["10.1.2.3/24", "10.1.9.9/32"]
    assert (links["big0"]["mtu"], links["big0"]["up"]) == (9000, False)
    routes = {r["dst"]: (r["type"], r["protocol"], r["metric"]) for r in cluttered["routes"]}
    assert routes["10.8.0.0/16"] == ("blackhole", "openr", 7)
    assert routes["10.9.0.0/16"][0] == "unreachable"
    assert routes["10.7.0.0/16"][:2] == ("unicast", "static")
    assert "10.6.0.0/16" not in routes  # table 100: `ip route show` lists table main
    states = {n["dst"]: n["state"] for n in cluttered["neighbours"]}
    assert states["10.1.2.8"] == ["STALE"] and states["10.1.2.6"] == ["REACHABLE"]
    assert "10.1.2.7" not in states  # NOARP only: `ip neigh show` leaves it out


def test_a_missing_namespace_is_named(box):
    answer = box.probe("compare", ["wired", "gone"])

    assert "gone" in answer["error"] and "No such file" in answer["error"]


def capture(path: Path) -> None:
    """Write the unit tests' fixture from a fresh cluttered workload namespace."""
    holder = Box()
    try:
        holder.workload("cluttered", "172.18.0.4", 44)
        holder.clutter("cluttered")
        dumps = holder.probe("capture", ["cluttered"])
        ip_view = holder.probe("compare", ["cluttered"])["ip"]["cluttered"]
    finally:
        holder.close()
    how = "python -m tests.integration.test_netlink_netns --capture " + str(path.name)
    fixture = {"how": how, "dumps": dumps, "iproute2": ip_view}
    path.write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--capture"] or len(sys.argv) != 3:
        sys.exit("usage: python -m tests.integration.test_netlink_netns --capture FILE")
    capture(Path(sys.argv[2]))
