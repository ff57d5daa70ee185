"""calico_workloads against the real kernel, inside a throw-away sandbox.

Each test gets its own ``unshare --net --mount`` sandbox with a private tmpfs on /run (so
/run/netns is private too); the module runs inside it through ``nsenter``. Interfaces,
namespaces, routes and sysctls (per network namespace in /proc/sys/net) live and die with the
sandbox, so nothing on the machine changes and pings never leave it. The sandbox has no default
route: exactly the case where proxy ARP stays silent and the static gateway neighbour matters.

Needs root, util-linux (unshare, nsenter), iproute2 and iputils-ping; without them the tests fail
with the reason instead of skipping.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import sandbox

REPO = Path(__file__).resolve().parents[2]
MODULE = "ansible_collections.calico.network.plugins.modules.calico_workloads"
TOOLS = {"unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2", "ping": "iputils-ping"}

W1 = {"name": "w1", "ip": "172.17.0.1", "interface": "cali00000000001"}
W2 = {"name": "w2", "ip": "172.17.0.2", "interface": "cali00000000002", "mtu": 1400}
W3 = {"name": "w3", "ip": "172.17.0.3", "interface": "cali00000000003"}
W4 = {"name": "w4", "ip": "172.17.0.4", "interface": "cali00000000004"}


def require_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "tests/integration/test_workloads_netns.py needs root: it creates network namespaces "
            "and veths inside an unshare(1) sandbox. Run the suite as root (CI does).",
            pytrace=False,
        )
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        pytest.fail(
            f"tests/integration/test_workloads_netns.py needs {', '.join(TOOLS)}: "
            f"apt-get install {' '.join(missing)}",
            pytrace=False,
        )


class Sandbox(sandbox.Sandbox):
    """The shared sandbox, plus what the workload tests read from it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs = 0
        super().__init__()

    def ip_json(self, *args: str) -> list:
        return json.loads(self.run("ip", "-j", *args).stdout or "[]")

    def sysctl(self, key: str) -> str:
        return self.run("cat", f"/proc/sys/{key}").stdout.strip()

    def module(self, workloads: list[dict], check: bool = False, **options) -> dict:
        """Run the module as Ansible would, with the args file as its only argument."""
        self.runs += 1
        args = {"workloads": workloads, "_ansible_check_mode": check, "_ansible_diff": True}
        args_file = self.workdir / f"args-{self.runs}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, **options}}))
        env = {**os.environ, "PYTHONPATH": str(REPO / ".collections")}
        result = self.run(sys.executable, "-m", MODULE, str(args_file), check=False, env=env)
        output = json.loads(result.stdout)
        output["warnings"] = [w["event"]["msg"] for w in output.get("warnings", [])]
        return output

    def ping(self, netns: str, address: str) -> subprocess.CompletedProcess:
        return self.run("ip", "netns", "exec", netns, "ping", "-c1", "-W1", address, check=False)

    def snapshot(self) -> dict:
        """Everything the module could change, without counters or timers."""
        names = sorted(entry["name"] for entry in self.ip_json("netns", "list"))
        state = {
            "links": self.ip_json("-d", "link", "show"),
            "routes": self.ip_json("-d", "route", "show"),
            "netns": names,
        }
        for name in names:
            addresses = self.ip_json("-n", name, "-d", "addr", "show")
            for link in addresses:  # IPv6 DAD flips "tentative" while we look
                link["addr_info"] = [a for a in link["addr_info"] if a["family"] == "inet"]
            state[name] = {
                "addr": addresses,
                "routes": self.ip_json("-n", name, "-d", "route", "show"),
                "neigh": self.ip_json("-n", name, "neigh", "show", "nud", "permanent"),
            }
        for link in state["links"]:
            if link["ifname"].startswith("cali"):
                for key in ("conf/{}/proxy_arp", "neigh/{}/proxy_delay", "conf/{}/forwarding"):
                    path = "net/ipv4/" + key.format(link["ifname"])
                    state[path] = self.sysctl(path)
        return state


@pytest.fixture
def sandbox(tmp_path):
    require_root_and_tools()
    box = Sandbox(tmp_path)
    yield box
    box.close()


