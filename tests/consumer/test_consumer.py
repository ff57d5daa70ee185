"""The collection as a user gets it: built tarball, installed, run from a separate project.

Builds the tarball with ``ansible-galaxy collection build``, checks that it holds the
collection and nothing of the lab, CI or a test run, installs it into a scratch directory, and
runs it from a consumer project that shares nothing with this repository (its own ansible.cfg,
an INI inventory with a ``group_vars/all.yml`` FILE, FQCN playbooks and roles, no symlink into
the repository): validate.yml passes, a playbook with the FQCN role calico_model records the
ledger beside the inventory without hiding ``group_vars/all.yml``, and a second run changes
nothing. Prints how long it took.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
# What the tarball may hold at its top level: the collection, its docs and examples, the
# changelog, and tests/sanity (ansible-test's ignore file). Anything else is a build_ignore gap.
SHIPPED = {
    "CHANGELOG.md",
    "FILES.json",
    "MANIFEST.json",
    "README.md",
    "changelogs",
    "docs",
    "inventory",
    "meta",
    "playbooks",
    "plugins",
    "roles",
    "tests",
}
INVENTORY = """\
[calico_hosts]
c1 calico_ip=192.0.2.21/24
c2 calico_ip=192.0.2.22/24
c3 calico_ip=198.51.100.23/24
"""
GROUP_VARS = {
    "calico_pools": [{"cidr": "10.46.0.0/16", "block_size": 26}],
    "calico_workloads": [{"name": "web"}],
}
MODEL_PLAYBOOK = """\
- name: Compute the model and record the ledger
  hosts: calico_hosts
  gather_facts: false
  roles:
    - role: calico.network.calico_model
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    start = time.monotonic()
    scratch = tmp_path_factory.mktemp("consumer")
    run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            "--output-path",
            str(scratch),
            str(REPO),
        ]
    )
    tarball = next(scratch.glob("calico-network-*.tar.gz"))
    with tarfile.open(tarball) as archive:
        top = {name.split("/")[0] for name in archive.getnames()}
        tests = {name for name in archive.getnames() if name.startswith("tests/")}
    assert top <= SHIPPED, f"the tarball ships {sorted(top - SHIPPED)}: add them to build_ignore"
    assert tests <= {"tests/sanity", "tests/sanity/ignore-2.19.txt"}, sorted(tests)
    collections = scratch / "collections"
    # --no-deps: the `ansible` bundle in the venv already has ansible.posix and ansible.utils,
    # and CI reaches no Galaxy server.
    run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--no-deps",
            "--force",  # a copy in the user's own collections path must not stand in for it
            "-p",
            str(collections),
            str(tarball),
        ],
        cwd=scratch,  # not the repository: its ansible.cfg finds the collection already there
    )
    print(f"\nconsumer: built and installed the tarball in {time.monotonic() - start:.1f} s")
    return collections


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ANSIBLE_")  # the repository's Makefile sets ANSIBLE_CONFIG
    }
    env.update(ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env['PATH']}")
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def consumer_project(root: Path, collections: Path) -> Path:
    """A project of the user's own: ansible.cfg, INI inventory, group_vars/all.yml (a file)."""
    (root / "inventory" / "group_vars").mkdir(parents=True)
    (root / "ansible.cfg").write_text(
        f"[defaults]\ncollections_path = {collections}\ninventory = inventory/hosts.ini\n"
    )
    (root / "inventory" / "hosts.ini").write_text(INVENTORY)
    (root / "inventory" / "group_vars" / "all.yml").write_text(yaml.safe_dump(GROUP_VARS))
    (root / "model.yml").write_text(MODEL_PLAYBOOK)
    return root


def test_a_consumer_project_validates_and_records_its_ledger(installed: Path, tmp_path: Path):
    start = time.monotonic()
    project = consumer_project(tmp_path, installed)
    assert not any(path.is_symlink() for path in project.rglob("*"))
    validated = run([str(BIN / "ansible-playbook"), "calico.network.validate"], cwd=project)
    assert "calico.network.calico_model : Check the inventory for errors" in validated.stdout
    run([str(BIN / "ansible-playbook"), "model.yml"], cwd=project)
    ledger = project / "inventory" / "group_vars" / "calico_ipam_ledger.yml"
    recorded = yaml.safe_load(ledger.read_text())["calico_ipam_ledger"]
    assert sorted(recorded["blocks"]) == ["c1", "c2", "c3"]
    assert sorted(recorded["addresses"]) == ["c1", "c2", "c3"]
    assert not (project / "inventory" / "group_vars" / "all").exists()
    again = run([str(BIN / "ansible-playbook"), "model.yml"], cwd=project)
    assert "changed=0" in again.stdout and "changed=1" not in again.stdout, again.stdout
    took = time.monotonic() - start
    print(f"\nconsumer: validated and modelled from the consumer project in {took:.1f} s")


