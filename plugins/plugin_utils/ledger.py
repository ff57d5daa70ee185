"""The IPAM ledger as read back: its shape checked, its schema version known, releases applied.

The ledger (``calico_ipam_ledger``) is a YAML file the calico_model role writes after every run
(``calico_ipam_ledger_file``) and reads back on the next one. People edit it by hand, so a
wrong shape is an inventory problem with a message, never a Python error. Entries leave the
ledger only when they are released explicitly with ``calico_ipam_release``: a host that is
missing from this run (removed from the inventory, outside ``calico_fleet_group``, or simply
not in this inventory) keeps its block, so it is never handed to somebody else while the old
host may still announce it. ipam.py decides what the entries mean; this module only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems

# Version 1: {version, blocks: {host: block}, addresses: {host: {workload: address}}}. Ledgers
# written before the version key existed have the same shape and read as version 1.
LEDGER_VERSION = 1
LEDGER_KEYS = ("version", "blocks", "addresses")
VARIABLE = "calico_ipam_ledger"
RELEASE = "calico_ipam_release"
RESTORE_FIX = (
    "restore the ledger file (calico_ipam_ledger_file) from version control; its shape is "
    "{version: 1, blocks: {host: block}, addresses: {host: {workload: address}}}"
)


@dataclass(frozen=True)
class LedgerSpec:
    """The ledger's entries, by host, with the released hosts already left out."""

    blocks: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    # Hosts the operator released in this run (calico_ipam_release), each with the block the
    # ledger recorded for it (None: nothing was recorded).
    released: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerFile:
    """The ledger file as the role read it (``calico_ipam_ledger_file``)."""

    path: str
    text: str


def with_ledger_file(
    host_vars: Mapping[str, Mapping[str, Any]], ledger: LedgerFile | None, problems: Problems
) -> Mapping[str, Mapping[str, Any]]:
    """The hosts' variables with the file's ledger in place of any ``calico_ipam_ledger``."""
    if ledger is None or not ledger.text.strip():
        return host_vars
    raw = load_ledger_file(ledger, problems)
    return {host: {**values, VARIABLE: raw} for host, values in host_vars.items()}


def load_ledger_file(ledger: LedgerFile, problems: Problems) -> Any:
    """The ``calico_ipam_ledger`` value of a ledger file (None when it cannot be read)."""
    try:
        content = yaml.safe_load(ledger.text)
    except yaml.YAMLError as error:
        problems.error(FLEET, VARIABLE, f"{ledger.path} is not valid YAML ({error})", RESTORE_FIX)
        return None
    if not isinstance(content, Mapping) or VARIABLE not in content:
        problems.error(FLEET, VARIABLE, f"{ledger.path} holds no '{VARIABLE}' key", RESTORE_FIX)
        return None
    return content[VARIABLE]


def read_ledger(raw: Any, release: Any, problems: Problems) -> LedgerSpec:
    """Check the ledger's shape and drop the entries of the hosts in ``calico_ipam_release``."""
    released = _read_release(release, problems)
    if raw is None or raw == {}:
        return LedgerSpec(released=dict.fromkeys(sorted(released)))
    if not isinstance(raw, Mapping):
        problems.error(
            FLEET, VARIABLE, f"is a {type(raw).__name__}, not a mapping of entries", RESTORE_FIX
        )
        return LedgerSpec(released=dict.fromkeys(sorted(released)))
    unknown = sorted(str(key) for key in raw if key not in LEDGER_KEYS)
    if unknown:
        problems.error(FLEET, VARIABLE, f"has unknown keys: {', '.join(unknown)}", RESTORE_FIX)
    _check_version(raw.get("version"), problems)
    blocks = _read_blocks(raw.get("blocks"), problems)
    addresses = _read_addresses(raw.get("addresses"), problems)
    return LedgerSpec(
        blocks={host: block for host, block in blocks.items() if host not in released},
        addresses={host: a for host, a in addresses.items() if host not in released},
        released={host: blocks.get(host) for host in sorted(released)},
    )


def _check_version(version: Any, problems: Problems) -> None:
    if version is None or version == LEDGER_VERSION:
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > LEDGER_VERSION:
        problems.error(
            FLEET,
            VARIABLE,
            f"has schema version {version}; this calico-ansible reads version {LEDGER_VERSION}",
            "run the calico-ansible release that wrote it, or a newer one",
        )
    else:
        problems.error(FLEET, VARIABLE, f"has no valid schema version ({version!r})", RESTORE_FIX)


def _read_blocks(raw: Any, problems: Problems) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.error(
            FLEET,
            f"{VARIABLE}.blocks",
            f"is a {type(raw).__name__}, not a mapping of host to block",
            RESTORE_FIX,
        )
        return {}
    # A value that is no block is reported per host by ipam.py, which knows the host's context.
    return {str(host): str(block) for host, block in raw.items()}


def _read_addresses(raw: Any, problems: Problems) -> dict[str, dict[str, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.error(
            FLEET,
            f"{VARIABLE}.addresses",
            f"is a {type(raw).__name__}, not a mapping of host to workload addresses",
            RESTORE_FIX,
        )
        return {}
    addresses: dict[str, dict[str, str]] = {}
    for host, workloads in raw.items():
        if workloads is None:
            continue
        if not isinstance(workloads, Mapping):
            problems.error(
                str(host),
                f"{VARIABLE}.addresses",
                f"is a {type(workloads).__name__}, not a mapping of workload to address",
                RESTORE_FIX,
            )
            continue
        addresses[str(host)] = {str(name): str(ip) for name, ip in workloads.items()}
    return addresses


def _read_release(raw: Any, problems: Problems) -> frozenset[str]:
    if raw is None or raw == "" or raw == []:
        return frozenset()
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        problems.error(
            FLEET,
            RELEASE,
            f"{raw!r} is not a list of host names",
            """give the hosts whose allocations to release, e.g. -e '{"calico_ipam_release": """
            """["host9"]}'""",
        )
        return frozenset()
    return frozenset(names)
