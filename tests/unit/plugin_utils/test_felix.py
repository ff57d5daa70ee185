"""Felix's chain layout rendered from a host's slice: what each host's tables hold."""

import pytest

from ansible_collections.calico.network.plugins.module_utils.iptables import (
    MAX_CHAIN_NAME,
    desired_tables,
)
from ansible_collections.calico.network.plugins.plugin_utils.felix import (
    policy_chain,
    render_tables,
    workload_chain,
)
from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, host_slice
from tests.unit.plugin_utils.test_policy import DB_POLICY, fleet, workload


def render(model, host, *args):
    """Felix's tables of ``host``, rendered from its slice alone."""
    return render_tables(host_slice(model, host), *args)


def tables(host="h1", policies=(DB_POLICY,), anti_spoofing="rpfilter", **extra):
    model = build_model(fleet(policies, **extra))
    return model, render(model, host, anti_spoofing)


def test_every_rendered_host_passes_the_iptables_module_checks():
    model = build_model(fleet())
    for host in model["hosts"]:
        desired = desired_tables(render(model, host), "cali-")
        assert set(desired) == {"raw", "mangle", "filter", "nat"}


def test_hooks_sit_in_felix_places_and_the_accept_mark_rule_is_appended():
    _, t = tables()
    assert t["filter"]["hooks"] == [
        {"chain": "INPUT", "rule": "-j cali-INPUT"},
        {"chain": "FORWARD", "rule": "-j cali-FORWARD"},
        {"chain": "OUTPUT", "rule": "-j cali-OUTPUT"},
    ]
    assert t["filter"]["append"] == [
        {"chain": "FORWARD", "rule": "-m mark --mark 0x10000/0x10000 -j ACCEPT"}
    ]
    assert t["nat"]["append"] == [{"chain": "POSTROUTING", "rule": "-j cali-POSTROUTING"}]
    assert [h["chain"] for h in t["nat"]["hooks"]] == ["PREROUTING", "OUTPUT"]
    assert t["raw"]["hooks"] == [{"chain": "PREROUTING", "rule": "-j cali-PREROUTING"}]
    assert t["mangle"] == {"chains": {}}


def test_dispatch_chains_go_to_one_chain_per_local_workload_and_drop_the_rest():
    model, t = tables()
    chains = t["filter"]["chains"]
    interfaces = sorted(w["interface"] for w in model["hosts"]["h1"]["workloads"])
    assert chains["cali-from-wl-dispatch"] == [
        *(f"-i {i} -g cali-fw-{i}" for i in interfaces),
        "-j DROP",
    ]
    assert chains["cali-to-wl-dispatch"][-1] == "-j DROP"
    assert chains["cali-wl-to-host"] == ["-j cali-from-wl-dispatch", "-j ACCEPT"]
    assert chains["cali-INPUT"] == ["-i cali+ -g cali-wl-to-host"]


def test_a_selected_workload_runs_its_policies_then_drops():
    model, t = tables()
    db = workload(model, "db-1")
    chain = t["filter"]["chains"][workload_chain("ingress", db["interface"])]
    assert chain[-5:] == [
        "-j MARK --set-xmark 0x0/0x20000",
        "-m mark --mark 0x0/0x20000 -j cali-pi-db",
        "-m mark --mark 0x10000/0x10000 -j RETURN",
        "-m mark --mark 0x0/0x20000 -j DROP",
        "-j DROP",
    ]
    assert "-j cali-pri-fleet" not in chain


def test_peer_selectors_expand_to_the_workloads_of_every_host():
    model, t = tables(host="h2")
    web = workload(model, "web-1")  # lives on h1
    assert t["filter"]["chains"]["cali-pi-db"] == [
        f"-s {web['ip']}/32 -p tcp -m multiport --dports 5432 -j MARK --set-xmark 0x10000/0x10000",
        "-m mark --mark 0x10000/0x10000 -j RETURN",
    ]


def test_a_peer_selector_matching_nobody_matches_no_packet():
    policy = {**DB_POLICY, "ingress": [{"action": "allow", "selector": "app == 'ghost'"}]}
    _, t = tables(policies=[policy])
    assert t["filter"]["chains"]["cali-pi-db"] == []


