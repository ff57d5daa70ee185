"""Stable IP address management: per-host blocks from pools, workload addresses from blocks.

Stability comes from the ledger (``calico_ipam_ledger``, read back and checked by ledger.py):
a host's block stays recorded, and reserved, until the operator releases it
(``calico_ipam_release``), even while the host is missing from the run's fleet, so adding or
removing a host never moves anybody else's block and a departed host's block never goes to a
new host while the old one may still announce it. A workload's address is kept as long as the
workload exists on its host. New hosts and workloads take the lowest free block or address, in
sorted name order, which makes a first run deterministic too.

The first address of every block is the host's own (Calico puts its tunnel address there), so
workloads are numbered from the second address on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from ansible_collections.calico.network.plugins.plugin_utils.ledger import (
    LEDGER_VERSION,
    RELEASE,
)
from ansible_collections.calico.network.plugins.plugin_utils.pools import Pool
from ansible_collections.calico.network.plugins.plugin_utils.problems import FLEET, Problems
from ansible_collections.calico.network.plugins.plugin_utils.shapes import Ledger
from ansible_collections.calico.network.plugins.plugin_utils.spec import FleetSpec, HostSpec

Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address


@dataclass(frozen=True)
class Allocation:
    blocks: dict[str, Network]
    addresses: dict[str, dict[str, Address]]
    # Entries of hosts missing from this run's fleet, kept as the ledger recorded them.
    kept_blocks: dict[str, str]
    kept_addresses: dict[str, dict[str, str]]


def allocate(fleet: FleetSpec, problems: Problems) -> Allocation:
    kept = departed_blocks(fleet, problems)
    report_releases(fleet, problems)
    blocks = allocate_blocks(fleet, problems, kept)
    addresses = {
        host.name: allocate_addresses(host, blocks[host.name], fleet, problems)
        for host in fleet.hosts
        if host.name in blocks
    }
    return Allocation(
        blocks=blocks,
        addresses=addresses,
        kept_blocks={host: fleet.ledger_blocks[host] for host in kept},
        kept_addresses={
            host: recorded
            for host, recorded in fleet.ledger_addresses.items()
            if host not in _names(fleet)
        },
    )


def _names(fleet: FleetSpec) -> set[str]:
    return {host.name for host in fleet.hosts}


def departed_blocks(fleet: FleetSpec, problems: Problems) -> dict[str, Network]:
    """The recorded blocks of hosts missing from this run: kept and reserved, with a warning."""
    present = _names(fleet)
    kept: dict[str, Network] = {}
    for host, raw in sorted(fleet.ledger_blocks.items()):
        if host in present:
            continue
        try:
            kept[host] = ipaddress.IPv4Network(raw, strict=True)
        except ValueError:
            problems.error(
                host,
                "calico_ipam_ledger",
                f"records {raw!r}, which is not a block (the host is not in this fleet)",
                f'release the entry: -e \'{{"{RELEASE}": ["{host}"]}}\'',
            )
    if kept:
        listed = ", ".join(f"{host} ({block})" for host, block in kept.items())
        names = ", ".join(f'"{host}"' for host in kept)
        problems.warn(
            FLEET,
            "calico_ipam_ledger",
            f"keeps the blocks of hosts that are not in this run's fleet: {listed}; no other "
            "host gets them",
            f"nothing while they are away; once they left for good, release them with "
            f"-e '{{\"{RELEASE}\": [{names}]}}' (docs/operations.md)",
        )
    return kept


def report_releases(fleet: FleetSpec, problems: Problems) -> None:
    """Say what each name in ``calico_ipam_release`` did: releases are deliberate, and rare."""
    present = _names(fleet)
    for host, block in fleet.ledger_released.items():
        if block is None:
            message, fix = "the ledger records nothing for it", "check the host's name"
        elif host in present:
            message = f"releases its block {block}: the host gets its pin or the lowest free block"
            fix = "run without calico_ipam_release next time, so the new block stays"
        else:
            message = f"releases its block {block} and its workload addresses for other hosts"
            fix = "make sure the host no longer runs BIRD, or its routes will compete"
        problems.warn(host, RELEASE, message, fix)


def pool_of(network: Network, pools: list[Pool]) -> Pool | None:
    return next((pool for pool in pools if network.subnet_of(pool.cidr)), None)


def allocate_blocks(
    fleet: FleetSpec, problems: Problems, kept: dict[str, Network] | None = None
) -> dict[str, Network]:
    """One block per host: pinned first, then recorded in the ledger, then the lowest free one.

    ``kept`` are the blocks of hosts missing from this run: nobody else may take them.
    """
    kept = kept or {}
    taken: dict[Network, str] = {block: host for host, block in kept.items()}
    blocks: dict[str, Network] = {}
    hosts = sorted(fleet.hosts, key=lambda h: h.name)
    for pinned_pass in (True, False):
        for host in hosts:
            if (host.block is not None) != pinned_pass:
                continue
            block = _requested_block(host, fleet, problems)
            if block is not None:
                _claim(host, block, taken, blocks, problems, set(kept))
    free = _free_blocks(fleet.pools, taken)
    left_out: list[str] = []
    for host in hosts:
        if host.name in blocks or _has_request(host, fleet):
            continue
        block = next(free, None)
        if block is None:
            left_out.append(host.name)
            continue
        taken[block] = host.name
        blocks[host.name] = block
    if left_out and fleet.pools:  # without a valid pool, the pool's own error says it all
        problems.error(
            FLEET,
            "calico_pools",
            f"the pools are exhausted: no free block is left for {len(left_out)} host(s) "
            f"({_some(left_out)}; {len(taken)} blocks in use)",
            "add a pool, enlarge a pool, or use a larger block_size (smaller blocks)",
        )
    return blocks


def _claim(
    host: HostSpec,
    block: Network,
    taken: dict[Network, str],
    blocks: dict[str, Network],
    problems: Problems,
    departed: set[str],
) -> None:
    owner = taken.get(block)
    if owner is None:
        taken[block] = host.name
        blocks[host.name] = block
        return
    if owner in departed:
        variable = "calico_block" if host.block is not None else "calico_ipam_ledger"
        problems.error(
            host.name,
            variable,
            f"block {block} is recorded in the ledger for {owner}, which is not in this fleet",
            f"if {owner} left for good, release its block with "
            f"""-e '{{"{RELEASE}": ["{owner}"]}}'; otherwise choose another block""",
        )
    elif host.block is not None:
        problems.error(
            host.name,
            "calico_block",
            f"block {block} is pinned by {owner} too",
            "pin a different block, or remove the pin and let IPAM choose",
        )
    else:
        problems.error(
            host.name,
            "calico_ipam_ledger",
            f"the ledger records block {block}, which {owner} pins",
            f"pin {owner} elsewhere, or release {host.name}'s entry with "
            f"""-e '{{"{RELEASE}": ["{host.name}"]}}' to move it""",
        )


def _has_request(host: HostSpec, fleet: FleetSpec) -> bool:
    return host.block is not None or host.name in fleet.ledger_blocks


def _requested_block(host: HostSpec, fleet: FleetSpec, problems: Problems) -> Network | None:
    recorded = _ledger_block(host, fleet, problems)
    if host.block is None:
        return recorded
    if recorded is not None and recorded != host.block:
        problems.error(
            host.name,
            "calico_block",
            f"the pin {host.block} disagrees with the ledger, which records {recorded}",
            "move the host deliberately: in the run that changes the pin, release its entry "
            f"""with -e '{{"{RELEASE}": ["{host.name}"]}}', or pin the recorded block""",
        )
        return None
    return _checked_block(host.name, "calico_block", host.block, fleet.pools, problems)


def _ledger_block(host: HostSpec, fleet: FleetSpec, problems: Problems) -> Network | None:
    raw = fleet.ledger_blocks.get(host.name)
    if raw is None:
        return None
    try:
        block = ipaddress.IPv4Network(str(raw), strict=True)
    except ValueError:
        problems.error(
            host.name,
            "calico_ipam_ledger",
            f"records {raw!r}, which is not a block",
            "delete the host's entry under calico_ipam_ledger.blocks to re-allocate",
        )
        return None
    return _checked_block(host.name, "calico_ipam_ledger", block, fleet.pools, problems)


def _checked_block(
    host: str, variable: str, block: Network, pools: list[Pool], problems: Problems
) -> Network | None:
    pool = pool_of(block, pools)
    if pool is None:
        problems.error(
            host,
            variable,
            f"block {block} lies in no pool",
            "choose a block inside one of calico_pools"
            + ("" if variable == "calico_block" else ", or delete the ledger entry"),
        )
        return None
    if block.prefixlen != pool.block_size:
        problems.error(
            host,
            variable,
            f"block {block} is not a /{pool.block_size} block of pool {pool.cidr}",
            f"use a /{pool.block_size} network inside {pool.cidr}",
        )
        return None
    return block


def _free_blocks(pools: list[Pool], taken: dict[Network, str]) -> Iterator[Network]:
    """Free blocks in address order; lazy, so each host costs one step, not a rescan."""
    for pool in pools:
        for block in _blocks(pool):
            if block not in taken:
                yield block


def _blocks(pool: Pool) -> Iterator[Network]:
    # subnets() walks in address order; fine up to the largest pools a fleet can fill.
    return pool.cidr.subnets(new_prefix=pool.block_size)


def allocate_addresses(
    host: HostSpec, block: Network, fleet: FleetSpec, problems: Problems
) -> dict[str, Address]:
    """A stable /32 per workload: pinned first, then recorded, then the lowest free address."""
    taken: dict[Address, str] = {}
    for index, workload in enumerate(host.workloads):
        if workload.ip is not None:
            _claim_pinned(host.name, index, workload.name, workload.ip, block, taken, problems)
    recorded = fleet.ledger_addresses.get(host.name, {})
    pending: list[str] = []
    for workload in host.workloads:
        if workload.ip is not None:
            continue
        address = _recorded_address(recorded.get(workload.name), block)
        if address is None or address in taken:
            pending.append(workload.name)
        else:
            taken[address] = workload.name
    free = (block.network_address + offset for offset in range(1, block.num_addresses))
    left_out: list[str] = []
    for name in pending:  # inventory order: the first workload listed gets the first address
        address = next((a for a in free if a not in taken), None)
        if address is None:
            left_out.append(name)
            continue
        taken[address] = name
    if left_out:  # one message for the block, not one per workload
        problems.error(
            host.name,
            "calico_workloads",
            f"the block {block} has no free address left for {len(left_out)} workload(s) "
            f"({_some(left_out)})",
            "use a larger block (smaller block_size) or fewer workloads on this host",
        )
    return {name: address for address, name in taken.items()}


def _some(names: list[str], most: int = 5) -> str:
    """The first few names and how many more."""
    rest = len(names) - most
    return ", ".join(names[:most]) + (f" and {rest} more" if rest > 0 else "")


def _claim_pinned(
    host: str,
    index: int,
    name: str,
    address: Address,
    block: Network,
    taken: dict[Address, str],
    problems: Problems,
) -> None:
    where = f"calico_workloads[{index}].ip"
    if address == block.network_address:
        problems.error(
            host,
            where,
            f"{address} is the host's own address in its block {block}",
            f"choose another address in {block}, or remove ip",
        )
    elif not _usable(address, block, block.network_address):
        problems.error(
            host,
            where,
            f"{address} is outside the host's block {block}",
            f"choose an address in {block} other than {block.network_address}, or remove ip",
        )
    elif address in taken:
        problems.error(
            host,
            where,
            f"{address} is already used by workload {taken[address]}",
            "give each workload its own address, or remove ip",
        )
    else:
        taken[address] = name


def _recorded_address(raw: str | None, block: Network) -> Address | None:
    """A ledger address is honoured only while it still lies in the host's block."""
    if raw is None:
        return None
    try:
        address = ipaddress.IPv4Address(str(raw))
    except ValueError:
        return None
    return address if _usable(address, block, block.network_address) else None


def _usable(address: Address, block: Network, reserved: Address) -> bool:
    return address in block and address != reserved


def ledger(allocation: Allocation) -> Ledger:
    """The ledger to write back: this run's allocations and the kept ones, in stable order."""
    blocks = {host: str(block) for host, block in allocation.blocks.items()}
    addresses = {
        host: {name: str(addr) for name, addr in sorted(recorded.items())}
        for host, recorded in allocation.addresses.items()
        if recorded
    }
    blocks.update(allocation.kept_blocks)
    kept = allocation.kept_addresses
    addresses.update({host: dict(sorted(a.items())) for host, a in kept.items() if a})
    return {
        "version": LEDGER_VERSION,
        "blocks": dict(sorted(blocks.items())),
        "addresses": dict(sorted(addresses.items())),
    }
