#!/usr/bin/env python3
"""Benchmark calico.network.calico_iptables against a loop of ansible.builtin.iptables tasks.

For N workloads the rule set is Felix-shaped: per workload a ``cali-tw-<if>`` and a
``cali-fw-<if>`` chain (conntrack accept, invalid drop, default drop) plus one dispatch rule in
each of ``cali-from-wl-dispatch`` / ``cali-to-wl-dispatch``; a ``cali-FORWARD`` chain and its
FORWARD hook. That is 2N+3 chains and 8N+5 rules.

Each size runs in its own scratch network namespace (its own iptables state), through real
``ansible-playbook -c local``: a first apply on an empty namespace, then a converged re-run.
The builtin-module loop runs only up to ``--builtin-max`` workloads; bigger sizes are skipped
(and an extrapolated time is printed) because it needs one module execution per rule and chain.

With ``--felix-sizes`` it also applies the complete layout the calico_felix role renders
(``plugins/plugin_utils/felix.py``: all four tables, anti-spoofing, dispatch, per-workload
chains with policy, a policy whose peer selector matches a tenth of the workloads, the fleet
profile, a floating IP per hundred workloads) for N workloads on one host, through the module
only (the builtin module cannot express mark matches, gotos into fresh chains and hook ordering
the same way).

Usage (root):  .venv/bin/python bench/bench_iptables.py [--sizes 100,1000,5000] [--builtin-max 100]
               [--felix-sizes 100,1000,5000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.calico.network.plugins.plugin_utils.felix import (  # noqa: E402
    felix_inputs,
    render_tables,
)

VENV_BIN = REPO / ".venv" / "bin"
TIMEOUT_S = 3600  # hard bound per ansible-playbook run

MODULE_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Program the cali-* chains in one go
      calico.network.calico_iptables:
        tables: "{{ bench_tables }}"
"""

BUILTIN_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Create the chains
      ansible.builtin.iptables:
        chain: "{{ item }}"
        chain_management: true
      loop: "{{ bench_chains }}"
    - name: Add the rules, one task execution each
      ansible.builtin.iptables:
        chain: "{{ item.chain }}"
        ctstate: "{{ item.ctstate | default(omit) }}"
        in_interface: "{{ item.in_interface | default(omit) }}"
        out_interface: "{{ item.out_interface | default(omit) }}"
        jump: "{{ item.jump | default(omit) }}"
        goto: "{{ item.goto | default(omit) }}"
        action: "{{ item.action | default('append') }}"
      loop: "{{ bench_rules }}"
"""


def iface(i: int) -> str:
    return f"cali{i:011x}"  # Calico's shape: "cali" + 11 hex chars, 15 chars in all


def endpoint_rules(chain: str) -> list[dict]:
    return [
        {"chain": chain, "ctstate": ["RELATED", "ESTABLISHED"], "jump": "ACCEPT"},
        {"chain": chain, "ctstate": ["INVALID"], "jump": "DROP"},
        {"chain": chain, "jump": "DROP"},
    ]


def rule_text(rule: dict) -> str:
    """The same rule as the custom module's string form."""
    parts = []
    if "in_interface" in rule:
        parts.append(f"-i {rule['in_interface']}")
    if "out_interface" in rule:
        parts.append(f"-o {rule['out_interface']}")
    if "ctstate" in rule:
        parts.append(f"-m conntrack --ctstate {','.join(rule['ctstate'])}")
    if "goto" in rule:
        parts.append(f"-g {rule['goto']}")
    if "jump" in rule:
        parts.append(f"-j {rule['jump']}")
    return " ".join(parts)


