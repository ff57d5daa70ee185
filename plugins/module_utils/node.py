"""calico-node's core: the desired-state file Ansible writes, and one reconcile of the host.

Runs on the host (shipped with the agent): standard library only, Python >= 3.9. The file holds
exactly the parameters the calico_iptables, calico_tunnel and calico_workloads modules get at
converge time, and a reconcile runs the same cores with them (iptables_host, tunnel,
workloads_host): one input, one implementation, so the agent and the modules always want the
same kernel state. Each reconcile reads the kernel, plans with the cores, applies only the
difference and describes every repair (what was wrong), for the log and the metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.calico.network.plugins.module_utils import iptables_host, tunnel
from ansible_collections.calico.network.plugins.module_utils.iptables import (
    APPEND,
    INSERT,
    DesiredTable,
    SpecError,
    TablePlan,
    desired_tables,
)
from ansible_collections.calico.network.plugins.module_utils.runner import Runner, RunnerError
from ansible_collections.calico.network.plugins.module_utils.workloads import (
    PlanError,
    Workload,
    WorkloadError,
    plan_workloads,
    validate_workloads,
)
from ansible_collections.calico.network.plugins.module_utils.workloads_host import (
    PROC_SYS,
    NetnsReader,
    apply,
    desired_workloads,
    read_state,
)

DESIRED_PATH = "/etc/calico/node.json"
FORMAT = 1
SECTIONS = ("agent", "iptables", "tunnel", "workloads")
# Findings per repair kind shown in one log line before "and N more".
SHOWN_FINDINGS = 6


class DesiredStateError(ValueError):
    """The desired-state file is unusable; the message names the problem."""


# --------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class IptablesSpec:
    tables: dict[str, DesiredTable]
    insert_mode: str
    backend: str
    prefix: str
    wait: int


@dataclass(frozen=True)
class TunnelSpec:
    wanted: tunnel.Wanted
    underlay_mtu: int


@dataclass(frozen=True)
class WorkloadsSpec:
    items: list[dict[str, Any]]
    mtu: int
    underlay_ip: str
    underlay_mtu: int
    encapsulations: list[str]
    prune: bool


@dataclass(frozen=True)
class AgentSpec:
    """The agent's own settings: a reload applies them, no restart needed."""

    resync_interval: int
    metrics_textfile: str
    metrics_port: int


@dataclass(frozen=True)
class Peer:
    """A BGP session of this host as BIRD names it (for status; no secret)."""

    name: str
    kind: str
    host: str
    ip: str


@dataclass(frozen=True)
class Desired:
    host: str
    agent: AgentSpec
    peers: tuple[Peer, ...]
    iptables: IptablesSpec
    tunnel: TunnelSpec
    workloads: WorkloadsSpec


