"""The calico_node role's bundle of the host-side cores (roles/calico_node/files/bundle_cores.py).

One zip, copied once per host: it must be byte-identical for the same sources (else every run
would be ``changed`` and restart the agent), differ when any core changes, and be importable as
it is, the way the calico-node launcher imports it (zipimport, nothing else on sys.path).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "roles" / "calico_node" / "files" / "bundle_cores.py"
CORES = REPO / "plugins" / "module_utils"


def load_script():
    spec = importlib.util.spec_from_file_location("bundle_cores", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(source: Path, target: Path) -> bytes:
    assert load_script().main([str(source), str(target)]) == 0
    return target.read_bytes()


def test_the_same_cores_give_the_same_bytes_and_a_changed_core_other_bytes(tmp_path):
    copy = tmp_path / "module_utils"
    shutil.copytree(CORES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = build(copy, tmp_path / "a.zip")
    os.utime(copy / "node.py", (0, 0))  # a checkout's timestamps are not content

    assert build(copy, tmp_path / "b.zip") == first
    (copy / "netlink.py").write_text((copy / "netlink.py").read_text() + "\n# changed\n")
    assert build(copy, tmp_path / "c.zip") != first


def test_the_agent_imports_from_the_zip_alone(tmp_path):
    bundle = tmp_path / "cores.zip"
    build(CORES, bundle)
    probe = (
        f"import sys; sys.path.insert(0, {str(bundle)!r}); "
        "from ansible_collections.calico.network.plugins.module_utils import node_agent, netlink; "
        "print(node_agent.__file__); print(callable(node_agent.main))"
    )

    # -I: no cwd, no PYTHONPATH, no user site: the checkout cannot leak in.
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    where, is_callable = done.stdout.split()
    assert where.startswith(str(bundle) + os.sep) and is_callable == "True"


def test_a_directory_without_the_agent_is_refused(tmp_path):
    (tmp_path / "other.py").write_text("")

    assert load_script().main([str(tmp_path), str(tmp_path / "x.zip")]) == 1
    assert not (tmp_path / "x.zip").exists()
