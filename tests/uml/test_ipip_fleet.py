"""The seed's IPIP mode on a converged fleet, inside User-mode Linux.

`make integration` runs this through `lab/uml_lab.py -i tests/uml/inventory --then pytest ...`:
the guest brings up tests/uml/inventory (ipip-h1 on 192.168.100.0/24, ipip-h2 on
192.168.200.0/24, the lab's router between them) with the real roles (site.yml, verify.yml), then
runs these tests against the running containers through testinfra's podman backend.

The expectations are this file's, not the model's: the seed's route line, with the peer's
underlay address as written in tests/uml/inventory/hosts.yml and a /24 of the seed's pool; and
packets between the two workloads that really go through tunl0 (its counters move).
"""

from __future__ import annotations

import ipaddress
import os
import re

import pytest
import testinfra

pytestmark = pytest.mark.skipif(
    "CALICO_UML_LAB_INVENTORY" not in os.environ,
    reason="needs the fleet lab/uml_lab.py brings up inside UML (make integration runs it)",
)

POOL = ipaddress.ip_network("172.17.0.0/16")
HOSTS = {"ipip-h1": "192.168.100.100", "ipip-h2": "192.168.200.101"}
WORKLOADS = {"ipip-h1": "web-1", "ipip-h2": "web-2"}
# The seed's route shape (docs/architecture.md, the IPIP example), as `ip route` prints it.
SEED_ROUTE = re.compile(r"^(\d+\.\d+\.\d+\.0/24) via (\S+) dev tunl0 proto bird onlink$")
PINGS = 5


def host(name: str):
    return testinfra.get_host(f"podman://{name}")


def peer_of(name: str) -> str:
    return next(other for other in HOSTS if other != name)


def workload_address(name: str) -> ipaddress.IPv4Address:
    out = host(name).check_output(f"ip -n {WORKLOADS[name]} -4 -o addr show dev eth0")
    return ipaddress.ip_interface(out.split()[3]).ip


def tunl0_packets(name: str, direction: str) -> int:
    return int(host(name).check_output(f"cat /sys/class/net/tunl0/statistics/{direction}_packets"))


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_the_peer_block_is_routed_with_the_seed_route_shape(name: str) -> None:
    # Unfiltered: `ip route show proto bird` leaves `proto bird` out of the lines it prints.
    routes = host(name).check_output("ip -4 route show").splitlines()
    print(f"{name}'s routes:", *routes, sep="\n  ")

    tunnel = [SEED_ROUTE.match(line.strip()) for line in routes]
    found = [(m[1], m[2]) for m in tunnel if m]
    assert len(found) == 1, f"expected one `BLOCK via PEER dev tunl0 proto bird onlink`: {routes}"
    block, via = found[0]
    assert via == HOSTS[peer_of(name)]
    assert ipaddress.ip_network(block).subnet_of(POOL)
    assert workload_address(peer_of(name)) in ipaddress.ip_network(block)


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_workloads_reach_each_other_through_tunl0(name: str) -> None:
    target = workload_address(peer_of(name))
    sent_before = tunl0_packets(name, "tx")
    received_before = tunl0_packets(peer_of(name), "rx")

    ping = host(name).run(f"ip netns exec {WORKLOADS[name]} ping -c {PINGS} -i 0.2 -W 2 {target}")

    assert ping.rc == 0, ping.stdout + ping.stderr
    assert f"{PINGS} received" in ping.stdout
    # The requests left through the tunnel and arrived through the peer's: not via eth0.
    assert tunl0_packets(name, "tx") - sent_before >= PINGS
    assert tunl0_packets(peer_of(name), "rx") - received_before >= PINGS
