"""Cross-subnet tunnels end to end: real kernel devices, real BIRD, real packets, in a sandbox.

Three hosts are network namespaces inside one ``unshare --net --mount`` sandbox (private /run):
h1 and h3 share 192.168.100.0/24 (a bridge in a router namespace), h2 sits on 192.168.200.0/24
behind the router. Each host runs the calico_tunnel and calico_workloads modules and its own
BIRD, configured from the real template and model. The pool is CrossSubnet, so h1 must reach
h3's block directly over eth0 and h2's block through the tunnel:

* VXLAN: ``<h2 block> via <h2 tunnel address> dev vxlan.calico proto 80 onlink``;
* IPIP: the seed's ``<h2 block> via 192.168.200.101 dev tunl0 proto bird onlink``. This needs a
  kernel that can create tunl0; where it cannot (this project's CI kernel has no
  CONFIG_NET_IPIP) the test is skipped and says so in the pytest output. `make integration`
  runs these tests again inside a User-mode Linux kernel (lab/uml.py), which has ipip: there
  they prove the seed's route shape, the tunnel MTU on the wire and an IPIP <-> VXLAN switch
  that leaves nothing stale.

Needs root, util-linux, iproute2, iputils-ping and bird2; without them the tests fail with the
reason. Nothing outside the sandbox changes; BIRD processes are killed at the end.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.module_utils import tunnel
from ansible_collections.calico.network.plugins.module_utils.runner import SubprocessRunner
from ansible_collections.calico.network.plugins.plugin_utils.model import build_model, host_slice
from tests.support import sandbox
from tools.render import REPO, render, role_defaults

MODULES = "ansible_collections.calico.network.plugins.modules."
TOOLS = {
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "ping": "iputils-ping",
    "bird": "bird2",
    "birdc": "bird2",
}
HOSTS = {
    "h1": {"calico_ip": "192.168.100.100/24", "calico_workloads": [{"name": "w1"}]},
    "h2": {"calico_ip": "192.168.200.101/24", "calico_workloads": [{"name": "w2"}]},
    "h3": {"calico_ip": "192.168.100.103/24", "calico_workloads": [{"name": "w3"}]},
}
GATEWAYS = {"192.168.100.0/24": "192.168.100.1", "192.168.200.0/24": "192.168.200.1"}


def require_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail(f"{__file__} needs root: it builds namespaces and runs BIRD", pytrace=False)
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        pytest.fail(f"{__file__} needs: apt-get install {' '.join(missing)}", pytrace=False)


def kernel_can_create(kind: str) -> tuple[bool, str]:
    """The tunnel core's probe, as the module's preflight runs it."""
    return tunnel.can_create(SubprocessRunner(), kind)


def fleet_model(encapsulation: str) -> dict:
    pools = [
        {
            "cidr": "172.17.0.0/16",
            "block_size": 24,
            "encapsulation": encapsulation,
            "encapsulation_mode": "CrossSubnet",
        }
    ]
    return build_model({h: {**v, "calico_pools": pools} for h, v in HOSTS.items()})


class Fleet(sandbox.Sandbox):
    """The sandbox, its host namespaces and their BIRDs."""

    def __init__(self, workdir: Path, encapsulation: str) -> None:
        self.workdir = workdir
        self.runs = 0
        self.model = fleet_model(encapsulation)
        super().__init__(lifetime=900)
        self.birds: list[Path] = []

    def close(self) -> None:
        for pidfile in self.birds:
            if pidfile.exists():
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
        super().close()

    def sh(self, netns: str, script: str) -> None:
        self.run("ip", "netns", "exec", netns, "sh", "-ec", script)

    def underlay(self) -> None:
        self.run("ip", "netns", "add", "router")
        self.sh("router", "ip link set lo up; sysctl -qw net.ipv4.ip_forward=1")
        self.sh("router", "ip link add br-a type bridge; ip address add 192.168.100.1/24 dev br-a")
        self.sh("router", "ip link set br-a up")
        for name, values in HOSTS.items():
            address = values["calico_ip"]
            subnet = self.model["hosts"][name]["subnet"]
            other = next(s for s in GATEWAYS if s != subnet)
            self.run("ip", "netns", "add", name)
            # Workload namespaces are made here: one made under `ip netns exec` (the module's
            # runs) would vanish with that command's private mount namespace.
            for workload in values["calico_workloads"]:
                self.run("ip", "netns", "add", workload["name"])
            self.run(
                "ip", "-n", "router", "link", "add", f"r-{name}", "type", "veth",
                "peer", "name", "eth0", "netns", name,
            )  # fmt: skip
            if subnet == "192.168.100.0/24":
                self.sh("router", f"ip link set r-{name} master br-a up")
            else:
                self.sh("router", f"ip address add 192.168.200.1/24 dev r-{name}")
                self.sh("router", f"ip link set r-{name} up")
            self.sh(
                name,
                f"ip link set lo up; ip address add {address} dev eth0; ip link set eth0 up; "
                f"ip route add {other} via {GATEWAYS[subnet]}; "
                "sysctl -qw net.ipv4.ip_forward=1",
            )

    def module(self, host: str, name: str, args: dict) -> dict:
        self.runs += 1
        args_file = self.workdir / f"args-{self.runs}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        env = {**os.environ, "PYTHONPATH": str(REPO / ".collections")}
        result = self.run(
            "ip", "netns", "exec", host, sys.executable, "-m", MODULES + name, str(args_file),
            check=False, env=env,
        )  # fmt: skip
        output = json.loads(result.stdout)
        assert not output.get("failed"), output
        return output

    def tunnel(self, host: str, stage: str) -> dict:
        me = host_slice(self.model, host)
        return self.module(
            host,
            "calico_tunnel",
            {
                "stage": stage,
                "address": me["tunnel"]["address"],
                "underlay_ip": me["ip"],
                "ipip": me["tunnel"]["ipip"],
                "vxlan": me["tunnel"]["vxlan"],
            },
        )

    def bird_config(self, host: str) -> Path:
        me = host_slice(self.model, host)
        secrets = self.workdir / f"{host}-secrets.conf"
        secrets.write_text("")
        defaults = role_defaults("calico_bird")
        text = render("calico_bird", "bird.conf.j2", {**defaults, "calico_host": me})
        config = self.workdir / f"{host}-bird.conf"
        config.write_text(
            text.replace(defaults["calico_bird_secrets_path"], str(secrets)).replace(
                "log syslog", f'log "{self.workdir / host}.log"'
            )
        )
        return config

    def birdc(self, host: str, *command: str) -> str:
        control = str(self.workdir / f"{host}.ctl")
        return self.run("ip", "netns", "exec", host, "birdc", "-s", control, *command).stdout

    def bird(self, host: str) -> None:
        config = self.bird_config(host)
        pidfile = self.workdir / f"{host}.pid"
        self.birds.append(pidfile)
        self.run(
            "ip", "netns", "exec", host, "bird", "-c", str(config),
            "-s", str(self.workdir / f"{host}.ctl"), "-P", str(pidfile),
        )  # fmt: skip

    def converge(self) -> dict[str, int]:
        """Tunnel devices, then BIRD, then the VXLAN routes and the workloads (site.yml's order)."""
        mtu = {host: self.tunnel(host, "devices")["workload_mtu"] for host in HOSTS}
        for host in HOSTS:
            self.bird(host)
        self.converge_rest(mtu)
        return mtu

    def switch(self, encapsulation: str) -> dict[str, int]:
        """Re-converge the running fleet with the pool's encapsulation changed: new devices,
        BIRD reconfigured (sessions stay up), then what the calico_tunnel handler does when tunl0
        changed (``birdc reload in all``), then routes and workloads."""
        self.model = fleet_model(encapsulation)
        devices = {host: self.tunnel(host, "devices") for host in HOSTS}
        for host in HOSTS:
            self.bird_config(host)
            self.birdc(host, "configure")
            if devices[host]["tunl0_changed"]:
                self.birdc(host, "reload", "in", "all")
        mtu = {host: result["workload_mtu"] for host, result in devices.items()}
        self.converge_rest(mtu)
        return mtu

    def converge_rest(self, mtu: dict[str, int]) -> None:
        for host in HOSTS:
            if self.tunnel(host, "all")["tunl0_changed"]:
                self.birdc(host, "reload", "in", "all")
            me = host_slice(self.model, host)
            workloads = [
                {"name": w["name"], "ip": w["ip"], "interface": w["interface"]}
                for w in me["workloads"]
            ]
            # The workloads derive their MTU on the host, as the calico_workloads role does.
            wired = self.module(
                host,
                "calico_workloads",
                {
                    "workloads": workloads,
                    "underlay_ip": me["ip"],
                    "encapsulations": me["tunnel"]["encapsulations"],
                },
            )
            assert {w["mtu"] for w in wired["workloads"]} == {mtu[host]}, wired

    def routes(self, host: str) -> list[str]:
        out = self.run("ip", "-n", host, "-4", "route", "show").stdout
        return [line.strip() for line in out.splitlines()]

    def wait_for_routes(self, host: str, expected: list[str], seconds: int = 60) -> list[str]:
        deadline = time.monotonic() + seconds
        while True:
            routes = self.routes(host)
            if all(line in routes for line in expected) or time.monotonic() > deadline:
                return routes
            time.sleep(1)

    def tunnel_state(self, host: str) -> dict[str, str]:
        """What a mode switch could leave behind: tunnel devices, routes, permanent neighbours,
        FDB entries and the workloads' MTU, as the kernel shows them."""

        def show(*argv: str) -> str:
            return self.run("ip", "netns", "exec", host, *argv, check=False).stdout.strip()

        return {
            "tunl0": show("ip", "-d", "-o", "link", "show", "tunl0"),
            "tunl0 addresses": show("ip", "-o", "address", "show", "dev", "tunl0"),
            "vxlan.calico": show("ip", "-d", "-o", "link", "show", "vxlan.calico"),
            "routes": show("ip", "-4", "route", "show"),
            "neighbours": show("ip", "neigh", "show", "nud", "permanent"),
            "fdb": show("bridge", "fdb", "show", "dev", "vxlan.calico"),
            "links": show("ip", "-o", "link", "show"),
        }

    def ping(self, src: str, dst: str, *extra: str) -> subprocess.CompletedProcess:
        return self.run("ip", "netns", "exec", src, "ping", "-c1", "-W2", *extra, dst, check=False)


@pytest.fixture
def fleet_for(tmp_path):
    fleets = []

    def make(encapsulation: str) -> Fleet:
        require_root_and_tools()
        supported, error = kernel_can_create(encapsulation)
        if not supported:
            pytest.skip(
                f"cannot run here: this kernel cannot create {encapsulation.upper()} devices "
                f"({error}); the {encapsulation} route shape and reachability are NOT proven on "
                "this machine. Run on a kernel with "
                f"CONFIG_NET_{'IPIP' if encapsulation == 'ipip' else 'VXLAN'}."
            )
        fleet = Fleet(tmp_path, encapsulation)
        fleets.append(fleet)
        fleet.underlay()
        return fleet

    yield make
    for fleet in fleets:
        fleet.close()


def blocks(fleet: Fleet) -> dict[str, str]:
    return {name: host["blocks"][0] for name, host in fleet.model["hosts"].items()}


def workload_ip(fleet: Fleet, host: str) -> str:
    return fleet.model["hosts"][host]["workloads"][0]["ip"]


def converge_and_reach(fleet: Fleet, tunnelled: str, mtu: int) -> list[str]:
    """Converge; h1 routes h2's block (other subnet) as ``tunnelled`` and h3's (same subnet)
    directly, every host's workloads get ``mtu``, and the workloads reach each other."""
    direct = f"{blocks(fleet)['h3']} via 192.168.100.103 dev eth0 proto bird"
    mtus = fleet.converge()

    routes = fleet.wait_for_routes("h1", [tunnelled, direct])

    assert tunnelled in routes and direct in routes, routes
    assert mtus == {"h1": mtu, "h2": mtu, "h3": mtu}
    for dst in ("h2", "h3"):
        assert fleet.ping("w1", workload_ip(fleet, dst)).returncode == 0, dst
    assert fleet.ping("w2", workload_ip(fleet, "h3")).returncode == 0
    return routes


def test_ipip_cross_subnet_gives_the_seed_route_shape_reachability_and_tunnel_mtu(fleet_for):
    """The seed's route, as BIRD imports it through tunl0, and the tunnel MTU on the wire: the
    largest don't-fragment ping that crosses is the tunnel MTU less 28 bytes (20 IP + 8 ICMP),
    one byte more is refused. 1480 = the underlay's 1500 less IPIP's 20."""
    fleet = fleet_for("ipip")
    block = blocks(fleet)["h2"]
    seed = f"{block} via 192.168.200.101 dev tunl0 proto bird onlink"

    routes = converge_and_reach(fleet, seed, 1480)

    print(f"h1's route to h2's block, as BIRD imported it: {routes[routes.index(seed)]}")
    tunl0 = fleet.run("ip", "-n", "h1", "-j", "link", "show", "tunl0").stdout
    assert json.loads(tunl0)[0]["mtu"] == 1480
    target = workload_ip(fleet, "h2")
    fits = fleet.ping("w1", target, "-M", "do", "-s", str(1480 - 28))
    oversized = fleet.ping("w1", target, "-M", "do", "-s", str(1480 - 28 + 1))
    assert fits.returncode == 0, fits.stdout + fits.stderr
    assert oversized.returncode != 0, oversized.stdout
    assert "message too long" in (oversized.stdout + oversized.stderr).lower()
    print(f"IPIP tunnel MTU 1480: DF ping -s {1480 - 28} crosses, -s {1480 - 27} refused")


def test_vxlan_cross_subnet_routes_off_subnet_blocks_through_vxlan_calico(fleet_for):
    fleet = fleet_for("vxlan")
    block = blocks(fleet)["h2"]
    tunnel = f"{block} via {block.split('/')[0]} dev vxlan.calico proto 80 onlink"

    routes = converge_and_reach(fleet, tunnel, 1450)

    assert not [r for r in routes if r.startswith(block) and "proto bird" in r], routes
    fits = fleet.ping("w1", workload_ip(fleet, "h2"), "-M", "do", "-s", "1400")
    assert fits.returncode == 0, fits.stdout + fits.stderr
    oversized = fleet.ping("w1", workload_ip(fleet, "h2"), "-M", "do", "-s", "1500")
    assert oversized.returncode != 0
    assert "message too long" in (oversized.stdout + oversized.stderr).lower()
    assert fleet.tunnel("h1", "all")["changed"] is False  # idempotent on the real kernel


def test_ipip_vxlan_mode_switch_leaves_nothing_stale(fleet_for):
    """IPIP -> VXLAN -> IPIP on the running fleet: each mode has its own route shape and
    reachability, and the return to IPIP restores the first state exactly."""
    fleet = fleet_for("ipip")
    block = blocks(fleet)["h2"]
    ipip_route = f"{block} via 192.168.200.101 dev tunl0 proto bird onlink"
    vxlan_route = f"{block} via {block.split('/')[0]} dev vxlan.calico proto 80 onlink"
    converge_and_reach(fleet, ipip_route, 1480)
    first = {host: fleet.tunnel_state(host) for host in HOSTS}

    assert fleet.switch("vxlan") == {"h1": 1450, "h2": 1450, "h3": 1450}
    routes = fleet.wait_for_routes("h1", [vxlan_route])
    assert vxlan_route in routes, routes
    assert not [r for r in routes if "tunl0" in r], routes
    assert not fleet.run("ip", "-n", "h1", "-o", "address", "show", "dev", "tunl0").stdout
    assert fleet.ping("w1", workload_ip(fleet, "h2")).returncode == 0

    assert fleet.switch("ipip") == {"h1": 1480, "h2": 1480, "h3": 1480}
    routes = fleet.wait_for_routes("h1", [ipip_route])
    assert ipip_route in routes, routes
    assert fleet.ping("w1", workload_ip(fleet, "h2")).returncode == 0
    last = {host: fleet.tunnel_state(host) for host in HOSTS}
    for host in HOSTS:
        for key, value in first[host].items():
            assert last[host][key] == value, f"{host} {key}: {value!r} became {last[host][key]!r}"
