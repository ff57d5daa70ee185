"""The repository's inventories as committed, for tests that compare against fixed expectations.

`make lab` records the tunnel this machine's kernel can create beside the lab inventory
(lab/lab_encap.py, git-ignored). It changes the pools' encapsulation, so a test of the committed
inventory reads a copy without it: `make test` after `make lab` checks the same thing on any
kernel.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lab") not in sys.path:  # lab/ is a directory of scripts, not a package
    sys.path.insert(0, str(REPO / "lab"))

from lab_encap import RECORD_NAME  # noqa: E402


def committed_inventory(name: str, scratch: Path) -> Path:
    """A copy of inventory/``name`` in ``scratch`` without the lab's machine-local record."""
    copy = scratch / name
    shutil.copytree(REPO / "inventory" / name, copy, ignore=shutil.ignore_patterns(RECORD_NAME))
    return copy
