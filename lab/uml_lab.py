#!/usr/bin/env python3
"""The lab inside a User-mode Linux kernel, tunnelled with the seed's IPIP (`make lab KERNEL=uml`).

    python3 lab/uml_lab.py -i INVENTORY [--mem 3G] [--timeout 3600] [--then COMMAND ...]

For machines whose kernel has no IPIP (`make lab` falls back to VXLAN there). On the machine,
this saves the lab image (lab.py image builds it) to an archive in a scratch directory under
/var/tmp, then boots UML through lab/uml.py and runs its `guest` step inside. The guest:

* hides the machine's podman state behind guest-only tmpfs mounts (/var/lib/containers, the
  network definitions in /etc/containers/networks): the guest's root is the machine's file
  system (hostfs), and the machine's storage and networks must stay untouched. The image is
  loaded from the archive into that tmpfs storage (overlay on tmpfs: no copy per container);
* mounts the cgroup v1 hierarchies systemd containers need (the UML kernel has no cpuset);
* gives podman its own containers.conf (the lab's, plus GLIBC_TUNABLES for conmon and for the
  containers' processes, and a network directory on its tmpfs): lab/uml.py keeps the guest's
  glibc off AVX-512, whose registers UML does not switch between guest processes, but podman
  starts conmon and the containers with an environment of its own (without that, conmon's
  snprintf returned its format unformatted and every container create failed);
* puts iptables-legacy first in PATH: the UML kernel has no nft NAT (nft_chain_nat), which
  netavark would need, and the roles write legacy rules (calico_felix_backend=legacy);
* copies the inventory onto its tmpfs and records the tunnel there with lab/lab_encap.py, whose
  probe of the UML kernel must answer ipip; site.yml's IPAM ledger is written to that copy too,
  so the machine's inventory and its own lab record stay as they were;
* runs the same flow as `make lab` (lab.py up, site.yml, verify.yml) and prints one host's
  tunnel routes, checked for the seed's shape (`BLOCK via HOST dev tunl0 proto bird onlink`),
  then runs COMMAND (--then; e.g. a test against the running fleet) and powers off.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

# lab_inventory.py shares the model's readers: import the repository as the collection.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

import uml
from lab_errors import LabError
from lab_image import image_ref
from lab_inventory import Host

REPO = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPO / "lab" / "containers.conf"
# Four hosts and a router, each a systemd container with BIRD, plus Ansible as the controller,
# all in the guest's memory, as are the image's layers (about 230 MB) on the storage tmpfs.
DEFAULT_MEM = "3G"
DEFAULT_TIMEOUT = 3600.0
# The lab needs overlay (storage on tmpfs) besides what the integration tests load.
MODULES = (*uml.MODULES, "overlay", "ipt_REJECT", "xt_state")
# Guest-only tmpfs mounts over the machine's podman state: podman in the guest writes there.
HIDDEN_DIRS = (Path("/var/lib/containers"), Path("/etc/containers/networks"))
# Systemd in the lab's containers wants these cgroup v1 hierarchies (TESTBED.md).
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "devices", "freezer", "net_cls", "blkio")
LEGACY_TOOLS = ("iptables", "iptables-save", "iptables-restore")
GUEST_DIR = Path("/tmp/uml-lab")  # on the guest's tmpfs
# Extra vars of both playbooks in the guest: the roles write legacy iptables rules (no nft NAT).
PLAYBOOK_VARS = ("-e", "calico_felix_backend=legacy")
# podman's defaults for the two lists the guest's containers.conf replaces (containers.conf(5)).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEMD_DROPIN = "/etc/systemd/system.conf.d/uml-glibc-tunables.conf"  # inside each container
TUNNEL_ROUTE = re.compile(
    r"^(?P<block>\d+\.\d+\.\d+\.\d+/\d+) via (?P<via>\d+\.\d+\.\d+\.\d+) dev tunl0 "
    r"proto bird onlink\b"
)


# --- pure: what the guest runs and what it checks ---------------------------------------------


def guest_mounts() -> list[list[str]]:
    """The guest's mount commands, in order: tmpfs over the machine's podman state, then the
    cgroup v1 hierarchies (a tmpfs on /sys/fs/cgroup, one directory per hierarchy)."""
    commands = [["mount", "-t", "tmpfs", "-o", "mode=0700", "uml-lab", str(d)] for d in HIDDEN_DIRS]
    commands.append(["mount", "-t", "tmpfs", "-o", "mode=0755", "cgroup", "/sys/fs/cgroup"])
    for controller in CGROUP_CONTROLLERS:
        path = f"/sys/fs/cgroup/{controller}"
        commands += [
            ["mkdir", "-p", path],
            ["mount", "-t", "cgroup", "-o", controller, "cgroup", path],
        ]
    path = "/sys/fs/cgroup/systemd"
    commands += [
        ["mkdir", "-p", path],
        ["mount", "-t", "cgroup", "-o", "none,name=systemd", "cgroup", path],
    ]
    return commands


def systemd_tunables(tunables: str) -> str:
    """A system.conf drop-in that gives every service in a lab container GLIBC_TUNABLES."""
    return f"[Manager]\nDefaultEnvironment=GLIBC_TUNABLES={tunables}\n"


def guest_containers_conf(
    lab_conf: str, tunables: str, network_dir: Path, systemd_dropin: Path
) -> str:
    """The lab's containers.conf with the guest's additions put into their tables (a TOML table
    may not appear twice), each table created when the lab's file has none. Processes podman
    starts get GLIBC_TUNABLES from `env`; services from the drop-in, mounted read-only."""
    volume = f"{systemd_dropin}:{SYSTEMD_DROPIN}:ro"
    additions = {
        "containers": [
            f'env = ["PATH={DEFAULT_PATH}", "TERM=xterm", "GLIBC_TUNABLES={tunables}"]',
            f'volumes = ["{volume}"]',
        ],
        "engine": [f'conmon_env_vars = ["PATH={DEFAULT_PATH}", "GLIBC_TUNABLES={tunables}"]'],
        "network": [f'network_config_dir = "{network_dir}"'],
    }
    lines = lab_conf.splitlines()
    for table, keys in additions.items():
        header = f"[{table}]"
        if header in (line.strip() for line in lines):
            at = next(i for i, line in enumerate(lines) if line.strip() == header) + 1
            lines[at:at] = ["# Added inside UML by lab/uml_lab.py.", *keys]
        else:
            lines += ["", header, "# Added inside UML by lab/uml_lab.py.", *keys]
    return "\n".join(lines) + "\n"


def guest_inventory(inventory: Path, into: Path) -> tuple[Path, Path]:
    """(directory to copy, inventory path in the copy): a directory inventory is copied whole;
    a file inventory with its directory, so its group_vars and host_vars come along."""
    source = inventory if inventory.is_dir() else inventory.parent
    target = into / source.name
    return source, (target if inventory.is_dir() else target / inventory.name)


def tunnel_routes(ip_route: str) -> dict[IPv4Address, list[IPv4Network]]:
    """`ip -4 route` text as {next hop: [blocks]} for the routes of the seed's IPIP shape."""
    routes: dict[IPv4Address, list[IPv4Network]] = {}
    for line in ip_route.splitlines():
        match = TUNNEL_ROUTE.match(line.strip())
        if match:
            routes.setdefault(IPv4Address(match["via"]), []).append(IPv4Network(match["block"]))
    return routes


