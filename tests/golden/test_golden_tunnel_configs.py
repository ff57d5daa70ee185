"""BIRD's tunnel filters for a fleet mixing encapsulations, compared with a reviewed golden file.

One pool per encapsulation and mode (IPIP CrossSubnet, VXLAN Always, VXLAN CrossSubnet, none),
so the golden file shows every branch of the import filter (tunl0 onlink rewrite) and of the
kernel export filter (VXLAN routes left to calico_tunnel). ``UPDATE_GOLDEN=1`` rewrites it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, host_slice
from tools.render import render, role_defaults

GOLDEN = Path(__file__).resolve().parent / "encap"
POOLS = [
    {
        "cidr": "172.17.0.0/16",
        "block_size": 24,
        "encapsulation": "ipip",
        "encapsulation_mode": "CrossSubnet",
    },
    {
        "cidr": "172.18.0.0/16",
        "block_size": 26,
        "encapsulation": "vxlan",
        "encapsulation_mode": "Always",
    },
    {
        "cidr": "172.19.0.0/16",
        "block_size": 26,
        "encapsulation": "vxlan",
        "encapsulation_mode": "CrossSubnet",
    },
    {"cidr": "172.20.0.0/16", "block_size": 26},
]
HOSTS = {
    "h1": {"calico_ip": "192.168.100.100/24", "calico_block": "172.17.0.0/24"},
    "h2": {"calico_ip": "192.168.200.101/24", "calico_block": "172.18.0.0/26"},
    "h3": {"calico_ip": "192.168.200.102/24", "calico_block": "172.19.0.0/26"},
}


@pytest.fixture(scope="module")
def bird_conf():
    model = build_model({name: {**v, "calico_pools": POOLS} for name, v in HOSTS.items()})
    variables = {
        **role_defaults("calico_bird"),
        "calico_host": host_slice(model, "h1"),
        "ansible_managed": "Managed by calico-ansible",
    }
    return render("calico_bird", "bird.conf.j2", variables)


def test_mixed_encapsulation_bird_config_matches_the_golden_file(bird_conf):
    golden = GOLDEN / "mixed-pools.h1.bird.conf"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(bird_conf)
    assert golden.exists(), f"no golden file {golden}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert bird_conf == golden.read_text()


def test_ipip_routes_are_rewritten_onto_tunl0_in_the_bgp_import_filter(bird_conf):
    import_filter = bird_conf.split("filter calico_bgp_import {")[1].split("\n}\n")[0]
    assert (
        '  if calico_ipip_tunnelled() then {\n    ifname = "tunl0";\n    onlink = true;\n'
        "    gw = bgp_next_hop;\n  }\n"
    ) in import_filter
    assert (
        "if net ~ [ 172.17.0.0/16{24,32} ] && !(bgp_next_hop ~ CALICO_SUBNET) then return true;"
    ) in bird_conf
    assert "define CALICO_SUBNET = 192.168.100.0/24;" in bird_conf


def test_vxlan_tunnelled_routes_never_reach_the_kernel_from_bird(bird_conf):
    export = bird_conf.split("filter calico_kernel_export {")[1].split("\n}\n")[0]
    assert "if source = RTS_BGP && calico_vxlan_tunnelled() then reject;" in export
    assert "if net ~ [ 172.18.0.0/16{26,32} ] then return true;" in bird_conf


def test_the_tunnel_routes_learned_from_the_kernel_are_never_imported(bird_conf):
    assert "filter calico_kernel_import {\n  if krt_source = 80 then reject;" in bird_conf


def test_the_mixed_encapsulation_config_parses_with_bird(bird_conf, tmp_path):
    bird = shutil.which("bird")
    assert bird, "bird (Debian package bird2) is needed to check rendered configs: make deps"
    secrets = tmp_path / "secrets.conf"
    secrets.write_text('define calico_password_mesh = "x";\n')
    config = tmp_path / "bird.conf"
    config.write_text(bird_conf.replace("/etc/bird/calico_secrets.conf", str(secrets)))
    result = subprocess.run([bird, "-p", "-c", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
