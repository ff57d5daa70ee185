"""Any inventory layout works: YAML or INI, one file or a directory, with or without group_vars.

The calico_model role (what site.yml runs first; it contacts no host) runs on each layout built
in a scratch directory: the ledger appears where docs/variables.md says, in a directory created
when missing, the group_vars the user wrote still load (the fleet validates), a second run
reads the ledger back and keeps every block, and a host removed from the inventory keeps its
entry with a warning naming it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.unit.playbooks.ansible_run import ansible_playbook

POOLS = [{"cidr": "10.244.0.0/16", "block_size": 26}]
HOSTS = {"h1": "192.0.2.11/24", "h2": "192.0.2.12/24", "h3": "192.0.2.13/24"}
PLAYBOOK = """\
- name: Compute the model and record the ledger
  hosts: calico_hosts
  gather_facts: false
  roles:
    - role: calico.network.calico_model
"""


def yaml_hosts(hosts: dict[str, str], with_vars: bool) -> str:
    inventory: dict = {
        "all": {
            "children": {
                "calico_hosts": {"hosts": {h: {"calico_ip": ip} for h, ip in hosts.items()}}
            }
        }
    }
    if with_vars:
        inventory["all"]["vars"] = {"calico_pools": POOLS}
    return yaml.safe_dump(inventory)


def ini_hosts(hosts: dict[str, str], with_vars: bool) -> str:
    lines = ["[calico_hosts]", *(f"{h} calico_ip={ip}" for h, ip in hosts.items())]
    if with_vars:
        lines += ["", "[all:vars]", f"calico_pools={json.dumps(POOLS)}"]
    return "\n".join(lines) + "\n"


def group_vars_file(root: Path) -> None:
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump({"calico_pools": POOLS}))


def group_vars_dir(root: Path) -> None:
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "group_vars" / "all" / "calico.yml").write_text(yaml.safe_dump({"calico_pools": POOLS}))


# (name, inventory file, its writer, vars in the hosts file, group_vars maker, -i a directory,
#  where the ledger must appear)
LAYOUTS = [
    ("yaml-one-file", "hosts.yml", yaml_hosts, True, None, False, "group_vars/all/calico_ipam.yml"),
    (
        "yaml-directory",
        "hosts.yml",
        yaml_hosts,
        False,
        group_vars_dir,
        True,
        "group_vars/all/calico_ipam.yml",
    ),
    (
        "ini-group-vars-all-file",
        "hosts.ini",
        ini_hosts,
        False,
        group_vars_file,
        False,
        "group_vars/calico_ipam_ledger.yml",
    ),
    (
        "ini-directory-no-group-vars",
        "hosts",
        ini_hosts,
        True,
        None,
        True,
        "group_vars/all/calico_ipam.yml",
    ),
]


def make_layout(root: Path, layout: tuple, hosts: dict[str, str]) -> Path:
    _, name, writer, with_vars, group_vars, as_directory, _ = layout
    root.mkdir(exist_ok=True)
    (root / name).write_text(writer(hosts, with_vars))
    if group_vars is not None and not (root / "group_vars").exists():
        group_vars(root)
    return root if as_directory else root / name


def blocks(ledger_path: Path) -> dict[str, str]:
    return yaml.safe_load(ledger_path.read_text())["calico_ipam_ledger"]["blocks"]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_the_ledger_is_created_where_documented_and_read_back(
    tmp_path: Path, layout: tuple
) -> None:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    inventory = make_layout(tmp_path / "inv", layout, HOSTS)
    first = ansible_playbook(inventory, tmp_path / "site.yml")
    assert first.returncode == 0, first.stdout + first.stderr
    ledger = tmp_path / "inv" / layout[6]
    assert sorted(blocks(ledger)) == sorted(HOSTS)
    assert yaml.safe_load(ledger.read_text())["calico_ipam_ledger"]["version"] == 1
    if layout[4] is group_vars_file:  # a group_vars/all/ directory would hide all.yml
        assert not (tmp_path / "inv" / "group_vars" / "all").exists()
    before = ledger.read_text()
    second = ansible_playbook(inventory, tmp_path / "site.yml")
    assert second.returncode == 0, second.stdout + second.stderr
    assert ledger.read_text() == before


def test_a_host_removed_from_an_ini_inventory_keeps_its_block_with_a_warning(
    tmp_path: Path,
) -> None:
    layout = LAYOUTS[2]
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    inventory = make_layout(tmp_path / "inv", layout, HOSTS)
    assert ansible_playbook(inventory, tmp_path / "site.yml").returncode == 0
    recorded = blocks(tmp_path / "inv" / layout[6])
    inventory.write_text(ini_hosts({h: ip for h, ip in HOSTS.items() if h != "h2"}, False))
    done = ansible_playbook(inventory, tmp_path / "site.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"h2 ({recorded['h2']})" in done.stdout
    assert blocks(tmp_path / "inv" / layout[6]) == recorded
    released = ansible_playbook(
        inventory, tmp_path / "site.yml", "-e", '{"calico_ipam_release": ["h2"]}'
    )
    assert released.returncode == 0, released.stdout + released.stderr
    assert blocks(tmp_path / "inv" / layout[6]) == {h: b for h, b in recorded.items() if h != "h2"}


def test_a_hand_edited_ledger_of_the_wrong_shape_stops_with_a_message(tmp_path: Path) -> None:
    layout = LAYOUTS[0]
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    inventory = make_layout(tmp_path / "inv", layout, HOSTS)
    ledger = tmp_path / "inv" / layout[6]
    ledger.parent.mkdir(parents=True)
    ledger.write_text(
        textwrap.dedent("""\
        calico_ipam_ledger:
          blocks: [h1, h2]
        """)
    )
    done = ansible_playbook(inventory, tmp_path / "site.yml")
    assert done.returncode != 0
    assert "calico_ipam_ledger.blocks: is a list, not a mapping of host to block" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
