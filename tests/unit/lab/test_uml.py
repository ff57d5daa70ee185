import subprocess
from pathlib import Path

import pytest
from uml import UmlError, checkout_remount, guest_init, load_order, parse_modules_dep

DEP = """\
kernel/net/ipv4/ipip.ko: kernel/net/ipv4/tunnel4.ko kernel/net/ipv4/ip_tunnel.ko
kernel/net/ipv4/tunnel4.ko:
kernel/net/ipv4/ip_tunnel.ko:
kernel/drivers/net/vxlan/vxlan.ko: kernel/net/ipv6/ip6_udp_tunnel.ko kernel/net/ipv4/udp_tunnel.ko
kernel/net/ipv6/ip6_udp_tunnel.ko: kernel/net/ipv6/ipv6.ko
kernel/net/ipv4/udp_tunnel.ko:
kernel/net/ipv6/ipv6.ko:
"""


def test_dependencies_load_first_and_once():
    order = load_order(["ipip", "vxlan", "ipip"], parse_modules_dep(DEP))

    assert order == [
        "kernel/net/ipv4/ip_tunnel.ko",
        "kernel/net/ipv4/tunnel4.ko",
        "kernel/net/ipv4/ipip.ko",
        "kernel/net/ipv4/udp_tunnel.ko",
        "kernel/net/ipv6/ipv6.ko",
        "kernel/net/ipv6/ip6_udp_tunnel.ko",
        "kernel/drivers/net/vxlan/vxlan.ko",
    ]


def test_a_module_the_kernel_lacks_is_named():
    with pytest.raises(UmlError, match="no module nft_chain_nat"):
        load_order(["ipip", "nft_chain_nat"], parse_modules_dep(DEP))


def test_guest_init_reports_the_status_and_powers_off(tmp_path):
    script = guest_init(
        [".venv/bin/pytest", "-k", "ipip or vxlan"],
        [Path("/m/kernel/net/ipv4/ipip.ko")],
        tmp_path,
        {"HOME": "/tmp/home"},
    )

    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "insmod /m/kernel/net/ipv4/ipip.ko" in lines
    assert ".venv/bin/pytest -k 'ipip or vxlan'" in lines
    assert lines[-2:] == [f"echo $? > {tmp_path}/status", "poweroff -f"]
    # The guest writes only to tmpfs and the scratch directory.
    assert (
        'for dir in /run /tmp /dev/shm; do mount -t tmpfs -o mode=1777 uml-tmp "$dir"; done'
        in lines
    )
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


def test_a_checkout_under_a_guest_tmpfs_is_mounted_again_over_its_own_path() -> None:
    assert checkout_remount(Path("/tmp/clone")) == (
        "mkdir -p /tmp/clone\nmount -t hostfs -o /tmp/clone hostfs /tmp/clone\n"
    )
    assert checkout_remount(Path("/work/clone")) == ""
