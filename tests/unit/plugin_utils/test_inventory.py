"""The one inventory reader: hosts, groups and calico_* variables as Ansible sees them."""

from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.inventory import (
    InventoryReadError,
    parse_inventory,
    read_inventory,
)
from tests.support.inventories import committed_inventory

REPO = Path(__file__).resolve().parents[3]

ONE_FILE = """\
[calico_hosts:children]
rack_a
plain

[rack_a]
a1 calico_ip=10.1.0.11/24 calico_route_reflector=true
a2 calico_ip=10.1.0.12/24

[plain]
p1 calico_ip=10.1.0.21/24

[calico_racks:children]
rack_a

[tors]
tor1

[tors:vars]
calico_bgp_password={{ inventory_hostname }}-{{ group_names|join('+') }}-{{ groups.tors|length }}

[all:vars]
site_encapsulation=vxlan
calico_pools=[{"cidr": "172.17.0.0/16", "encapsulation": "{{ site_encapsulation }}"}]
ansible_connection=local
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return read_inventory(committed_inventory("lab", tmp_path_factory.mktemp("inventory")))


@pytest.fixture
def one_file(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text(ONE_FILE)
    return read_inventory(path)


def test_lab_inventory_has_its_four_hosts_in_the_fleet(lab):
    assert lab.hosts == ("host1", "host2", "host3", "host4")
    assert lab.groups["calico_hosts"] == lab.hosts
    assert lab.groups["all"] == lab.hosts
    assert sorted(lab.fleet_vars()) == list(lab.hosts)


def test_only_calico_variables_are_picked_and_templates_are_resolved(lab):
    host1 = lab.host_vars["host1"]
    assert host1["calico_ip"] == "192.168.100.100/24"
    assert all(key.startswith("calico_") or key == "rack_groups" for key in host1)
    assert "ansible_connection" not in host1
    # calico_pools uses "{{ lab_encapsulation }}": resolved against the host's variables.
    assert {pool["encapsulation"] for pool in host1["calico_pools"]} == {"ipip"}
    assert host1["rack_groups"] == []


def test_rack_membership_comes_from_the_children_of_calico_racks():
    racks = read_inventory(REPO / "inventory" / "lab-racks")
    assert racks.host_vars["rack1-h1"]["rack_groups"] == ["rack1"]
    assert racks.host_vars["rack2-h3"]["rack_groups"] == ["rack2"]
    assert racks.groups["calico_racks"] == racks.hosts


def test_one_file_ini_inventory(one_file):
    assert one_file.hosts == ("a1", "a2", "p1", "tor1")
    assert one_file.groups["calico_hosts"] == ("a1", "a2", "p1")
    assert one_file.groups["tors"] == ("tor1",)
    assert one_file.host_vars["a1"]["calico_ip"] == "10.1.0.11/24"
    # INI host lines give Python literals only: `true` stays the string Ansible sees too.
    assert one_file.host_vars["a1"]["calico_route_reflector"] == "true"
    assert one_file.host_vars["a1"]["rack_groups"] == ["rack_a"]
    assert one_file.host_vars["p1"]["rack_groups"] == []
    assert one_file.host_vars["a2"]["calico_pools"] == [
        {"cidr": "172.17.0.0/16", "encapsulation": "vxlan"}
    ]


def test_templates_see_the_names_ansible_gives_every_host(one_file):
    assert one_file.host_vars["tor1"]["calico_bgp_password"] == "tor1-tors-1"


def test_the_fleet_is_the_fleet_groups_hosts_only(one_file):
    fleet = one_file.fleet_vars()
    assert sorted(fleet) == ["a1", "a2", "p1"]
    assert fleet["a1"] is one_file.host_vars["a1"]
    assert sorted(one_file.fleet_vars("tors")) == ["tor1"]
    assert one_file.fleet_vars("no_such_group") == {}


def test_a_relative_path_is_relative_to_the_caller(tmp_path, monkeypatch):
    (tmp_path / "hosts.ini").write_text(ONE_FILE)
    monkeypatch.chdir(tmp_path)
    assert read_inventory(Path("hosts.ini")).hosts == ("a1", "a2", "p1", "tor1")


def test_a_missing_inventory_is_an_error(tmp_path):
    with pytest.raises(InventoryReadError, match=r"inventory .*nowhere does not exist"):
        read_inventory(tmp_path / "nowhere")


def test_an_unparsable_inventory_is_an_error_not_an_empty_one(tmp_path):
    path = tmp_path / "broken.ini"
    path.write_text("[calico_hosts\nh1\n")
    with pytest.raises(InventoryReadError, match="ansible-inventory"):
        read_inventory(path)


def test_an_undefined_template_variable_names_host_and_variable(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("h1 calico_ip='{{ nowhere_defined }}'\n")
    with pytest.raises(InventoryReadError, match=r"host 'h1': calico_ip: .*nowhere_defined"):
        read_inventory(path)


def test_hosts_without_variables_appear_only_in_groups():
    inventory = parse_inventory(
        {
            "_meta": {"hostvars": {"a": {"calico_ip": "10.0.0.1/24", "other": 1}}},
            "all": {"children": ["ungrouped", "calico_hosts"]},
            "calico_hosts": {"hosts": ["a", "lonely"]},
            "ungrouped": {},
        }
    )
    assert inventory.hosts == ("a", "lonely")
    assert inventory.groups["all"] == ("a", "lonely")
    assert inventory.host_vars == {
        "a": {"calico_ip": "10.0.0.1/24", "rack_groups": []},
        "lonely": {"rack_groups": []},
    }


def test_a_group_cycle_is_walked_once():
    inventory = parse_inventory(
        {"x": {"hosts": ["h1"], "children": ["y"]}, "y": {"hosts": ["h2"], "children": ["x"]}}
    )
    assert inventory.groups == {"x": ("h1", "h2"), "y": ("h1", "h2")}
