"""Each filter's RETURN documents exactly the keys of the shape it returns (shapes.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.calico.network.plugins.plugin_utils import shapes
from tests.unit.shape_check import field_types, unwrap
from tools.render import REPO

RETURNS = {
    "calico_network_model": shapes.ModelResult,
    "calico_host_slice": shapes.HostSlice,
    "calico_felix_tables": shapes.FelixTables,
    "calico_probe_plan": shapes.Probe,
    "calico_listener_plan": shapes.Listener,
    "calico_verify_report": shapes.VerifyReport,
}


def documented(name: str) -> dict[str, Any]:
    """The filter's RETURN, read from its source (importing Ansible's display here would change
    how the module tests see warnings)."""
    tree = ast.parse((REPO / "plugins" / "filter" / f"{name}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["RETURN"]:
            return yaml.safe_load(ast.literal_eval(node.value))["_value"]
    raise AssertionError(f"{name} has no RETURN")


def compare(doc: dict[str, Any], shape: Any, path: str) -> None:
    """The documented keys are the shape's; recursively where the doc lists ``contains``."""
    assert "contains" in doc, f"{path}: RETURN lists no keys (contains)"
    hints = field_types(shape)
    assert set(doc["contains"]) == set(hints), f"{path}: documented keys differ from {shape}"
    for key, entry in doc["contains"].items():
        if "contains" in entry:
            compare(entry, unwrap(hints[key]), f"{path}.{key}")


def test_every_filter_is_covered() -> None:
    files = {path.stem for path in (REPO / "plugins" / "filter").glob("calico_*.py")}
    assert files == set(RETURNS)


@pytest.mark.parametrize(("name", "shape"), RETURNS.items())
def test_return_documents_the_shape(name: str, shape: Any) -> None:
    compare(documented(name), shape, name)


def test_a_drifted_return_is_caught() -> None:
    doc = documented("calico_host_slice")
    del doc["contains"]["peers"]["contains"]["prefix_limit"]
    with pytest.raises(AssertionError, match="peers"):
        compare(doc, shapes.HostSlice, "calico_host_slice")


def test_filters_live_one_per_file() -> None:
    for name in RETURNS:
        assert (Path(REPO) / "plugins" / "filter" / f"{name}.py").exists()
