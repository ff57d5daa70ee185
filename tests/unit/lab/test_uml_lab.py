import tomllib
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest
from lab_errors import LabError
from lab_inventory import Host
from uml_lab import (
    guest_containers_conf,
    guest_inventory,
    guest_mounts,
    route_host,
    route_shape_problems,
    systemd_tunables,
    tunnel_routes,
)

H1 = Host("host1", IPv4Interface("192.168.100.100/24"))
H2 = Host("host2", IPv4Interface("192.168.100.101/24"))
H3 = Host("host3", IPv4Interface("192.168.200.102/24"))
H4 = Host("host4", IPv4Interface("192.168.200.103/24"))
LAB = [H1, H2, H3, H4]

# host1's `ip -4 route show proto bird` in the default lab, CrossSubnet IPIP.
HOST1_ROUTES = """\
172.17.1.0/24 via 192.168.100.101 dev eth0 proto bird
172.17.2.0/24 via 192.168.200.102 dev tunl0 proto bird onlink
172.17.3.0/24 via 192.168.200.103 dev tunl0 proto bird onlink
"""


def test_only_the_seed_route_shape_counts_as_a_tunnel_route() -> None:
    text = HOST1_ROUTES + "172.17.9.0/24 via 192.168.200.9 dev tunl0 proto bird\n"  # no onlink
    text += "172.17.8.0/24 via 192.168.200.8 dev vxlan.calico proto bird onlink\n"

    assert tunnel_routes(text) == {
        IPv4Address("192.168.200.102"): [IPv4Network("172.17.2.0/24")],
        IPv4Address("192.168.200.103"): [IPv4Network("172.17.3.0/24")],
    }


def test_the_default_lab_routes_have_the_seed_shape() -> None:
    assert route_shape_problems(H1, LAB, HOST1_ROUTES) == []


def test_a_missing_tunnel_route_is_named() -> None:
    text = "\n".join(line for line in HOST1_ROUTES.splitlines() if "200.103" not in line)

    assert route_shape_problems(H1, LAB, text) == [
        "host1 has 0 tunl0 routes via host4 (192.168.200.103), expected one: "
        "`BLOCK via HOST dev tunl0 proto bird onlink`"
    ]


def test_vxlan_routes_do_not_pass_for_ipip() -> None:
    text = HOST1_ROUTES.replace("tunl0", "vxlan.calico")

    assert len(route_shape_problems(H1, LAB, text)) == 2


def test_a_same_subnet_peer_through_the_tunnel_is_refused() -> None:
    text = HOST1_ROUTES.replace(
        "192.168.100.101 dev eth0 proto bird", "192.168.100.101 dev tunl0 proto bird onlink"
    )

    assert route_shape_problems(H1, LAB, text) == [
        "host2 is on host1's subnet but routed through tunl0"
    ]


def test_the_routes_shown_are_a_host_with_a_peer_on_another_subnet() -> None:
    assert route_host(LAB) == H1
    assert route_host([H3, H1]) == H3
    with pytest.raises(LabError, match="one subnet"):
        route_host([H1, H2])


def test_a_directory_inventory_is_copied_whole(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()

    assert guest_inventory(tmp_path / "lab", Path("/tmp/x")) == (
        tmp_path / "lab",
        Path("/tmp/x/lab"),
    )


def test_a_file_inventory_keeps_its_group_vars_beside_it(tmp_path: Path) -> None:
    hosts = tmp_path / "inv" / "hosts.yml"
    hosts.parent.mkdir()
    hosts.write_text("---\n")

    assert guest_inventory(hosts, Path("/tmp/x")) == (hosts.parent, Path("/tmp/x/inv/hosts.yml"))


def test_the_machine_podman_state_is_hidden_before_anything_else() -> None:
    mounts = guest_mounts()
    targets = [argv[-1] for argv in mounts if argv[0] == "mount"]

    # tmpfs over the machine's storage and network definitions come first: nothing the guest's
    # podman does can reach them.
    assert mounts[0] == [
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "mode=0700",
        "uml-lab",
        "/var/lib/containers",
    ]
    assert mounts[1][-1] == "/etc/containers/networks"
    assert targets[2] == "/sys/fs/cgroup"
    assert "/sys/fs/cgroup/systemd" in targets
    assert "/sys/fs/cgroup/cpuset" not in targets  # not in the UML kernel


def test_the_guest_containers_conf_adds_into_the_lab_tables() -> None:
    lab = (Path(__file__).resolve().parents[3] / "lab" / "containers.conf").read_text()
    text = guest_containers_conf(
        lab, "glibc.cpu.hwcaps=-AVX512F", Path("/tmp/g/networks"), Path("/tmp/g/t.conf")
    )
    conf = tomllib.loads(text)  # one table each: valid TOML

    assert conf["engine"]["runtime"] == "runc"  # the lab's settings stay
    assert conf["containers"]["default_ulimits"] == ["nofile=8192:8192", "nproc=4096:4096"]
    assert "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F" in conf["containers"]["env"]
    assert "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F" in conf["engine"]["conmon_env_vars"]
    assert conf["containers"]["volumes"] == [
        "/tmp/g/t.conf:/etc/systemd/system.conf.d/uml-glibc-tunables.conf:ro"
    ]
    assert conf["network"]["network_config_dir"] == "/tmp/g/networks"


def test_a_missing_table_is_created() -> None:
    conf = tomllib.loads(guest_containers_conf("[engine]\n", "x", Path("/n"), Path("/d")))

    assert conf["network"] == {"network_config_dir": "/n"}
    assert conf["engine"]["conmon_env_vars"][-1] == "GLIBC_TUNABLES=x"


def test_services_get_the_tunables_through_systemd() -> None:
    assert systemd_tunables("glibc.cpu.hwcaps=-AVX512F") == (
        "[Manager]\nDefaultEnvironment=GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F\n"
    )