def assert_wired(box: Sandbox, workload: dict) -> None:
    name, interface, mtu = workload["name"], workload["interface"], workload.get("mtu", 1500)
    host_end = box.ip_json("-d", "link", "show", "dev", interface)[0]
    assert host_end["address"] == "ee:ee:ee:ee:ee:ee"
    assert host_end["mtu"] == mtu
    assert "UP" in host_end["flags"]
    assert host_end["linkinfo"]["info_kind"] == "veth"
    assert {"type": "unicast", "dst": workload["ip"], "dev": interface} | {
        "protocol": "boot",
        "scope": "link",
    } in [{k: v for k, v in r.items() if k != "flags"} for r in box.ip_json("-d", "route", "show")]
    assert box.sysctl(f"net/ipv4/conf/{interface}/proxy_arp") == "1"
    assert box.sysctl(f"net/ipv4/neigh/{interface}/proxy_delay") == "0"
    assert box.sysctl(f"net/ipv4/conf/{interface}/forwarding") == "1"

    links = {link["ifname"]: link for link in box.ip_json("-n", name, "addr", "show")}
    # tunl0 appears in every namespace of a kernel with the ipip module loaded (UML's run).
    assert set(links) - {"tunl0"} == {"lo", "eth0"}
    assert "UP" in links["lo"]["flags"]
    assert "UP" in links["eth0"]["flags"]
    assert links["eth0"]["mtu"] == mtu
    assert links["eth0"]["link_index"] == host_end["ifindex"]
    ipv4 = [a for a in links["eth0"]["addr_info"] if a["family"] == "inet"]
    assert [(a["local"], a["prefixlen"]) for a in ipv4] == [(workload["ip"], 32)]
    routes = [
        {k: v for k, v in r.items() if k != "flags"} for r in box.ip_json("-n", name, "route")
    ]
    assert routes == [
        {"dst": "default", "gateway": "169.254.1.1", "dev": "eth0"},
        {"dst": "169.254.1.1", "dev": "eth0", "scope": "link"},
    ]
    assert box.ip_json("-n", name, "neigh", "show", "169.254.1.1") == [
        {"dst": "169.254.1.1", "dev": "eth0", "lladdr": "ee:ee:ee:ee:ee:ee", "state": ["PERMANENT"]}
    ]


