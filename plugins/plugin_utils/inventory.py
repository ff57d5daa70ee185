"""Read an inventory the way Ansible does, outside a play: the one reader of the project's tools.

``ansible-inventory -i PATH --list`` gives exactly the variables Ansible loads (group_vars,
host_vars, group hierarchy). From it come the host names (hosts without variables appear only
in groups), every group with all its hosts (children included, like Ansible's ``groups``) and
each host's ``calico_*`` variables as the model's filter sees them: ``{{ ... }}`` values
resolved against the host's variables (and inventory_hostname, groups, group_names; Ansible's
filter plugins are not available) and the derived ``rack_groups`` added (racks.py).

Controller-only (it runs ``ansible-inventory``): the lab, the golden tests, tools/render.py and
the benchmarks use it; the roles never do, they get hostvars from Ansible itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ansible_collections.calico.network.plugins.plugin_utils.racks import (
    assign_rack_groups,
    rack_groups_from_inventory_json,
)

REPO = Path(__file__).resolve().parents[2]
FLEET_GROUP = "calico_hosts"  # calico_model's default calico_fleet_group


class InventoryReadError(RuntimeError):
    """The inventory cannot be read; the message says which inventory and why."""


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[str, ...]  # every host, sorted
    groups: Mapping[str, tuple[str, ...]]  # group -> every host in it or in its children
    host_vars: Mapping[str, dict[str, Any]]  # host -> calico_* variables (+ rack_groups)

    def fleet_vars(self, group: str = FLEET_GROUP) -> dict[str, dict[str, Any]]:
        """The filter's input for the fleet ``group``: its hosts' calico_* variables."""
        return {host: self.host_vars[host] for host in self.groups.get(group, ())}


def ansible_inventory_bin() -> str:
    """The project's virtualenv's ansible-inventory, else the one on PATH."""
    local = REPO / ".venv" / "bin" / "ansible-inventory"
    found = str(local) if local.exists() else shutil.which("ansible-inventory")
    if not found:
        raise InventoryReadError(
            "ansible-inventory not found: create .venv (make venv) or put it on PATH"
        )
    return found


def list_inventory(path: Path) -> dict[str, Any]:
    """``ansible-inventory -i PATH --list`` as a dict; an unparsable inventory is an error."""
    if not path.exists():
        raise InventoryReadError(f"inventory {path} does not exist")
    # Without this, an unparsable inventory is only a warning and looks like an empty one.
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    # ansible-inventory runs in the repository (its ansible.cfg): the path must not be relative.
    command = [ansible_inventory_bin(), "-i", str(path.resolve()), "--list"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise InventoryReadError(f"`{' '.join(command)}` failed ({done.returncode}): {detail}")
    return json.loads(done.stdout)


def read_inventory(path: Path) -> Inventory:
    """Hosts, groups and calico_* variables of the inventory at ``path`` (file or directory)."""
    return parse_inventory(list_inventory(path))


def parse_inventory(data: Mapping[str, Any]) -> Inventory:
    """The same from ``ansible-inventory --list`` output already read (pure)."""
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    groups = _all_groups(data)
    hosts = sorted(set(hostvars).union(*groups.values()))
    picked = {
        host: _calico_vars(host, {**(hostvars.get(host) or {}), **_magic(host, groups)})
        for host in hosts
    }
    return Inventory(
        hosts=tuple(hosts),
        groups=groups,
        host_vars=assign_rack_groups(picked, rack_groups_from_inventory_json(data)),
    )


def _all_groups(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every group with the hosts of its whole subtree (a cycle is walked once)."""
    direct = {
        name: entry for name, entry in data.items() if name != "_meta" and isinstance(entry, dict)
    }
    members: dict[str, tuple[str, ...]] = {}
    for name in direct:
        found: set[str] = set()
        pending, visited = [name], set()
        while pending:
            group = pending.pop()
            if group in visited:
                continue
            visited.add(group)
            entry = direct.get(group) or {}
            found.update(entry.get("hosts", []))
            pending.extend(entry.get("children", []))
        members[name] = tuple(sorted(found))
    return members


def _magic(host: str, groups: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """The names Ansible itself gives every template of a host (no facts: no host contacted)."""
    return {
        "inventory_hostname": host,
        "groups": {name: list(members) for name, members in groups.items()},
        "group_names": sorted(
            name for name, members in groups.items() if host in members and name != "all"
        ),
    }


def _calico_vars(host: str, values: Mapping[str, Any]) -> dict[str, Any]:
    picked = {}
    for key, value in values.items():
        if key.startswith("calico_"):
            try:
                picked[key] = templated(value, values)
            except jinja2.TemplateError as err:
                raise InventoryReadError(f"host {host!r}: {key}: {err}") from None
    return picked


def templated(value: Any, context: Mapping[str, Any]) -> Any:
    """Resolve ``{{ var }}`` strings against the host's variables, as Ansible does lazily
    (ansible-inventory --list prints them unresolved)."""
    if isinstance(value, str) and "{{" in value:
        return (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string(value)
            .render(**context)
        )
    if isinstance(value, list):
        return [templated(item, context) for item in value]
    if isinstance(value, dict):
        return {key: templated(item, context) for key, item in value.items()}
    return value
