"""Make the repository importable as the collection ``ansible_collections.calico.network``.

The symlink ``.collections/ansible_collections/calico/network`` points at the repository root,
so plain pytest imports plugin_utils, module_utils, filters and modules exactly as Ansible does.
The repository root is on sys.path too (tests is a package), so tests import ``tools.render``.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))

# Transitional: the renderer moved from tests/render.py to tools/render.py. Test files of the
# other branches of this refactor still import ``tests.render``; the old name stays an alias of
# the new module until they import ``tools.render`` (then delete these two lines).
import tools.render  # noqa: E402

sys.modules.setdefault("tests.render", tools.render)
