"""Real models and slices have exactly the keys plugins/plugin_utils/shapes.py declares."""

from __future__ import annotations

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.model import build, host_slice
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    FleetModel,
    HostSlice,
    ModelResult,
)
from tests.render import REPO, inventory_vars
from tests.unit.shape_check import check

INVENTORIES = ["lab", "lab-racks", "example", "example-racks"]
RESULTS = {name: build(inventory_vars(REPO / "inventory" / name)) for name in INVENTORIES}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_model_call_returns_the_declared_result(inventory: str) -> None:
    result = RESULTS[inventory]
    assert result["errors"] == []
    check(result, ModelResult)
    check(result["model"], FleetModel)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_every_slice_has_the_declared_keys(inventory: str) -> None:
    model = RESULTS[inventory]["model"]
    assert model is not None
    for host in model["hosts"]:
        check(host_slice(model, host), HostSlice, host)


def test_the_checker_finds_a_missing_and_an_undeclared_key() -> None:
    model = RESULTS["lab"]["model"]
    assert model is not None
    entry = dict(next(iter(model["hosts"].values())))
    entry["extra"] = 1
    with pytest.raises(AssertionError, match="undeclared"):
        check({**model, "hosts": {"x": entry}}, FleetModel)
    del entry["extra"], entry["rack"]
    with pytest.raises(AssertionError, match="missing"):
        check({**model, "hosts": {"x": entry}}, FleetModel)
