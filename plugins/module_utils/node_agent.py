"""calico-node: the host agent (Felix's job) and its command line.

Runs on the host: standard library only, Python >= 3.9, with the project's module_utils cores
installed beside it by the calico_node role. ``calico-node run`` (the systemd unit) reconciles
the host with the desired-state file at start, on ``calico-node reload`` (the unit's ExecReload:
SIGHUP, then it waits for that reconcile) and every ``agent.resync_interval`` seconds. A file
that cannot be used is refused with a log line and the dataplane is left exactly as it is.
``calico-node status [--json]`` shows the host; ``calico-node reconcile [--check]`` runs once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ansible_collections.calico.network.plugins.module_utils import iptables_host, netlink, tunnel
from ansible_collections.calico.network.plugins.module_utils.node import (
    DESIRED_PATH,
    Desired,
    DesiredStateError,
    Memo,
    Outcome,
    read_desired,
    reconcile,
)
from ansible_collections.calico.network.plugins.module_utils.node_status import (
    parse_protocols,
    render_metrics,
    render_text,
)
from ansible_collections.calico.network.plugins.module_utils.runner import (
    Runner,
    RunnerError,
    SubprocessRunner,
)
from ansible_collections.calico.network.plugins.module_utils.workloads_host import (
    PROC_SYS,
    NetnsReader,
)

STATE_DIR = "/run/calico"
STATUS_FILE = "node-status.json"
COMMAND_TIMEOUT = 30.0  # one ip/iptables command; a hung one must not stall the loop forever
BIRDC_TIMEOUT = 5.0
RELOAD_TIMEOUT = 120.0
# sd-daemon(3) priorities, understood by journald on stderr.
ERR, WARNING, INFO = 3, 4, 6


def log(priority: int, message: str) -> None:
    if os.environ.get("JOURNAL_STREAM"):
        sys.stderr.write(f"<{priority}>{message}\n")
    else:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        sys.stderr.write(f"{stamp} calico-node: {message}\n")
    sys.stderr.flush()


def notify(*lines: str) -> None:
    """sd_notify(3) by hand: one datagram to $NOTIFY_SOCKET (no-op outside systemd)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address[0] == "@":
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall("\n".join(lines).encode())


def write_atomically(path: str, text: str, mode: int = 0o644) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def bgp_sessions(runner: Runner) -> list[Any]:
    rc, out, _err = runner.attempt([runner.binary("birdc"), "show", "protocols"])
    return parse_protocols(out) if rc == 0 else []


