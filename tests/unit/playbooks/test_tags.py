"""Tags per role: --tags calico_bird runs BIRD's role and the model it reads, nothing else.

ansible-playbook --list-tasks (no host contacted) says which tasks a run with those tags would
run; the expected lists are stated here by role name, not read from the playbooks.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.playbooks.ansible_run import ansible_playbook
from tools.render import REPO

ROLES = ("calico_model", "calico_felix", "calico_tunnel", "calico_bird", "calico_workloads")


def roles_listed(playbook: str, *args: str) -> set[str]:
    done = ansible_playbook(REPO / "inventory" / "lab", REPO / "playbooks" / playbook, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    # Each role's argument-spec check is tagged always by Ansible itself: it does no work.
    tasks = [line for line in done.stdout.splitlines() if "Validating arguments" not in line]
    found = {match.group(1) for line in tasks if (match := re.search(r"(calico_[a-z]+) : ", line))}
    return found & set(ROLES)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("calico_bird", {"calico_model", "calico_bird"}),
        ("calico_felix", {"calico_model", "calico_felix"}),
        ("calico_workloads", {"calico_model", "calico_workloads"}),
        ("calico_tunnel", {"calico_model", "calico_tunnel"}),
    ],
)
def test_one_role_tag_runs_that_role_and_the_model(tag: str, expected: set[str]) -> None:
    assert roles_listed("site.yml", "--list-tasks", "--tags", tag) == expected


def test_without_tags_site_runs_every_role() -> None:
    assert roles_listed("site.yml", "--list-tasks") == set(ROLES)


def test_reset_tags_remove_one_part() -> None:
    # reset.yml includes each role's reset tasks dynamically: the listing shows the includes.
    args = ("--list-tasks", "--tags", "calico_bird")
    done = ansible_playbook(REPO / "inventory" / "lab", REPO / "playbooks" / "reset.yml", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = [line.strip() for line in done.stdout.splitlines() if "TAGS: [" in line]
    tasks = [line for line in listed if not line.startswith("play #")]
    assert len(tasks) == 1 and tasks[0].startswith("Remove BIRD's configuration"), tasks