# A small lab for the consumer project: containers pkg-h1..pkg-h3 on two underlay subnets
# (router pkg-router, from the inventory directory's name), one workload per host.
LAB_HOSTS = {"pkg-h1": "10.41.1.11/24", "pkg-h2": "10.41.1.12/24", "pkg-h3": "10.41.2.13/24"}


def lab_project(root: Path, collections: Path, encapsulation: str) -> Path:
    """The consumer's lab inventory: pkg/hosts.ini and pkg/group_vars/all.yml (a file)."""
    inventory = root / "pkg"
    (inventory / "group_vars").mkdir(parents=True)
    lines = ["[calico_hosts]"]
    for number, (name, address) in enumerate(LAB_HOSTS.items(), start=1):
        workloads = f'[{{"name": "app-{number}", "labels": {{"app": "web"}}}}]'
        lines.append(f"{name} calico_ip={address} calico_workloads='{workloads}'")
    (inventory / "hosts.ini").write_text("\n".join(lines) + "\n")
    group_vars = {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": False,
        "calico_pools": [
            {
                "cidr": "10.46.0.0/16",
                "block_size": 26,
                "encapsulation": encapsulation,
                "encapsulation_mode": "CrossSubnet",
            }
        ],
    }
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
    (root / "ansible.cfg").write_text(
        f"[defaults]\ncollections_path = {collections}\ninventory = pkg/hosts.ini\nforks = 10\n"
    )
    return inventory / "hosts.ini"


@pytest.mark.lab
def test_a_consumer_project_converges_a_lab_and_a_dry_run_changes_nothing(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    start = time.monotonic()
    lab = [str(BIN / "python"), str(REPO / "lab" / "lab.py")]
    encapsulation = run([str(BIN / "python"), str(REPO / "lab" / "lab_encap.py")]).stdout.strip()
    inventory = lab_project(tmp_path, installed, encapsulation)
    assert not any(path.is_symlink() for path in tmp_path.rglob("*"))
    # Podman needs the lab's containers.conf (runc, ulimits) for lab.py and Ansible alike.
    monkeypatch.setenv("CONTAINERS_CONF", str(REPO / "lab" / "containers.conf"))
    steps: list[str] = []

    def timed(name: str, argv: list[str], cwd: Path | None = None) -> str:
        began = time.monotonic()
        stdout = run(argv, cwd=cwd).stdout
        steps.append(f"{name} {time.monotonic() - began:.0f} s")
        return stdout

    try:
        timed("up", [*lab, "up", "-i", str(inventory)])
        playbook = [str(BIN / "ansible-playbook")]
        converged = timed("site", [*playbook, "calico.network.site"], cwd=tmp_path)
        assert "failed=0" in converged
        dry = timed("site --check", [*playbook, "calico.network.site", "--check"], cwd=tmp_path)
        # localhost runs the fleet-group check (site.yml's first play), changing nothing too.
        assert sorted(line.split()[0] for line in recap(dry)) == sorted([*LAB_HOSTS, "localhost"])
        assert all("changed=0" in line for line in recap(dry)), dry
        verified = timed("verify", [*playbook, "calico.network.verify"], cwd=tmp_path)
        assert "bgp: 6/6 sessions established" in verified, verified
        assert "reachability: 6/6 probes as expected" in verified, verified
        took = time.monotonic() - start
        print(f"\nconsumer lab ({encapsulation}): {', '.join(steps)}; {took:.0f} s in all")
    finally:
        run([*lab, "down", "-i", str(inventory)])


def recap(stdout: str) -> list[str]:
    """The PLAY RECAP lines, one per host."""
    tail = stdout[stdout.rindex("PLAY RECAP") :]
    return [line for line in tail.splitlines()[1:] if ": ok=" in line]
