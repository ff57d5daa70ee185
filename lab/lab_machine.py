"""Checks of the machine the lab runs on, as pure functions of what lab.py reads from it.

- inotify: every systemd container takes several inotify instances from root's
  ``fs.inotify.max_user_instances`` (128 by default); about 20 containers exhaust it and the
  next ones never finish booting. ``lab.py deps`` raises it to LAB_INOTIFY_INSTANCES.
- Docker: it sets the FORWARD policy to DROP and loads br_netfilter, so frames bridged between
  two lab containers on one podman network pass iptables' FORWARD chain and are dropped. The
  lab never changes foreign firewall rules; it warns and names the fix.
"""

from __future__ import annotations

LAB_INOTIFY_INSTANCES = 1024
INOTIFY_KEY = "fs.inotify.max_user_instances"


def inotify_raise(current: int, wanted: int = LAB_INOTIFY_INSTANCES) -> int | None:
    """The value to set, or None when the machine already allows enough."""
    return wanted if current < wanted else None


def forward_drop_warning(forward_rules: str, bridge_nf_call_iptables: str) -> str | None:
    """A warning when bridged lab traffic meets a FORWARD chain whose policy is DROP."""
    policy_drop = any(
        line.split() == ["-P", "FORWARD", "DROP"] for line in forward_rules.splitlines()
    )
    if not policy_drop or bridge_nf_call_iptables.strip() != "1":
        return None
    docker = "DOCKER" in forward_rules
    who = "Docker set" if docker else "something set"
    fix = (
        "iptables -I DOCKER-USER -i podman+ -o podman+ -j ACCEPT (or name the lab's bridges)"
        if docker
        else "iptables -I FORWARD -i podman+ -o podman+ -j ACCEPT"
    )
    return (
        f"{who} the FORWARD policy to DROP and bridged frames pass iptables "
        "(net.bridge.bridge-nf-call-iptables = 1): traffic between lab containers on one podman "
        f"network is dropped. The lab changes no firewall rule of yours; to let it through: {fix}, "
        "or sysctl -w net.bridge.bridge-nf-call-iptables=0"
    )
