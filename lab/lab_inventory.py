"""Which hosts the lab makes and their underlay addresses: pure, from the shared reader's output.

lab.py reads the inventory with plugins/plugin_utils/inventory.py (the reader the golden tests
and tools/render.py use); this module turns it into Host entries. calico_ip is read and checked
by the model's own rules (spec.read_host_ip, model.claim_unique), so the lab and a playbook run
report a bad address the same way. On top come the lab's own rules: the address needs its
prefix (the lab makes the subnet from it) and the subnet must leave room for the bridge and
router addresses; the host name becomes a container name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING, Any

from lab_errors import LabError

from ansible_collections.calico.network.plugins.plugin_utils.model import claim_unique
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.spec import read_host_ip

if TYPE_CHECKING:  # the reader needs jinja2 (Ansible's); `lab.py deps` runs before the venv
    from ansible_collections.calico.network.plugins.plugin_utils.inventory import Inventory

MIN_PREFIX_WITH_ROOM = 30  # a /30 holds two hosts at most; smaller subnets leave no gateway
CALICO_IP_EXAMPLE = "192.168.100.100/24"
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Host:
    name: str
    interface: IPv4Interface

    @property
    def address(self) -> IPv4Address:
        return self.interface.ip

    @property
    def subnet(self) -> IPv4Network:
        return self.interface.network


def read_lab_ip(host: str, raw: Any, problems: Problems) -> IPv4Interface | None:
    """The host's underlay interface by the model's rules and the lab's; None after a problem."""
    before = len(problems.errors)
    interface = read_host_ip(host, raw, problems)
    if interface is None or len(problems.errors) > before:
        return None
    if "/" not in str(raw):
        problems.error(
            host,
            "calico_ip",
            f"{raw} has no prefix length, and the lab makes the host's subnet from it",
            f"add the subnet's prefix length, e.g. {CALICO_IP_EXAMPLE}",
        )
        return None
    subnet = interface.network
    if subnet.prefixlen > MIN_PREFIX_WITH_ROOM:
        problems.error(
            host,
            "calico_ip",
            f"{raw}: a /{subnet.prefixlen} leaves no room for the lab's bridge and router "
            "addresses",
            f"use a prefix of /{MIN_PREFIX_WITH_ROOM} or shorter",
        )
        return None
    if interface.ip == subnet.broadcast_address:
        problems.error(
            host,
            "calico_ip",
            f"{raw} is the broadcast address of its subnet, not a host's",
            f"use a host address of {subnet}",
        )
        return None
    return interface


def parse_calico_ip(host: str, value: object) -> IPv4Interface:
    """Return the host's underlay interface, or raise naming the host, the variable and the fix."""
    problems = Problems()
    interface = read_lab_ip(host, value, problems)
    if interface is None:
        raise LabError("\n".join(problems.messages()))
    return interface


def hosts_from_inventory(inventory: Inventory) -> list[Host]:
    """Every host of the inventory, validated all at once so one run reports every problem."""
    problems = Problems()
    hosts: list[Host] = []
    for name in inventory.hosts:
        if not _CONTAINER_NAME.match(name):
            problems.error(
                name,
                "inventory hostname",
                "becomes the container name and must match [a-zA-Z0-9][a-zA-Z0-9_.-]* "
                "(at most 63 characters)",
                "rename the host",
            )
            continue
        interface = read_lab_ip(name, inventory.host_vars[name].get("calico_ip"), problems)
        if interface is not None:
            hosts.append(Host(name, interface))
    if not hosts and not problems:
        raise LabError("the inventory has no hosts")
    seen: dict[IPv4Address, str] = {}
    for host in hosts:
        claim_unique(seen, host.address, host.name, "calico_ip", "address", problems)
    if problems:
        raise LabError("\n".join(problems.messages()))
    return hosts
