#!/usr/bin/env python3
"""Benchmark calico-node on a host with N workloads: idle CPU, RSS, one no-op reconcile.

The host is a private network and mount namespace (``unshare``, tmpfs /run, a dummy underlay
192.0.2.1/24): nothing reaches the machine's own network or /run. Its desired state is the full
calico_felix layout for N workloads (bench_iptables.felix_slice: all four tables, a policy, the
fleet profile, floating IPs), the N workloads and a vxlan.calico with one remote block. The
agent is the real program (``node_agent.main(["run"])``) with the project's cores.

Measured, each with a baseline from the same run:

* the first reconcile (the host built from nothing), from the agent's status file;
* a no-op reconcile: the agent's own duration of its resyncs once converged (median), and the
  CPU time of one such cycle (the agent's and its commands': what other jobs' load cannot
  stretch), against the same kernel state read with a process per read (both iptables saves,
  ``ip -j`` of the root namespace and one ``ip -n NS -j -batch`` per workload namespace, back
  to back: how the agent read before it read the namespaces through rtnetlink);
* idle CPU: the agent's CPU time (its own and its children's: ip, iptables-save) over a window
  at the default resync interval (30 s), as a share of one core, against the CPU those
  process-per-read reads alone would cost once per interval;
* RSS of the agent, against a bare ``python3 -c 'import time; time.sleep(60)'``.

Goals (issue 13): idle CPU <= 1 % of a core, RSS <= 60 MB, no-op reconcile <= 0.3 s.

Usage (root):  .venv/bin/python bench/bench_node.py [--workloads 200] [--window 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_iptables import felix_slice  # noqa: E402

from ansible_collections.calico.network.plugins.plugin_utils.felix import (  # noqa: E402
    render_tables,
)

UNDERLAY = "192.0.2.1"
TICK = os.sysconf("SC_CLK_TCK")
IDLE_INTERVAL = 30  # calico_node_resync_interval's default
GOALS = {"idle_cpu_percent": 1.0, "rss_mb": 60.0, "noop_s": 0.3}
AGENT = (
    "import sys; sys.path.insert(0, {collections!r}); "
    "from ansible_collections.calico.network.plugins.module_utils.node_agent import main; "
    "sys.exit(main(['--desired', {desired!r}, '--state-dir', {state!r}, 'run']))"
)


class Host:
    """A process holding a private network and mount namespace; commands run inside it."""

    def __init__(self) -> None:
        script = (
            "mount -t tmpfs -o mode=0755 calico-bench /run && ip link set lo up && "
            "ip link add under0 type veth peer name under1 && ip link set under1 up && "
            "ip link set under0 up && "
            f"ip addr add {UNDERLAY}/24 dev under0 && echo ready && exec sleep 3600"
        )
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", script],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.holder.stdout is None or self.holder.stdout.readline().strip() != "ready":
            self.close()
            sys.exit("could not start the unshare namespace (root, util-linux, iproute2?)")

    def argv(self, *args: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "--net", "--mount", "--", *args]

    def run(self, *args: str, data: str | None = None) -> str:
        done = subprocess.run(self.argv(*args), input=data, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(timeout=10)


def desired_state(workloads: int, interval: int) -> dict:
    piece = felix_slice(workloads)
    items = [{k: w[k] for k in ("name", "ip", "interface")} for w in piece["workloads"]]
    vxlan = {
        "enabled": True,
        "vni": 4096,
        "port": 4789,
        "mac": "66:00:00:00:00:01",
        "routes": [{"dst": "10.100.0.0/26", "via": "10.100.0.0", "host": "other"}],
        "neighbors": [{"ip": "10.100.0.0", "mac": "66:00:00:00:00:02"}],
        "fdb": [{"mac": "66:00:00:00:00:02", "dst": "192.0.2.2"}],
    }
    return {
        "format": 1,
        "host": "bench",
        "agent": {"resync_interval": interval, "metrics_textfile": "", "metrics_port": 0},
        "peers": [],
        "iptables": {
            "tables": render_tables(piece, "source"),
            "insert_mode": "insert",
            "backend": "auto",
            "chain_prefix": "cali-",
            "wait": 10,
        },
        "tunnel": {
            "address": "10.64.255.255",
            "underlay_ip": UNDERLAY,
            "underlay_mtu": 0,
            "ipip": False,
            "vxlan": vxlan,
        },
        "workloads": {
            "items": items,
            "mtu": 0,
            "underlay_ip": UNDERLAY,
            "underlay_mtu": 0,
            "encapsulations": ["vxlan"],
            "prune": True,
        },
    }


def status(state_dir: Path) -> dict:
    try:
        return json.loads((state_dir / "node-status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_generation(state_dir: Path, generation: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = status(state_dir)
        if now.get("generation", 0) >= generation:
            return now
        time.sleep(0.05)
    sys.exit(f"the agent did not reach cycle {generation} within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the agent and the commands it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_reads(host: Host, names: list[str]) -> tuple[float, float]:
    """The kernel state a no-op reconcile reads, one process per read: (seconds, CPU seconds
    of those processes and their nsenter)."""
    started, cpu = time.monotonic(), children_cpu()
    host.run("iptables-nft-save")
    host.run("iptables-legacy-save")
    host.run("ip", "-j", "-d", "address", "show")
    host.run("ip", "-j", "-d", "-batch", "-", data="link show\nroute show\n")
    for name in names:
        netns_read = "addr show\nroute show\nneigh show\n"
        host.run("ip", "-n", name, "-j", "-d", "-batch", "-", data=netns_read)
    return time.monotonic() - started, children_cpu() - cpu


def measure(workloads: int, window: float, noop_runs: int) -> None:
    host = Host()
    with tempfile.TemporaryDirectory(prefix="calico-node-bench-") as tmp:
        desired, state = Path(tmp) / "node.json", Path(tmp) / "run"
        desired.write_text(json.dumps(desired_state(workloads, interval=1)))
        code = AGENT.format(
            collections=str(REPO / ".collections"), desired=str(desired), state=str(state)
        )
        launcher = subprocess.Popen(host.argv("python3", "-c", code), stderr=subprocess.DEVNULL)
        try:
            pid = launcher.pid  # nsenter execs the program (it forks only into a pid namespace)
            first = wait_generation(state, 1, 300)["last_reconcile"]
            assert not first["errors"], first["errors"]
            kinds = [r["kind"] for r in first["repairs"]]
            print(f"first reconcile, {workloads} workloads from nothing: {first['duration']:.2f} s"
                  f" ({', '.join(kinds)})")  # fmt: skip
            durations = []
            cpu_start = cpu_seconds(pid)
            for generation in range(2, 2 + noop_runs):
                last = wait_generation(state, generation, 60)["last_reconcile"]
                assert not last["repairs"] and not last["errors"], last
                durations.append(last["duration"])
            # CPU per cycle is what the load of other jobs cannot stretch (wall time it can).
            noop_cpu = (cpu_seconds(pid) - cpu_start) / noop_runs
            noop = statistics.median(durations)
            names = [w["name"] for w in json.loads(desired.read_text())["workloads"]["items"]]
            baseline = [bare_reads(host, names) for _ in range(3)]
            reads = statistics.median(seconds for seconds, _cpu in baseline)
            reads_cpu = statistics.median(cpu for _seconds, cpu in baseline)
            print(f"no-op reconcile (median of {noop_runs}): {noop:.3f} s; the same state read "
                  f"with a process per read: {reads:.3f} s (ratio {noop / reads:.2f})")  # fmt: skip
            print(f"CPU of one no-op cycle (the agent and its commands): {noop_cpu:.3f} s; the "
                  f"process-per-read reads: {reads_cpu:.3f} s "
                  f"(ratio {noop_cpu / reads_cpu:.2f})")  # fmt: skip

            # Idle: the default interval, applied by a reload as Ansible's handler would.
            desired.write_text(json.dumps(desired_state(workloads, interval=IDLE_INTERVAL)))
            subprocess.run(host.argv("kill", "-HUP", str(pid)), check=True)
            wait_generation(state, 2 + noop_runs, 60)
            cpu_before, clock = cpu_seconds(pid), time.monotonic()
            time.sleep(window)
            idle = 100 * (cpu_seconds(pid) - cpu_before) / (time.monotonic() - clock)
            rss = rss_mb(pid)
        finally:
            launcher.terminate()
            launcher.wait(timeout=30)
    baseline = subprocess.Popen(
        ["python3", "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert baseline.stdout is not None and baseline.stdout.readline().strip() == "ready"
    bare_rss = rss_mb(baseline.pid)
    baseline.kill()
    baseline.wait()
    host.close()
    bare_idle = 100 * reads_cpu / IDLE_INTERVAL
    print(f"idle CPU at a {IDLE_INTERVAL} s resync, over {window:.0f} s: {idle:.2f} % of one core;"
          f" the process-per-read reads once per {IDLE_INTERVAL} s: {bare_idle:.2f} %"
          f" (ratio {idle / bare_idle:.2f})")  # fmt: skip
    print(f"RSS: {rss:.1f} MB; a bare python3: {bare_rss:.1f} MB (ratio {rss / bare_rss:.1f})")
    results = {"idle_cpu_percent": idle, "rss_mb": rss, "noop_s": noop}
    for key, goal in GOALS.items():
        verdict = "within" if results[key] <= goal else "OVER"
        print(f"  goal {key} <= {goal}: {results[key]:.3f} ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=200)
    parser.add_argument("--window", type=float, default=60, help="idle CPU window, seconds")
    parser.add_argument("--noop-runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_node.py needs root (it creates network namespaces)")
    load_before = os.getloadavg()[0]
    measure(args.workloads, args.window, args.noop_runs)
    print(f"{os.cpu_count()} CPUs, 1-min load average {load_before:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")  # fmt: skip


if __name__ == "__main__":
    main()
