"""How long the controller takes to model a fleet and render its BIRD configs.

Prints, per fleet size: the time to build the model, the time to slice and render one host's
bird.conf (and the extrapolation to the whole fleet), and the size of one host's config.
Run: .venv/bin/python bench/bench_model.py [sizes...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ansible_collections.calico.network.plugins.module_utils.model import (  # noqa: E402
    build_model,
    host_slice,
)
from tests.render import render, role_defaults  # noqa: E402

POOLS = [{"cidr": "10.0.0.0/8", "block_size": 26}]


def fleet(size: int) -> dict[str, dict[str, object]]:
    return {
        f"host{i:05d}": {
            "calico_ip": f"192.168.{i // 250}.{i % 250 + 1}/16",
            "calico_pools": POOLS,
            "calico_mesh_warn_hosts": size,
            "calico_workloads": [{"name": "web"}, {"name": "db"}],
        }
        for i in range(size)
    }


def measure(size: int) -> tuple[float, float, int]:
    host_vars = fleet(size)
    start = time.perf_counter()
    model = build_model(host_vars)
    model_seconds = time.perf_counter() - start
    defaults = role_defaults("calico_bird")
    sample = sorted(model["hosts"])[: min(20, size)]
    start = time.perf_counter()
    for host in sample:
        text = render(
            "calico_bird", "bird.conf.j2", {**defaults, "calico_host": host_slice(model, host)}
        )
    per_host = (time.perf_counter() - start) / len(sample)
    return model_seconds, per_host, len(text.encode())


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 5000]
    header = ("hosts", "model s", "render/host ms", "render fleet s", "bird.conf KiB")
    print(f"{header[0]:>6} {header[1]:>9} {header[2]:>15} {header[3]:>15} {header[4]:>14}")
    for size in sizes:
        model_s, per_host, size_bytes = measure(size)
        print(
            f"{size:>6} {model_s:>9.3f} {per_host * 1000:>15.2f} {per_host * size:>15.1f}"
            f" {size_bytes / 1024:>14.1f}"
        )


if __name__ == "__main__":
    main()
