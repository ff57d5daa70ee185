"""The lab's node image: its packages, its build recipe, its tag and the Debian mirror to use.

Pure: lab.py executes exactly IMAGE_RECIPE's steps with IMAGE_PACKAGES, so the image tag (a
hash of both) changes whenever the build changes; the mirror comes from the machine's own apt
sources, which lab.py reads and hands over.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lab_errors import LabError

IMAGE_NAME = "localhost/calico-lab-node"
IMAGE_SUITE = "bookworm"
IMAGE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "iproute2",
    "iptables",
    "bird2",
    "iputils-ping",
    "procps",
    "kmod",
    "netcat-openbsd",
    "tcpdump",
    "frr",
    # calico-node flushes a released workload address's flows with conntrack(8).
    "conntrack",
)
# Everything that shapes the image besides the package list. lab.py executes exactly these
# steps, so the image tag (a hash of this data) changes whenever the build changes.
IMAGE_RECIPE: Mapping[str, Any] = {
    "version": 1,
    "debootstrap": ["--variant=minbase", "--components=main"],
    "suite": IMAGE_SUITE,
    # FRR is in the image for ToR-router tests, which start it themselves; hosts must not run it.
    "chroot": [["systemctl", "disable", "frr.service"]],
    "remove": ["var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"],
    "empty": ["etc/machine-id"],
    "tar": ["--numeric-owner"],
    "import_change": ['CMD ["/sbin/init"]'],
}


def image_tag(packages: Iterable[str], recipe: Mapping[str, Any]) -> str:
    """12 hex of sha256 over the sorted package list and the recipe: same input, same tag."""
    blob = json.dumps({"packages": sorted(set(packages)), "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def image_ref(tag: str | None = None) -> str:
    return f"{IMAGE_NAME}:{tag or image_tag(IMAGE_PACKAGES, IMAGE_RECIPE)}"


def apt_source_entries(
    deb822: Sequence[str], one_line: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """(URI, suites) of the enabled binary sources in deb822 and one-line apt source texts."""
    entries: list[tuple[str, list[str]]] = []
    for text in deb822:
        for stanza in re.split(r"\n\s*\n", text):
            fields = _deb822_fields(stanza)
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            suites = fields.get("suites", "").split()
            entries.extend((uri, suites) for uri in fields.get("uris", "").split())
    for text in one_line:
        for line in text.splitlines():
            words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
    return entries


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


# Debian's release names and aliases (a suite of another distribution, such as Ubuntu's
# "noble", must never be taken for a Debian mirror: debootstrap would build the wrong system).
DEBIAN_SUITES = frozenset(
    {
        "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
        "oldoldstable", "oldstable", "stable", "testing", "unstable",
    }
)  # fmt: skip
MIRROR_FIX = (
    "pass the URL of a Debian mirror: `make lab MIRROR=URL`, `lab.py up|image --mirror URL` "
    "or LAB_DEBIAN_MIRROR=URL"
)


def pick_mirror(entries: Sequence[tuple[str, list[str]]], suite: str = IMAGE_SUITE) -> str:
    """The machine's own Debian mirror: a source for `suite`, else one for another Debian suite.

    Only Debian suites count: on Ubuntu (or any other distribution) the apt sources name that
    distribution's archive, and the answer is a clear error asking for a mirror instead.
    """
    for uri, suites in entries:
        if suite in suites:
            return uri.rstrip("/")
    for uri, suites in entries:
        if any(s.split("-")[0] in DEBIAN_SUITES for s in suites):
            return uri.rstrip("/")
    named = sorted({s for _, suites in entries for s in suites})
    raise LabError(
        f"no Debian mirror found in the apt sources for {suite!r}"
        + (f" (they name {', '.join(named)}: not Debian)" if named else "")
        + f"; {MIRROR_FIX}"
    )
