#!/usr/bin/env python3
"""Print the encapsulation the lab can use here: ipip where the kernel can create tunl0, else vxlan.

The probe is the tunnel core's (plugins/module_utils/tunnel.py), run in a throw-away network
namespace (``unshare --net``) exactly as the calico_tunnel module's preflight runs it, so
nothing on the machine changes. The reason goes to stderr, the answer to stdout: ``make lab``
passes it as ``-e lab_encapsulation=...``. Needs root (unshare --net).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository is the collection calico.network, importable through .collections.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.calico.network.plugins.module_utils import tunnel
from ansible_collections.calico.network.plugins.module_utils.runner import (
    SubprocessRunner,
)


def can_create(kind: str) -> bool:
    return tunnel.can_create(SubprocessRunner(), kind)[0]


def choose() -> tuple[str, str]:
    if can_create(tunnel.IPIP):
        return "ipip", "this kernel can create IPIP devices: the lab tunnels with IPIP (tunl0)"
    if can_create(tunnel.VXLAN):
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
