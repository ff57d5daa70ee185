"""calico_workloads against a fake host that answers ``ip -j`` like iproute2 6.1 does.

The JSON shapes below were captured from real ``ip -j -d`` output (kernel 6.18, iproute2 6.1)
in a throw-away network namespace; only addresses and names differ.
"""

import json
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.calico.network.plugins.modules import calico_workloads
from tests.support.workloads import fresh_namespace_lines

IP = "/usr/sbin/ip"
CONNTRACK = "/usr/sbin/conntrack"
MAC = "ee:ee:ee:ee:ee:ee"
ROOT_READ = [IP, "-j", "-d", "-batch", "-"]
NETNS_LIST = [IP, "-j", "-d", "netns", "list"]
ROOT_WRITE = [IP, "-batch", "-"]

WEB = {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a"}
DB = {"name": "db-1", "ip": "172.17.0.2", "interface": "calib0c2e3d4f5a", "mtu": 1440}


def link_json(index, name, *, mac, mtu=1500, up=True, kind="veth", netnsid=None, peer_index=None):
    flags = ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"] if up else ["BROADCAST", "MULTICAST"]
    entry = {"ifindex": index}
    if peer_index is not None:
        entry["link_index"] = peer_index
    entry.update(
        {
            "ifname": name,
            "flags": flags,
            "mtu": mtu,
            "qdisc": "noqueue" if up else "noop",
            "operstate": "UP" if up else "DOWN",
            "linkmode": "DEFAULT",
            "group": "default",
            "txqlen": 1000,
            "link_type": "ether",
            "address": mac,
            "broadcast": "ff:ff:ff:ff:ff:ff",
        }
    )
    if netnsid is not None:
        entry["link_netnsid"] = netnsid
    entry.update({"promiscuity": 0, "allmulti": 0, "min_mtu": 68, "max_mtu": 65535})
    if kind:
        entry["linkinfo"] = {"info_kind": kind}
    entry.update({"inet6_addr_gen_mode": "eui64", "num_tx_queues": 2, "num_rx_queues": 2})
    return entry


def lo_json(up=True):
    """lo as ``ip -j -d link`` prints it: loopback's flags, type, address and MTU limits."""
    entry = link_json(1, "lo", mac="00:00:00:00:00:00", mtu=65536, up=up, kind=None)
    entry.update(
        {
            "flags": ["LOOPBACK", "UP", "LOWER_UP"] if up else ["LOOPBACK"],
            "operstate": "UNKNOWN" if up else "DOWN",
            "link_type": "loopback",
            "broadcast": "00:00:00:00:00:00",
            "min_mtu": 0,
            "max_mtu": 0,
        }
    )
    return entry


def inet(address, prefixlen, label, scope="global"):
    return {
        "family": "inet",
        "local": address,
        "prefixlen": prefixlen,
        "scope": scope,
        "label": label,
        "valid_life_time": 4294967295,
        "preferred_life_time": 4294967295,
    }


def inet6_link_local():
    return {
        "family": "inet6",
        "local": "fe80::e4b1:bcff:fe8c:f394",
        "prefixlen": 64,
        "scope": "link",
        "valid_life_time": 4294967295,
        "preferred_life_time": 4294967295,
    }


def route_json(dst, dev=None, *, scope="link", protocol="boot", gateway=None, **extra):
    entry = {"type": "unicast", "dst": dst}
    if gateway:
        entry["gateway"] = gateway
    if dev:
        entry["dev"] = dev
    entry.update({"protocol": protocol, "scope": scope, "flags": []})
    entry.update(extra)
    return entry


def gateway_routes():
    return [
        route_json("default", "eth0", scope="global", gateway="169.254.1.1"),
        route_json("169.254.1.1", "eth0"),
    ]


def gateway_neighbour(lladdr=MAC, state="PERMANENT"):
    return {"dst": "169.254.1.1", "dev": "eth0", "lladdr": lladdr, "state": [state]}


class FakeHost:
    """Answers the module's ``ip`` reads from JSON and records every changing batch."""

    def __init__(self, proc: Path):
        self.proc = proc
        self.links = [lo_json()]
        self.routes = []
        self.netns = {}
        self.run_netns = True
        self.calls = []
        self.writes = []
        self.flushes = []
        self.fail = None
        self.old_iproute2 = False
        self.underlay_mtu = 1500  # eth0 holding 192.168.100.100, seen by `address show` only

    # ---- building the state
    def next_index(self):
        return max(link["ifindex"] for link in self.links) + 1

    def add_netns(self, name, links=None):
        netns_id = len([ns for ns in self.netns.values() if ns["id"] is not None])
        self.netns[name] = {
            "id": netns_id,
            "links": links or [lo_json()],
            "routes": [],
            "neigh": [],
        }
        return self.netns[name]

    def add_workload(self, name, ip, interface, mtu=1500):
        """A workload exactly as the module leaves it."""
        netns = self.add_netns(name)
        index = self.next_index()
        eth0 = link_json(2, "eth0", mac="e2:1a:7e:bc:c2:54", mtu=mtu, netnsid=0, peer_index=index)
        netns["links"][0]["addr_info"] = [inet("127.0.0.1", 8, "lo", scope="host")]
        eth0["addr_info"] = [inet(ip, 32, "eth0"), inet6_link_local()]
        netns["links"].append(eth0)
        netns["routes"] = gateway_routes()
        netns["neigh"] = [gateway_neighbour()]
        self.links.append(
            link_json(index, interface, mac=MAC, mtu=mtu, netnsid=netns["id"], peer_index=2)
        )
        self.routes.append(route_json(ip, interface))
        self.set_sysctls(interface, proxy_arp="1", proxy_delay="0", forwarding="1")

    def set_sysctls(self, interface, **values):
        paths = {
            "proxy_arp": f"net/ipv4/conf/{interface}/proxy_arp",
            "proxy_delay": f"net/ipv4/neigh/{interface}/proxy_delay",
            "forwarding": f"net/ipv4/conf/{interface}/forwarding",
        }
        for key, value in values.items():
            path = self.proc / paths[key]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{value}\n")

    def sysctl(self, key):
        return (self.proc / key).read_text().strip()

    def link(self, name, netns=None):
        links = self.netns[netns]["links"] if netns else self.links
        return next(link for link in links if link["ifname"] == name)

    # ---- answering run_command
    def run_command(self, args, data=None, **_kwargs):
        args = list(args)
        self.calls.append((args, data))
        if self.fail and self.fail[0] == args:
            return 2, "", self.fail[1]
        if args == NETNS_LIST:
            return 0, self._netns_list(), ""
        if args[0] == CONNTRACK:
            self.flushes.append(args[1:])
            return 1, "", "0 flow entries have been deleted.\n"  # conntrack's "none found"
        netns = args[2] if args[1] == "-n" else None
        rest = args[3:] if netns else args[1:]
        if rest == ["-j", "-d", "-batch", "-"]:
            return 0, self._read(netns, data.splitlines()), ""
        if rest == ["-batch", "-"]:
            self.writes.append((netns, data.splitlines()))
            self._make_sysctl_dirs(data.splitlines())
            return 0, "", ""
        if rest[:2] == ["-j", "-d"]:
            return 0, json.dumps(self._answer(netns, " ".join(rest[2:]))), ""
        raise AssertionError(f"unexpected command {args}")

    def _make_sysctl_dirs(self, lines):
        """The kernel creates /proc/sys/net/ipv4/{conf,neigh}/IF with the interface."""
        for line in lines:
            if line.startswith("link add "):
                for kind in ("conf", "neigh"):
                    (self.proc / "net/ipv4" / kind / line.split()[2]).mkdir(
                        parents=True, exist_ok=True
                    )

    def _netns_list(self):
        if not self.run_netns:
            return ""  # what iproute2 prints when /run/netns does not exist
        entries = []
        for name, netns in reversed(list(self.netns.items())):
            entry = {"name": name}
            if netns["id"] is not None:  # ids exist only once a veth peer lives there
                entry["id"] = netns["id"]
            entries.append(entry)
        return json.dumps(entries)

    def _answer(self, netns, line):
        inside = self.netns[netns] if netns else None
        answers = {
            "link show": lambda: [
                {k: v for k, v in link.items() if k != "addr_info"} for link in self.links
            ],
            "route show": lambda: inside["routes"] if inside else self.routes,
            "addr show": lambda: [{"addr_info": [], **link} for link in inside["links"]],
            "neigh show": lambda: inside["neigh"],
            "address show": lambda: [
                {
                    "ifname": "eth0",
                    "mtu": self.underlay_mtu,
                    "addr_info": [{"family": "inet", "local": "192.168.100.100", "prefixlen": 24}],
                }
            ],
        }
        return answers[line]()

    def _read(self, netns, lines):
        if self.old_iproute2:
            return json.dumps(self._answer(netns, lines[0]))
        return "\n".join(json.dumps(self._answer(netns, line)) for line in lines) + "\n"

    # ---- what happened
    def root_writes(self):
        return [lines for netns, lines in self.writes if netns is None]

    def netns_writes(self):
        return {netns: lines for netns, lines in self.writes if netns is not None}

    def changing_calls(self):
        return [args for args, _ in self.calls if args[-2:] == ["-batch", "-"] and "-j" not in args]


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path / "proc-sys")
    fake.proc.mkdir()
    monkeypatch.setattr(calico_workloads, "PROC_SYS", str(fake.proc))
    monkeypatch.setattr(
        AnsibleModule, "run_command", lambda self, args, **kw: fake.run_command(args, **kw)
    )
    monkeypatch.setattr(
        AnsibleModule,
        "get_bin_path",
        lambda self, name, *a, **kw: CONNTRACK if name == "conntrack" else IP,
    )
    return fake


