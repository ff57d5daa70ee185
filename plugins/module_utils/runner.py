"""One command runner for the host-side cores: argv lists, no shell, check mode in one place.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The modules
use ``AnsibleRunner`` (AnsibleModule.run_command underneath); a caller without Ansible (a host
agent, a CNI plugin) uses ``SubprocessRunner``. Both behave the same:

* ``read`` runs a command that changes nothing, always, even in check mode;
* ``write`` runs a command that changes the host; in check mode it is recorded, never run;
* every write that ran (or would run) is recorded in ``commands``, in order, as shown text;
* a failing command raises ``CommandError`` naming the command and its stderr.

Standard input (``data``) is passed exactly as given: callers end their ``-batch`` input with a
newline themselves.
"""

from __future__ import annotations

import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

Result = tuple[int, str, str]


class RunnerError(RuntimeError):
    """A change could not be made; ``details`` go into the module's failure result."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class CommandError(RunnerError):
    """A command exited non-zero."""

    def __init__(
        self, argv: Sequence[str], rc: int, stdout: str, stderr: str, data: str | None
    ) -> None:
        super().__init__(
            f"{' '.join(argv)} failed (rc={rc}): {stderr.strip()}",
            cmd=list(argv),
            stdin=data,
            rc=rc,
            stdout=stdout,
            stderr=stderr,
        )
        self.rc = rc
        self.stderr = stderr


class Runner(ABC):
    """The common part: subclasses only say how to execute one command and find a binary."""

    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode
        self.commands: list[str] = []

    @abstractmethod
    def execute(self, argv: Sequence[str], data: str | None) -> Result:
        """Run ``argv`` with ``data`` on standard input: (exit code, stdout, stderr)."""

    @abstractmethod
    def which(self, name: str) -> str | None:
        """The path of binary ``name``, or None."""

    def binary(self, name: str) -> str:
        """The binary's path, or its bare name (a failing run then names it)."""
        return self.which(name) or name

    def attempt(self, argv: Sequence[str], data: str | None = None) -> Result:
        """Run a read-only command whatever the mode; the caller judges the exit code."""
        rc, out, err = self.execute(list(argv), data)
        return rc, out or "", err or ""

    def read(self, argv: Sequence[str], data: str | None = None) -> str:
        """Run a read-only command whatever the mode; its stdout, or ``CommandError``."""
        rc, out, err = self.attempt(argv, data)
        if rc != 0:
            raise CommandError(argv, rc, out, err, data)
        return out

    def write(
        self,
        argv: Sequence[str],
        data: str | None = None,
        shown: Sequence[str] | None = None,
        check: bool = True,
    ) -> Result:
        """Run a changing command (not in check mode) and record ``shown`` (default: argv)."""
        lines = list(shown) if shown is not None else [" ".join(argv)]
        if self.check_mode:
            self.commands += lines
            return 0, "", ""
        rc, out, err = self.attempt(argv, data)
        if check and rc != 0:
            raise CommandError(argv, rc, out, err, data)
        self.commands += lines
        return rc, out, err

    def write_file(self, path: str, text: str, shown: str) -> None:
        """Write a file (a /proc/sys value) as one recorded change."""
        if not self.check_mode:
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError as error:
                raise RunnerError(f"writing {text} to {path} failed: {error}") from None
        self.commands.append(shown)


class SubprocessRunner(Runner):
    """A runner for callers without Ansible: ``subprocess.run``, never a shell."""

    def __init__(self, check_mode: bool = False, timeout: float = 60) -> None:
        super().__init__(check_mode)
        self.timeout = timeout

    def execute(self, argv: Sequence[str], data: str | None) -> Result:
        try:
            done = subprocess.run(
                list(argv),
                input=data,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,  # the caller reads the return code
            )
        except OSError as error:
            return 127, "", str(error)
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {self.timeout} s"
        return done.returncode, done.stdout, done.stderr

    def which(self, name: str) -> str | None:
        return shutil.which(name)


class AnsibleRunner(Runner):
    """A runner backed by an AnsibleModule: its run_command, get_bin_path and check mode."""

    def __init__(self, module: Any) -> None:
        super().__init__(bool(module.check_mode))
        self.module = module

    def execute(self, argv: Sequence[str], data: str | None) -> Result:
        return self.module.run_command(list(argv), data=data, binary_data=True, check_rc=False)

    def which(self, name: str) -> str | None:
        return self.module.get_bin_path(name, required=False)

    def fail(self, error: RunnerError, **extra: Any) -> None:
        """Fail the module with the error, its details and the changes made so far."""
        self.module.fail_json(
            msg=str(error),
            **{
                **error.details,
                "commands": self.commands,
                "changed": bool(self.commands),
                **extra,
            },
        )
