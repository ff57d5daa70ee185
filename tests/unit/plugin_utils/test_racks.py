"""Per-rack route reflectors: rack membership, validation, and the sessions of every host."""

import json
import os
import subprocess

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import (
    build,
    build_model,
    host_slice,
    validate,
)
from ansible_collections.calico.network.plugins.plugin_utils.racks import (
    RACK_GROUPS,
    rack_groups_from_inventory_json,
)
from tools.render import REPO, inventory_vars

POOLS = [{"cidr": "172.18.0.0/16", "block_size": 24}]


def fleet(racks, reflectors=2, **fleet_vars):
    """``racks`` = hosts per rack; the first ``reflectors`` hosts of each rack reflect."""
    host_vars = {}
    for r, size in enumerate(racks, start=1):
        for h in range(1, size + 1):
            host_vars[f"r{r}h{h}"] = {
                "calico_ip": f"192.168.{r}.{h}/16",
                "calico_pools": POOLS,
                "calico_bgp_mode": "route_reflector",
                "calico_as": 65000 + r,
                "calico_route_reflector": h <= reflectors,
                RACK_GROUPS: [f"rack{r}"],
                **fleet_vars,
            }
    return host_vars


def sessions(model, host):
    return {peer["name"]: peer for peer in host_slice(model, host)["peers"]}


def test_a_client_peers_only_with_the_reflectors_of_its_own_rack():
    model = build_model(fleet([3, 3]))
    peers = sessions(model, "r1h3")
    assert sorted(peers) == ["RR_192_168_1_1", "RR_192_168_1_2"]
    assert {p["kind"] for p in peers.values()} == {"rr-client"}
    assert all(p["as"] == 65001 and not p["rr_client"] for p in peers.values())


def test_reflectors_reflect_to_clients_and_peer_plainly_with_each_other_on_one_cluster_id():
    model = build_model(fleet([4, 3]))
    peers = sessions(model, "r1h1")
    clients = [p for p in peers.values() if p["kind"] == "rr-client"]
    assert sorted(p["host"] for p in clients) == ["r1h3", "r1h4"]
    assert all(p["rr_client"] and p["name"].startswith("Client_") for p in clients)
    (partner,) = [p for p in peers.values() if p["kind"] == "rr-peer"]
    assert partner["host"] == "r1h2" and not partner["rr_client"]
    internal = [*clients, partner]
    assert {p["rr_cluster_id"] for p in internal} == {model["racks"]["rack1"]["cluster_id"]}


def test_reflectors_peer_ebgp_multihop_with_next_hop_keep_with_every_other_racks_reflectors():
    model = build_model(fleet([3, 3, 2], reflectors=2))
    ebgp = [p for p in sessions(model, "r2h2").values() if p["kind"] == "ebgp"]
    assert sorted(p["host"] for p in ebgp) == ["r1h1", "r1h2", "r3h1", "r3h2"]
    assert all(p["multihop"] is True and p["next_hop_keep"] for p in ebgp)
    assert {p["as"] for p in ebgp} == {65001, 65003}
    assert not any(p["rr_client"] or p["rr_cluster_id"] for p in ebgp)


def test_reflectors_own_blocks_and_workloads_like_any_host():
    host_vars = fleet([2, 2])
    host_vars["r1h1"]["calico_workloads"] = [{"name": "web"}]
    entry = build_model(host_vars)["hosts"]["r1h1"]
    assert entry["route_reflector"] and entry["blocks"] and entry["workloads"]


