"""Make the repository importable as the collection ``ansible_collections.calico.network``.

The symlink ``.collections/ansible_collections/calico/network`` points at the repository root,
so plain pytest imports plugin_utils, module_utils, filters and modules exactly as Ansible does.
The repository root is on sys.path too (tests is a package), so tests import ``tools.render``.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))
