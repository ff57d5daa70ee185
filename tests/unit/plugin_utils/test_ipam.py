"""IPAM: blocks per host and addresses per workload, stable across inventory changes."""

import random

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, validate
from ansible_collections.calico.network.plugins.plugin_utils.problems import InventoryError

POOLS = [{"cidr": "172.17.0.0/16", "block_size": 24}]


def fleet(n, *, ledger=None, pools=POOLS, **extra):
    hosts = {
        f"h{i:03d}": {"calico_ip": f"192.168.{i // 250}.{i % 250 + 1}/16", "calico_pools": pools}
        for i in range(n)
    }
    for values in hosts.values():
        values.update(extra)
        if ledger is not None:
            values["calico_ipam_ledger"] = ledger
    return hosts


def blocks(model):
    return {h: v["blocks"][0] for h, v in model["hosts"].items()}


def test_first_run_gives_the_lowest_blocks_in_host_name_order():
    model = build_model(fleet(3))
    assert blocks(model) == {
        "h000": "172.17.0.0/24",
        "h001": "172.17.1.0/24",
        "h002": "172.17.2.0/24",
    }


def test_adding_and_removing_hosts_never_moves_an_existing_block():
    rng = random.Random(7)
    hosts = fleet(20)
    model = build_model(hosts)
    for _ in range(30):
        before = blocks(model)
        names = sorted(hosts)
        for name in rng.sample(names, rng.randint(0, 3)):
            del hosts[name]
        for _ in range(rng.randint(0, 3)):
            new = f"n{rng.randint(0, 10**6):07d}"
            hosts[new] = {
                "calico_ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1/32",
                "calico_pools": POOLS,
            }
        for values in hosts.values():
            values["calico_ipam_ledger"] = model["ledger"]
        problems = validate(hosts)
        if problems:  # a random address may collide; that is the validation's job, not IPAM's
            continue
        model = build_model(hosts)
        after = blocks(model)
        for host, block in before.items():
            if host in after:
                assert after[host] == block
        assert len(set(after.values())) == len(after)


def test_a_released_block_is_reused_by_the_next_new_host():
    model = build_model(fleet(3))
    hosts = fleet(3, ledger=model["ledger"], calico_ipam_release=["h001"])
    del hosts["h001"]
    hosts["zz"] = {
        "calico_ip": "10.9.9.9/24",
        "calico_pools": POOLS,
        "calico_ipam_ledger": model["ledger"],
        "calico_ipam_release": ["h001"],
    }
    assert blocks(build_model(hosts))["zz"] == "172.17.1.0/24"


def test_a_pinned_block_is_honoured_and_skipped_by_allocation():
    hosts = fleet(2)
    hosts["h001"]["calico_block"] = "172.17.0.0/24"
    assert blocks(build_model(hosts)) == {"h000": "172.17.1.0/24", "h001": "172.17.0.0/24"}


def test_a_pin_that_disagrees_with_the_ledger_is_an_error():
    model = build_model(fleet(2))
    hosts = fleet(2, ledger=model["ledger"])
    hosts["h000"]["calico_block"] = "172.17.5.0/24"
    messages = validate(hosts).messages()
    assert any("h000: calico_block" in m and "disagrees with the ledger" in m for m in messages)


@pytest.mark.parametrize(
    ("pin", "expected"),
    [
        ("172.18.0.0/24", "lies in no pool"),
        ("172.17.0.0/25", "is not a /24 block"),
        ("172.17.0.1/24", "is not an IPv4 network"),
    ],
)
def test_bad_pinned_blocks_are_errors(pin, expected):
    hosts = fleet(1, calico_block=pin)
    assert any(expected in m for m in validate(hosts).messages())


def test_two_hosts_pinning_one_block_is_an_error():
    hosts = fleet(2, calico_block="172.17.3.0/24")
    assert any("pinned by h000 too" in m for m in validate(hosts).messages())


def test_an_exhausted_pool_names_the_host_left_without_a_block():
    hosts = fleet(3, pools=[{"cidr": "172.17.0.0/23", "block_size": 24}])
    with pytest.raises(InventoryError) as err:
        build_model(hosts)
    assert (
        "calico_pools: the pools are exhausted: no free block is left for 1 host(s) (h002;"
        in str(err.value)
    )


def test_hosts_spill_into_the_next_pool_when_the_first_is_full():
    pools = [
        {"cidr": "172.17.0.0/24", "block_size": 24},
        {"cidr": "172.18.0.0/16", "block_size": 24},
    ]
    assert blocks(build_model(fleet(2, pools=pools)))["h001"] == "172.18.0.0/24"


def workloads_of(model, host):
    return {w["name"]: w["ip"] for w in model["hosts"][host]["workloads"]}


def test_workloads_get_addresses_after_the_hosts_own_in_inventory_order():
    hosts = fleet(1, calico_workloads=[{"name": "web"}, {"name": "db"}])
    assert workloads_of(build_model(hosts), "h000") == {"web": "172.17.0.1", "db": "172.17.0.2"}


def test_removing_a_workload_keeps_the_others_addresses():
    hosts = fleet(1, calico_workloads=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    model = build_model(hosts)
    hosts = fleet(1, ledger=model["ledger"], calico_workloads=[{"name": "c"}, {"name": "d"}])
    assert workloads_of(build_model(hosts), "h000") == {"c": "172.17.0.3", "d": "172.17.0.1"}


def test_a_pinned_workload_address_wins_over_a_recorded_one():
    hosts = fleet(1, calico_workloads=[{"name": "a"}])
    model = build_model(hosts)
    hosts = fleet(
        1,
        ledger=model["ledger"],
        calico_workloads=[{"name": "a"}, {"name": "b", "ip": "172.17.0.1"}],
    )
    assert workloads_of(build_model(hosts), "h000") == {"b": "172.17.0.1", "a": "172.17.0.2"}


@pytest.mark.parametrize(
    ("workloads", "expected"),
    [
        ([{"name": "a", "ip": "172.17.9.1"}], "outside the host's block"),
        ([{"name": "a", "ip": "172.17.0.0"}], "the host's own address"),
        ([{"name": "a", "ip": "172.17.0.5"}, {"name": "b", "ip": "172.17.0.5"}], "already used"),
    ],
)
def test_bad_workload_addresses_are_errors(workloads, expected):
    messages = validate(fleet(1, calico_workloads=workloads)).messages()
    assert any("h000: calico_workloads[" in m and expected in m for m in messages)


def test_a_full_block_is_one_error_naming_the_workloads_left_out():
    pools = [{"cidr": "172.17.0.0/16", "block_size": 31}]
    workloads = [{"name": name} for name in ("a", "b", "c", "d", "e", "f", "g", "h")]
    hosts = fleet(1, pools=pools, calico_workloads=workloads)
    assert validate(hosts).messages() == [
        "h000: calico_workloads: the block 172.17.0.0/31 has no free address left for 7 "
        "workload(s) (b, c, d, e, f and 2 more). Fix: use a larger block (smaller block_size) "
        "or fewer workloads on this host."
    ]
