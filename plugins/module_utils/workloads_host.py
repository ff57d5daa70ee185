"""The workloads core's I/O: read a host's workload state and apply a ``Plan``, via a ``Runner``.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The planning
itself is pure (``workloads``); this file is what a caller - the calico_workloads module, later a
host agent or a CNI plugin - runs around it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ansible_collections.calico.network.plugins.module_utils import tunnel
from ansible_collections.calico.network.plugins.module_utils.iproute import (
    NetnsState,
    parse_links,
    parse_netns_list,
    parse_netns_state,
    parse_routes,
    read_batch,
    read_one,
)
from ansible_collections.calico.network.plugins.module_utils.runner import Runner, RunnerError
from ansible_collections.calico.network.plugins.module_utils.workloads import (
    NETNS_READ,
    ROOT_READ,
    HostState,
    Plan,
    Workload,
    conntrack_flushes,
    namespaces_to_read,
    sysctl_keys,
    validate_workloads,
)

PROC_SYS = "/proc/sys"
# Reads the named namespaces at once (``netlink.read_namespaces``); None: ``ip -n NS`` each.
NetnsReader = Callable[[Sequence[str]], dict[str, NetnsState]]
DEFAULT_MTU = 1500


def default_mtu(
    runner: Runner, mtu: int, underlay_ip: str | None, underlay_mtu: int, used: Iterable[str]
) -> int:
    """The MTU of workloads that set none: ``mtu`` when set, else Calico's rule (the underlay
    MTU less the largest overhead in use, see ``tunnel.mtus``) when the underlay is known, else
    1500. The underlay MTU is ``underlay_mtu``, or read from the link holding ``underlay_ip``."""
    if mtu:
        return mtu
    if not underlay_ip and not underlay_mtu:
        return DEFAULT_MTU
    links = [] if underlay_mtu else tunnel.read_links(runner)
    return tunnel.workload_mtu(links, underlay_ip or "", underlay_mtu, used)


def desired_workloads(
    runner: Runner,
    items: list[dict[str, Any]],
    mtu: int,
    underlay_ip: str | None,
    underlay_mtu: int,
    used: Iterable[str],
) -> list[Workload]:
    """The validated workloads, each with its MTU (``default_mtu`` when it sets none). An
    invalid list raises ``WorkloadError`` before any command runs."""
    validate_workloads(items)
    if any(item.get("mtu") is None for item in items):
        default = default_mtu(runner, mtu, underlay_ip, underlay_mtu, used)
        items = [
            {**item, "mtu": default if item.get("mtu") is None else item["mtu"]} for item in items
        ]
    return validate_workloads(items)


def read_sysctls(interfaces: list[str], proc_sys: str = PROC_SYS) -> dict[str, str]:
    values = {}
    for interface in interfaces:
        for key in sysctl_keys(interface):
            try:
                with open(os.path.join(proc_sys, key)) as handle:
                    values[key] = handle.read().strip()
            except OSError:
                continue  # Missing or unreadable: planned as a write, which reports any error.
    return values


def read_state(
    runner: Runner,
    desired: list[Workload],
    prune: bool,
    proc_sys: str = PROC_SYS,
    netns_reader: NetnsReader | None = None,
) -> HostState:
    """The host's links, routes, namespaces (those the plan needs) and the veths' sysctls."""
    # Links before `netns list`: dumping a veth allocates the peer namespace's id if needed.
    links, routes = read_batch(runner, None, ROOT_READ)
    names, ids = parse_netns_list(read_one(runner, None, ["netns", "list"]))
    state = HostState(
        links=parse_links(links), routes=parse_routes(routes), netns_names=names, netns_ids=ids
    )
    names = namespaces_to_read(desired, state, prune)
    if netns_reader is not None:
        state.netns.update(netns_reader(names))
    else:
        for netns in names:
            state.netns[netns] = parse_netns_state(read_batch(runner, netns, NETNS_READ))
    present = [w.interface for w in desired if w.interface in state.links]
    state.sysctls = read_sysctls(present, proc_sys)
    return state


def apply(runner: Runner, plan: Plan, proc_sys: str = PROC_SYS) -> list[str]:
    """The root batch, the sysctl writes, one batch per workload namespace, then the conntrack
    flush of every released address; returns warnings (no conntrack tool to flush with)."""
    ip = runner.binary("ip")
    if plan.root:
        runner.write(
            [ip, "-batch", "-"],
            "\n".join(plan.root) + "\n",
            shown=[f"ip {line}" for line in plan.root],
        )
    for key, value in plan.sysctls:
        path = os.path.join(proc_sys, key)
        runner.write_file(path, value, f"sysctl -w {key.replace('/', '.')}={value}")
    for netns, lines in plan.netns.items():
        runner.write(
            [ip, "-n", netns, "-batch", "-"],
            "\n".join(lines) + "\n",
            shown=[f"ip -n {netns} {line}" for line in lines],
        )
    return flush_conntrack(runner, plan.released)


def flush_conntrack(runner: Runner, addresses: list[str]) -> list[str]:
    """Delete the conntrack entries of released workload addresses (exit code 1: none)."""
    if not addresses:
        return []
    binary = runner.which("conntrack")
    if binary is None:
        return [
            "conntrack(8) is not installed: established flows of released addresses "
            f"{', '.join(addresses)} were not flushed (install the conntrack package)"
        ]
    for argv in conntrack_flushes(addresses, binary):
        rc, _out, err = runner.write(argv, shown=[" ".join(["conntrack", *argv[1:]])], check=False)
        if rc not in (0, 1):
            raise RunnerError(f"{' '.join(argv)} failed (rc={rc}): {err.strip()}", cmd=argv)
    return []
