"""Real models and slices have exactly the keys plugins/plugin_utils/shapes.py declares."""

from __future__ import annotations

import pytest

from ansible_collections.calico.network.plugins.plugin_utils.felix import render_tables
from ansible_collections.calico.network.plugins.plugin_utils.model import build, host_slice
from ansible_collections.calico.network.plugins.plugin_utils.shapes import (
    FelixTables,
    FleetModel,
    HostSlice,
    ModelResult,
)
from tests.unit.shape_check import check
from tools.render import REPO, inventory_vars

INVENTORIES = ["lab", "lab-racks", "example", "example-racks"]
RESULTS = {name: build(inventory_vars(REPO / "inventory" / name)) for name in INVENTORIES}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_model_call_returns_the_declared_result(inventory: str) -> None:
    result = RESULTS[inventory]
    assert result["errors"] == []
    check(result, ModelResult)
    check(result["model"], FleetModel)


@pytest.mark.parametrize("inventory", INVENTORIES)
@pytest.mark.parametrize("verify_plan", [False, True])
def test_every_slice_has_the_declared_keys(inventory: str, verify_plan: bool) -> None:
    model = RESULTS[inventory]["model"]
    assert model is not None
    for host in model["hosts"]:
        piece = host_slice(model, host, verify_plan)
        check(piece, HostSlice, host)
        assert (piece["verify"] is not None) == verify_plan
        for anti_spoofing in ("rpfilter", "source"):
            check(render_tables(piece, anti_spoofing), FelixTables, f"{host} tables")


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
