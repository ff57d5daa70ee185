"""How long the controller takes before anything happens on a host, for big fleets.

For 100, 1,000 and 5,000 hosts (a full mesh, and racks of 100 hosts with two reflectors each)
this writes an inventory the way a user would (one hosts.yml, no group_vars/), then times:

- floor: a bare playbook with one ``debug`` task over the same fleet group: what Ansible itself
  costs for that inventory (parsing it, one task result per host). It is measured in the same
  run, so the ratios hold on any machine;
- validate: ``playbooks/validate.yml`` (validation and the model, controller only);
- site, controller part: ``playbooks/site.yml`` from its start to the start of the first task
  that would contact a host (the fleet check, validation, the model, the ledger, each host's
  slice and the argument checks before that task). The callback
  bench/callback_plugins/calico_first_contact.py notes the time there and ends the run.

Goals (issue 12): validate <= 10 s and <= 3x the floor at 5,000 hosts; the controller part of
site.yml <= 3x the floor. No host is contacted: the callback stops site.yml before that, and the
inventory points every host at a closed port on the loopback address besides. The IPAM ledger
is written into the throw-away inventory.

Run: .venv/bin/python bench/bench_controller.py [sizes...]   (make bench runs it)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RACK_SIZE = 100
GOAL_VALIDATE_SECONDS = 10.0
GOAL_RATIO = 3.0
FLOOR_PLAYBOOK = """---
- name: Floor (one debug task per host)
  hosts: calico_hosts
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
"""


def inventory_text(size: int, mode: str) -> str:
    """One hosts.yml for ``size`` hosts: every host has a workload; racks of RACK_SIZE hosts."""
    lines = [
        "all:",
        "  vars:",
        "    ansible_host: 127.0.0.1",  # never reached: the port below is closed
        "    ansible_port: 1",
        "    calico_pools: [{cidr: 10.0.0.0/8, block_size: 26}]",
        f"    calico_mesh_warn_hosts: {size}",
        "  children:",
        "    calico_hosts:",
    ]
    if mode == "mesh":
        lines.append("      hosts:")
        lines += [_host(i, "        ") for i in range(size)]
        return "\n".join(lines) + "\n"
    lines += ["      vars:", "        calico_bgp_mode: route_reflector", "      children:"]
    for rack in range((size + RACK_SIZE - 1) // RACK_SIZE):
        lines += [f"        rack{rack:02d}:", f"          vars: {{calico_as: {65000 + rack}}}"]
        lines.append("          hosts:")
        for i in range(rack * RACK_SIZE, min(size, (rack + 1) * RACK_SIZE)):
            reflector = ", calico_route_reflector: true" if i % RACK_SIZE < 2 else ""
            lines.append(_host(i, "            ", reflector))
    return "\n".join(lines) + "\n"


def _host(i: int, indent: str, extra: str = "") -> str:
    address = f"192.168.{i // 250}.{i % 250 + 1}/16"
    values = f"calico_ip: {address}, calico_workloads: [{{name: web}}]{extra}"
    return f"{indent}host{i:05d}: {{{values}}}"


def racks_vars(size: int) -> str:
    """The racks' parent group: calico_racks holds every rack group."""
    racks = (size + RACK_SIZE - 1) // RACK_SIZE
    children = "".join(f"\n        rack{r:02d}:" for r in range(racks))
    return f"\n    calico_racks:\n      children:{children}\n"


def run(playbook: str, inventory: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    """Seconds for one ansible-playbook run; the run must succeed."""
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", **(env or {})
    )
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), playbook, *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return seconds


def measure(size: int, mode: str, scratch: Path) -> tuple[float, float, float]:
    directory = scratch / f"{mode}-{size}"
    directory.mkdir()
    inventory = directory / "hosts.yml"
    text = inventory_text(size, mode)
    if mode == "racks":
        text += racks_vars(size)
    inventory.write_text(text)
    floor_playbook = directory / "floor.yml"
    floor_playbook.write_text(FLOOR_PLAYBOOK)
    floor = run(str(floor_playbook), inventory)
    validate = run("playbooks/validate.yml", inventory)
    return floor, validate, first_contact(inventory, directory / "first-contact")


def first_contact(inventory: Path, record: Path) -> float:
    """Seconds of site.yml up to its first host-contacting task (the callback stops it there)."""
    run(
        "playbooks/site.yml",
        inventory,
        env={
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "bench" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "calico_first_contact",
            "CALICO_BENCH_FIRST_CONTACT": str(record),
        },
    )
    if not record.exists():
        sys.exit("site.yml ended without reaching a task that contacts a host")
    return float(record.read_text().split()[0])


def verdict(size: int, floor: float, validate: float, site: float) -> str:
    problems = []
    if validate > GOAL_RATIO * floor or (size >= 5000 and validate > GOAL_VALIDATE_SECONDS):
        problems.append("validate")
    if site > GOAL_RATIO * floor:
        problems.append("site")
    return "ok" if not problems else "MISSED: " + ", ".join(problems)


def main() -> int:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100, 1000, 5000]
    print(
        f"{'hosts':>6} {'mode':<6} {'floor':>7} {'validate':>9} {'ratio':>6} "
        f"{'site*':>7} {'ratio':>6}  goal (<= {GOAL_RATIO:g}x floor; validate <= "
        f"{GOAL_VALIDATE_SECONDS:g} s at 5,000)"
    )
    missed = 0
    with tempfile.TemporaryDirectory(prefix="calico-bench-") as scratch:
        for size in sizes:
            for mode in ("mesh", "racks"):
                floor, validate, site = measure(size, mode, Path(scratch))
                result = verdict(size, floor, validate, site)
                missed += result != "ok"
                print(
                    f"{size:>6} {mode:<6} {floor:>6.1f}s {validate:>8.1f}s "
                    f"{validate / floor:>5.1f}x {site:>6.1f}s {site / floor:>5.1f}x  {result}",
                    flush=True,
                )
    print("site* = site.yml up to the first task that contacts a host")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
