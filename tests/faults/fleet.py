"""A podman lab fleet for the fault tests: bring it up, run playbooks, break and inspect hosts.

Everything goes through the project's own tools (lab/lab.py, the playbooks) and real processes
in the containers (podman exec), so a fault test exercises what an operator would run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.calico.network.plugins.plugin_utils.inventory import (
    FLEET_GROUP,
    read_inventory,
)

REPO = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).resolve().parent / "inventory"
RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.M)  # fmt: skip

# What the project may create on a host, for before/after comparisons.
SNAPSHOT = r"""
set -o pipefail
ip -o link show | sed 's/ qlen [0-9]*//'
ip -4 route show table all
ip netns list
iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
sha256sum /etc/bird/* /etc/systemd/system/bird.service.d/* /etc/sysctl.d/* 2>&1 || true
systemctl is-active bird || true
"""


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: its exit code, output and per-host recap."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(self.output)
        }


def env() -> dict[str, str]:
    values = dict(os.environ)
    values.update(
        CONTAINERS_CONF=str(REPO / "lab" / "containers.conf"),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{REPO / '.venv' / 'bin'}:{values.get('PATH', '')}",
    )
    return values


class Fleet:
    """A fault-test lab, built from a private copy of an inventory (tests/faults/inventory)."""

    def __init__(self, workdir: Path, source: Path = INVENTORY, name: str = "inventory") -> None:
        # The copy's directory name is the lab's prefix (its router is `<name>-router`).
        self.inventory = workdir / name
        shutil.copytree(source, self.inventory)
        self.hosts: list[str] = list(read_inventory(self.inventory).groups[FLEET_GROUP])

    # --- lab and playbooks -------------------------------------------------------------------

    def lab(self, command: str) -> None:
        subprocess.run(
            ["python3", str(REPO / "lab" / "lab.py"), command, "-i", str(self.inventory)],
            check=True,
            env=env(),
        )

    def playbook(
        self, name: str, *args: str, inventory: Path | None = None, callback: str | None = None
    ) -> Run:
        values = env()
        if callback:
            values["ANSIBLE_STDOUT_CALLBACK"] = callback
        done = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(inventory or self.inventory),
                f"playbooks/{name}",
                *args,
            ],
            capture_output=True,
            text=True,
            env=values,
            cwd=REPO,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def start_playbook(self, name: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ansible-playbook", "-i", str(self.inventory), f"playbooks/{name}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env(),
            cwd=REPO,
            start_new_session=True,  # its own process group: the test can stop all of it
        )

    # --- hosts ---------------------------------------------------------------------------------

    def sh(self, host: str, script: str, check: bool = True) -> str:
        done = subprocess.run(
            ["podman", "exec", host, "bash", "-c", script],
            capture_output=True,
            text=True,
            env=env(),
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{host}: `{script}` failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def start_sh(self, host: str, script: str) -> subprocess.Popen[str]:
        """``sh`` in the background: the caller reads its stdout when it ends."""
        return subprocess.Popen(
            ["podman", "exec", host, "bash", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )

    def snapshot(self, host: str) -> str:
        return self.sh(host, SNAPSHOT)

    def snapshots(self) -> dict[str, str]:
        return {host: self.snapshot(host) for host in self.hosts}

    def podman(self, *args: str) -> None:
        subprocess.run(["podman", *args], check=True, env=env(), capture_output=True)

    # --- the model's facts, read back from the ledger -------------------------------------------

    def ledger(self) -> dict[str, Any]:
        path = self.inventory / "group_vars" / "all" / "calico_ipam.yml"
        return yaml.safe_load(path.read_text())["calico_ipam_ledger"]

    def block(self, host: str) -> str:
        return str(self.ledger()["blocks"][host])

    def workload(self, host: str) -> tuple[str, str]:
        """(name, address) of the host's first workload."""
        name, address = next(iter(sorted(self.ledger()["addresses"][host].items())))
        return name, str(address)

    def established(self, host: str) -> int:
        output = self.sh(host, "birdc show protocols", check=False)
        return sum(1 for line in output.splitlines() if " BGP " in line and "Established" in line)

    def has_route(self, host: str, prefix: str) -> bool:
        return bool(self.sh(host, f"ip -4 route show {prefix} proto bird", check=False).strip())

    def ping_count(self, host: str, netns: str, address: str, count: int) -> tuple[int, int]:
        """(transmitted, received) of `count` pings, 50 ms apart, from a workload namespace."""
        output = self.sh(
            host, f"ip netns exec {netns} ping -n -q -i 0.05 -W 1 -c {count} {address}", check=False
        )
        sent = re.search(r"(\d+) packets transmitted, (\d+) received", output)
        assert sent, output
        return int(sent[1]), int(sent[2])


def wait_for(what: str, condition: Callable[[], bool], timeout: float, step: float = 0.05) -> float:
    """Seconds until ``condition`` held; fails naming ``what`` after ``timeout`` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic() - started


CASE_HOST = re.compile(r"\bh([1-9])\b")


def rename_hosts(text: str, hosts: list[str]) -> str:
    """Catalog cases name their hosts h1, h2, ...: aim them at the fleet's real hosts."""
    return CASE_HOST.sub(lambda m: hosts[int(m[1]) - 1], text)


def catalog_inventory(case: dict[str, Any], fleet: Fleet) -> dict[str, Any]:
    """A catalog case's inventory aimed at the fleet's hosts, reachable the lab's way."""
    inventory = json.loads(rename_hosts(json.dumps(case["inventory"]), fleet.hosts))
    connection = yaml.safe_load((INVENTORY / "group_vars" / "all" / "lab.yml").read_text())
    inventory["all"].setdefault("vars", {}).update(connection)
    return inventory
