import pytest
from lab_model import LabError, hosts_from_inventory, parse_calico_ip


def inventory(**hostvars):
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["ungrouped"]},
        "ungrouped": {"hosts": sorted(hostvars)},
    }


def test_calico_ip_with_prefix_gives_address_and_subnet():
    iface = parse_calico_ip("node-1", "10.213.1.11/24")
    assert str(iface.ip) == "10.213.1.11"
    assert str(iface.network) == "10.213.1.0/24"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "calico_ip is missing"),
        ("10.213.1.11", "has no prefix length"),
        ("10.213.1.300/24", "is not an IPv4 address"),
        ("fd00::1/64", "is not an IPv4 address"),
        (42, "has no prefix length"),
        ("10.213.1.0/24", "network or broadcast address"),
        ("10.213.1.255/24", "network or broadcast address"),
        ("10.213.1.11/31", "leaves no room"),
    ],
)
def test_bad_calico_ip_error_names_host_and_variable(value, words):
    with pytest.raises(LabError) as err:
        parse_calico_ip("node-1", value)
    message = str(err.value)
    assert "host 'node-1'" in message
    assert "calico_ip" in message
    assert words in message


def test_fix_is_suggested_for_a_missing_prefix():
    with pytest.raises(LabError, match=r"e\.g\. 192\.168\.100\.100/24"):
        parse_calico_ip("node-1", "10.213.1.11")


def test_every_bad_host_is_reported_in_one_error():
    inv = inventory(a={"calico_ip": "10.213.1.11"}, b={}, c={"calico_ip": "10.213.1.12/24"})
    with pytest.raises(LabError) as err:
        hosts_from_inventory(inv)
    assert "host 'a'" in str(err.value)
    assert "host 'b'" in str(err.value)
    assert "host 'c'" not in str(err.value)


def test_hosts_listed_only_in_groups_are_still_checked():
    inv = {"_meta": {"hostvars": {}}, "rack1": {"hosts": ["lonely"]}}
    with pytest.raises(LabError, match="host 'lonely': calico_ip is missing"):
        hosts_from_inventory(inv)


def test_duplicate_addresses_are_refused():
    inv = inventory(a={"calico_ip": "10.213.1.11/24"}, b={"calico_ip": "10.213.1.11/24"})
    with pytest.raises(LabError, match=r"host 'b': calico_ip 10\.213\.1\.11 is also used by 'a'"):
        hosts_from_inventory(inv)


def test_hostname_unfit_for_a_container_name_is_refused():
    inv = inventory(**{"bad name": {"calico_ip": "10.213.1.11/24"}})
    with pytest.raises(LabError, match=r"host 'bad name'.*container name"):
        hosts_from_inventory(inv)


def test_empty_inventory_is_an_error():
    with pytest.raises(LabError, match="no hosts"):
        hosts_from_inventory({"_meta": {"hostvars": {}}, "all": {"children": []}})
