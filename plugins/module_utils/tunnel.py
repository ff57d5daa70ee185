"""The tunnel core: Calico's tunnel devices as a host sees them.

Runs on the host (shipped with the modules): standard library only, Python >= 3.9. The
controller's encapsulation plan (plugins/plugin_utils/encap.py) imports these facts from here,
so a device name, a VNI or a port is written down once.
"""

from __future__ import annotations

from collections.abc import Iterable

IPIP, VXLAN = "ipip", "vxlan"
DEVICES = {IPIP: "tunl0", VXLAN: "vxlan.calico"}
OVERHEAD = {IPIP: 20, VXLAN: 50}
VXLAN_VNI = 4096
VXLAN_PORT = 4789
# The kernel route protocol of the VXLAN routes (Felix's): BIRD's kernel protocol learns every
# alien route, and its import filter drops this protocol so BIRD never re-advertises them.
ROUTE_PROTOCOL = 80


def mtus(underlay_mtu: int, encapsulations: Iterable[str]) -> dict[str, int]:
    """Device MTUs and the workload MTU (the smallest of the encapsulations in use)."""
    used = sorted(set(encapsulations))
    devices = {DEVICES[e]: underlay_mtu - OVERHEAD[e] for e in used}
    return {**devices, "workload": min(devices.values(), default=underlay_mtu)}
