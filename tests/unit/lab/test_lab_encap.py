"""make lab records the encapsulation it chose in the lab inventory (lab_encap.record), so a
hand run needs no -e: ansible-inventory, not the code under test, says what hosts then see."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from lab_encap import record

from tools.render import REPO


def host_vars(inventory: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(inventory), "--host", "h1"],
        cwd=inventory.parent if inventory.is_file() else inventory,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def lab_dir(root: Path) -> Path:  # the lab's own layout: group_vars/all/lab.yml holds the seed
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "group_vars" / "all" / "lab.yml").write_text("lab_encapsulation: ipip\nother: 1\n")
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n")
    return root


def ini_with_all_file(root: Path) -> Path:
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text("lab_encapsulation: ipip\nother: 1\n")
    (root / "hosts.ini").write_text("h1\n")
    return root / "hosts.ini"


def ini_without_group_vars(root: Path) -> Path:
    (root / "hosts.ini").write_text("h1\n[all:vars]\nother=1\n")
    return root / "hosts.ini"


@pytest.mark.parametrize("layout", [lab_dir, ini_with_all_file, ini_without_group_vars])
def test_the_recorded_encapsulation_is_what_every_host_sees(tmp_path: Path, layout) -> None:
    inventory = layout(tmp_path)
    record(inventory, "vxlan")
    assert host_vars(inventory)["lab_encapsulation"] == "vxlan"
    assert host_vars(inventory)["other"] == 1  # nothing the user wrote is hidden
    record(inventory, "ipip")  # a later run on another kernel records again
    assert host_vars(inventory)["lab_encapsulation"] == "ipip"