@pytest.fixture
def run(capsys, monkeypatch):
    def run_module(workloads, check=False, diff=False, **options):
        # Module warnings are process-global; a real module process starts with none.
        monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
        args = {"workloads": workloads, "_ansible_check_mode": check, "_ansible_diff": diff}
        if workloads is None:
            del args["workloads"]
        with patch_module_args({**args, **options}), pytest.raises(SystemExit):
            calico_workloads.main()
        result = json.loads(capsys.readouterr().out)
        if "warnings" in result:
            result["warnings"] = [warning["event"]["msg"] for warning in result["warnings"]]
        return result

    return run_module


# --------------------------------------------------------------------------- fresh and converged


def test_fresh_host_gets_calico_wiring_in_one_root_batch_and_one_batch_per_namespace(host, run):
    result = run([WEB, DB])

    assert result["changed"] is True
    assert host.root_writes() == [
        [
            "netns add db-1",
            "link add calib0c2e3d4f5a mtu 1440 address ee:ee:ee:ee:ee:ee up type veth "
            "peer name eth0 mtu 1440 netns db-1",
            "route replace 172.17.0.2/32 dev calib0c2e3d4f5a scope link",
            "netns add web-1",
            "link add cali1234567890a mtu 1500 address ee:ee:ee:ee:ee:ee up type veth "
            "peer name eth0 mtu 1500 netns web-1",
            "route replace 172.17.0.1/32 dev cali1234567890a scope link",
        ]
    ]
    assert host.netns_writes()["web-1"] == fresh_namespace_lines("172.17.0.1")
    assert list(host.netns_writes()) == ["db-1", "web-1"]
    assert host.sysctl("net/ipv4/conf/cali1234567890a/proxy_arp") == "1"
    assert host.sysctl("net/ipv4/neigh/cali1234567890a/proxy_delay") == "0"
    assert host.sysctl("net/ipv4/conf/calib0c2e3d4f5a/forwarding") == "1"
    assert len(host.changing_calls()) == 3


