"""Run ansible-playbook for many inventories with Ansible imported once.

``python tests/catalog/batch.py WORKERS PLAYBOOK EXTRA_VARS DIR...`` runs, for every DIR, what
``ansible-playbook -i DIR/hosts.yml -e EXTRA_VARS PLAYBOOK`` runs: the same CLI class and entry
point (``PlaybookCLI.cli_executor``), each in its own process, forked from this one after
Ansible's modules are imported. Importing Ansible is about a third of a validation run's CPU, so
the catalog's 120 cases spend it once instead of 120 times. Each DIR gets ``stdout``, ``stderr``
and ``rc``; at most WORKERS run at once. Start it with the environment the runs need
(``ANSIBLE_CONFIG`` and the rest are read when Ansible is imported): catalog.playbook_env().
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Imported here, before any fork: this is the work the children share.
from ansible.cli.playbook import PlaybookCLI


def run_one(workdir: Path, playbook: str, extra_vars: str) -> None:
    """In a forked child: one ansible-playbook run with its output in workdir; never returns."""
    code = 1
    try:
        with (workdir / "stdout").open("w") as out, (workdir / "stderr").open("w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            argv = [
                "ansible-playbook",
                "-i",
                str(workdir / "hosts.yml"),
                "-e",
                extra_vars,
                playbook,
            ]
            try:
                PlaybookCLI.cli_executor(argv)
            except SystemExit as done:  # cli_executor ends with sys.exit(exit_code)
                code = done.code if isinstance(done.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        os._exit(code)


def main(argv: list[str]) -> int:
    workers, playbook, extra_vars, *dirs = argv
    running: dict[int, Path] = {}
    pending = [Path(d) for d in dirs]
    while pending or running:
        while pending and len(running) < int(workers):
            workdir = pending.pop(0)
            sys.stdout.flush()  # nothing of this process's buffers may reach a child's output
            pid = os.fork()
            if pid == 0:
                run_one(workdir, playbook, extra_vars)
            running[pid] = workdir
        pid, status = os.wait()
        (running.pop(pid) / "rc").write_text(str(os.waitstatus_to_exitcode(status)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
