#!/usr/bin/env python3
"""The local podman lab: node image, underlay networks, host containers and a router.

    python3 lab/lab.py deps                   install podman, runc, debootstrap, bird2 ... (apt)
    python3 lab/lab.py image                  build the node image unless it exists
    python3 lab/lab.py up -i INVENTORY        image + networks + containers (+ router)
    python3 lab/lab.py down [-i INVENTORY]    remove the lab (one inventory's, or all)
    python3 lab/lab.py status [-i INVENTORY]  list the lab's containers and networks

Decisions live in lab_inventory.py (hosts and addresses), lab_plan.py (networks, router, routes,
conflicts) and lab_image.py (packages, tag, mirror), all pure and unit-tested; the inventory is
read with plugins/plugin_utils/inventory.py. This file only gathers facts and acts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

# lab_inventory.py shares the model's readers: import the repository as the collection.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from lab_errors import LabError
from lab_image import (
    IMAGE_NAME,
    IMAGE_PACKAGES,
    IMAGE_RECIPE,
    IMAGE_SUITE,
    apt_source_entries,
    image_ref,
    pick_mirror,
)
from lab_inventory import hosts_from_inventory
from lab_machine import INOTIFY_KEY, forward_drop_warning, inotify_raise
from lab_plan import (
    LABEL,
    LABEL_INVENTORY,
    LABEL_ROLE,
    HostPlan,
    LabPlan,
    address_mismatches,
    container_conflicts,
    container_name,
    lab_prefix,
    missing_attachments,
    network_conflicts,
    plan_lab,
    podman_bridges,
    route_conflicts,
    select_owned,
)

if TYPE_CHECKING:
    from ansible_collections.calico.network.plugins.plugin_utils.inventory import Inventory

REPO = Path(__file__).resolve().parent.parent
RERUN_MARK = "CALICO_LAB_RERUN"  # set when lab.py re-runs itself with the venv's python
# lab/uml_lab.py runs this file inside User-mode Linux with its own copy (it adds what the UML
# guest needs); everywhere else every podman call uses the lab's own file.
CONTAINERS_CONF = Path(os.environ.get("LAB_CONTAINERS_CONF") or REPO / "lab" / "containers.conf")
WORK_DIR = REPO / ".lab"  # gitignored scratch space for image builds
DEPS = ("podman", "runc", "netavark", "aardvark-dns", "iptables", "iproute2", "debootstrap")
DEPS += ("debian-archive-keyring",)
# The tests check rendered configs with the real `bird -p`, and the kernel integration tests
# ping between namespaces and sandbox themselves with unshare/nsenter.
DEPS += ("bird2", "iputils-ping", "util-linux", "python3-venv", "make")
# calico_workloads flushes the conntrack entries of released addresses with conntrack(8); the
# integration tests check the flush commands.
DEPS += ("conntrack",)
# `make integration` runs those tests again in a User-mode Linux kernel (it has ipip), whose
# modules lab/uml.py loads with insmod, and whose FPU shim it compiles (lab/uml.py explains).
DEPS += ("user-mode-linux", "kmod", "gcc", "libc6-dev")
# Generous: on a 2-core machine running several labs at once, boots took over 60 s.
BOOT_TIMEOUT = 180.0
PARALLEL = 4  # container starts mostly wait on systemd, so a few more than the 2 cores
STOP_TIMEOUT = "3"  # seconds systemd gets to shut down before podman kills the container


# --- running commands ------------------------------------------------------------------------


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Any = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, env=env, cwd=cwd, stdin=stdin, check=False
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise LabError(f"`{' '.join(args)}` failed ({result.returncode}): {detail}")
    return result


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    return run(["podman", *args], check=check, env=podman_env(), stdin=stdin)


def podman_json(*args: str) -> list[dict[str, Any]]:
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


# --- facts -----------------------------------------------------------------------------------


def list_networks() -> list[dict[str, Any]]:
    return podman_json("network", "ls", "--format", "json")


def list_containers() -> list[dict[str, Any]]:
    return podman_json("ps", "-a", "--format", "json")


def inspect_containers(names: Sequence[str]) -> list[dict[str, Any]]:
    return podman_json("container", "inspect", *names) if names else []


def machine_routes() -> list[dict[str, Any]]:
    return json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")


def read_inventory(path: Path) -> Inventory:
    """The inventory as Ansible sees it, through the project's one reader."""
    try:
        from ansible_collections.calico.network.plugins.plugin_utils import inventory as reader
    except ModuleNotFoundError as err:  # jinja2, which comes with Ansible (make venv)
        rerun_with_venv_python(err)
    try:
        return reader.read_inventory(path)
    except reader.InventoryReadError as err:
        raise LabError(str(err)) from None


