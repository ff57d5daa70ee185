"""A fake kernel for calico-node's reconcile: a converged lab host's answers, made to drift.

``data/converged-commands.json`` is every read a check-mode reconcile made on a converged lab
host (agt-h1 of tests/faults/node_inventory: VXLAN to one remote block, two workloads), with its
exact output; ``data/node.json`` is the desired state Ansible wrote there. Tests edit the answers
(a flushed chain, a deleted device or route) the way the drift would show in the kernel, and the
runner records every write instead of running it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ansible_collections.calico.network.plugins.module_utils.iproute import split_json_documents
from ansible_collections.calico.network.plugins.module_utils.runner import Result, Runner
from tests.unit.modules.test_calico_iptables import FakeKernel as FakeIptables

DATA = Path(__file__).resolve().parent / "data"
BINARIES = ("ip", "bridge", "iptables", "iptables-nft-save", "iptables-nft-restore")
BINARIES += ("iptables-legacy-save", "iptables-legacy-restore", "conntrack", "birdc")
LINKS = ("ip", "-j", "-d", "address", "show")
ROOT_READ = ("ip", "-j", "-d", "-batch", "-")
VXLAN_ROUTES = ("ip", "-j", "-4", "route", "show", "proto", "80")
SAVE = ("iptables-nft-save",)


def desired_text() -> str:
    return (DATA / "node.json").read_text()


class FakeKernel(Runner):
    """Answers reads from the recorded host; records writes (``writes``) and reads."""

    def __init__(self, check_mode: bool = False) -> None:
        super().__init__(check_mode)
        recorded = json.loads((DATA / "converged-commands.json").read_text())
        self.answers: dict[tuple[tuple[str, ...], str | None], tuple[int, str]] = {
            (tuple(c["argv"]), c["stdin"]): (c["rc"], c["stdout"]) for c in recorded
        }
        self.answers[(("birdc", "show", "protocols"), None)] = (1, "")
        # iptables is simulated, not replayed: a restore changes what the next save prints.
        self.iptables = FakeIptables(self.answers.pop((SAVE, None))[1])
        self.writes: list[tuple[tuple[str, ...], str | None]] = []
        self.save_rc = 0
        # What the real save adds that is not a rule (counters, the date line): not drift.
        self.save_noise: Callable[[str], str] = lambda text: text
        self.calls = 0

    # --- Runner ----------------------------------------------------------------------------------

    def which(self, name: str) -> str | None:
        return f"/usr/sbin/{name}" if name in BINARIES else None

    def execute(self, argv: Sequence[str], data: str | None) -> Result:
        self.calls += 1
        key = (os.path.basename(argv[0]), *argv[1:])
        if key == SAVE:
            return self.save_rc, self.save_noise(self.iptables.save()), ""
        if (key, data) in self.answers:
            rc, out = self.answers[(key, data)]
            return rc, out, ""
        if key[0] == "iptables-nft-restore":
            self.writes.append((key, data))
            rc, err = self.iptables.restore(data or "")
            return rc, "", err
        if key[-2:] == ("-batch", "-") or key[0] == "conntrack":
            self.writes.append((key, data))
            return (1 if key[0] == "conntrack" else 0), "", ""
        raise AssertionError(f"the fake kernel has no answer for {key} {data!r}")

    # --- drift -----------------------------------------------------------------------------------

    def edit(self, argv: tuple[str, ...], change: Callable[[str], str], stdin: str | None = None):
        rc, out = self.answers[(argv, stdin)]
        self.answers[(argv, stdin)] = (rc, change(out))

    def edit_json(
        self, argv: tuple[str, ...], change: Callable[[list[Any]], None], stdin: str | None = None
    ) -> None:
        """Edit a JSON answer (each document of a ``-batch`` answer) in place."""

        def rewrite(text: str) -> str:
            documents = split_json_documents(text)
            change(documents)
            return "\n".join(json.dumps(d) for d in documents) + "\n"

        self.edit(argv, rewrite, stdin)

    def restore_save(self, change: Callable[[str], str]) -> None:
        """Replace the simulated iptables with an edited copy of its save."""
        self.iptables = FakeIptables(change(self.iptables.save()))

    def netns_read(self, netns: str) -> tuple[tuple[str, ...], str]:
        return ("ip", "-n", netns, "-j", "-d", "-batch", "-"), "addr show\nroute show\nneigh show\n"

    def written(self) -> list[str]:
        """Every write as text: ``ip -batch`` lines prefixed like the cores show them."""
        lines = []
        for argv, data in self.writes:
            if argv[0].endswith("-restore"):
                lines += [f"{argv[0]} {line}" for line in (data or "").splitlines()]
            elif argv[-2:] == ("-batch", "-"):
                prefix = " ".join(argv[:-2])
                lines += [f"{prefix} {line}" for line in (data or "").splitlines()]
            else:
                lines.append(" ".join(argv))
        return lines


def proc_sys(root: Path, interfaces: Sequence[str]) -> str:
    """A /proc/sys with the converged values of Calico's per-veth sysctls."""
    for interface in interfaces:
        for key, value in (
            (f"net/ipv4/conf/{interface}/proxy_arp", "1"),
            (f"net/ipv4/neigh/{interface}/proxy_delay", "0"),
            (f"net/ipv4/conf/{interface}/forwarding", "1"),
        ):
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{value}\n")
    return str(root)