def test_commands_list_every_change_in_execution_order(host, run):
    result = run([WEB])

    assert result["commands"] == [
        "ip netns add web-1",
        "ip link add cali1234567890a mtu 1500 address ee:ee:ee:ee:ee:ee up type veth "
        "peer name eth0 mtu 1500 netns web-1",
        "ip route replace 172.17.0.1/32 dev cali1234567890a scope link",
        "sysctl -w net.ipv4.conf.cali1234567890a.proxy_arp=1",
        "sysctl -w net.ipv4.neigh.cali1234567890a.proxy_delay=0",
        "sysctl -w net.ipv4.conf.cali1234567890a.forwarding=1",
        "ip -n web-1 link set lo up",
        "ip -n web-1 link set eth0 up",
        "ip -n web-1 addr add 172.17.0.1/32 dev eth0",
        "ip -n web-1 route replace 169.254.1.1 dev eth0 scope link",
        "ip -n web-1 route replace default via 169.254.1.1 dev eth0",
        "ip -n web-1 neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
    ]
    assert result["workloads"] == [
        {"name": "web-1", "netns": "web-1", "interface": "cali1234567890a", "ip": "172.17.0.1"}
        | {"mtu": 1500}
    ]


def test_converged_host_runs_no_changing_command_and_reports_unchanged(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)

    result = run([WEB, DB])

    assert result["changed"] is False
    assert result["commands"] == []
    assert host.changing_calls() == []