def structured_rules(workloads: int) -> tuple[list[str], list[dict]]:
    """Chains and rules in ansible.builtin.iptables form, in the order they must be added."""
    chains = ["cali-FORWARD", "cali-from-wl-dispatch", "cali-to-wl-dispatch"]
    rules: list[dict] = []
    for i in range(workloads):
        chains += [f"cali-tw-{iface(i)}", f"cali-fw-{iface(i)}"]
        rules += endpoint_rules(f"cali-tw-{iface(i)}") + endpoint_rules(f"cali-fw-{iface(i)}")
    for i in range(workloads):
        name = iface(i)
        rules.append(
            {"chain": "cali-from-wl-dispatch", "in_interface": name, "goto": f"cali-fw-{name}"}
        )
        rules.append(
            {"chain": "cali-to-wl-dispatch", "out_interface": name, "goto": f"cali-tw-{name}"}
        )
    rules += [
        {"chain": "cali-from-wl-dispatch", "jump": "DROP"},
        {"chain": "cali-to-wl-dispatch", "jump": "DROP"},
        {"chain": "cali-FORWARD", "in_interface": "cali+", "jump": "cali-from-wl-dispatch"},
        {"chain": "cali-FORWARD", "out_interface": "cali+", "jump": "cali-to-wl-dispatch"},
        {"chain": "FORWARD", "jump": "cali-FORWARD", "action": "insert"},
    ]
    return chains, rules


def module_tables(chains: list[str], rules: list[dict]) -> dict:
    filter_chains: dict[str, list[str]] = {chain: [] for chain in chains}
    hooks = []
    for rule in rules:
        if rule["chain"] == "FORWARD":
            hooks.append({"chain": "FORWARD", "rule": rule_text(rule)})
        else:
            filter_chains[rule["chain"]].append(rule_text(rule))
    return {"filter": {"chains": filter_chains, "hooks": hooks}}


def felix_model(workloads: int) -> dict:
    """One host with N workloads (every tenth a db, every tenth+1 a web), a db policy."""
    entries = []
    for i in range(workloads):
        app = {0: "db", 1: "web"}.get(i % 10, "app")
        address = f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256 + 0}"
        entries.append(
            {
                "name": f"w{i}",
                "ip": address,
                "interface": iface(i),
                "labels": {"app": app},
                "floating_ips": [f"10.127.{i // 25600}.{i // 100 % 256}"] if i % 100 == 2 else [],
            }
        )
    policy = {
        "name": "db",
        "selector": "app == 'db'",
        "order": 100,
        "ingress": [
            {"action": "allow", "protocol": "tcp", "ports": ["5432"], "selector": "app == 'web'"}
        ],
    }
    return {
        "pools": [{"cidr": "10.64.0.0/10", "block_size": 20, "nat_outgoing": True}],
        "hosts": {
            "bench": {
                "ip": "192.0.2.1",
                "workloads": entries,
                "endpoint_to_host_action": "ACCEPT",
            }
        },
        "policy": {"policies": [policy], "default_profile": "fleet"},
    }


def rendered_rule_count(tables: dict) -> int:
    return sum(
        len(rules) for body in tables.values() for rules in body.get("chains", {}).values()
    ) + sum(len(body.get("hooks", [])) + len(body.get("append", [])) for body in tables.values())


@dataclass
class Timing:
    apply_s: float
    rerun_s: float
    rules_in_kernel: int