def rerun_with_venv_python(err: ModuleNotFoundError) -> NoReturn:
    """Run this command again with the project's virtualenv, where Ansible's modules are."""
    python = REPO / ".venv" / "bin" / "python3"
    if python.exists() and not os.environ.get(RERUN_MARK):
        os.environ[RERUN_MARK] = "1"
        os.execv(python, [str(python), *sys.argv])
    raise LabError(f"reading the inventory needs {err.name}: create .venv (make venv)")


# --- deps ------------------------------------------------------------------------------------


def missing_packages(packages: Sequence[str]) -> list[str]:
    missing = []
    for pkg in packages:
        status = run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], check=False).stdout
        if status.strip() != "installed":
            missing.append(pkg)
    return missing


def cmd_deps(_: argparse.Namespace) -> None:
    missing = missing_packages(DEPS)
    if not missing:
        print(f"deps: all present ({' '.join(DEPS)})")
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        print(f"deps: installing {' '.join(missing)}")
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    raise_inotify_instances()
    warn_forward_drop()


def raise_inotify_instances() -> None:
    """Enough inotify instances for the lab's systemd containers (lab_machine.py says why)."""
    path = Path("/proc/sys") / INOTIFY_KEY.replace(".", "/")
    current = int(path.read_text())
    wanted = inotify_raise(current)
    if wanted is not None:
        run(["sysctl", "-q", "-w", f"{INOTIFY_KEY}={wanted}"])
        print(f"deps: raised {INOTIFY_KEY} from {current} to {wanted} (until the next boot)")


def warn_forward_drop() -> None:
    rules = run(["iptables", "-S", "FORWARD"], check=False).stdout
    bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    warning = forward_drop_warning(rules, bridged.read_text() if bridged.exists() else "0")
    if warning:
        print(f"deps: WARNING: {warning}", file=sys.stderr)


# --- image -----------------------------------------------------------------------------------


