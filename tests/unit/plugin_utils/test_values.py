"""One rule per fact: every flag reads Ansible's booleans, and the model is never patched."""

from __future__ import annotations

import copy
import math

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build,
    build_model,
    host_slice,
)
from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems
from ansible_collections.calico.network.plugins.plugin_utils.values import (
    read_bool,
    read_int,
    read_password,
)
from tools.render import REPO, inventory_vars

POOLS = [{"cidr": "10.66.0.0/16", "block_size": 24}]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (True, True),
        ("yes", True),
        ("On", True),
        ("1", True),
        (1, True),
        ("true", True),
        ("t", True),
        (False, False),
        ("no", False),
        ("off", False),
        ("0", False),
        (0, False),
        ("False", False),
        (None, False),
        ("", False),
    ],
)
def test_flags_follow_ansible_booleans(raw: object, value: bool) -> None:
    problems = Problems()
    assert read_bool("h1", "calico_bfd", raw, problems) is value
    assert not problems


@pytest.mark.parametrize("raw", ["maybe", "yes please", 2, [], {}])
def test_anything_else_is_not_a_flag(raw: object) -> None:
    problems = Problems()
    assert read_bool("h1", "calico_bfd", raw, problems) is False
    assert problems.messages() == [
        f"h1: calico_bfd: {raw!r} is not true or false. Fix: write true or false."
    ]


def test_a_bool_is_not_a_number_and_the_message_shows_it() -> None:
    problems = Problems()
    assert read_int("h1", "calico_as", True, problems) is None
    assert problems.messages() == [
        "h1: calico_as: True is not a whole number (it is a boolean). Fix: write a number."
    ]


def test_passwords_are_plain_and_short() -> None:
    problems = Problems()
    assert read_password("h1", "calico_bgp_password", "x" * 80, problems) == "x" * 80
    assert not problems
    read_password("h1", "calico_bgp_password", 'a"b', problems)
    assert "quote or backslash" in problems.messages()[0]


def test_every_flag_of_the_inventory_reads_strings_as_an_ini_inventory_gives_them() -> None:
    peer = {"name": "tor", "ip": "192.168.140.1", "as": 65000, "ttl_security": "yes"}
    common = {
        "calico_pools": [{**POOLS[0], "nat_outgoing": "true"}],
        "calico_bfd": "yes",
        "calico_bgp_mode": "route_reflector",
        "calico_as": 65001,
    }
    host_vars = {
        "h1": {
            **common,
            "calico_ip": "192.168.140.11/24",
            "calico_route_reflector": "on",
            "calico_bgp_peers": [peer],
            "rack_groups": ["rack1"],
        },
        "h2": {**common, "calico_ip": "192.168.140.12/24", "rack_groups": ["rack1"]},
    }
    result = build(host_vars)
    assert result["errors"] == [], result["errors"]
    model = result["model"]
    assert model is not None
    assert model["bgp"]["bfd"] is True
    assert model["pools"][0]["nat_outgoing"] is True
    assert model["hosts"]["h1"]["route_reflector"] is True
    assert model["hosts"]["h1"]["bgp_peers"][0]["ttl_security"] is True


@pytest.mark.parametrize("inventory", ["lab", "lab-racks", "example-racks"])
def test_slicing_never_changes_the_model(inventory: str) -> None:
    model = build_model(inventory_vars(REPO / "inventory" / inventory))
    before = copy.deepcopy(model)
    for host in model["hosts"]:
        host_slice(model, host, verify_plan=True)
    assert model == before


# --- one message per root cause, and values that must never reach a rendered file ---------------


def test_a_problem_every_host_has_is_one_message_for_all_hosts() -> None:
    problems = Problems(fleet=frozenset({"h1", "h2", "h3"}))
    for host in ("h1", "h2", "h3"):
        problems.error(host, "calico_as", "AS 0 is reserved", "use another")
    problems.error("h1", "calico_ip", "is not set", "set it")
    problems.error("h3", "calico_ip", "is not set", "set it")
    assert problems.messages() == [
        "all hosts: calico_as: AS 0 is reserved. Fix: use another.",
        "h1, h3: calico_ip: is not set. Fix: set it.",
    ]


def test_many_hosts_are_counted_not_listed() -> None:
    problems = Problems(fleet=frozenset(f"h{i:02}" for i in range(30)))
    for i in range(12):
        problems.error(f"h{i:02}", "calico_ip", "is not set", "set it")
    assert problems.messages() == [
        "h00, h01, h02, h03, h04, h05, h06, h07, h08, h09 and 2 more hosts: calico_ip: is not "
        "set. Fix: set it."
    ]


@pytest.mark.parametrize(
    ("name", "shown"), [("h1", "h1"), ('h"1', "'h\"1'"), ("h1\n", "'h1\\n'"), ("a b", "a b")]
)
def test_a_name_that_could_garble_its_message_is_quoted(name: str, shown: str) -> None:
    problems = Problems()
    problems.error(name, "calico_ip", "is not set", "set it")
    assert problems.messages() == [f"{shown}: calico_ip: is not set. Fix: set it."]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("s3cret\n", "holds a line break"),
        ("s3\x07cret", "holds the control character U+0007"),
        ('se"cret', "holds a quote or backslash"),
        ("se\\cret", "holds a quote or backslash"),
        ("é" * 41, "is 82 bytes long (41 characters)"),
        (12345, "is a number, not text"),
        (["s3cret"], "is a list, not text"),
    ],
)
def test_a_password_is_plain_text_of_at_most_80_bytes(raw: object, reason: str) -> None:
    problems = Problems()
    assert read_password("h1", "calico_bgp_password", raw, problems) == ""
    assert problems.messages()[0].startswith(f"h1: calico_bgp_password: {reason}")
    assert str(raw) not in problems.messages()[0] or isinstance(raw, list)


def test_a_password_of_80_bytes_is_accepted() -> None:
    problems = Problems()
    assert read_password("h1", "calico_bgp_password", "é" * 40, problems) == "é" * 40
    assert not problems


@pytest.mark.parametrize(
    "raw", ["\uff16\uff14\uff15\uff11\uff12", "64512\n", "1e3", "0x10", 1.0, math.nan, "", None]
)
def test_a_whole_number_is_written_in_ascii_digits(raw: object) -> None:
    problems = Problems()
    assert read_int("h1", "calico_as", raw, problems) is None
    assert len(problems.messages()) == 1


@pytest.mark.parametrize(("raw", "value"), [(64512, 64512), ("64512", 64512), (" 7 ", 7)])
def test_whole_numbers_may_be_numeric_strings(raw: object, value: int) -> None:
    problems = Problems()
    assert read_int("h1", "calico_as", raw, problems) == value
    assert not problems