# --------------------------------------------------------------------------- the daemon


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:port, answering with the last rendered text."""

    def __init__(self, port: int, text: list[str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = text[0].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return  # scrapes are not news

        self.port = port
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def subprocess_runner(timeout: float) -> Runner:
    return SubprocessRunner(timeout=timeout)


class Agent:
    def __init__(
        self,
        desired_path: str,
        state_dir: str,
        proc_sys: str = PROC_SYS,
        runner: Callable[[float], Runner] = subprocess_runner,
        netns_reader: NetnsReader | None = None,
    ) -> None:
        self.runner = runner  # a fresh Runner per cycle (its ``commands`` are that cycle's)
        self.netns_reader = netns_reader  # main(): rtnetlink; None (tests): the runner's ip -n
        self.memo = Memo()
        self.desired_path = desired_path
        self.state_dir = state_dir
        self.proc_sys = proc_sys
        self.desired: Desired | None = None
        self.desired_state = "not read yet"
        self.generation = 0
        self.reloads = 0  # reload cycles done: what `calico-node reload` waits for
        self.reconciles = 0
        self.errors = 0
        self.desired_errors = 0
        self.repairs: dict[str, int] = {}
        self.last: Outcome | None = None
        self.metrics_text = [""]
        self.server: MetricsServer | None = None
        self.wake = threading.Event()
        self.reload_requested = False
        self.stopping = False

    # --- one cycle -----------------------------------------------------------------------------

    def load(self) -> Desired | None:
        try:
            desired = read_desired(self.desired_path)
        except DesiredStateError as error:
            self.desired_errors += 1
            self.desired_state = f"refused: {error}"
            log(ERR, f"desired state {self.desired_path} refused: {error}; dataplane left as it is")
            return None
        self.desired_state = "ok"
        return desired

    def cycle(self, reason: str) -> None:
        desired = self.load()
        if desired is not None:
            self.desired = desired
            self.configure_metrics_port(desired.agent.metrics_port)
            runner = self.runner(COMMAND_TIMEOUT)
            outcome = reconcile(runner, desired, self.proc_sys, self.netns_reader, self.memo)
            self.record(outcome, reason)
        self.generation += 1
        self.publish()

    def record(self, outcome: Outcome, reason: str) -> None:
        self.reconciles += 1
        self.last = outcome
        for repair in outcome.repairs:
            self.repairs[repair.kind] = self.repairs.get(repair.kind, 0) + 1
            log(WARNING, f"repaired {repair.kind} ({reason}): {repair.describe()}")
        for warning in outcome.warnings:
            log(WARNING, warning)
        for error in outcome.errors:
            self.errors += 1
            log(ERR, f"reconcile ({reason}) failed: {error}")
        if reason != "resync" or outcome.repairs:
            log(INFO, f"reconciled ({reason}) in {outcome.duration:.3f} s")

    def publish(self) -> None:
        """The status file for ``calico-node status``/``reload``, and the metrics."""
        os.makedirs(self.state_dir, exist_ok=True)
        status = {
            "pid": os.getpid(),
            "generation": self.generation,
            "reloads": self.reloads,
            "desired_state": self.desired_state,
            "last_reconcile": self.last.as_dict() if self.last else None,
        }
        write_atomically(os.path.join(self.state_dir, STATUS_FILE), json.dumps(status))
        sessions = bgp_sessions(self.runner(BIRDC_TIMEOUT))
        by_state: dict[str, int] = {}
        for session in sessions:
            by_state[session.bgp_state] = by_state.get(session.bgp_state, 0) + 1
        self.metrics_text[0] = render_metrics(
            {
                "bgp": by_state,
                "workloads": len(self.desired.workloads.items) if self.desired else 0,
                "last_started": self.last.started if self.last else 0,
                "last_duration": self.last.duration if self.last else 0.0,
                "reconciles": self.reconciles,
                "repairs": self.repairs,
                "errors": self.errors,
                "desired_errors": self.desired_errors,
            }
        )
        self.write_textfile()

    def write_textfile(self) -> None:
        path = self.desired.agent.metrics_textfile if self.desired else ""
        if not path:
            return
        try:
            write_atomically(path, self.metrics_text[0])
        except OSError as error:
            log(WARNING, f"metrics textfile {path} not written: {error.strerror}")

    def configure_metrics_port(self, port: int) -> None:
        if self.server and self.server.port == port:
            return
        if self.server:
            self.server.close()
            self.server = None
        if port:
            try:
                self.server = MetricsServer(port, self.metrics_text)
            except OSError as error:
                log(ERR, f"metrics port 127.0.0.1:{port} not served: {error.strerror}")

    # --- the loop ------------------------------------------------------------------------------

    def on_hangup(self, *_args: Any) -> None:
        self.reload_requested = True
        self.wake.set()

    def on_terminate(self, *_args: Any) -> None:
        self.stopping = True
        self.wake.set()

    def interval(self) -> float:
        return float(self.desired.agent.resync_interval) if self.desired else 30.0

    def run(self) -> int:
        signal.signal(signal.SIGHUP, self.on_hangup)
        signal.signal(signal.SIGTERM, self.on_terminate)
        signal.signal(signal.SIGINT, self.on_terminate)
        log(INFO, f"starting: desired state {self.desired_path}")
        self.cycle("start")
        notify("READY=1", f"STATUS={self.summary()}")
        while not self.stopping:
            self.wake.wait(self.interval())
            self.wake.clear()
            if self.stopping:
                break
            if self.reload_requested:
                self.reload_requested = False
                notify("RELOADING=1")
                self.reloads += 1  # published by the cycle, after it read the file
                self.cycle("reload")
                notify("READY=1", f"STATUS={self.summary()}")
            else:
                self.cycle("resync")
                notify(f"STATUS={self.summary()}")
        notify("STOPPING=1")
        log(INFO, "stopping; the dataplane stays as it is")
        return 0

    def summary(self) -> str:
        if self.desired_state != "ok":
            return f"desired state {self.desired_state}"
        last = self.last
        if last is None:
            return "no reconcile yet"
        result = "in sync" if last.ok else f"{len(last.errors)} part(s) failed"
        return f"{result}; last reconcile {last.duration:.3f} s, {len(last.repairs)} repair kind(s)"


# --------------------------------------------------------------------------- status


def read_status_file(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(state_dir, STATUS_FILE)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def agent_running(status: dict[str, Any] | None) -> bool:
    if not status:
        return False
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return False
    return True


def gather(runner: Runner, desired_path: str, state_dir: str) -> dict[str, Any]:
    """Everything ``status`` shows, read live from BIRD and the kernel."""
    saved = read_status_file(state_dir)
    try:
        desired: Desired | None = read_desired(desired_path)
        desired_state = "ok"
    except DesiredStateError as error:
        desired, desired_state = None, f"refused: {error}"
    links = {link["ifname"]: link for link in tunnel.read_links(runner)}
    peers = {p.name: p for p in desired.peers} if desired else {}
    sessions = []
    for session in bgp_sessions(runner):
        peer = peers.get(session.name)
        sessions.append(
            {
                "name": session.name,
                "peer": peer.host if peer else session.name,
                "ip": peer.ip if peer else "",
                "kind": peer.kind if peer else "",
                "state": session.bgp_state,
                "bird_state": session.state,
                "since": session.since,
                "info": session.info,
            }
        )
    workloads = []
    for item in desired.workloads.items if desired else []:
        link = links.get(item["interface"])
        state = "missing" if link is None else ("up" if tunnel.is_up(link) else "down")
        workloads.append(
            {"name": item["name"], "ip": item["ip"], "interface": item["interface"], "state": state}
        )
    tunnels = [
        {
            "name": name,
            "state": "up" if tunnel.is_up(links[name]) else "down",
            "mtu": links[name].get("mtu"),
            "address": " ".join(tunnel.addresses(links[name])),
        }
        for name in (tunnel.TUNL, tunnel.VXDEV)
        if name in links
    ]
    prefix = desired.iptables.prefix if desired else "cali-"
    try:
        backend = iptables_host.detect_backend(
            runner, desired.iptables.backend if desired else "auto"
        )
        chains = sum(1 for line in backend.save_text.splitlines() if line.startswith(f":{prefix}"))
    except RunnerError:
        chains = 0
    return {
        "host": desired.host if desired else socket.gethostname(),
        "agent": {
            "state": "running" if agent_running(saved) else "not running",
            "pid": saved.get("pid") if saved else None,
        },
        "desired": {"path": desired_path, "state": desired_state},
        "bgp": sessions,
        "workloads": workloads,
        "tunnels": tunnels,
        "chains": chains,
        "last_reconcile": saved.get("last_reconcile") if saved else None,
    }


# --------------------------------------------------------------------------- reload


def reload(pid: int, state_dir: str, timeout: float = RELOAD_TIMEOUT) -> int:
    """SIGHUP the agent, then wait until it published the reload cycle that followed (a resync
    already running when the signal came does not count: it may have read the old file)."""
    before = read_status_file(state_dir) or {}
    done = before.get("reloads", 0) if before.get("pid") == pid else 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_status_file(state_dir) or {}
        if now.get("pid") == pid and now.get("reloads", 0) > done:
            return 0
        time.sleep(0.05)
    log(ERR, f"reload: the agent (pid {pid}) did not finish a reconcile within {timeout:.0f} s")
    return 1


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="calico-node", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    top.add_argument("--desired", default=DESIRED_PATH, help="desired-state file")
    top.add_argument("--state-dir", default=STATE_DIR, help="where the agent publishes status")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="the agent (systemd's ExecStart)")
    status = commands.add_parser("status", help="BGP, workloads, tunnels, chains, last reconcile")
    status.add_argument("--json", action="store_true", help="machine-readable")
    once = commands.add_parser("reconcile", help="reconcile once and print the repairs")
    once.add_argument("--check", action="store_true", help="only say what would be repaired")
    again = commands.add_parser("reload", help="make the agent re-read the file; wait for it")
    again.add_argument("pid", type=int, help="the agent's pid (systemd's $MAINPID)")
    return top


def reconcile_once(desired_path: str, check: bool) -> int:
    try:
        desired = read_desired(desired_path)
    except DesiredStateError as error:
        sys.stderr.write(f"desired state {desired_path} refused: {error}\n")
        return 2
    runner = SubprocessRunner(check_mode=check, timeout=COMMAND_TIMEOUT)
    outcome = reconcile(runner, desired, netns_reader=netlink.read_namespaces)
    verb = "would repair" if check else "repaired"
    for repair in outcome.repairs:
        sys.stdout.write(f"{verb} {repair.kind}: {'; '.join(repair.findings)}\n")
    for error in outcome.errors:
        sys.stderr.write(f"error: {error}\n")
    if not outcome.repairs and outcome.ok:
        sys.stdout.write("in sync\n")
    return 0 if outcome.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "run":
        return Agent(args.desired, args.state_dir, netns_reader=netlink.read_namespaces).run()
    if args.command == "reload":
        return reload(args.pid, args.state_dir)
    if args.command == "reconcile":
        return reconcile_once(args.desired, args.check)
    status = gather(SubprocessRunner(timeout=BIRDC_TIMEOUT), args.desired, args.state_dir)
    if args.json:
        sys.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(status, time.time()))
    return 0
