"""A variable Ansible cannot read reaches the user as a message naming it, never a traceback.

Ansible templates a variable when the filter reads it from hostvars: a reference to an
undefined (often vaulted) variable raises there, and a vaulted value without its password
raises when it is decrypted. The fake hostvars below raise as Ansible's do (with a stand-in
exception: importing Ansible's controller code here would change how the module tests that run
later in the same process see module warnings); the catalog case undefined-vault-variable runs
the real thing through ansible-playbook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.model import build, calico_vars

POOLS = [{"cidr": "10.244.0.0/16", "block_size": 24}]


class AnsibleUndefinedVariable(Exception):  # Ansible's name
    """What Ansible raises when a variable refers to an undefined one."""


def model_of(hostvars: Mapping[str, Any], hosts: list[str]) -> Any:
    """What the calico_network_model filter does: read the variables, build the model."""
    return build(calico_vars(hostvars, hosts))


class RaisingVars(Mapping[str, Any]):
    """One host's variables; reading a name in ``raising`` raises what Ansible raises."""

    def __init__(self, values: dict[str, Any], raising: dict[str, Exception]) -> None:
        self.values, self.raising = values, raising

    def __getitem__(self, key: str) -> Any:
        if key in self.raising:
            raise self.raising[key]
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*self.values, *self.raising])

    def __len__(self) -> int:
        return len(self.values) + len(self.raising)


class VaultLike:
    """A decrypted-on-demand value: text only through str(), like Ansible's vaulted strings."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def hostvars(raising: dict[str, Exception], **extra: Any) -> dict[str, RaisingVars]:
    return {
        name: RaisingVars({"calico_ip": ip, "calico_pools": POOLS, **extra}, dict(raising))
        for name, ip in (("h1", "192.0.2.11/24"), ("h2", "192.0.2.12/24"))
    }


def test_an_undefined_variable_is_one_message_for_the_fleet() -> None:
    undefined = AnsibleUndefinedVariable("'vault_calico_bgp_password' is undefined")
    result = model_of(hostvars({"calico_bgp_password": undefined}), ["h1", "h2"])
    assert result["model"] is None
    assert result["errors"] == [
        "all hosts: calico_bgp_password: cannot be read: 'vault_calico_bgp_password' is "
        "undefined. Fix: define the variable it refers to, or give ansible-playbook the vault "
        "password (--ask-vault-pass or --vault-password-file)."
    ]


def test_an_unreadable_required_variable_is_not_reported_again_as_missing() -> None:
    undefined = AnsibleUndefinedVariable("'vault_pools' is undefined")
    result = model_of(hostvars({"calico_pools": undefined}), ["h1", "h2"])
    assert [m.split(": ")[1] for m in result["errors"]] == ["calico_pools"]


def test_a_vaulted_value_is_read_as_its_text() -> None:
    result = model_of(hostvars({}, calico_bgp_password=VaultLike("s3cret")), ["h1", "h2"])
    assert result["errors"] == []
    assert result["model"]["bgp_passwords"] == {"calico_password_mesh": "s3cret"}
