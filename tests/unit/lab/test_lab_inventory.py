from pathlib import Path

import pytest
from lab_errors import LabError
from lab_inventory import hosts_from_inventory, parse_calico_ip

from ansible_collections.calico.network.plugins.plugin_utils.inventory import (
    parse_inventory,
    read_inventory,
)

REPO = Path(__file__).resolve().parents[3]


def inventory(**hostvars):
    return parse_inventory(
        {
            "_meta": {"hostvars": hostvars},
            "all": {"children": ["ungrouped"]},
            "ungrouped": {"hosts": sorted(hostvars)},
        }
    )


def named_hosts(message):
    """The hosts the error's lines start with (the model's `host: variable: ...` form)."""
    return {line.split(": ", 1)[0] for line in message.splitlines()}


def test_calico_ip_with_prefix_gives_address_and_subnet():
    iface = parse_calico_ip("node-1", "10.213.1.11/24")
    assert str(iface.ip) == "10.213.1.11"
    assert str(iface.network) == "10.213.1.0/24"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "calico_ip: is not set"),
        ("10.213.1.11", "has no prefix length"),
        ("10.213.1.300/24", "is not an IPv4 address"),
        ("fd00::1/64", "is not an IPv4 address"),
        (42, "is not an IPv4 address"),
        ("10.213.1.0/24", "is the network address"),
        ("10.213.1.255/24", "is the broadcast address"),
        ("10.213.1.11/31", "leaves no room"),
    ],
)
def test_bad_calico_ip_error_names_host_and_variable(value, words):
    with pytest.raises(LabError) as err:
        parse_calico_ip("node-1", value)
    message = str(err.value)
    assert message.startswith("node-1: calico_ip: ")
    assert "calico_ip" in message
    assert words in message
    assert ". Fix: " in message


def test_fix_is_suggested_for_a_missing_prefix():
    with pytest.raises(LabError, match=r"e\.g\. 192\.168\.100\.100/24"):
        parse_calico_ip("node-1", "10.213.1.11")


def test_every_bad_host_is_reported_in_one_error():
    inv = inventory(a={"calico_ip": "10.213.1.11"}, b={}, c={"calico_ip": "10.213.1.12/24"})
    with pytest.raises(LabError) as err:
        hosts_from_inventory(inv)
    assert "a" in named_hosts(str(err.value))
    assert "b" in named_hosts(str(err.value))
    assert "c" not in named_hosts(str(err.value))


def test_hosts_listed_only_in_groups_are_still_checked():
    inv = parse_inventory({"_meta": {"hostvars": {}}, "rack1": {"hosts": ["lonely"]}})
    with pytest.raises(LabError, match="lonely: calico_ip: is not set"):
        hosts_from_inventory(inv)


def test_duplicate_addresses_are_refused():
    inv = inventory(a={"calico_ip": "10.213.1.11/24"}, b={"calico_ip": "10.213.1.11/24"})
    with pytest.raises(LabError, match=r"b: calico_ip: address 10\.213\.1\.11 is a's too"):
        hosts_from_inventory(inv)


def test_hostname_unfit_for_a_container_name_is_refused():
    inv = inventory(**{"bad name": {"calico_ip": "10.213.1.11/24"}})
    with pytest.raises(LabError, match=r"bad name: .*container name"):
        hosts_from_inventory(inv)


def test_empty_inventory_is_an_error():
    with pytest.raises(LabError, match="no hosts"):
        hosts_from_inventory(parse_inventory({"_meta": {"hostvars": {}}, "all": {"children": []}}))


def test_every_host_of_a_real_inventory_becomes_a_container_also_outside_the_fleet():
    racks = read_inventory(REPO / "molecule" / "racks" / "inventory")
    hosts = {host.name: str(host.interface) for host in hosts_from_inventory(racks)}
    assert "rk-tor" in hosts
    assert "rk-tor" not in racks.fleet_vars()
    assert sorted(hosts) == list(racks.hosts)