def test_state_is_read_with_two_root_commands_and_one_per_workload_namespace(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)

    run([WEB, DB])

    reads = [args for args, _ in host.calls]
    assert reads == [
        ROOT_READ,
        NETNS_LIST,
        [IP, "-n", "db-1", "-j", "-d", "-batch", "-"],
        [IP, "-n", "web-1", "-j", "-d", "-batch", "-"],
    ]


def test_host_without_run_netns_is_read_as_having_no_namespaces(host, run):
    host.run_netns = False

    result = run([WEB])

    assert result["changed"] is True
    assert host.root_writes()[0][0] == "netns add web-1"


def test_old_iproute2_without_one_json_document_per_batch_line_is_read_line_by_line(host, run):
    host.add_workload(**WEB)
    host.old_iproute2 = True

    result = run([WEB])

    assert result["changed"] is False
    assert [IP, "-j", "-d", "route", "show"] in [args for args, _ in host.calls]
    assert [IP, "-n", "web-1", "-j", "-d", "neigh", "show"] in [args for args, _ in host.calls]


# --------------------------------------------------------------------------- partial states


def test_missing_host_route_is_the_only_thing_added(host, run):
    host.add_workload(**WEB)
    host.routes.clear()

    result = run([WEB])

    assert result["commands"] == ["ip route replace 172.17.0.1/32 dev cali1234567890a scope link"]


def test_host_route_installed_by_another_protocol_is_replaced_with_the_default_one(host, run):
    host.add_workload(**WEB)
    host.routes[0]["protocol"] = "bird"

    result = run([WEB])

    assert result["commands"] == ["ip route replace 172.17.0.1/32 dev cali1234567890a scope link"]


def test_wrong_sysctl_is_rewritten_without_any_ip_command(host, run):
    host.add_workload(**WEB)
    host.set_sysctls("cali1234567890a", proxy_arp="0", proxy_delay="80")

    result = run([WEB])

    assert result["commands"] == [
        "sysctl -w net.ipv4.conf.cali1234567890a.proxy_arp=1",
        "sysctl -w net.ipv4.neigh.cali1234567890a.proxy_delay=0",
    ]
    assert host.changing_calls() == []
    assert host.sysctl("net/ipv4/conf/cali1234567890a/proxy_arp") == "1"


def test_changed_mtu_is_set_on_both_ends_of_the_veth(host, run):
    host.add_workload(**WEB)

    result = run([WEB | {"mtu": 1400}])

    assert result["commands"] == [
        "ip link set dev cali1234567890a mtu 1400",
        "ip -n web-1 link set dev eth0 mtu 1400",
    ]


def test_changed_ip_adds_the_new_address_before_removing_the_old_one_and_moves_the_route(host, run):
    host.add_workload(**WEB)

    result = run([WEB | {"ip": "172.17.0.9"}])

    assert result["commands"] == [
        "ip route del 172.17.0.1/32 dev cali1234567890a",
        "ip route replace 172.17.0.9/32 dev cali1234567890a scope link",
        "ip -n web-1 addr add 172.17.0.9/32 dev eth0",
        "ip -n web-1 addr del 172.17.0.1/32 dev eth0",
        "conntrack -D -f ipv4 --orig-src 172.17.0.1",
        "conntrack -D -f ipv4 --reply-src 172.17.0.1",
    ]


def test_learned_gateway_neighbour_is_made_permanent(host, run):
    host.add_workload(**WEB)
    host.netns["web-1"]["neigh"] = [gateway_neighbour(state="REACHABLE")]

    result = run([WEB])

    assert result["commands"] == [
        "ip -n web-1 neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent"
    ]