@pytest.mark.parametrize(("racks", "reflectors"), [([3, 3], 2), ([5, 1, 4, 2], 1), ([2] * 7, 2)])
def test_every_session_is_seen_the_same_way_from_both_ends(racks, reflectors):
    model = build_model(fleet(racks, reflectors=reflectors))
    hosts = model["hosts"]
    seen = {}
    for host in hosts:
        for peer in host_slice(model, host)["peers"]:
            seen[(host, peer["host"])] = peer
    for (a, b), peer in seen.items():
        back = seen.get((b, a))
        assert back is not None, f"{a} peers with {b}, but not {b} with {a}"
        assert back["kind"] == peer["kind"] and back["password"] == peer["password"]
        assert back["passive"] != peer["passive"]
        assert back["as"] == hosts[a]["as"] and peer["as"] == hosts[b]["as"]
        assert back["rr_client"] == (peer["kind"] == "rr-client" and hosts[b]["route_reflector"])


def test_sessions_per_client_stay_at_the_reflector_count_as_the_fleet_grows():
    model = build_model(fleet([20] * 10))
    assert len(host_slice(model, "r7h9")["peers"]) == 2
    # a reflector: 18 clients, its partner, 2 reflectors in each of 9 other racks
    assert len(host_slice(model, "r7h1")["peers"]) == 18 + 1 + 18


def test_the_default_cluster_id_is_the_rack_as_in_dotted_form_and_can_be_set():
    host_vars = fleet([2, 2])
    for name in ("r2h1", "r2h2"):
        host_vars[name]["calico_rr_cluster_id"] = "244.0.0.2"
    racks = build_model(host_vars)["racks"]
    assert racks["rack1"]["cluster_id"] == "0.0.253.233"  # 65001
    assert racks["rack2"]["cluster_id"] == "244.0.0.2"


def test_rack_passwords_reach_only_the_hosts_of_their_rack():
    host_vars = fleet([3, 3], calico_bgp_password="fleet-key")
    for name in ("r2h1", "r2h2", "r2h3"):
        host_vars[name]["calico_rack_bgp_password"] = "rack2-key"
    model = build_model(host_vars)
    reflector = host_slice(model, "r2h1")
    assert reflector["bgp_passwords"] == {
        "calico_password_ebgp": "fleet-key",
        "calico_password_rack": "rack2-key",
    }
    assert {p["password"] for p in reflector["peers"] if p["kind"] == "ebgp"} == {
        "calico_password_ebgp"
    }
    assert host_slice(model, "r1h3")["bgp_passwords"] == {"calico_password_rack": "fleet-key"}
    assert host_slice(model, "r2h3")["bgp_passwords"] == {"calico_password_rack": "rack2-key"}


def test_without_passwords_no_session_refers_to_one():
    model = build_model(fleet([2, 2]))
    for host in model["hosts"]:
        piece = host_slice(model, host)
        assert piece["bgp_passwords"] == {}
        assert all(p["password"] == "" for p in piece["peers"])


def rack_problem(change):
    host_vars = fleet([3, 3])
    change(host_vars)
    return validate(host_vars)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda v: v["r1h3"].update({RACK_GROUPS: []}),
            "r1h3: calico_racks: the host is in no rack",
        ),
        (
            lambda v: v["r1h3"].update({RACK_GROUPS: ["rack1", "rack2"]}),
            "r1h3: calico_racks: the host is in 2 racks (rack1, rack2)",
        ),
        (
            lambda v: [v[h].update({"calico_route_reflector": False}) for h in ("r2h1", "r2h2")],
            "rack2: calico_route_reflector: no host of this rack is a route reflector",
        ),
        (
            lambda v: v["r2h3"].update({"calico_route_reflector": True}),
            "rack2: calico_route_reflector: 3 hosts are route reflectors",
        ),
        (
            lambda v: v["r2h3"].update({"calico_route_reflector": "maybe"}),
            "r2h3: calico_route_reflector: 'maybe' is not true or false",
        ),
        (
            lambda v: v["r1h2"].update({"calico_as": 65009}),
            "r1h2: calico_as: AS 65009 differs from AS 65001 of rack rack1; a rack is one AS",
        ),
        (
            lambda v: [v[h].update({"calico_as": 65001}) for h in ("r2h1", "r2h2", "r2h3")],
            "rack2: calico_as: AS 65001 is rack rack1's too",
        ),
        (
            lambda v: [
                v[h].update({"calico_rr_cluster_id": "1.2.3"}) for h in ("r1h1", "r1h2", "r1h3")
            ],
            "rack1: calico_rr_cluster_id: '1.2.3' is not an IPv4 address",
        ),
        (
            lambda v: v["r1h2"].update({"calico_rr_cluster_id": "244.0.0.9"}),
            "r1h2: calico_rr_cluster_id: differs from the value on r1h1; it is rack-wide",
        ),
        (
            lambda v: [
                v[h].update({"calico_rack_bgp_password": "k" * 81})
                for h in ("r1h1", "r1h2", "r1h3")
            ],
            "rack1: calico_rack_bgp_password: is 81 bytes long",
        ),
    ],
)
def test_bad_racks_are_reported_with_rack_or_host_variable_and_fix(change, expected):
    problems = rack_problem(change)
    found = problems.messages()
    assert any(m.startswith(expected) for m in found), found
    assert all("Fix: " in m for m in found)


