"""Run catalog cases (bad inventories) through playbooks/validate.yml and read its messages.

A case is one YAML file under cases/: a description, the inventory, the severity and the exact
messages validation must print. ``python3 tests/catalog/catalog.py [--write] [CASE...]`` prints
what cases produce; ``--write`` records it as their expectations, to be reviewed like a golden
file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"


# Validation must contact no host. The local connection keeps every test on this machine, and
# an interpreter that does not exist makes any module run (a host contacted) fail loudly.
NO_HOST_CONTACT = {
    "ansible_connection": "ansible.builtin.local",
    "ansible_python_interpreter": "/nonexistent/validation-must-not-run-modules",
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    errors: list[str]
    warnings: list[str]


def load_case(name: str) -> dict[str, Any]:
    return yaml.safe_load((CASES / f"{name}.yml").read_text())


def case_names() -> list[str]:
    return sorted(path.stem for path in CASES.glob("*.yml"))


def playbook_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}",
    )
    return env


def run_validate(inventory: dict[str, Any], playbook: str = "playbooks/validate.yml") -> Outcome:
    with tempfile.TemporaryDirectory(prefix="calico-catalog-") as tmp:
        hosts = Path(tmp) / "hosts.yml"
        hosts.write_text(yaml.safe_dump(inventory))
        done = subprocess.run(
            ["ansible-playbook", "-i", str(hosts), "-e", json.dumps(NO_HOST_CONTACT), playbook],
            capture_output=True,
            text=True,
            env=playbook_env(),
            cwd=REPO,
            check=False,
        )
    return outcome_from_output(done.returncode, done.stdout, done.stderr)


def run_validate_many(
    inventories: dict[str, dict[str, Any]],
    workers: int = 4,
    playbook: str = "playbooks/validate.yml",
) -> dict[str, Outcome]:
    """run_validate for each inventory, `workers` at a time, with Ansible imported once
    (tests/catalog/batch.py): the same runs for a third less CPU."""
    with tempfile.TemporaryDirectory(prefix="calico-catalog-") as tmp:
        dirs = {name: Path(tmp) / name for name in inventories}
        for name, inventory in inventories.items():
            dirs[name].mkdir()
            (dirs[name] / "hosts.yml").write_text(yaml.safe_dump(inventory))
        subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "python"),
                str(Path(__file__).resolve().parent / "batch.py"),
                str(workers),
                playbook,
                json.dumps(NO_HOST_CONTACT),
                *map(str, dirs.values()),
            ],
            env=playbook_env(),
            cwd=REPO,
            check=True,
        )
        return {
            name: outcome_from_output(
                int((d / "rc").read_text()), (d / "stdout").read_text(), (d / "stderr").read_text()
            )
            for name, d in dirs.items()
        }


def outcome_from_output(returncode: int, stdout: str, stderr: str) -> Outcome:
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(f"no JSON from ansible-playbook:\n{stdout}\n{stderr}") from err
    return outcome_from_report(returncode, report)


def outcome_from_report(returncode: int, report: dict[str, Any]) -> Outcome:
    """Errors and warnings of a run, from the ansible.posix.json callback's report."""
    errors: list[str] = []
    warnings: list[str] = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            is_warning = "warnings" in task["task"]["name"]
            for result in task.get("hosts", {}).values():
                messages = result.get("msg") or []
                messages = [messages] if isinstance(messages, str) else messages
                if is_warning:
                    warnings.extend(messages)
                elif result.get("failed"):
                    errors.extend(messages)
    return Outcome(returncode, errors, warnings)


def main(argv: list[str]) -> int:
    write = "--write" in argv
    names = [arg for arg in argv if arg != "--write"] or case_names()
    for name in names:
        case = load_case(name)
        outcome = run_validate(case["inventory"])
        print(f"# {name} (rc={outcome.returncode})")
        for message in outcome.errors:
            print(f"  error:   {message}")
        for message in outcome.warnings:
            print(f"  warning: {message}")
        if write:
            produced = outcome.warnings if case["severity"] == "warning" else outcome.errors
            text = (CASES / f"{name}.yml").read_text()
            head, _, tail = text.partition("expect:")
            rest = tail[tail.index("\ninventory:") :]
            expect = yaml.safe_dump({"expect": produced}, width=1000, allow_unicode=True)
            (CASES / f"{name}.yml").write_text(head + expect.rstrip("\n") + rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
