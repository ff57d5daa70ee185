#!/usr/bin/env python3
"""Render a host's configuration files from an inventory, outside Ansible, for golden tests.

    python tools/render.py -i INVENTORY HOST [FILE...]   print HOST's rendered files

The inventory is read with ``ansible-inventory --list`` (exactly the variables Ansible sees),
the model is built by the same plugin_utils the filters call, and the role templates are
rendered with plain Jinja2: the templates only format, so nothing Ansible-specific is needed.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.calico.network.plugins.module_utils.iptables import (  # noqa: E402
    desired_tables,
    plan_all,
    render_managed,
)
from ansible_collections.calico.network.plugins.plugin_utils.felix import (  # noqa: E402
    render_tables,
)
from ansible_collections.calico.network.plugins.plugin_utils.inventory import (  # noqa: E402
    InventoryReadError,
    read_inventory,
)
from ansible_collections.calico.network.plugins.plugin_utils.model import (  # noqa: E402
    build_model,
    host_slice,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import (  # noqa: E402
    InventoryError,
)

FILES = ("bird.conf", "iptables", "calico_secrets.conf")


def inventory_vars(inventory: Path) -> dict[str, dict[str, Any]]:
    """The fleet's calico_* variables, as the model's filter sees them (plugin_utils/inventory)."""
    return read_inventory(inventory).fleet_vars()


def role_defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@functools.cache
def environment(role: str) -> jinja2.Environment:
    """One Jinja environment per role: templates are parsed once, as Ansible caches them."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "roles" / role / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # Ansible's template module default
    )


def render(role: str, template: str, variables: dict[str, Any]) -> str:
    return environment(role).get_template(template).render(**variables)


def rendered_files(inventory: Path) -> dict[str, dict[str, str]]:
    """{host: {file name: text}} for every file the roles template from the model."""
    model = build_model(inventory_vars(inventory))
    defaults = role_defaults("calico_bird")
    files: dict[str, dict[str, str]] = {}
    for host in model["hosts"]:
        piece = host_slice(model, host)
        variables = {
            **defaults,
            "calico_host": piece,
            "ansible_managed": "Managed by calico-ansible",
        }
        files[host] = {
            "bird.conf": render("calico_bird", "bird.conf.j2", variables),
            "iptables": iptables_managed(piece),
            "calico_secrets.conf": render("calico_bird", "secrets.conf.j2", variables),
        }
    return files


def iptables_managed(piece: dict[str, Any]) -> str:
    """What calico_iptables writes for the host of ``piece`` (its slice): iptables-save form."""
    desired = desired_tables(render_tables(piece), "cali-")
    return render_managed(plan_all({}, desired, "cali-"), "after")


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="render.py", description=__doc__.split("\n\n")[0])
    top.add_argument("-i", "--inventory", required=True, type=Path)
    top.add_argument("host", help="an inventory host of the fleet")
    top.add_argument("files", nargs="*", help=f"some of {', '.join(FILES)} (default: all)")
    args = top.parse_args(argv)
    unknown = sorted(set(args.files) - set(FILES))
    if unknown:
        top.error(f"no such file: {', '.join(unknown)}; choose from {', '.join(FILES)}")
    try:
        files = rendered_files(args.inventory)
    except (InventoryReadError, InventoryError) as err:
        print(f"render.py: {err}", file=sys.stderr)
        return 1
    if args.host not in files:
        print(
            f"render.py: {args.host!r} is not a host of the fleet ({', '.join(files)})",
            file=sys.stderr,
        )
        return 2
    for name in args.files or FILES:
        print(f"===== {args.host}/{name}")
        print(files[args.host][name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
