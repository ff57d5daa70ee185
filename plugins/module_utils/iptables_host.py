"""The iptables core's I/O: pick the backend, read ``iptables-save``, restore, read back.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The planning
is pure (``iptables``); this file is what a caller - the calico_iptables module, the calico-node
agent - runs around it, through a ``Runner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.calico.network.plugins.module_utils.iptables import (
    DesiredTable,
    TablePlan,
    choose_backend,
    parse_save,
    plan_all,
    render_payload,
    version_backend,
)
from ansible_collections.calico.network.plugins.module_utils.runner import (
    CommandError,
    Runner,
    RunnerError,
)

SAVE_BINARIES = {"nft": "iptables-nft-save", "legacy": "iptables-legacy-save"}
RESTORE_BINARIES = {"nft": "iptables-nft-restore", "legacy": "iptables-legacy-restore"}


@dataclass
class Backend:
    name: str
    save: str
    restore: str
    reason: str
    save_text: str


class RestoreError(RunnerError):
    """``iptables-restore`` rejected one table; that table is unchanged (one transaction)."""


def iptables_version(runner: Runner) -> str:
    binary = runner.which("iptables")
    if not binary:
        return ""
    rc, out, _err = runner.attempt([binary, "--version"])
    return out.strip() if rc == 0 else ""


def binaries(runner: Runner, backend: str, version_text: str) -> tuple[str, str] | None:
    save = runner.which(SAVE_BINARIES[backend])
    restore = runner.which(RESTORE_BINARIES[backend])
    if save and restore:
        return save, restore
    # Old distributions ship only plain iptables-save/-restore; trust them only if they are
    # the backend asked for, never silently write to the other one.
    if version_text and version_backend(version_text) == backend:
        save = runner.which("iptables-save")
        restore = runner.which("iptables-restore")
        if save and restore:
            return save, restore
    return None


def detect_backend(runner: Runner, requested: str) -> Backend:
    """The backend to write to (``requested``, or the one the host uses for ``auto``), with
    its current ``iptables-save`` text."""
    version_text = iptables_version(runner)
    candidates = ("nft", "legacy") if requested == "auto" else (requested,)
    found = {b: bins for b in candidates if (bins := binaries(runner, b, version_text))}
    if not found:
        raise RunnerError(f"no iptables-save/-restore binaries for backend {requested}")
    if len(found) == 1:
        name, (save, restore) = next(iter(found.items()))
        reason = "requested" if requested != "auto" else f"only {name} binaries found"
        return Backend(name, save, restore, reason, runner.read([save]))
    listed: dict[str, str | None] = {}
    for name, (save, _restore) in found.items():
        rc, out, _err = runner.attempt([save])
        listed[name] = out if rc == 0 else None
    # A backend that cannot even be listed has no rules anyone relies on.
    name, reason = choose_backend(listed["legacy"] or "", listed["nft"] or "", version_text)
    save, restore = found[name]
    text = listed[name]
    return Backend(name, save, restore, reason, runner.read([save]) if text is None else text)


def restore(runner: Runner, backend: Backend, payloads: Mapping[str, str], wait: int) -> None:
    """One ``iptables-restore --noflush`` per table (recorded, not run, in check mode)."""
    done: list[str] = []
    for table, payload in payloads.items():
        argv = [backend.restore, "--noflush", f"--wait={wait}"]
        try:
            runner.write(argv, payload, shown=[f"{' '.join(argv)} # table {table}"])
        except CommandError as error:
            raise RestoreError(
                f"{backend.restore} rejected table {table}; that table is unchanged "
                f"(one transaction), tables already written: {done or 'none'}: "
                f"{error.stderr.strip()}",
                rc=error.rc,
                stdout=error.details["stdout"],
                stderr=error.stderr,
                table=table,
                payload=payload,
                backend=backend.name,
            ) from None
        done.append(table)


def verify(
    runner: Runner,
    backend: Backend,
    desired: Mapping[str, DesiredTable],
    prefix: str,
    insert_mode: str,
) -> None:
    """Read back: a rule iptables stored differently from what we hashed would otherwise be
    rewritten on every run, so fail loudly instead of flapping."""
    actual = parse_save(runner.read([backend.save]))
    leftover = {
        p.table: p.commands for p in plan_all(actual, desired, prefix, insert_mode) if p.changed
    }
    if leftover:
        raise RunnerError("iptables did not converge after restore", leftover=leftover)


def converge(
    runner: Runner,
    backend: Backend,
    desired: Mapping[str, DesiredTable],
    prefix: str,
    insert_mode: str,
    wait: int,
) -> list[TablePlan]:
    """Plan every table from the backend's saved text, restore the changed ones, read back."""
    plans = plan_all(parse_save(backend.save_text), desired, prefix, insert_mode)
    payloads = {p.table: render_payload(p) for p in plans if p.changed}
    restore(runner, backend, payloads, wait)
    if payloads and not runner.check_mode:
        verify(runner, backend, desired, prefix, insert_mode)
    return plans