def machine_mirror() -> str:
    deb822 = [p.read_text() for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    one_line = [p.read_text() for p in sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        one_line.insert(0, legacy.read_text())
    return pick_mirror(apt_source_entries(deb822, one_line))


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def ensure_image(mirror: str | None) -> str:
    ref = image_ref()
    if image_exists(ref):
        return ref
    started = time.monotonic()
    mirror = mirror or machine_mirror()
    print(f"image: building {ref} from {mirror} (debootstrap, 1-2 min)", flush=True)
    WORK_DIR.mkdir(exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="image-", dir=WORK_DIR))
    try:
        rootfs = build / "rootfs"
        debootstrap(rootfs, mirror, build / "debootstrap.log")
        customise(rootfs)
        import_rootfs(rootfs, ref)
    finally:
        remove_build_dir(build)
    podman("tag", ref, f"{IMAGE_NAME}:latest")
    print(f"image: built {ref} in {time.monotonic() - started:.0f} s")
    return ref


def debootstrap(rootfs: Path, mirror: str, log: Path) -> None:
    args = ["debootstrap", *IMAGE_RECIPE["debootstrap"], f"--include={','.join(IMAGE_PACKAGES)}"]
    result = run([*args, IMAGE_SUITE, str(rootfs), mirror], check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise LabError(f"debootstrap failed ({result.returncode}):\n{tail}")


def customise(rootfs: Path) -> None:
    for command in IMAGE_RECIPE["chroot"]:
        run(["chroot", str(rootfs), *command])
    for pattern in IMAGE_RECIPE["remove"]:
        for path in rootfs.glob(pattern):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for name in IMAGE_RECIPE["empty"]:
        (rootfs / name).write_text("")
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    if (wants / "frr.service").is_symlink() or not (wants / "bird.service").is_symlink():
        raise LabError("image: expected frr.service disabled and bird.service enabled")


def import_rootfs(rootfs: Path, ref: str) -> None:
    tar = subprocess.Popen(
        ["tar", *IMAGE_RECIPE["tar"], "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        changes = [arg for c in IMAGE_RECIPE["import_change"] for arg in ("--change", c)]
        podman("import", *changes, "-", ref, stdin=tar.stdout)
    finally:
        if tar.stdout:
            tar.stdout.close()
        tar.wait()
    if tar.returncode != 0:
        raise LabError(f"tar of {rootfs} failed ({tar.returncode})")


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def remove_build_dir(build: Path) -> None:
    # A failed debootstrap can leave /proc or /dev mounted inside the rootfs; deleting through
    # a mount would delete the machine's own files.
    for point in mounts_under(build):
        run(["umount", "-l", point], check=False)
    left = mounts_under(build)
    if left:
        raise LabError(f"not deleting {build}: still mounted: {', '.join(left)}")
    shutil.rmtree(build)


def cmd_image(args: argparse.Namespace) -> None:
    ref = ensure_image(args.mirror)
    print(f"image: {ref}")


# --- up --------------------------------------------------------------------------------------


def inventory_label(path: str) -> str:
    return str(Path(path).resolve())


def make_plan(inventory: str) -> LabPlan:
    path = Path(inventory_label(inventory))
    hosts = hosts_from_inventory(read_inventory(path))
    return plan_lab(hosts, str(path), lab_prefix(path, path.is_dir()))


def check_machine(plan: LabPlan) -> dict[str, dict[str, Any]]:
    """Refuse to touch anything that is not this inventory's; return its existing containers."""
    networks, containers = list_networks(), list_containers()
    errors = network_conflicts(plan, networks)
    errors += route_conflicts(plan, machine_routes(), podman_bridges(networks))
    errors += container_conflicts(plan, containers)
    owned = {container_name(c): c for c in select_owned(containers, plan.inventory)}
    mine = sorted(set(owned) & set(plan.container_names()))
    errors += address_mismatches(plan, inspect_containers(mine))
    if errors:
        raise LabError("\n".join(errors))
    return owned


def ensure_networks(plan: LabPlan) -> None:
    existing = {n["name"] for n in list_networks()}
    for net in plan.networks:
        if net.name in existing:
            continue
        podman(
            "network", "create", "--internal",
            "--subnet", str(net.subnet), "--gateway", str(net.gateway),
            *labels(plan, "network"), net.name,
        )  # fmt: skip


def labels(plan: LabPlan, role: str) -> list[str]:
    pairs = {LABEL: "1", LABEL_INVENTORY: plan.inventory, LABEL_ROLE: role}
    return [arg for k, v in pairs.items() for arg in ("--label", f"{k}={v}")]


def ensure_container(
    name: str, existing: Mapping[str, Any] | None, create: Callable[[], None]
) -> str:
    if existing is None:
        create()
        action = "created"
    elif existing.get("State") != "running":
        podman("start", name)
        action = "started"
    else:
        action = "running"
    return f"{action}, systemd {wait_booted(name)}"


def run_node(plan: LabPlan, image: str, name: str, role: str, net: str, ip: str) -> None:
    extra = ["--sysctl", "net.ipv4.ip_forward=1"] if role == "router" else []
    podman(
        "run", "-d", "--pull=never", "--name", name, "--hostname", name, *labels(plan, role),
        "--privileged", "--systemd=always", "--network", net, "--ip", ip, *extra, image,
    )  # fmt: skip


def wait_booted(name: str, timeout: float = BOOT_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        result = podman("exec", name, "systemctl", "is-system-running", check=False)
        state = result.stdout.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(0.5)
    raise LabError(
        f"container {name!r}: systemd not up after {timeout:.0f} s (is-system-running: "
        f"{state or 'no answer'}); see `podman logs {name}`"
    )


def start_all(plan: LabPlan, image: str, owned: Mapping[str, Any]) -> dict[str, str]:
    """Create or start every container in parallel; container name → what happened."""
    jobs: dict[str, Callable[[], None]] = {}
    for host in plan.hosts:
        jobs[host.name] = _creator(plan, image, host.name, "host", host.network, str(host.address))
    if plan.router:
        net, address = plan.router.attachments[0]
        jobs[plan.router.name] = _creator(
            plan, image, plan.router.name, "router", net, str(address)
        )
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {n: pool.submit(ensure_container, n, owned.get(n), c) for n, c in jobs.items()}
    outcomes, errors = {}, []
    for name, future in futures.items():
        try:
            outcomes[name] = future.result()
        except LabError as exc:
            errors.append(str(exc))
    if errors:
        raise LabError("\n".join(errors))
    return outcomes


def _creator(
    plan: LabPlan, image: str, name: str, role: str, net: str, ip: str
) -> Callable[[], None]:
    return lambda: run_node(plan, image, name, role, net, ip)


def configure_router(plan: LabPlan) -> None:
    if not plan.router:
        return
    name = plan.router.name
    for net, address in missing_attachments(plan, inspect_containers([name])[0]):
        podman("network", "connect", "--ip", address, net, name)
    podman("exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # The router is underlay plumbing, not a Calico node: the image's BIRD has no job here.
    podman("exec", name, "systemctl", "disable", "-q", "--now", "bird.service")


def verify_addresses(plan: LabPlan) -> None:
    errors = address_mismatches(plan, inspect_containers(plan.container_names()), booted=True)
    if errors:
        raise LabError("\n".join(errors))


def apply_routes(host: HostPlan) -> None:
    for route in host.routes:
        podman("exec", host.name, "ip", "route", "replace", str(route.destination),
               "via", str(route.via))  # fmt: skip


def cmd_up(args: argparse.Namespace) -> None:
    started = time.monotonic()
    plan = make_plan(args.inventory)
    owned = check_machine(plan)  # before the image: a refusal should not wait for a build
    image = ensure_image(args.mirror)
    ensure_networks(plan)
    outcomes = start_all(plan, image, owned)
    configure_router(plan)
    verify_addresses(plan)
    for host in plan.hosts:
        apply_routes(host)
    notes = [
        f"{name}: labelled for this inventory, not in it (down -i removes it)"
        for name in sorted(set(owned) - set(plan.container_names()))
    ]
    notes += [
        f"{name}: runs {ctr.get('Image')}, not {image} (down -i, then up, to refresh)"
        for name, ctr in sorted(owned.items())
        if name in plan.container_names() and ctr.get("Image") != image
    ]
    print_up_summary(plan, image, outcomes, notes, time.monotonic() - started)


def print_up_summary(
    plan: LabPlan, image: str, outcomes: Mapping[str, str], notes: Sequence[str], took: float
) -> None:
    print(f"lab up ({took:.0f} s): {plan.inventory}  image {image}")
    for net in plan.networks:
        print(f"  network {net.name}  {net.subnet}  (bridge {net.gateway}, unused by the lab)")
    for host in plan.hosts:
        print(f"  host    {host.name:<20} {host.address!s:<16} {outcomes[host.name]}")
    if plan.router:
        addresses = ", ".join(str(a) for _, a in plan.router.attachments)
        print(f"  router  {plan.router.name:<20} {addresses}  {outcomes[plan.router.name]}")
    else:
        print("  router  none (one subnet)")
    for note in notes:
        print(f"  note    {note}")


# --- down and status -------------------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> None:
    inventory = inventory_label(args.inventory) if args.inventory else None
    containers = [container_name(c) for c in select_owned(list_containers(), inventory)]
    if containers and podman("rm", "-f", "-t", STOP_TIMEOUT, *containers, check=False).returncode:
        # A container that stops by itself while podman stops it (a busy machine) fails the
        # first attempt with "container state improper: stopped"; it is stopped now.
        again = [container_name(c) for c in select_owned(list_containers(), inventory)]
        if again:
            podman("rm", "-f", "-t", STOP_TIMEOUT, *again)
    networks = [n["name"] for n in select_owned(list_networks(), inventory)]
    if networks:
        podman("network", "rm", *networks)
    left = [container_name(c) for c in select_owned(list_containers(), inventory)]
    left += [n["name"] for n in select_owned(list_networks(), inventory)]
    if left:
        raise LabError(f"still labelled {LABEL} after down: {', '.join(left)}")
    scope = inventory or "all inventories"
    print(f"lab down ({scope}): removed {len(containers)} containers, {len(networks)} networks")


def cmd_status(args: argparse.Namespace) -> None:
    inventory = inventory_label(args.inventory) if args.inventory else None
    containers = select_owned(list_containers(), inventory)
    networks = select_owned(list_networks(), inventory)
    details = {c["Name"]: c for c in inspect_containers([container_name(c) for c in containers])}
    print(f"containers ({len(containers)}):")
    for ctr in sorted(containers, key=container_name):
        name = container_name(ctr)
        attached = (details.get(name, {}).get("NetworkSettings") or {}).get("Networks") or {}
        addresses = ",".join(v.get("IPAddress", "") for v in attached.values()) or "-"
        role = (ctr.get("Labels") or {}).get(LABEL_ROLE, "?")
        where = (ctr.get("Labels") or {}).get(LABEL_INVENTORY, "?")
        print(f"  {name:<24} {role:<7} {ctr.get('State', '?'):<8} {addresses:<28} {where}")
    print(f"networks ({len(networks)}):")
    for net in sorted(networks, key=lambda n: n["name"]):
        subnets = ",".join(f"{s['subnet']} gw {s.get('gateway')}" for s in net.get("subnets", []))
        where = (net.get("labels") or {}).get(LABEL_INVENTORY, "?")
        print(f"  {net['name']:<32} {subnets:<32} {where}")


# --- command line ----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab.py", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("deps", help="apt-get install what the lab needs").set_defaults(func=cmd_deps)
    image = sub.add_parser("image", help="build the node image unless it exists")
    up = sub.add_parser("up", help="bring up the lab for an inventory (idempotent)")
    up.add_argument("-i", "--inventory", required=True)
    for cmd in (image, up):
        cmd.add_argument(
            "--mirror",
            default=os.environ.get("LAB_DEBIAN_MIRROR") or None,
            help="Debian mirror URL (default: $LAB_DEBIAN_MIRROR, else the machine's apt source)",
        )
    image.set_defaults(func=cmd_image)
    up.set_defaults(func=cmd_up)
    for name, func, text in (
        ("down", cmd_down, "remove the lab's containers and networks"),
        ("status", cmd_status, "list the lab's containers and networks"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("-i", "--inventory", help="only this inventory's (default: all)")
        cmd.set_defaults(func=func)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("lab.py: run as root (rootful podman, debootstrap, apt)", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except LabError as exc:
        print(f"lab.py {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
