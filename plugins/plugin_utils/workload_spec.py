"""Read a host's ``calico_workloads``: names, pinned addresses, labels and floating IPs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.workloads import NAME_PATTERN
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    check_keys,
    is_unset,
    kind_of,
    read_address,
    read_name,
    shown,
)

WORKLOAD_KEYS = ("name", "ip", "labels", "floating_ips")
# Kubernetes' label syntax, which Calico's selectors use: a name (and a value) of at most 63
# characters, and a key's optional prefix, a DNS subdomain of at most 253.
LABEL_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?")
LABEL_PREFIX = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
MAX_LABEL_PREFIX = 253


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
    """Labels by Kubernetes' (and Calico's) syntax: values are strings, never lists or numbers."""
    if is_unset(raw):
        return {}
    if not isinstance(raw, Mapping):
        problems.error(host, f"{where}.labels", "must be a mapping", "write {app: web}")
        return {}
    labels: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _label_key(key):
            problems.error(
                host,
                f"{where}.labels",
                f"{shown(key)} is not a label key",
                "write an optional DNS-subdomain prefix and '/', then a name of 1-63 letters, "
                "digits, '-', '_' or '.' that starts and ends with a letter or digit",
            )
        elif not isinstance(value, str):
            problems.error(
                host,
                f"{where}.labels.{key}",
                f"{shown(value)} is {kind_of(value)}; a label value is a string",
                f"quote it, e.g. {key}: '{value}'"
                if isinstance(value, (int, float))
                else "write one string such as web",
            )
        elif not LABEL_VALUE.fullmatch(value):
            problems.error(
                host,
                f"{where}.labels.{key}",
                f"{shown(value)} is not a label value",
                "write up to 63 letters, digits, '-', '_' or '.', starting and ending with a "
                "letter or digit (or an empty string)",
            )
        else:
            labels[key] = value
    return labels


def _label_key(key: str) -> bool:
    prefix, _slash, name = key.rpartition("/")
    if prefix and (len(prefix) > MAX_LABEL_PREFIX or not LABEL_PREFIX.fullmatch(prefix)):
        return False
    return bool(LABEL_NAME.fullmatch(name))


def read_floating_ips(host: str, where: str, raw: Any, problems: Problems) -> tuple[str, ...]:
    """A workload's ``floating_ips``: bare IPv4 addresses."""
    if is_unset(raw):
        return ()
    items = raw if isinstance(raw, list) else [raw]
    fix = "write bare addresses from a pool, outside every host's block"
    addresses = [read_address(host, f"{where}.floating_ips", item, problems, fix) for item in items]
    return tuple(str(address) for address in addresses if address is not None)
