#!/usr/bin/env python3
"""Print the encapsulation the lab can use here: ipip where the kernel can create tunl0, else vxlan.

The probe runs in a throw-away network namespace (``unshare --net``), exactly as the
calico_tunnel module's preflight does, so nothing on the machine changes. The reason goes to
stderr, the answer to stdout: ``make lab`` passes it as ``-e lab_encapsulation=...``.
Needs root (unshare --net).
"""

from __future__ import annotations

import subprocess
import sys

PROBES = {
    "ipip": "ip link add name tunl0 type ipip 2>/dev/null; ip link show tunl0",
    "vxlan": "ip link add name calico-probe type vxlan id 4096 dstport 4789",
}


def can_create(kind: str) -> bool:
    probe = subprocess.run(
        ["unshare", "--net", "sh", "-c", PROBES[kind]], capture_output=True, text=True
    )
    return probe.returncode == 0


def choose() -> tuple[str, str]:
    if can_create("ipip"):
        return "ipip", "this kernel can create IPIP devices: the lab tunnels with IPIP (tunl0)"
    if can_create("vxlan"):
        return "vxlan", (
            "this kernel cannot create IPIP devices (no CONFIG_NET_IPIP): "
            "the lab tunnels with VXLAN (vxlan.calico) instead"
        )
    raise SystemExit("lab: this kernel can create neither IPIP nor VXLAN devices")


def main() -> None:
    encapsulation, reason = choose()
    print(f"lab: encapsulation {encapsulation}: {reason}", file=sys.stderr)
    print(encapsulation)


if __name__ == "__main__":
    main()
