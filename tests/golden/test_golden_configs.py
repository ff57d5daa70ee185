"""Rendered configs of the reference topologies, compared with reviewed golden files.

A change in what the templates or the model produce shows up as a diff of tests/golden/; run
``UPDATE_GOLDEN=1 pytest tests/golden`` to rewrite them, then review the diff like code.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.inventories import committed_inventory
from tools.render import rendered_files

GOLDEN = Path(__file__).resolve().parent
# lab: a mesh; lab-racks: two racks with two reflectors each; example-racks: racks with
# external ToR peers (accept lists, passwords, ttl security, multihop).
TOPOLOGIES = ["lab", "lab-racks", "example-racks"]


with tempfile.TemporaryDirectory(prefix="calico-golden-") as _scratch:
    RENDERED = {
        topology: rendered_files(committed_inventory(topology, Path(_scratch)))
        for topology in TOPOLOGIES
    }


def cases():
    for topology, hosts in RENDERED.items():
        for host, files in hosts.items():
            for name, text in files.items():
                yield pytest.param(topology, host, name, text, id=f"{topology}/{host}/{name}")


CASES = list(cases())


@pytest.mark.parametrize(("topology", "host", "name", "text"), CASES)
def test_rendered_config_matches_the_golden_file(topology, host, name, text):
    golden = GOLDEN / topology / host / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == golden.read_text()


@pytest.mark.parametrize(
    ("topology", "host", "name", "text"), [c for c in CASES if c.values[2] == "bird.conf"]
)
def test_rendered_bird_config_parses_with_bird(topology, host, name, text, tmp_path):
    bird = shutil.which("bird")
    assert bird, "bird (Debian package bird2) is needed to check rendered configs: make deps"
    secrets = tmp_path / "secrets.conf"
    secrets.write_text(RENDERED[topology][host]["calico_secrets.conf"])
    config = tmp_path / name
    config.write_text(text.replace("/etc/bird/calico_secrets.conf", str(secrets)))
    result = subprocess.run([bird, "-p", "-c", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
