"""Policy in the inventory: selectors, validation messages and the predicted verdicts."""

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, validate
from ansible_collections.calico.network.plugins.plugin_utils.selector import (
    SelectorError,
    parse_selector,
    selector_matches,
)
from ansible_collections.calico.network.plugins.plugin_utils.verdict import verdict

POOLS = [{"cidr": "10.66.0.0/16", "block_size": 24}]
DB_POLICY = {
    "name": "db",
    "selector": "app == 'db'",
    "ingress": [
        {"action": "allow", "protocol": "tcp", "ports": [5432], "selector": "app == 'web'"}
    ],
}


def fleet(policies=(DB_POLICY,), **extra):
    common = {"calico_pools": POOLS, "calico_policies": list(policies), **extra}
    return {
        "h1": {
            **common,
            "calico_ip": "192.168.140.11/24",
            "calico_workloads": [
                {"name": "web-1", "labels": {"app": "web"}, "floating_ips": ["10.66.255.10"]},
                {"name": "db-1", "labels": {"app": "db"}},
            ],
        },
        "h2": {
            **common,
            "calico_ip": "192.168.140.12/24",
            "calico_workloads": [
                {"name": "db-2", "labels": {"app": "db"}},
                {"name": "cache-2", "labels": {"app": "cache", "tier": "back"}},
            ],
        },
    }


def workload(model, name):
    return next(w for h in model["hosts"].values() for w in h["workloads"] if w["name"] == name)


def errors(host_vars):
    return validate(host_vars).messages()


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("all()", {}, True),
        ("app == 'web'", {"app": "web"}, True),
        ('app == "web"', {"app": "db"}, False),
        ("app != 'web'", {}, True),
        ("has(tier)", {"tier": "x"}, True),
        ("!has(tier)", {"tier": "x"}, False),
        ("app in {'web', 'db'}", {"app": "db"}, True),
        ("app not in {'web', 'db'}", {"app": "db"}, False),
        ("app == 'cache' && tier == 'back'", {"app": "cache", "tier": "back"}, True),
        ("app == 'cache' && tier == 'back'", {"app": "cache"}, False),
    ],
)
def test_selectors_match_labels_as_calico_does(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


@pytest.mark.parametrize(
    "selector",
    ["app = 'web'", "app == web", "a == 'x' || b == 'y'", "(app == 'x')", "", "x in {y}"],
)
def test_unsupported_selector_syntax_is_refused(selector):
    with pytest.raises(SelectorError):
        parse_selector(selector)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({**DB_POLICY, "selector": "app = 'db'"}, "calico_policies[0].selector: selector"),
        (
            {**DB_POLICY, "ingress": [{"action": "permit"}]},
            "calico_policies[0].ingress[0].action: 'permit' is not an action",
        ),
        (
            {**DB_POLICY, "ingress": [{"action": "allow", "protocol": "tcp", "ports": [70000]}]},
            "ingress[0].ports: 70000 is not a port",
        ),
        (
            {**DB_POLICY, "ingress": [{"action": "allow", "ports": [80]}]},
            "ingress[0].ports: need a protocol with ports",
        ),
        (
            {**DB_POLICY, "ingress": [{"action": "allow", "protocol": "gre"}]},
            "ingress[0].protocol: 'gre' is not a protocol",
        ),
        (
            {**DB_POLICY, "ingress": [{"action": "allow", "protocol": "tcp", "ports": ["9:1"]}]},
            "'9:1' is not a port (1-65535) or range lo:hi",
        ),
        (
            {
                **DB_POLICY,
                "ingress": [{"action": "deny", "cidr": ["10.0.0.0/8"], "selector": "all()"}],
            },
            "has both selector and cidr",
        ),
        ({**DB_POLICY, "name": "DB policy"}, "'DB policy' cannot name an iptables chain"),
        ({**DB_POLICY, "egres": []}, "has unknown key(s) egres"),
    ],
)
def test_bad_policies_name_the_variable_and_the_fix(policy, expected):
    found = errors(fleet([policy]))
    assert any(expected in m and "Fix: " in m and m.startswith("all hosts: ") for m in found), found