class Netns:
    def __init__(self, tag: str) -> None:
        self.name = f"calico-ipt-bench-{os.getpid()}-{tag}"

    def __enter__(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def playbook(self, play: Path, extra_vars: Path) -> float:
        argv = ["ip", "netns", "exec", self.name, str(VENV_BIN / "ansible-playbook")]
        argv += ["-i", "localhost,", "-c", "local", str(play), "-e", f"@{extra_vars}"]
        argv += ["-e", f"ansible_python_interpreter={VENV_BIN / 'python'}"]
        env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_DISPLAY_OK_HOSTS": "0"}
        started = time.monotonic()
        done = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"{play.name} failed in {self.name}:\n{done.stdout[-3000:]}{done.stderr}")
        return elapsed

    def rule_count(self, table: str | None = "filter") -> int:
        out = subprocess.run(
            ["ip", "netns", "exec", self.name, "iptables-save", *(["-t", table] if table else [])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sum(1 for line in out.splitlines() if line.startswith("-A "))


def measure(
    tag: str, play_text: str, extra: dict, workdir: Path, table: str | None = "filter"
) -> Timing:
    play = workdir / f"{tag}.yml"
    play.write_text(play_text)
    extra_vars = workdir / f"{tag}.json"
    extra_vars.write_text(json.dumps(extra))
    with Netns(tag) as ns:
        apply_s = ns.playbook(play, extra_vars)
        rerun_s = ns.playbook(play, extra_vars)
        return Timing(apply_s, rerun_s, ns.rule_count(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="workload counts, comma-separated")
    parser.add_argument("--builtin-max", type=int, default=100, help="largest size for the loop")
    parser.add_argument("--felix-sizes", default="", help="sizes for the full rendered layout")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_iptables.py needs root (it creates network namespaces)")
    sizes = [int(s) for s in args.sizes.split(",")]

    load_before = os.getloadavg()[0]
    rows = []
    per_item_s: float | None = None
    with tempfile.TemporaryDirectory(prefix="calico-ipt-bench-") as tmp:
        workdir = Path(tmp)
        for n in sizes:
            chains, rules = structured_rules(n)
            expected = len(rules)
            mod = measure(
                f"mod{n}", MODULE_PLAY, {"bench_tables": module_tables(chains, rules)}, workdir
            )
            assert mod.rules_in_kernel == expected, (mod.rules_in_kernel, expected)
            builtin: Timing | None = None
            note = ""
            if n <= args.builtin_max:
                extra = {"bench_chains": chains, "bench_rules": rules}
                builtin = measure(f"builtin{n}", BUILTIN_PLAY, extra, workdir)
                assert builtin.rules_in_kernel == expected, (builtin.rules_in_kernel, expected)
                per_item_s = builtin.apply_s / (len(chains) + len(rules))
            elif per_item_s is not None:
                guess = per_item_s * (len(chains) + len(rules)) / 60
                note = f"skipped (> --builtin-max; ~{guess:.0f} min extrapolated)"
            else:
                note = "skipped (> --builtin-max)"
            rows.append((n, len(chains), expected, mod, builtin, note))
            print(f"done: {n} workloads", file=sys.stderr, flush=True)

    header = "| workloads | chains | rules | module apply | module re-run | builtin loop apply "
    header += "| builtin loop re-run | apply ratio |"
    print(header)
    print("|" + "---|" * 8)
    for n, n_chains, n_rules, mod, builtin, note in rows:
        if builtin:
            loop = f"{builtin.apply_s:.1f} s | {builtin.rerun_s:.1f} s"
            ratio = f"{builtin.apply_s / mod.apply_s:.0f}x"
        else:
            loop, ratio = f"{note} | -", "-"
        print(
            f"| {n} | {n_chains} | {n_rules} | {mod.apply_s:.1f} s | {mod.rerun_s:.1f} s "
            f"| {loop} | {ratio} |"
        )
    if args.felix_sizes:
        felix_table([int(s) for s in args.felix_sizes.split(",")])
    version = subprocess.run(["iptables", "--version"], capture_output=True, text=True).stdout
    print(
        f"\n{version.strip()}, {os.cpu_count()} CPUs, 1-min load average "
        f"{load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


def felix_slice(workloads: int) -> dict:
    """The bench host's slice: the parts of calico_host that Felix's chains read."""
    model = felix_model(workloads)
    me = model["hosts"]["bench"]
    return {**me, "pools": model["pools"], "felix": felix_inputs(model, me)}


def felix_table(sizes: list[int]) -> None:
    print("\nFull calico_felix layout (all four tables), module only:\n")
    print("| workloads | chains | rules | module apply | module re-run |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="calico-ipt-bench-") as tmp:
        for n in sizes:
            tables = render_tables(felix_slice(n))
            expected = rendered_rule_count(tables)
            chains = sum(len(body.get("chains", {})) for body in tables.values())
            timing = measure(f"felix{n}", MODULE_PLAY, {"bench_tables": tables}, Path(tmp), None)
            assert timing.rules_in_kernel == expected, (timing.rules_in_kernel, expected)
            times = f"{timing.apply_s:.1f} s | {timing.rerun_s:.1f} s"
            print(f"| {n} | {chains} | {expected} | {times} |", flush=True)


if __name__ == "__main__":
    main()
