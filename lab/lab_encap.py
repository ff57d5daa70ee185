#!/usr/bin/env python3
"""Choose the encapsulation the lab can use here (ipip where the kernel can create tunl0, else
vxlan) and, with ``--record INVENTORY``, write it into that lab inventory.

The probe is the tunnel core's (plugins/module_utils/tunnel.py), run in a throw-away network
namespace (``unshare --net``) exactly as the calico_tunnel module's preflight runs it, so
nothing on the machine changes. The reason goes to stderr, the answer to stdout. ``make lab``
records it, so later hand runs (``ansible-playbook -i inventory/lab playbooks/site.yml``) need
no ``-e lab_encapsulation=...``. Needs root (unshare --net).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# The repository is the collection calico.network, importable through .collections.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.calico.network.plugins.module_utils import tunnel
from ansible_collections.calico.network.plugins.module_utils.runner import (
    SubprocessRunner,
)

RECORD_NAME = "lab_encapsulation.yml"
ALL_FILES = ("all.yml", "all.yaml", "all")
LINE = re.compile(r"^lab_encapsulation:.*$", re.MULTILINE)


def can_create(kind: str) -> bool:
    return tunnel.can_create(SubprocessRunner(), kind)[0]


def choose() -> tuple[str, str]:
    if can_create(tunnel.IPIP):
        return "ipip", "this kernel can create IPIP devices: the lab tunnels with IPIP (tunl0)"
    if can_create(tunnel.VXLAN):
        return "vxlan", (
            "this kernel cannot create IPIP devices (no CONFIG_NET_IPIP): "
            "the lab tunnels with VXLAN (vxlan.calico) instead"
        )
    raise SystemExit("lab: this kernel can create neither IPIP nor VXLAN devices")


def record(inventory: Path, encapsulation: str) -> Path:
    """Write ``lab_encapsulation`` where Ansible loads it for every host of ``inventory``.

    A ``group_vars/all/`` directory (or none yet) gets its own file, loaded after ``lab.yml``
    (Ansible reads a directory's files in name order, the later one wins). A
    ``group_vars/all.yml`` file gets its ``lab_encapsulation:`` line replaced or appended: a
    ``group_vars/all/`` directory beside it would hide that file from Ansible.
    """
    group_vars = (inventory if inventory.is_dir() else inventory.parent) / "group_vars"
    line = f"lab_encapsulation: {encapsulation}"
    for name in ALL_FILES:
        path = group_vars / name
        if path.is_file():
            text = path.read_text()
            text = LINE.sub(line, text) if LINE.search(text) else text.rstrip("\n") + f"\n{line}\n"
            path.write_text(text)
            return path
    path = group_vars / "all" / RECORD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "---\n# Written by `make lab` (lab/lab_encap.py --record): the tunnel this machine's "
        "kernel can create.\n" + line + "\n"
    )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", metavar="INVENTORY", help="write the choice into it")
    args = parser.parse_args(argv)
    encapsulation, reason = choose()
    print(f"lab: encapsulation {encapsulation}: {reason}", file=sys.stderr)
    if args.record:
        where = record(Path(args.record), encapsulation)
        print(f"lab: recorded lab_encapsulation: {encapsulation} in {where}", file=sys.stderr)
    print(encapsulation)


if __name__ == "__main__":
    main()
