"""How long the controller takes to model a fleet and render its BIRD configs, mesh and racks.

Prints, per fleet size and BGP mode: the time to build the model, the time to slice and render
one host's bird.conf, the time for the whole fleet, the size of one host's config and its
number of sessions. Racks: 100 hosts per rack (50 racks at 5,000 hosts), two reflectors each;
clients and reflectors are shown separately, and every host of the fleet is really rendered.
Mesh: a sample of 20 hosts is rendered and the fleet time extrapolated (marked ``~``).
Run: .venv/bin/python bench/bench_model.py [sizes...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.calico.network.plugins.plugin_utils.model import (  # noqa: E402
    build_model,
    host_slice,
)
from ansible_collections.calico.network.plugins.plugin_utils.racks import (  # noqa: E402
    RACK_GROUPS,
)
from tools.render import render, role_defaults  # noqa: E402

POOLS = [{"cidr": "10.0.0.0/8", "block_size": 26}]
RACK_SIZE = 100
SAMPLE = 20


def fleet(size: int, mode: str) -> dict[str, dict[str, Any]]:
    hosts: dict[str, dict[str, Any]] = {}
    for i in range(size):
        rack, position = divmod(i, RACK_SIZE)
        values: dict[str, Any] = {
            "calico_ip": f"192.168.{i // 250}.{i % 250 + 1}/16",
            "calico_pools": POOLS,
            "calico_bgp_mode": mode,
            "calico_mesh_warn_hosts": size,
            "calico_workloads": [{"name": "web"}, {"name": "db"}],
        }
        if mode == "route_reflector":
            values.update(
                {
                    "calico_as": 65000 + rack,
                    "calico_route_reflector": position < 2,
                    RACK_GROUPS: [f"rack{rack:02d}"],
                }
            )
        hosts[f"host{i:05d}"] = values
    return hosts


def render_hosts(model: dict[str, Any], hosts: list[str]) -> tuple[float, int, int]:
    """Seconds to slice and render ``hosts``; config size and sessions of the last one."""
    defaults = role_defaults("calico_bird")
    text, sessions = "", 0
    start = time.perf_counter()
    for host in hosts:
        piece = host_slice(model, host)
        text = render("calico_bird", "bird.conf.j2", {**defaults, "calico_host": piece})
        sessions = len(piece["peers"])
    return time.perf_counter() - start, len(text.encode()), sessions


def measure(size: int, mode: str) -> list[tuple[str, float, float, str, float, int]]:
    """Rows of (kind, model s, render ms per host, fleet render, KiB per host, sessions)."""
    host_vars = fleet(size, mode)
    start = time.perf_counter()
    model = build_model(host_vars)
    model_s = time.perf_counter() - start
    names = sorted(model["hosts"])
    if mode == "mesh":
        sample = names[:SAMPLE]
        seconds, size_bytes, sessions = render_hosts(model, sample)
        per_host = seconds / len(sample)
        return [("host", model_s, per_host, f"~{per_host * size:.1f}", size_bytes / 1024, sessions)]
    rows = []
    groups = {
        "client": [n for n in names if not model["hosts"][n]["route_reflector"]],
        "reflector": [n for n in names if model["hosts"][n]["route_reflector"]],
    }
    timed = {kind: render_hosts(model, hosts) for kind, hosts in groups.items()}
    fleet_s = sum(seconds for seconds, _, _ in timed.values())
    for kind, (seconds, size_bytes, sessions) in timed.items():
        per_host = seconds / len(groups[kind])
        rows.append((kind, model_s, per_host, f"{fleet_s:.1f}", size_bytes / 1024, sessions))
    return rows


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 5000]
    header = ("mode", "hosts", "host kind", "model s", "render/host ms", "fleet render s")
    print(
        f"{header[0]:<16} {header[1]:>6} {header[2]:>10} {header[3]:>8} {header[4]:>15}"
        f" {header[5]:>15} {'bird.conf KiB':>14} {'sessions':>9}"
    )
    for mode in ("mesh", "route_reflector"):
        for size in sizes:
            for kind, model_s, per_host, fleet_s, kib, sessions in measure(size, mode):
                print(
                    f"{mode:<16} {size:>6} {kind:>10} {model_s:>8.3f} {per_host * 1000:>15.2f}"
                    f" {fleet_s:>15} {kib:>14.1f} {sessions:>9}"
                )


if __name__ == "__main__":
    main()