def test_unselected_workloads_get_the_fleet_profile_or_drop():
    model, t = tables()
    web = workload(model, "web-1")
    assert "-j cali-pri-fleet" in t["filter"]["chains"][workload_chain("ingress", web["interface"])]
    assert t["filter"]["chains"]["cali-pri-fleet"][:2] == [
        "-s 10.66.0.0/16 -j MARK --set-xmark 0x10000/0x10000",
        "-s 192.168.140.11/32 -j MARK --set-xmark 0x10000/0x10000",
    ]
    _, closed = tables(calico_default_profile="deny")
    assert "cali-pri-fleet" not in closed["filter"]["chains"]
    ingress = closed["filter"]["chains"][workload_chain("ingress", web["interface"])]
    assert ingress[-1] == "-j DROP" and not any("fleet" in r for r in ingress)


def test_policy_chains_exist_only_where_a_selected_workload_lives():
    policy = {**DB_POLICY, "name": "cache-only", "selector": "app == 'cache'"}
    _, h1 = tables(host="h1", policies=[policy])
    _, h2 = tables(host="h2", policies=[policy])
    assert "cali-pi-cache-only" not in h1["filter"]["chains"]
    assert "cali-pi-cache-only" in h2["filter"]["chains"]


def test_deny_and_log_rules_render_as_drop_and_log():
    policy = {
        "name": "out",
        "selector": "app == 'web'",
        "egress": [
            {"action": "log", "protocol": "udp", "ports": [53]},
            {"action": "deny", "cidr": ["192.0.2.0/24"]},
        ],
    }
    _, t = tables(policies=[policy])
    assert t["filter"]["chains"]["cali-po-out"] == [
        '-p udp -m multiport --dports 53 -j LOG --log-prefix "calico-packet: "',
        "-d 192.0.2.0/24 -j DROP",
    ]


def test_long_policy_names_are_hashed_to_28_characters():
    name = "a-policy-with-a-very-long-name-indeed"
    chain = policy_chain("ingress", name)
    assert len(chain) == MAX_CHAIN_NAME and chain.startswith("cali-pi-_")
    _, t = tables(policies=[{**DB_POLICY, "name": name}])
    assert chain in t["filter"]["chains"]


def test_anti_spoofing_is_rpfilter_or_one_source_check_per_workload():
    model, strict = tables()
    assert (
        "-m mark --mark 0x40000/0x40000 -m rpfilter --validmark --invert -j DROP"
        in (strict["raw"]["chains"]["cali-PREROUTING"])
    )
    _, source = tables(anti_spoofing="source")
    checks = [r for r in source["raw"]["chains"]["cali-PREROUTING"] if "! -s" in r]
    assert checks == [
        f"-i {w['interface']} ! -s {w['ip']}/32 -j DROP"
        for w in sorted(model["hosts"]["h1"]["workloads"], key=lambda w: w["interface"])
    ]
    with pytest.raises(ValueError, match="anti_spoofing"):
        render(model, "h1", "none")


def test_floating_ips_dnat_and_hairpin_snat_on_the_owner_host_only():
    model, h1 = tables()
    _, h2 = tables(host="h2")
    web = workload(model, "web-1")
    assert h1["nat"]["chains"]["cali-fip-dnat"] == [
        f"-d 10.66.255.10/32 -j DNAT --to-destination {web['ip']}"
    ]
    assert h1["nat"]["chains"]["cali-fip-snat"] == [
        f"-s {web['ip']}/32 -d {web['ip']}/32 -j SNAT --to-source 10.66.255.10"
    ]
    assert h2["nat"]["chains"]["cali-fip-dnat"] == []
    assert h1["nat"]["chains"]["cali-OUTPUT"] == ["-j cali-fip-dnat"]


def test_outgoing_nat_masquerades_from_nat_pools_to_outside_every_pool():
    host_vars = fleet()
    pools = [
        {"cidr": "10.66.0.0/16", "block_size": 24, "nat_outgoing": True},
        {"cidr": "10.99.0.0/16", "block_size": 24},
    ]
    for values in host_vars.values():
        values["calico_pools"] = pools
    t = render(build_model(host_vars), "h1")
    assert t["nat"]["chains"]["cali-nat-outgoing"] == [
        "-d 10.66.0.0/16 -j RETURN",
        "-d 10.99.0.0/16 -j RETURN",
        "-s 10.66.0.0/16 -j MASQUERADE",
    ]
    _, plain = tables()
    assert plain["nat"]["chains"]["cali-nat-outgoing"] == []


def test_the_workload_to_host_action_is_per_host():
    host_vars = fleet()
    host_vars["h2"]["calico_endpoint_to_host_action"] = "return"
    model = build_model(host_vars)
    assert render(model, "h2")["filter"]["chains"]["cali-wl-to-host"][-1] == "-j RETURN"
    assert render(model, "h1")["filter"]["chains"]["cali-wl-to-host"][-1] == "-j ACCEPT"