def test_ansible_wires_workloads_that_ping_each_other_through_the_sandbox_root(sandbox, tmp_path):
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
    }
    ansible = sandbox.run(
        str(Path(sys.executable).with_name("ansible")),
        "localhost", "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}",
        "-m", "calico.network.calico_workloads",
        "-a", json.dumps({"workloads": [W1, W2]}),
        check=False,
        env=env,
    )  # fmt: skip
    assert ansible.returncode == 0, ansible.stdout + ansible.stderr
    result = json.loads(ansible.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is True

    assert_wired(sandbox, W1)
    assert_wired(sandbox, W2)
    assert sandbox.ip_json("route", "show", "default") == []  # proxy ARP alone would stay silent
    assert sandbox.ping("w1", W2["ip"]).returncode == 0, sandbox.ping("w1", W2["ip"]).stdout
    assert sandbox.ping("w2", W1["ip"]).returncode == 0

    again = sandbox.module([W1, W2])
    assert again["changed"] is False
    assert again["commands"] == []


def test_check_mode_on_a_changed_desired_state_changes_nothing(sandbox):
    assert sandbox.module([W1, W2, W3])["changed"] is True
    before = sandbox.snapshot()

    changed = [W1 | {"ip": "172.17.0.11"}, W2 | {"mtu": 1300}, W4]
    result = sandbox.module(changed, check=True)

    assert result["changed"] is True
    assert "ip link del cali00000000003" in result["commands"]
    assert "ip -n w1 addr add 172.17.0.11/32 dev eth0" in result["commands"]
    assert (
        "w3 ns=w3 if=cali00000000003 ip=172.17.0.3/32 mtu=1500 !prune" in result["diff"]["before"]
    )
    assert "w4 ns=w4 if=cali00000000004 ip=172.17.0.4/32 mtu=1500" in result["diff"]["after"]
    assert sandbox.snapshot() == before


def test_partial_states_converge_and_stay_converged(sandbox):
    sandbox.module([W1, W2])
    sandbox.run("ip", "route", "del", "172.17.0.1/32", "dev", "cali00000000001")
    sandbox.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/cali00000000002/proxy_arp")
    sandbox.run("ip", "-n", "w1", "neigh", "del", "169.254.1.1", "dev", "eth0")
    sandbox.run("ip", "-n", "w2", "link", "set", "eth0", "mtu", "1300")
    sandbox.run("ip", "-n", "w2", "addr", "add", "10.99.0.1/32", "dev", "eth0")

    result = sandbox.module([W1, W2])

    assert sorted(result["commands"]) == sorted(
        [
            "ip route replace 172.17.0.1/32 dev cali00000000001 scope link",
            "sysctl -w net.ipv4.conf.cali00000000002.proxy_arp=1",
            "ip -n w1 neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
            "ip -n w2 link set dev eth0 mtu 1400",
            "ip -n w2 addr del 10.99.0.1/32 dev eth0",
            # The stray address is released: its flows go with it.
            "conntrack -D -f ipv4 --orig-src 10.99.0.1",
            "conntrack -D -f ipv4 --reply-src 10.99.0.1",
        ]
    )
    assert_wired(sandbox, W1)
    assert_wired(sandbox, W2)
    assert sandbox.module([W1, W2])["changed"] is False


def test_changed_ip_and_renamed_interface_converge_and_still_route(sandbox):
    sandbox.module([W1, W2])
    moved = W1 | {"ip": "172.17.0.11"}
    renamed = W2 | {"interface": "cali000000000b2"}

    result = sandbox.module([moved, renamed])

    assert result["changed"] is True
    assert "ip link del cali00000000002" in result["commands"]
    assert_wired(sandbox, moved)
    assert_wired(sandbox, renamed)
    assert own_links(sandbox) == [
        "lo",
        "cali00000000001",
        "cali000000000b2",
    ]
    assert sandbox.ping("w2", "172.17.0.11").returncode == 0
    assert sandbox.module([moved, renamed])["changed"] is False


def own_links(box) -> list[str]:
    """The sandbox's devices in order, without the kernel's tunl0 (there under UML's ipip)."""
    return [link["ifname"] for link in box.ip_json("link", "show") if link["ifname"] != "tunl0"]


def test_prune_removes_dropped_workloads_and_leaves_foreign_things_alone(sandbox):
    sandbox.run("ip", "netns", "add", "foreign")
    sandbox.run("ip", "netns", "add", "bare")
    sandbox.run(
        "ip", "link", "add", "vethforeign", "type", "veth", "peer", "eth0", "netns", "foreign"
    )
    sandbox.run("ip", "link", "set", "vethforeign", "up")
    sandbox.run("ip", "route", "add", "192.0.2.0/24", "dev", "vethforeign")
    sandbox.module([W1, W2, W3, W4])
    # w4 gets something of its own: its namespace is no longer provably ours.
    sandbox.run("ip", "-n", "w4", "link", "add", "side0", "type", "veth", "peer", "side1")
    foreign_before = {
        "link": sandbox.ip_json("-d", "link", "show", "dev", "vethforeign"),
        "routes": sandbox.ip_json("route", "show", "dev", "vethforeign"),
        "inside": sandbox.ip_json("-n", "foreign", "-d", "addr", "show"),
    }

    result = sandbox.module([W1, W2])

    assert result["changed"] is True
    assert sorted(e["name"] for e in sandbox.ip_json("netns", "list")) == [
        "bare",
        "foreign",
        "w1",
        "w2",
        "w4",
    ]
    assert own_links(sandbox) == ["lo", "vethforeign", "cali00000000001", "cali00000000002"]
    assert sandbox.ip_json("route", "show", "172.17.0.3") == []
    assert result["warnings"] == [
        "removed stale cali00000000004 but kept namespace w4: it holds more than lo and the eth0 "
        "peer of cali00000000004"
    ]
    assert foreign_before == {
        "link": sandbox.ip_json("-d", "link", "show", "dev", "vethforeign"),
        "routes": sandbox.ip_json("route", "show", "dev", "vethforeign"),
        "inside": sandbox.ip_json("-n", "foreign", "-d", "addr", "show"),
    }
    assert sandbox.ping("w1", W2["ip"]).returncode == 0
    assert sandbox.module([W1, W2])["changed"] is False


def test_without_root_the_suite_fails_with_the_reason_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    with pytest.raises(pytest.fail.Exception, match="needs root"):
        require_root_and_tools()


def test_missing_tools_are_named_with_the_packages_to_install(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "ping" else f"/bin/{tool}")

    with pytest.raises(pytest.fail.Exception, match=r"apt-get install iputils-ping$"):
        require_root_and_tools()
