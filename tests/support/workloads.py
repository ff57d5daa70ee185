"""Expected wiring of a workload, written out here as Calico's CNI plugin does it.

The oracle of the workloads core's and module's tests: the commands a fresh namespace needs,
stated independently of the code under test.
"""

from __future__ import annotations


def fresh_namespace_lines(address: str) -> list[str]:
    """``ip -n NS -batch`` lines that wire a new workload namespace with ``address``/32."""
    return [
        "link set lo up",
        "link set eth0 up",
        f"addr add {address}/32 dev eth0",
        "route replace 169.254.1.1 dev eth0 scope link",
        "route replace default via 169.254.1.1 dev eth0",
        "neigh replace 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent",
    ]
