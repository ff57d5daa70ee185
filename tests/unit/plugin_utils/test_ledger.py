"""The IPAM ledger never loses an allocation implicitly (docs/operations.md, "Hosts and the
IPAM ledger"): hosts missing from a run keep their entries with a warning until released, a
hand-edited ledger of the wrong shape gives a message, and moving a pinned block is a run with
the new pin and a release."""

import pytest
import yaml

from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build,
    build_from_hostvars,
    build_model,
)

POOLS = [{"cidr": "172.17.0.0/16", "block_size": 24}]


def host(i, **extra):
    return {"calico_ip": f"192.168.0.{i + 1}/24", "calico_pools": POOLS, **extra}


def run(names, ledger=None, **fleet_vars):
    """One run over the hosts ``names`` (h0, h1, ...), with fleet-wide variables on each."""
    values = {} if ledger is None else {"calico_ipam_ledger": ledger}
    return build({f"h{i}": host(i, **values, **fleet_vars) for i in names})


def blocks(result):
    return {name: entry["blocks"][0] for name, entry in result["model"]["hosts"].items()}


FIRST = {"h0": "172.17.0.0/24", "h1": "172.17.1.0/24", "h2": "172.17.2.0/24"}


def test_the_ledger_carries_its_schema_version():
    assert run([0])["model"]["ledger"] == {
        "version": 1,
        "blocks": {"h0": "172.17.0.0/24"},
        "addresses": {},
    }


def test_a_host_that_leaves_keeps_its_entries_and_is_named_in_a_warning():
    first = run([0, 1, 2], calico_workloads=[{"name": "web"}])
    assert blocks(first) == FIRST
    second = run([0, 2], ledger=first["model"]["ledger"])
    assert second["errors"] == []
    ledger = second["model"]["ledger"]
    assert ledger["blocks"]["h1"] == "172.17.1.0/24"
    assert ledger["addresses"]["h1"] == {"web": "172.17.1.1"}
    assert any("h1 (172.17.1.0/24)" in w and "calico_ipam_release" in w for w in second["warnings"])


def test_a_new_host_never_gets_the_block_of_one_that_is_away():
    first = run([0, 1, 2])
    second = run([0, 2, 3], ledger=first["model"]["ledger"])
    assert blocks(second)["h3"] == "172.17.3.0/24"


def test_a_run_over_another_fleet_group_keeps_the_first_groups_entries():
    # Two fleet groups of one inventory share its ledger: a run over group B (hosts h5, h6)
    # must neither drop nor reuse the blocks of group A (h0-h2).
    group_a = run([0, 1, 2])
    group_b = run([5, 6], ledger=group_a["model"]["ledger"])
    assert blocks(group_b) == {"h5": "172.17.3.0/24", "h6": "172.17.4.0/24"}
    assert group_b["model"]["ledger"]["blocks"] == {
        **FIRST,
        "h5": "172.17.3.0/24",
        "h6": "172.17.4.0/24",
    }
    again = run([0, 1, 2], ledger=group_b["model"]["ledger"])
    assert blocks(again) == FIRST
    assert any("h5 (172.17.3.0/24), h6 (172.17.4.0/24)" in w for w in again["warnings"])


def test_an_explicit_release_drops_the_entries_and_frees_the_block():
    first = run([0, 1, 2], calico_workloads=[{"name": "web"}])
    released = run([0, 2], ledger=first["model"]["ledger"], calico_ipam_release=["h1"])
    assert released["errors"] == []
    assert "h1" not in released["model"]["ledger"]["blocks"]
    assert "h1" not in released["model"]["ledger"]["addresses"]
    assert any(
        w.startswith("h1: calico_ipam_release: releases its block") for w in released["warnings"]
    )
    newcomer = run([0, 2, 7], ledger=released["model"]["ledger"])
    assert blocks(newcomer)["h7"] == "172.17.1.0/24"


def test_a_host_that_comes_back_before_its_release_keeps_its_block():
    first = run([0, 1, 2])
    away = run([0, 2], ledger=first["model"]["ledger"])
    back = run([0, 1, 2], ledger=away["model"]["ledger"])
    assert blocks(back) == FIRST
    assert back["warnings"] == []


def test_pinning_a_departed_hosts_block_names_the_release():
    first = run([0, 1])
    hosts = {f"h{i}": host(i, calico_ipam_ledger=first["model"]["ledger"]) for i in (0, 3)}
    hosts["h3"]["calico_block"] = "172.17.1.0/24"
    errors = build(hosts)["errors"]
    assert any(
        e.startswith("h3: calico_block: block 172.17.1.0/24 is recorded in the ledger for h1")
        and '"calico_ipam_release": ["h1"]' in e
        for e in errors
    )