def _section(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise DesiredStateError(f"{where}{key} is missing or not an object")
    return value


KINDS = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


def _typed(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DesiredStateError(f"{where}.{key} is missing or not {KINDS[kind]}")
    return value


def _iptables(data: Mapping[str, Any]) -> IptablesSpec:
    prefix = _typed(data, "chain_prefix", str, "iptables")
    insert_mode = _typed(data, "insert_mode", str, "iptables")
    if insert_mode not in (INSERT, APPEND):
        raise DesiredStateError(f"iptables.insert_mode {insert_mode!r} is not insert or append")
    backend = _typed(data, "backend", str, "iptables")
    if backend not in ("auto", "nft", "legacy"):
        raise DesiredStateError(f"iptables.backend {backend!r} is not auto, nft or legacy")
    try:
        tables = desired_tables(_section(data, "tables", "iptables."), prefix)
    except SpecError as error:
        raise DesiredStateError(f"iptables.tables: {error}") from None
    return IptablesSpec(tables, insert_mode, backend, prefix, _typed(data, "wait", int, "iptables"))


def _tunnel(data: Mapping[str, Any]) -> TunnelSpec:
    vxlan = dict(_section(data, "vxlan", "tunnel."))
    for key, kind in (("enabled", bool), ("vni", int), ("port", int), ("mac", str)):
        _typed(vxlan, key, kind, "tunnel.vxlan")
    for key in ("routes", "neighbors", "fdb"):
        _typed(vxlan, key, list, "tunnel.vxlan")
    wanted = tunnel.Wanted(
        address=_typed(data, "address", str, "tunnel"),
        local=_typed(data, "underlay_ip", str, "tunnel"),
        ipip=_typed(data, "ipip", bool, "tunnel"),
        vxlan=vxlan,
    )
    return TunnelSpec(wanted, _typed(data, "underlay_mtu", int, "tunnel"))


def _workloads(data: Mapping[str, Any]) -> WorkloadsSpec:
    items = _typed(data, "items", list, "workloads")
    try:
        validate_workloads(items)
    except (WorkloadError, AttributeError, TypeError) as error:
        raise DesiredStateError(f"workloads.items: {error}") from None
    encapsulations = _typed(data, "encapsulations", list, "workloads")
    if not set(encapsulations) <= set(tunnel.DEVICES):
        raise DesiredStateError(f"workloads.encapsulations {encapsulations!r}: ipip, vxlan only")
    return WorkloadsSpec(
        items=items,
        mtu=_typed(data, "mtu", int, "workloads"),
        underlay_ip=_typed(data, "underlay_ip", str, "workloads"),
        underlay_mtu=_typed(data, "underlay_mtu", int, "workloads"),
        encapsulations=encapsulations,
        prune=_typed(data, "prune", bool, "workloads"),
    )


def _agent(data: Mapping[str, Any]) -> AgentSpec:
    interval = _typed(data, "resync_interval", int, "agent")
    if interval < 1:
        raise DesiredStateError(f"agent.resync_interval {interval} must be at least 1 second")
    port = _typed(data, "metrics_port", int, "agent")
    if not 0 <= port <= 65535:
        raise DesiredStateError(f"agent.metrics_port {port} is not a TCP port (0 = off)")
    return AgentSpec(interval, _typed(data, "metrics_textfile", str, "agent"), port)


def _peers(data: Any) -> tuple[Peer, ...]:
    if not isinstance(data, list):
        raise DesiredStateError("peers is missing or not a list")
    peers = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise DesiredStateError(f"peers[{index}] is not an object")
        keys = ("name", "kind", "host", "ip")
        fields = [_typed(item, key, str, f"peers[{index}]") for key in keys]
        peers.append(Peer(*fields))
    return tuple(peers)


def load_desired(text: str) -> Desired:
    """Parse and check the whole file before anything uses it: a truncated or partial file
    raises ``DesiredStateError`` naming the first problem."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise DesiredStateError(f"not valid JSON (truncated?): {error}") from None
    if not isinstance(data, Mapping):
        raise DesiredStateError("the top level is not an object")
    if data.get("format") != FORMAT:
        raise DesiredStateError(f"format is {data.get('format')!r}, this agent reads {FORMAT}")
    host = data.get("host")
    if not isinstance(host, str) or not host:
        raise DesiredStateError("host is missing")
    sections = {key: _section(data, key) for key in SECTIONS}
    return Desired(
        host=host,
        agent=_agent(sections["agent"]),
        peers=_peers(data.get("peers")),
        iptables=_iptables(sections["iptables"]),
        tunnel=_tunnel(sections["tunnel"]),
        workloads=_workloads(sections["workloads"]),
    )


def read_desired(path: str = DESIRED_PATH) -> Desired:
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as error:
        raise DesiredStateError(f"cannot read it: {error.strerror}") from None
    return load_desired(text)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Repair:
    """One kind of object that was (or, in check mode, would be) brought back, and why."""

    kind: str
    findings: tuple[str, ...]

    def describe(self) -> str:
        shown = list(self.findings[:SHOWN_FINDINGS])
        more = len(self.findings) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _by_chain(lines: list[str]) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {}
    for line in lines:
        chain = line[1:].split()[0] if line.startswith(":") else line.split()[1]
        chains.setdefault(chain, []).append(line)
    return chains


def iptables_findings(plan: TablePlan) -> list[str]:
    """Per chain: missing, stale, or how many of its rules were missing or unexpected."""
    before, after = _by_chain(plan.before), _by_chain(plan.after)
    findings = []
    for chain in sorted(set(before) | set(after)):
        have, want = before.get(chain, []), after.get(chain, [])
        if have == want:
            continue
        where = f"{plan.table} {chain}"
        if want and want[0].startswith(":") and chain not in before:
            findings.append(f"{where}: chain missing")
        elif have and have[0].startswith(":") and not want:
            findings.append(f"{where}: stale chain")
        else:
            missing = sum(1 for line in want if line not in have and line.startswith("-A"))
            extra = sum(1 for line in have if line not in want and line.startswith("-A"))
            wanted = sum(1 for line in want if line.startswith("-A"))
            findings.append(f"{where}: {missing} of {wanted} rules missing, {extra} unexpected")
    return findings


def view_findings(before: str, after: str) -> list[str]:
    """Lines of a before/after view that differ: what was missing, what was unexpected."""
    have, want = set(before.splitlines()) - {""}, set(after.splitlines()) - {""}
    return [f"missing {line}" for line in sorted(want - have)] + [
        f"unexpected {line}" for line in sorted(have - want)
    ]


def workload_findings(desired: list[Workload], before: list[str]) -> list[str]:
    """From the workloads plan's observed lines: each workload's problems (``!marker``)."""
    seen = {line.split()[0]: line for line in before}
    findings = []
    for workload in desired:
        line = seen.pop(workload.name, None)
        if line is None:
            findings.append(f"{workload.name}: missing")
        elif "!" in line:
            markers = [word[1:] for word in line.split() if word.startswith("!")]
            findings.append(f"{workload.name}: {', '.join(markers)}")
    for line in seen.values():
        findings.append(f"stale {line.split()[2][3:]} ({line.split()[0]}) removed")
    return findings


# --------------------------------------------------------------------------- reconcile


@dataclass
class Outcome:
    """What one reconcile found and did."""

    started: float = 0.0
    duration: float = 0.0
    repairs: list[Repair] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    backend: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "duration": self.duration,
            "repairs": [{"kind": r.kind, "findings": list(r.findings)} for r in self.repairs],
            "errors": self.errors,
            "warnings": self.warnings,
            "backend": self.backend,
        }


@dataclass
class Memo:
    """What the agent carries from one reconcile to the next: the iptables rules that last
    planned as in sync with the same spec (then planning again would find nothing: the plan
    is a function of exactly these rules and the spec), and that plan's warnings."""

    iptables: tuple[IptablesSpec, str, tuple[str, ...]] | None = None
    iptables_warnings: list[str] = field(default_factory=list)


def saved_rules(save_text: str) -> tuple[str, ...]:
    """What ``iptables.parse_save`` keeps of an ``iptables-save``: tables, chain names, rules
    in order; no comments, policies or counters (they change with traffic, not with drift)."""
    kept = []
    for raw_line in save_text.splitlines():
        line = raw_line.strip()
        if line.startswith(":"):
            kept.append(line.split()[0])
        elif line.startswith(("*", "-A ")):
            kept.append(line)
    return tuple(kept)


def reconcile_iptables(
    runner: Runner, spec: IptablesSpec, outcome: Outcome, memo: Memo | None = None
) -> None:
    backend = iptables_host.detect_backend(runner, spec.backend)
    outcome.backend = backend.name
    seen = (spec, backend.name, saved_rules(backend.save_text))
    if memo is not None and memo.iptables == seen:
        outcome.warnings += memo.iptables_warnings
        return
    plans = iptables_host.converge(
        runner, backend, spec.tables, spec.prefix, spec.insert_mode, spec.wait
    )
    findings = [finding for plan in plans if plan.changed for finding in iptables_findings(plan)]
    warnings = [warning for plan in plans for warning in plan.warnings]
    outcome.warnings += warnings
    if findings:
        outcome.repairs.append(Repair("iptables", tuple(findings)))
    if memo is not None:
        in_sync = not runner.check_mode and not any(plan.changed for plan in plans)
        memo.iptables, memo.iptables_warnings = (seen, warnings) if in_sync else (None, [])


def reconcile_tunnel(runner: Runner, spec: TunnelSpec, outcome: Outcome) -> int:
    """Returns the MTU of the underlay link as read (the workloads' default MTU needs it)."""
    want = spec.wanted
    links = tunnel.read_links(runner)
    parent = tunnel.underlay(links, want.local)
    if parent is None:
        raise RunnerError(tunnel.no_underlay(want.local))
    mtu = tunnel.mtus(spec.underlay_mtu or int(parent["mtu"]), want.encapsulations)
    present = tunnel.link_named(links, tunnel.VXDEV) is not None
    state = tunnel.read_vxlan(runner, present)
    plan = tunnel.plan_tunnel(want, links, state, parent["ifname"], mtu, add=True)
    if plan.changed:
        tunnel.apply(runner, plan)
        findings = view_findings(plan.before, plan.after) or plan.ip + plan.bridge
        outcome.repairs.append(Repair("tunnel", tuple(findings)))
    return int(parent["mtu"])


def reconcile_workloads(
    runner: Runner,
    spec: WorkloadsSpec,
    outcome: Outcome,
    proc_sys: str,
    netns_reader: NetnsReader | None = None,
    underlay_mtu_read: int = 0,
) -> None:
    """``underlay_mtu_read``: the underlay link's MTU the tunnel step just read (0: unknown),
    which spares reading every link again for the workloads' default MTU."""
    underlay_mtu = spec.underlay_mtu or underlay_mtu_read
    desired = desired_workloads(
        runner, spec.items, spec.mtu, spec.underlay_ip, underlay_mtu, spec.encapsulations
    )
    state = read_state(runner, desired, spec.prune, proc_sys, netns_reader)
    plan = plan_workloads(desired, state, spec.prune)
    outcome.warnings += plan.warnings
    if plan.changed:
        outcome.warnings += apply(runner, plan, proc_sys)
        findings = workload_findings(desired, plan.before)
        outcome.repairs.append(Repair("workloads", tuple(findings or plan.commands())))
        if plan.released:
            outcome.repairs.append(
                Repair("conntrack", tuple(f"flushed {ip}" for ip in plan.released))
            )


def reconcile(
    runner: Runner,
    desired: Desired,
    proc_sys: str = PROC_SYS,
    netns_reader: NetnsReader | None = None,
    memo: Memo | None = None,
) -> Outcome:
    """Bring the host to ``desired``: the chains first (no unpoliced moment), then the tunnel
    devices and VXLAN entries, then the workloads. A part that fails is reported and the
    others still run; in check mode (``runner.check_mode``) nothing is applied and the
    repairs are the ones that would be made. The workload namespaces are read with
    ``netns_reader`` (the agent: rtnetlink, no process per namespace), else ``ip -n NS``;
    ``memo`` (the agent's, kept across cycles) skips planning iptables rules seen in sync."""
    outcome = Outcome(started=time.time())
    clock = time.monotonic()
    read: dict[str, int] = {}
    same_underlay = desired.workloads.underlay_ip == desired.tunnel.wanted.local

    def tunnel_step() -> None:
        mtu = reconcile_tunnel(runner, desired.tunnel, outcome)
        read["underlay_mtu"] = mtu if same_underlay else 0

    def workloads_step() -> None:
        reconcile_workloads(
            runner, desired.workloads, outcome, proc_sys, netns_reader, read.get("underlay_mtu", 0)
        )

    steps = (
        ("iptables", lambda: reconcile_iptables(runner, desired.iptables, outcome, memo)),
        ("tunnel", tunnel_step),
        ("workloads", workloads_step),
    )
    for name, step in steps:
        try:
            step()
        except (RunnerError, PlanError, WorkloadError) as error:
            outcome.errors.append(f"{name}: {error}")
    outcome.commands = list(runner.commands)
    outcome.duration = time.monotonic() - clock
    return outcome