def route_shape_problems(host: Host, hosts: Sequence[Host], ip_route: str) -> list[str]:
    """What is wrong with ``host``'s tunnel routes in a CrossSubnet IPIP lab: every host on
    another subnet must be the next hop of exactly one tunl0 route; no host of its own subnet."""
    routes = tunnel_routes(ip_route)
    problems = []
    for other in hosts:
        if other.name == host.name:
            continue
        blocks = routes.get(other.address, [])
        if other.subnet == host.subnet and blocks:
            problems.append(f"{other.name} is on {host.name}'s subnet but routed through tunl0")
        elif other.subnet != host.subnet and len(blocks) != 1:
            problems.append(
                f"{host.name} has {len(blocks)} tunl0 routes via {other.name} ({other.address}), "
                "expected one: `BLOCK via HOST dev tunl0 proto bird onlink`"
            )
    return problems


def route_host(hosts: Sequence[Host]) -> Host:
    """The host whose routes the run prints: the first with a host on another subnet."""
    for host in hosts:
        if any(other.subnet != host.subnet for other in hosts):
            return host
    raise LabError(
        "every host of the inventory is on one subnet, so CrossSubnet IPIP has nothing to "
        "tunnel: put some hosts' calico_ip on another subnet"
    )


def legacy_path(bin_dir: Path, path: str) -> str:
    """PATH with ``bin_dir`` (iptables-legacy under the plain names) first."""
    return f"{bin_dir}:{path}"