def test_moving_a_pinned_block_is_a_new_pin_and_a_release_in_one_run():
    workloads = [{"name": "web"}, {"name": "db"}]
    pinned = {
        "h0": host(0, calico_block="172.17.8.0/24", calico_workloads=workloads),
        "h1": host(1),
    }
    first = build_model(pinned)
    # Changing the pin alone is refused: the ledger records the old block.
    pinned = {
        name: {**values, "calico_ipam_ledger": first["ledger"]} for name, values in pinned.items()
    }
    pinned["h0"]["calico_block"] = "172.17.9.0/24"
    assert any("disagrees with the ledger" in e for e in build(pinned)["errors"])
    # The new pin with a release of the host moves the block and renumbers its workloads.
    moving = {name: {**values, "calico_ipam_release": ["h0"]} for name, values in pinned.items()}
    moved = build(moving)
    assert moved["errors"] == []
    assert moved["model"]["hosts"]["h0"]["blocks"] == ["172.17.9.0/24"]
    assert moved["model"]["ledger"]["addresses"]["h0"] == {"db": "172.17.9.2", "web": "172.17.9.1"}
    assert moved["model"]["hosts"]["h1"]["blocks"] == first["hosts"]["h1"]["blocks"]
    # The next ordinary run (pin kept, no release) is stable and quiet.
    after = {
        name: {
            key: value
            for key, value in {**values, "calico_ipam_ledger": moved["model"]["ledger"]}.items()
            if key != "calico_ipam_release"
        }
        for name, values in moving.items()
    }
    settled = build(after)
    assert settled["errors"] == [] and settled["warnings"] == []
    assert settled["model"]["ledger"] == moved["model"]["ledger"]


@pytest.mark.parametrize(
    ("ledger", "expected"),
    [
        ("blocks: {h0: 172.17.0.0/24}", "all hosts: calico_ipam_ledger: is a str, not a mapping"),
        (["172.17.0.0/24"], "all hosts: calico_ipam_ledger: is a list, not a mapping"),
        ({"blocks": ["h0"]}, "calico_ipam_ledger.blocks: is a list, not a mapping of host"),
        ({"addresses": ["web"]}, "calico_ipam_ledger.addresses: is a list, not a mapping"),
        ({"addresses": {"h0": "web"}}, "h0: calico_ipam_ledger.addresses: is a str, not a map"),
        ({"version": 9, "blocks": {}}, "has schema version 9; this calico-ansible reads version"),
        ({"version": "one"}, "has no valid schema version ('one')"),
        ({"block": {}}, "has unknown keys: block"),
    ],
)
def test_a_hand_edited_ledger_of_the_wrong_shape_gives_a_message(ledger, expected):
    result = run([0, 1], ledger=ledger)
    assert result["model"] is None
    assert any(expected in e for e in result["errors"]), result["errors"]


@pytest.mark.parametrize("release", ["h1", ["h1"]])
def test_a_release_is_one_name_or_a_list(release):
    first = run([0, 1])
    released = run([0], ledger=first["model"]["ledger"], calico_ipam_release=release)
    assert "h1" not in released["model"]["ledger"]["blocks"]


def test_a_release_that_is_not_names_is_an_error():
    errors = run([0], calico_ipam_release={"h1": True})["errors"]
    assert any(e.startswith("all hosts: calico_ipam_release: ") for e in errors)


def test_a_ledger_written_before_versions_reads_as_version_one():
    old = {"blocks": {"h0": "172.17.5.0/24"}, "addresses": {}}
    result = run([0], ledger=old)
    assert blocks(result) == {"h0": "172.17.5.0/24"}
    assert result["model"]["ledger"]["version"] == 1


class LedgerGuard(dict):
    """A host's variables whose calico_ipam_ledger must not be read (it would raise)."""

    def __getitem__(self, key):
        if key == "calico_ipam_ledger":
            raise AssertionError("the hosts' calico_ipam_ledger was read despite the ledger file")
        return super().__getitem__(key)


def test_with_a_ledger_file_the_hosts_copies_of_the_ledger_are_not_read():
    # group_vars gives every host the ledger, which lists every host: reading it per host is
    # quadratic work (and was most of validate.yml's time at 1,000 hosts). The file replaces it.
    first = run([0, 1, 2])
    ledger = first["model"]["ledger"]
    text = yaml.safe_dump({"calico_ipam_ledger": ledger})
    hostvars = {f"h{i}": LedgerGuard(host(i, calico_ipam_ledger=ledger)) for i in range(3)}
    result = build_from_hostvars(hostvars, ["h0", "h1", "h2"], ledger_text=text, ledger_file="l")
    assert result["errors"] == []
    assert (
        result["model"]
        == build({f"h{i}": host(i, calico_ipam_ledger=ledger) for i in range(3)})["model"]
    )