def test_down_veth_and_lo_come_up_and_lost_routes_are_restored(host, run):
    host.add_workload(**WEB)
    host.link("cali1234567890a").update(
        flags=["BROADCAST", "MULTICAST"], address="aa:bb:cc:dd:ee:ff"
    )
    host.routes.clear()  # the kernel drops routes of a down interface
    host.link("lo", "web-1")["flags"] = ["LOOPBACK"]
    host.link("eth0", "web-1")["flags"] = ["BROADCAST", "MULTICAST"]
    host.netns["web-1"]["routes"] = []

    result = run([WEB])

    assert result["commands"] == [
        "ip link set dev cali1234567890a address ee:ee:ee:ee:ee:ee up",
        "ip route replace 172.17.0.1/32 dev cali1234567890a scope link",
        "ip -n web-1 link set lo up",
        "ip -n web-1 link set dev eth0 up",
        "ip -n web-1 route replace 169.254.1.1 dev eth0 scope link",
        "ip -n web-1 route replace default via 169.254.1.1 dev eth0",
    ]


def test_existing_namespace_without_veth_gets_only_the_veth(host, run):
    host.add_netns("web-1")["links"][0]["flags"] = ["LOOPBACK", "UP", "LOWER_UP"]

    run([WEB])

    root = host.root_writes()[0]
    assert "netns add web-1" not in root
    assert root[0].startswith("link add cali1234567890a ")
    assert "link set lo up" not in host.netns_writes()["web-1"]


def test_renamed_interface_replaces_the_old_veth_but_keeps_the_namespace(host, run):
    host.add_workload(**WEB)

    result = run([WEB | {"interface": "cali00000000bee"}])

    root = host.root_writes()[0]
    assert root[:2] == [
        "link del cali1234567890a",
        "link add cali00000000bee mtu 1500 address ee:ee:ee:ee:ee:ee up type veth "
        "peer name eth0 mtu 1500 netns web-1",
    ]
    assert "netns del web-1" not in root
    assert "netns add web-1" not in root
    assert "warnings" not in result


def test_renamed_interface_is_replaced_even_without_prune(host, run):
    host.add_workload(**WEB)

    run([WEB | {"interface": "cali00000000bee"}], prune=False)

    assert host.root_writes()[0][0] == "link del cali1234567890a"


def test_veth_whose_peer_is_in_another_namespace_is_recreated(host, run):
    host.add_workload(**WEB)
    other = host.add_netns("elsewhere")
    host.link("cali1234567890a")["link_netnsid"] = other["id"]
    host.netns["web-1"]["links"].pop()  # eth0 went with the veth

    run([WEB])

    assert host.root_writes()[0][:2] == [
        "link del cali1234567890a",
        "link add cali1234567890a mtu 1500 address ee:ee:ee:ee:ee:ee up type veth "
        "peer name eth0 mtu 1500 netns web-1",
    ]


# --------------------------------------------------------------------------- prune and foreign


def add_foreign_things(host):
    """A namespace and a veth of somebody else, with a route on it."""
    foreign = host.add_netns("foreign", links=[lo_json(up=False)])
    index = host.next_index()
    foreign["links"].append(
        link_json(2, "eth0", mac="b6:f9:a1:8b:93:02", up=False, netnsid=0, peer_index=index)
    )
    host.links.append(
        link_json(
            index, "vethforeign", mac="3a:4f:82:99:57:24", netnsid=foreign["id"], peer_index=2
        )
    )
    host.routes.append(route_json("192.0.2.0/24", "vethforeign"))
    host.routes.append(route_json("default", "eth0", scope="global", gateway="192.0.2.1"))
    host.netns["empty"] = {"id": None, "links": [lo_json(up=False)], "routes": [], "neigh": []}


def test_stale_workload_is_pruned_with_its_namespace(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)

    result = run([WEB], diff=True)

    assert host.root_writes() == [["link del calib0c2e3d4f5a", "netns del db-1"]]
    assert host.netns_writes() == {}
    # The released address's flows go too: a new owner of 172.17.0.2 starts clean.
    assert host.flushes == [
        ["-D", "-f", "ipv4", "--orig-src", "172.17.0.2"],
        ["-D", "-f", "ipv4", "--reply-src", "172.17.0.2"],
    ]
    assert "conntrack -D -f ipv4 --orig-src 172.17.0.2" in result["commands"]
    assert (
        "db-1 ns=db-1 if=calib0c2e3d4f5a ip=172.17.0.2/32 mtu=1440 !prune"
        in (result["diff"]["before"])
    )
    assert "db-1" not in result["diff"]["after"]


def test_empty_list_prunes_every_cali_workload(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)

    run([])

    writes = host.root_writes()[0]
    for interface, netns in (("cali1234567890a", "web-1"), ("calib0c2e3d4f5a", "db-1")):
        assert f"link del {interface}" in writes and f"netns del {netns}" in writes, writes
    assert len(writes) == 4, writes


