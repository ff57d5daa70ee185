"""Render a host's configuration files from an inventory, outside Ansible, for golden tests.

The inventory is read with ``ansible-inventory --list`` (exactly the variables Ansible sees),
the model is built by the same module_utils the filters call, and the role templates are
rendered with plain Jinja2: the templates only format, so nothing Ansible-specific is needed.
"""

from __future__ import annotations

import functools
import json
import subprocess
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
from ansible_collections.calico.network.plugins.plugin_utils.model import (  # noqa: E402
    build_model,
    host_slice,
)
from ansible_collections.calico.network.plugins.plugin_utils.racks import (  # noqa: E402
    assign_rack_groups,
    rack_groups_from_inventory_json,
)

ANSIBLE_INVENTORY = REPO / ".venv" / "bin" / "ansible-inventory"


def inventory_vars(inventory: Path) -> dict[str, dict[str, Any]]:
    """Every host's calico_* variables, as Ansible resolves them."""
    out = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(inventory), "--list"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    hostvars = data["_meta"]["hostvars"]
    picked = {
        host: {k: _templated(v, values) for k, v in values.items() if k.startswith("calico_")}
        for host, values in sorted(hostvars.items())
    }
    return assign_rack_groups(picked, rack_groups_from_inventory_json(data))


def _templated(value: Any, context: dict[str, Any]) -> Any:
    """Resolve ``{{ var }}`` strings against the host's variables, as Ansible does lazily
    (ansible-inventory --list prints them unresolved)."""
    if isinstance(value, str) and "{{" in value:
        return (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string(value)
            .render(**context)
        )
    if isinstance(value, list):
        return [_templated(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _templated(item, context) for key, item in value.items()}
    return value


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
        variables = {
            **defaults,
            "calico_host": host_slice(model, host),
            "ansible_managed": "Managed by calico-ansible",
        }
        files[host] = {
            "bird.conf": render("calico_bird", "bird.conf.j2", variables),
            "iptables": iptables_managed(model, host),
            "calico_secrets.conf": render("calico_bird", "secrets.conf.j2", variables),
        }
    return files


def iptables_managed(model: dict[str, Any], host: str) -> str:
    """What calico_iptables writes for the host: iptables-save form, ids included."""
    desired = desired_tables(render_tables(model, host), "cali-")
    return render_managed(plan_all({}, desired, "cali-"), "after")


if __name__ == "__main__":
    inv = Path(sys.argv[1])
    for host, texts in rendered_files(inv).items():
        for name, text in texts.items():
            print(f"===== {host}/{name}")
            print(text)
