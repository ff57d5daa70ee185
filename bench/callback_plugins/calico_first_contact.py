"""Benchmark aid (bench/bench_controller.py): stop a playbook at its first host-contacting task.

Records the seconds from the start of the playbook to the start of the first task that would
contact a host, writes them to the file named by CALICO_BENCH_FIRST_CONTACT and ends the run
there, so nothing is ever sent to a host. Controller-only actions (set_fact, assert, debug,
argument checks, includes, meta) and tasks delegated to localhost do not count. Not part of the
collection (build_ignore): only the benchmark loads it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: calico_first_contact
type: aggregate
short_description: Time a playbook up to its first host-contacting task, then stop it
description:
  - Benchmark aid of calico-ansible; see bench/bench_controller.py.
"""

CONTROLLER_ONLY = {
    "assert",
    "debug",
    "fail",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "set_fact",
    "validate_argument_spec",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "calico_first_contact"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._start = time.perf_counter()

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._start = time.perf_counter()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        action = task.action.rsplit(".", 1)[-1]
        if action in CONTROLLER_ONLY or task.delegate_to == "localhost":
            return
        seconds = time.perf_counter() - self._start
        with open(os.environ["CALICO_BENCH_FIRST_CONTACT"], "w", encoding="utf-8") as out:
            out.write(f"{seconds:.3f} {task.get_name()}\n")
        # Stop here and now: the benchmark wants nothing sent to a host, and the workers of
        # earlier tasks have all finished when the next task starts.
        os._exit(0)
