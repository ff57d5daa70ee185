"""Under lab/uml.py (CALICO_UML=1) the kernel has every module the tests need, so a skip there
would hide a lost proof: it fails instead."""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CALICO_UML") == "1" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped inside UML, where nothing may skip: {report.longrepr}"