def test_namespace_holding_more_than_the_peer_is_kept_with_a_warning(host, run):
    host.add_workload(**DB)
    host.netns["db-1"]["links"].append(
        link_json(3, "eth1", mac="62:f9:79:37:f3:f0", peer_index=None, kind="veth")
    )

    result = run([])

    assert host.root_writes() == [["link del calib0c2e3d4f5a"]]
    assert result["warnings"] == [
        "removed stale calib0c2e3d4f5a but kept namespace db-1: it holds more than lo and the "
        "eth0 peer of calib0c2e3d4f5a"
    ]


def test_prune_false_leaves_stale_workloads_alone(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)

    result = run([WEB], prune=False)

    assert result["changed"] is False
    assert host.changing_calls() == []


def test_foreign_namespace_interface_and_routes_are_never_touched(host, run):
    add_foreign_things(host)
    host.add_workload(**DB)  # stale, so pruning runs next to the foreign things

    result = run([WEB])

    every_change = " ".join(result["commands"])
    assert "foreign" not in every_change
    assert "empty" not in every_change
    assert "192.0.2" not in every_change
    assert "dev eth0" not in " ".join(host.root_writes()[0])
    assert set(host.netns_writes()) == {"web-1"}
    assert [args for args, _ in host.calls if "-n" in args and "foreign" in args] == []
    assert "warnings" not in result


def test_cali_named_veth_paired_with_a_foreign_root_interface_is_kept(host, run):
    host.links.append(link_json(7, "cali0000000dead", mac="62:f9:79:37:f3:f1") | {"link": "veth9"})
    host.links.append(link_json(8, "veth9", mac="62:f9:79:37:f3:f2") | {"link": "cali0000000dead"})

    result = run([])

    assert result["changed"] is False
    assert "veth9, which is not a cali interface" in result["warnings"][0]


def test_route_to_a_workload_address_on_a_foreign_interface_fails_without_changes(host, run):
    host.routes.append(route_json("172.17.0.1", "eth0", scope="global", gateway="10.0.0.1"))

    result = run([WEB])

    assert result["failed"] is True
    assert "already has a route to 172.17.0.1/32 that is not on a cali interface" in result["msg"]
    assert host.changing_calls() == []


def test_foreign_eth0_in_a_workload_namespace_fails_without_changes(host, run):
    add_foreign_things(host)

    result = run([WEB | {"name": "foreign"}])

    assert result["failed"] is True
    assert result["msg"] == (
        "namespace foreign already has an eth0 paired with vethforeign, which is not a cali "
        "interface; refusing to touch it"
    )
    assert host.changing_calls() == []


# --------------------------------------------------------------------------- check and diff mode


def test_check_mode_plans_but_runs_no_changing_command(host, run):
    host.add_workload(**DB)

    result = run([WEB], check=True)

    assert result["changed"] is True
    assert "ip netns add web-1" in result["commands"]
    assert "ip link del calib0c2e3d4f5a" in result["commands"]
    assert host.changing_calls() == []
    assert not (host.proc / "net/ipv4/conf/cali1234567890a").exists()


def test_check_mode_on_converged_host_reports_unchanged(host, run):
    host.add_workload(**WEB)

    assert run([WEB], check=True)["changed"] is False


def test_diff_shows_one_sorted_line_per_workload_with_markers_for_broken_parts(host, run):
    host.add_workload(**WEB)
    host.add_workload(**DB)
    host.routes.pop()  # db-1's host route
    host.netns["web-1"]["neigh"] = []
    host.set_sysctls("cali1234567890a", proxy_arp="0")

    result = run(
        [
            WEB,
            DB | {"mtu": 1500},
            {"name": "api-1", "ip": "172.17.0.3", "interface": "cali0000000a9f1"},
        ],
        diff=True,
    )

    assert result["diff"]["before"] == (
        "db-1 ns=db-1 if=calib0c2e3d4f5a ip=172.17.0.2/32 mtu=1440 !mtu !host-route !eth0-mtu\n"
        "web-1 ns=web-1 if=cali1234567890a ip=172.17.0.1/32 mtu=1500 !proxy_arp !neigh\n"
    )
    assert result["diff"]["after"] == (
        "api-1 ns=api-1 if=cali0000000a9f1 ip=172.17.0.3/32 mtu=1500\n"
        "db-1 ns=db-1 if=calib0c2e3d4f5a ip=172.17.0.2/32 mtu=1500\n"
        "web-1 ns=web-1 if=cali1234567890a ip=172.17.0.1/32 mtu=1500\n"
    )