def test_two_policies_with_one_name_are_an_error():
    assert any("'db' is used twice" in m for m in errors(fleet([DB_POLICY, DB_POLICY])))


def test_bad_defaults_are_errors_before_any_host_changes():
    host_vars = fleet(calico_default_profile="open")
    host_vars["h2"]["calico_endpoint_to_host_action"] = "REJECT"
    found = errors(host_vars)
    assert any("calico_default_profile: 'open' is not a profile" in m for m in found)
    assert any(m.startswith("h2: calico_endpoint_to_host_action: 'REJECT'") for m in found)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.1", "192.0.2.1 lies in no pool"),
        ("10.66.1.9", "10.66.1.9 lies in block 10.66.1.0/24 of h2"),
        ("10.66.300.1", "'10.66.300.1' is not an IPv4 address"),
    ],
)
def test_floating_ips_must_lie_in_a_pool_outside_every_block(address, expected):
    host_vars = fleet()
    host_vars["h1"]["calico_workloads"][0]["floating_ips"] = [address]
    found = errors(host_vars)
    assert any(
        m.startswith("h1: calico_workloads[0].floating_ips") and expected in m for m in found
    ), found


def test_a_floating_ip_given_to_two_workloads_is_an_error():
    host_vars = fleet()
    host_vars["h2"]["calico_workloads"][0]["floating_ips"] = ["10.66.255.10"]
    found = errors(host_vars)
    assert any("10.66.255.10 is also the floating IP of h1/web-1" in m for m in found), found


def test_the_db_policy_lets_web_in_on_5432_only():
    model = build_model(fleet())
    web, db, db2, cache = (workload(model, n) for n in ("web-1", "db-1", "db-2", "cache-2"))
    assert verdict(model, web, db2, "tcp", 5432)
    assert not verdict(model, web, db2, "tcp", 5433)
    assert not verdict(model, web, db, "icmp")
    assert not verdict(model, cache, db, "tcp", 5432)
    assert verdict(model, db, cache, "icmp")  # unselected: the fleet profile


def test_the_deny_profile_closes_unselected_workloads():
    model = build_model(fleet(calico_default_profile="deny"))
    assert not verdict(model, workload(model, "db-1"), workload(model, "cache-2"), "icmp")


def test_the_first_deciding_rule_wins_and_log_goes_on():
    egress = {
        "name": "cache-out",
        "selector": "app == 'cache'",
        "egress": [
            {"action": "log", "protocol": "tcp"},
            {"action": "deny", "protocol": "tcp", "ports": ["5000:6000"]},
            {"action": "allow"},
        ],
    }
    model = build_model(fleet([egress]))
    cache, web = workload(model, "cache-2"), workload(model, "web-1")
    assert not verdict(model, cache, web, "tcp", 5432)
    assert verdict(model, cache, web, "tcp", 80)


def test_a_selected_direction_without_rules_denies_everything():
    model = build_model(fleet([{"name": "closed", "selector": "app == 'web'", "egress": []}]))
    web, db = workload(model, "web-1"), workload(model, "db-1")
    assert not verdict(model, web, db, "icmp")
    assert verdict(model, db, web, "icmp")  # only egress is selected


def test_policies_run_by_order_then_name():
    deny = {"name": "a-deny", "selector": "all()", "order": 20, "ingress": [{"action": "deny"}]}
    allow = {"name": "z-allow", "selector": "all()", "order": 10, "ingress": [{"action": "allow"}]}
    model = build_model(fleet([deny, allow]))
    assert [p["name"] for p in model["policy"]["policies"]] == ["z-allow", "a-deny"]
    assert verdict(model, workload(model, "db-1"), workload(model, "web-1"), "icmp")