def test_a_rack_with_a_single_reflector_warns_that_its_clients_depend_on_it():
    problems = validate(fleet([3, 3], reflectors=1))
    assert not problems.errors
    assert any(
        "rack1: calico_route_reflector: r1h1 is the rack's only" in w
        for w in problems.warning_messages()
    )


def test_a_reflector_flag_in_mesh_mode_is_a_warning_and_changes_nothing():
    host_vars = fleet([2, 2], calico_bgp_mode="mesh", calico_as=64512)
    result = build(host_vars)
    model = result["model"]
    assert any("calico_route_reflector: has no effect" in w for w in result["warnings"])
    assert {p["kind"] for p in host_slice(model, "r1h1")["peers"]} == {"mesh"}
    assert model["racks"] == {}


def test_racks_of_the_inventory_json_include_hosts_of_nested_groups():
    data = {
        "calico_racks": {"children": ["rack1", "rack2"]},
        "rack1": {"hosts": ["a"], "children": ["rack1_top"]},
        "rack1_top": {"hosts": ["b"]},
        "rack2": {"hosts": ["c"]},
        "other": {"hosts": ["d"]},
    }
    assert rack_groups_from_inventory_json(data) == {"rack1": ["a", "b"], "rack2": ["c"]}


def test_the_model_filter_reads_the_racks_from_the_inventory_ansible_loaded():
    # Through Ansible itself (a subprocess keeps its global state out of the other tests).
    expression = (
        "{{ (hostvars | calico.network.calico_network_model(groups['calico_hosts'])).model.racks"
        " | dict2items | map(attribute='value.reflectors') }}"
    )
    ansible = str(REPO / ".venv" / "bin" / "ansible")
    out = subprocess.run(
        [
            ansible,
            "-i",
            "inventory/lab-racks",
            "localhost",
            "-m",
            "debug",
            "-a",
            f"msg={expression}",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "json",
        },
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out[out.index("{") :])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["msg"] == [["rack1-h1", "rack1-h2"], ["rack2-h1", "rack2-h2"]]


def test_the_lab_racks_inventory_gives_each_client_two_sessions_and_each_reflector_four():
    model = build_model(inventory_vars(REPO / "inventory" / "lab-racks"))
    counts = {host: len(host_slice(model, host)["peers"]) for host in model["hosts"]}
    assert counts == {
        "rack1-h1": 4,
        "rack1-h2": 4,
        "rack1-h3": 2,
        "rack2-h1": 4,
        "rack2-h2": 4,
        "rack2-h3": 2,
    }
    assert sum(counts.values()) == 20
    assert [model["racks"][r]["reflectors"] for r in sorted(model["racks"])] == [
        ["rack1-h1", "rack1-h2"],
        ["rack2-h1", "rack2-h2"],
    ]