def test_diff_of_converged_host_is_identical_before_and_after(host, run):
    host.add_workload(**WEB)

    diff = run([WEB], diff=True)["diff"]

    assert (
        diff["before"]
        == diff["after"]
        == ("web-1 ns=web-1 if=cali1234567890a ip=172.17.0.1/32 mtu=1500\n")
    )


def test_no_diff_is_returned_without_diff_mode(host, run):
    assert "diff" not in run([WEB])


# --------------------------------------------------------------------------- validation and errors


@pytest.mark.parametrize(
    ("workloads", "message"),
    [
        (
            [WEB | {"interface": "cali1234"}],
            "workloads[0] (web-1): interface 'cali1234' must match ^cali[0-9a-f]{11}\\Z",
        ),
        (
            [WEB | {"ip": "172.17.0.1/32"}],
            "workloads[0] (web-1): ip '172.17.0.1/32' must be a bare IPv4 address",
        ),
        (
            [WEB, DB | {"ip": "172.17.0.1"}],
            "duplicate ip '172.17.0.1': used by workloads 'web-1' and 'db-1'",
        ),
        (
            [WEB, DB | {"interface": WEB["interface"]}],
            "duplicate interface 'cali1234567890a': used by workloads 'web-1' and 'db-1'",
        ),
        ([WEB, WEB], "duplicate name 'web-1'"),
    ],
)
def test_invalid_workloads_fail_before_any_command(host, run, workloads, message):
    result = run(workloads)

    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert host.calls == []


def test_failing_batch_fails_with_command_and_stderr(host, run):
    host.fail = (ROOT_WRITE, 'Error: argument "x" is wrong\nCommand failed -:2\n')

    result = run([WEB])

    assert result["failed"] is True
    assert result["msg"].startswith(f"{IP} -batch - failed (rc=2): Error: argument")
    assert result["stderr"].endswith("Command failed -:2\n")
    assert result["stdin"].startswith("netns add web-1\n")
    assert result["commands"] == []


def test_check_mode_reports_the_same_commands_a_real_run_executes(host, run):
    host.add_workload(**DB)
    planned = run([WEB, DB | {"mtu": 1500}], check=True)["commands"]

    executed = run([WEB, DB | {"mtu": 1500}])["commands"]

    assert planned == executed


# --------------------------------------------------------------------------- state and MTU


def test_state_absent_removes_every_workload_without_a_workloads_list(host, run):
    host.add_workload(**WEB)

    result = run(None, state="absent", prune=False)

    assert result["changed"] is True
    assert host.root_writes() == [["link del cali1234567890a", "netns del web-1"]]
    assert result["workloads"] == []


def test_state_present_requires_workloads(host, run):
    result = run(None)

    assert result["failed"] is True
    assert "workloads" in result["msg"]
    assert host.calls == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 1500),
        ({"mtu": 1400}, 1400),
        ({"underlay_mtu": 9000, "encapsulations": ["ipip"]}, 8980),
        ({"underlay_ip": "192.168.100.100", "encapsulations": ["vxlan"]}, 1410),
        ({"underlay_ip": "192.168.100.100", "encapsulations": ["ipip", "vxlan"]}, 1410),
        ({"underlay_ip": "192.168.100.100", "encapsulations": []}, 1460),
        ({"mtu": 1300, "underlay_ip": "192.168.100.100", "encapsulations": ["vxlan"]}, 1300),
    ],
)
def test_workloads_without_an_mtu_get_the_explicit_or_derived_one(host, run, options, expected):
    host.underlay_mtu = 1460

    result = run([WEB, DB], check=True, **options)

    assert [w["mtu"] for w in result["workloads"]] == [expected, 1440]  # DB sets its own


def test_a_derived_mtu_without_the_underlay_address_fails_naming_it(host, run):
    result = run([WEB], underlay_ip="10.9.9.9", encapsulations=["vxlan"])

    assert result["failed"] is True
    assert "no interface holds the underlay address 10.9.9.9" in result["msg"]
    assert host.changing_calls() == []