# --- the machine's side -------------------------------------------------------------------------


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def save_image(scratch: Path) -> Path:
    ref = image_ref()
    exists = subprocess.run(["podman", "image", "exists", ref], env=podman_env(), check=False)
    if exists.returncode != 0:
        raise LabError(f"the lab image {ref} does not exist: build it with `lab/lab.py image`")
    archive = scratch / "image.tar"
    started = time.monotonic()
    result = subprocess.run(
        ["podman", "save", "--quiet", "-o", str(archive), ref],
        env=podman_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LabError(f"podman save {ref} failed: {result.stderr.strip()}")
    print(f"uml-lab: saved {ref} to {archive} in {time.monotonic() - started:.0f} s", flush=True)
    return archive


def lab_hosts(inventory: Path) -> list[Host]:
    """The inventory's hosts, read as lab.py reads them (re-run with the venv's python if
    jinja2 is missing)."""
    from lab_inventory import hosts_from_inventory

    from lab import read_inventory

    return hosts_from_inventory(read_inventory(inventory))


def host_main(args: argparse.Namespace) -> int:
    inventory = Path(args.inventory).resolve()
    if not inventory.exists():
        raise LabError(f"inventory {args.inventory} not found")
    route_host(lab_hosts(inventory))  # a one-subnet inventory has no tunnel: refuse before boot
    python = REPO / ".venv" / "bin" / "python3"  # the guest runs Ansible from the venv
    if not python.exists():
        raise LabError(f"{python} not found: create the virtualenv (make venv)")
    scratch = Path(tempfile.mkdtemp(prefix="calico-uml-lab-", dir="/var/tmp"))
    try:
        archive = save_image(scratch)
        command = [
            str(python), str(Path(__file__).resolve()), "guest",
            "-i", str(inventory), "--archive", str(archive),
            *(["--then", *args.then] if args.then else []),
        ]  # fmt: skip
        return uml.run_in_uml(command, args.mem, args.timeout, uml.guest_env(), MODULES)
    finally:
        shutil.rmtree(scratch)


# --- the guest's side ---------------------------------------------------------------------------


def step(title: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Run one step with its output on the console; raise naming it when it fails."""
    started = time.monotonic()
    print(f"uml-lab: {title}: {' '.join(argv)}", flush=True)
    code = subprocess.run(list(argv), env=dict(env), cwd=REPO, check=False).returncode
    took = time.monotonic() - started
    if code != 0:
        raise LabError(f"{title} failed (exit {code}) after {took:.0f} s")
    print(f"uml-lab: {title}: done in {took:.0f} s", flush=True)


def prepare_guest() -> dict[str, str]:
    for argv in guest_mounts():
        subprocess.run(argv, check=True)
    bin_dir = GUEST_DIR / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in LEGACY_TOOLS:
        (bin_dir / tool).symlink_to(f"/usr/sbin/{tool.replace('iptables', 'iptables-legacy')}")
    conf = GUEST_DIR / "containers.conf"
    networks = GUEST_DIR / "networks"
    networks.mkdir()
    dropin = GUEST_DIR / "uml-glibc-tunables.conf"
    dropin.write_text(systemd_tunables(uml.GUEST_TUNABLES))
    conf.write_text(
        guest_containers_conf(CONTAINERS_CONF.read_text(), uml.GUEST_TUNABLES, networks, dropin)
    )
    return {
        **os.environ,
        "PATH": legacy_path(bin_dir, os.environ["PATH"]),
        "CONTAINERS_CONF": str(conf),  # podman's own calls, Ansible's podman connection
        "LAB_CONTAINERS_CONF": str(conf),  # lab.py's calls
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "TMPDIR": "/tmp",  # podman load's temporary copies: the guest's tmpfs, not /var/tmp
    }


def copy_inventory(inventory: Path) -> Path:
    source, copied = guest_inventory(inventory, GUEST_DIR / "inventory")
    shutil.copytree(source, copied if inventory.is_dir() else copied.parent, symlinks=True)
    return copied


def record_ipip(inventory: Path, env: Mapping[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "lab/lab_encap.py"), "--record", str(inventory)],
        env=dict(env), capture_output=True, text=True, check=False,
    )  # fmt: skip
    sys.stdout.write(result.stderr)
    if result.returncode != 0 or result.stdout.strip() != "ipip":
        raise LabError(
            f"the UML kernel should tunnel with ipip; lab_encap.py said {result.stdout!r}"
        )


def show_routes(inventory: Path, env: Mapping[str, str]) -> None:
    hosts = lab_hosts(inventory)
    host = route_host(hosts)
    result = subprocess.run(
        # Unfiltered: `ip route show proto bird` leaves `proto bird` out of the lines it prints.
        ["podman", "exec", host.name, "ip", "-4", "route", "show"],
        env=dict(env), capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(f"uml-lab: {host.name}'s routes from BIRD:")
    for line in result.stdout.splitlines():
        if " proto bird" in line:
            print(f"  {line.strip()}")
    problems = route_shape_problems(host, hosts, result.stdout)
    if problems:
        raise LabError("\n".join(problems))
    print(f"uml-lab: {host.name} tunnels to every host on another subnet with the seed's route")


def guest_main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    env = prepare_guest()
    step("load the lab image", ["podman", "load", "--quiet", "-i", args.archive], env)
    inventory = copy_inventory(Path(args.inventory))
    record_ipip(inventory, env)
    python = sys.executable
    step("lab up", [python, str(REPO / "lab/lab.py"), "up", "-i", str(inventory)], env)
    playbook = [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(inventory), *PLAYBOOK_VARS]
    step("site.yml", [*playbook, "playbooks/site.yml"], env)
    step("verify.yml", [*playbook, "playbooks/verify.yml"], env)
    show_routes(inventory, env)
    print(f"lab: cross-subnet encapsulation: ipip (UML {os.uname().release})")
    if args.then:
        step("then", args.then, {**env, "CALICO_UML_LAB_INVENTORY": str(inventory)})
    print(f"uml-lab: the lab in UML took {time.monotonic() - started:.0f} s after boot")
    return 0


# --- command line -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="uml_lab.py", description=__doc__.splitlines()[0])
    top.add_argument("-i", "--inventory", required=True)
    top.add_argument("--mem", default=DEFAULT_MEM, help=f"guest memory (default {DEFAULT_MEM})")
    top.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    top.add_argument("--then", nargs=argparse.REMAINDER, help="a command to run on the lab")
    top.add_argument("--archive", help=argparse.SUPPRESS)
    top.add_argument("where", nargs="?", choices=["guest"], help=argparse.SUPPRESS)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("uml_lab.py: run as root (the guest is root on the machine's file system)")
        return 2
    try:
        return guest_main(args) if args.where == "guest" else host_main(args)
    except (LabError, uml.UmlError) as err:
        print(f"uml_lab.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
