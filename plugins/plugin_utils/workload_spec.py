"""Read a host's ``calico_workloads``: names, pinned addresses, labels and floating IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.workloads import NAME_PATTERN
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    check_keys,
    is_unset,
    read_address,
    read_name,
)

WORKLOAD_KEYS = ("name", "ip", "labels", "floating_ips")


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    ip: ipaddress.IPv4Address | None
    labels: dict[str, str]
    floating_ips: tuple[str, ...] = ()


def read_workloads(host: str, raw: Any, problems: Problems) -> list[WorkloadSpec]:
    if is_unset(raw):
        return []
    if not isinstance(raw, list):
        problems.error(
            host, "calico_workloads", "must be a list", "write a list of {name, ip?, labels?}"
        )
        return []
    workloads: list[WorkloadSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        workload = _read_workload(host, index, item, problems)
        if workload is None:
            continue
        if workload.name in seen:
            problems.error(
                host,
                f"calico_workloads[{index}].name",
                f"{workload.name!r} is used twice on this host",
                "give every workload on a host its own name",
            )
            continue
        seen.add(workload.name)
        workloads.append(workload)
    return workloads


def _read_workload(host: str, index: int, item: Any, problems: Problems) -> WorkloadSpec | None:
    where = f"calico_workloads[{index}]"
    name = read_name(
        host,
        where,
        item,
        problems,
        NAME_PATTERN,
        "a network namespace",
        (
            "write {name: web-1}",
            "use 1-63 lower-case letters, digits and inner dashes (a DNS label)",
        ),
    )
    if name is None:
        return None
    check_keys(
        host, where, item, WORKLOAD_KEYS, problems, "use only name, ip, labels and floating_ips"
    )
    return WorkloadSpec(
        name=name,
        ip=_read_workload_ip(host, where, item.get("ip"), problems),
        labels=_read_labels(host, where, item.get("labels"), problems),
        floating_ips=read_floating_ips(host, where, item.get("floating_ips"), problems),
    )


def _read_workload_ip(
    host: str, where: str, raw: Any, problems: Problems
) -> ipaddress.IPv4Address | None:
    if is_unset(raw):
        return None
    return read_address(
        host,
        f"{where}.ip",
        raw,
        problems,
        "write a bare address from the host's block, or remove it to have one allocated",
    )


def _read_labels(host: str, where: str, raw: Any, problems: Problems) -> dict[str, str]:
    if is_unset(raw):
        return {}
    if not isinstance(raw, Mapping):
        problems.error(host, f"{where}.labels", "must be a mapping", "write {app: web}")
        return {}
    return {str(key): str(value) for key, value in raw.items()}


def read_floating_ips(host: str, where: str, raw: Any, problems: Problems) -> tuple[str, ...]:
    """A workload's ``floating_ips``: bare IPv4 addresses."""
    if is_unset(raw):
        return ()
    items = raw if isinstance(raw, list) else [raw]
    fix = "write bare addresses from a pool, outside every host's block"
    addresses = [read_address(host, f"{where}.floating_ips", item, problems, fix) for item in items]
    return tuple(str(address) for address in addresses if address is not None)
