"""The desired-state file: a bad one is refused naming the problem, and nothing is touched.

The agent tests run ``Agent.cycle`` (one loop iteration) against the fake kernel with a desired
state in a temporary file, and read what it logged, published and wrote.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.module_utils import node_agent
from ansible_collections.calico.network.plugins.module_utils.node import (
    DesiredStateError,
    load_desired,
)
from tests.unit.node.fake_kernel import ROOT_READ, FakeKernel, desired_text, proc_sys


def edited(change) -> str:
    data = json.loads(desired_text())
    change(data)
    return json.dumps(data)


def drop(*path: str):
    def change(data):
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]

    return change


def put(value, *path: str):
    def change(data):
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


TEXT = desired_text()
BAD_FILES = {
    "truncated": (TEXT[: len(TEXT) // 2], "not valid JSON (truncated?)"),
    "empty": ("", "not valid JSON (truncated?)"),
    "a list": ("[]", "the top level is not an object"),
    "another format": (edited(put(2, "format")), "format is 2, this agent reads 1"),
    "no workloads": (edited(drop("workloads")), "workloads is missing or not an object"),
    "no tables": (edited(drop("iptables", "tables")), "iptables.tables is missing"),
    "no vxlan mac": (edited(drop("tunnel", "vxlan", "mac")), "tunnel.vxlan.mac is missing"),
    "bad interval": (edited(put(0, "agent", "resync_interval")), "at least 1 second"),
    "bad port": (edited(put(70000, "agent", "metrics_port")), "is not a TCP port"),
    "bad workload": (
        edited(
            put(
                [{"name": "Bad_Name", "ip": "10.0.0.1", "interface": "cali00000000000"}],
                "workloads",
                "items",
            )
        ),
        "workloads.items: workloads[0] (Bad_Name): name 'Bad_Name' must match",
    ),
    "rule with a line break": (
        edited(
            put(
                {"chains": {"cali-x": ["-j ACCEPT\n-A INPUT -j DROP"]}},
                "iptables",
                "tables",
                "filter",
            )
        ),
        "iptables.tables: filter.cali-x: rule",
    ),
    "bad peer": (edited(put([{"name": "Mesh_1"}], "peers")), "peers[0].kind is missing"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_naming_the_problem(case):
    text, message = BAD_FILES[case]
    with pytest.raises(DesiredStateError) as error:
        load_desired(text)
    assert message in str(error.value)


def test_the_lab_file_loads_with_its_workloads_and_peers():
    desired = load_desired(TEXT)
    assert desired.host == "agt-h1"
    assert [w["name"] for w in desired.workloads.items] == ["n1a", "n1b"]
    assert {p.host for p in desired.peers} == {"agt-h2", "agt-h3"}
    assert desired.agent.resync_interval == 5


# --------------------------------------------------------------------------- the agent


class Run:
    def __init__(self, tmp_path: Path, text: str) -> None:
        self.path = tmp_path / "node.json"
        self.path.write_text(text)
        self.kernels: list[FakeKernel] = []
        self.sysctls = proc_sys(tmp_path / "proc-sys", ["calia0223c5a146", "calie807ec6ca09"])
        self.state_dir = tmp_path / "run"
        self.agent = node_agent.Agent(
            str(self.path), str(self.state_dir), self.sysctls, runner=self.kernel
        )

    def kernel(self, _timeout: float) -> FakeKernel:
        kernel = self.kernels[0] if self.kernels else FakeKernel()
        self.kernels[:1] = [kernel]
        return kernel

    def status(self) -> dict:
        return json.loads((self.state_dir / node_agent.STATUS_FILE).read_text())


def lab_file_with_textfile(tmp_path: Path, change=None) -> str:
    data = json.loads(TEXT)
    data["agent"]["metrics_textfile"] = str(tmp_path / "calico-node.prom")
    if change:
        change(data)
    return json.dumps(data)


def test_a_truncated_file_is_logged_nothing_touched_and_the_agent_keeps_going(tmp_path, capsys):
    text = lab_file_with_textfile(tmp_path)
    run = Run(tmp_path, text[: len(text) - 40])
    run.kernel(0).edit_json(  # drift the agent must NOT repair from a file it refused
        ROOT_READ, lambda docs: docs[1].clear(), "link show\nroute show\n"
    )

    run.agent.cycle("resync")

    logged = capsys.readouterr().err
    assert f"desired state {run.path} refused: not valid JSON (truncated?)" in logged
    assert "dataplane left as it is" in logged
    assert run.kernels[0].writes == []
    assert run.kernels[0].calls == 1  # only birdc, for the metrics; no kernel read or write
    assert run.status()["desired_state"].startswith("refused: not valid JSON")
    assert run.agent.desired_errors == 1

    run.path.write_text(text)  # Ansible writes a good file: the next cycle uses it
    run.agent.cycle("reload")

    assert (
        "repaired workloads (reload): n1a: host-route; n1b: host-route" in capsys.readouterr().err
    )
    assert run.status()["desired_state"] == "ok"


def test_a_repair_is_logged_counted_and_published(tmp_path, capsys):
    run = Run(tmp_path, lab_file_with_textfile(tmp_path))
    run.kernel(0).edit_json(
        ROOT_READ,
        lambda docs: docs[1].__setitem__(
            slice(None), [r for r in docs[1] if r.get("dev") != "calia0223c5a146"]
        ),
        "link show\nroute show\n",
    )

    run.agent.cycle("resync")

    assert "repaired workloads (resync): n1a: host-route" in capsys.readouterr().err
    last = run.status()["last_reconcile"]
    assert last["repairs"] == [{"kind": "workloads", "findings": ["n1a: host-route"]}]
    metrics = (tmp_path / "calico-node.prom").read_text()
    assert 'calico_node_repairs_total{kind="workloads"} 1\n' in metrics
    assert "calico_node_workloads 2\n" in metrics
    assert not list(tmp_path.glob("*.tmp"))  # written beside, then renamed


def test_reload_waits_for_a_reload_cycle_not_a_resync_already_running(tmp_path, monkeypatch):
    """``calico-node reload`` (ExecReload) returns after the agent published a reload cycle."""
    status = tmp_path / node_agent.STATUS_FILE
    pid = os.getpid()
    status.write_text(json.dumps({"pid": pid, "generation": 7, "reloads": 2}))
    published = []

    def agent_gets_sighup(_pid, _signal):
        # A resync that was already running publishes first: not enough for the client.
        status.write_text(json.dumps({"pid": pid, "generation": 8, "reloads": 2}))
        published.append(threading.Timer(0.3, lambda: status.write_text(
            json.dumps({"pid": pid, "generation": 9, "reloads": 3})
        )))  # fmt: skip
        published[0].start()

    monkeypatch.setattr(node_agent.os, "kill", agent_gets_sighup)
    started = time.monotonic()
    assert node_agent.reload(pid, str(tmp_path), timeout=10) == 0
    assert time.monotonic() - started >= 0.3  # it waited for the reload cycle
    published[0].join()

    monkeypatch.setattr(node_agent.os, "kill", lambda _pid, _signal: None)
    assert node_agent.reload(pid + 1, str(tmp_path), timeout=0.2) == 1  # another agent: times out
