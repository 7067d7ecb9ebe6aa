"""The chaos tier: hostile input and faults against the real control plane, each scenario
bounded in time. It runs on the e2e tier's cluster fixtures (tests/e2e/conftest.py, loaded
here under another name; when both tiers run in one session they share one cluster, since
starting a cluster that is up is a no-op). Every test here is marked `chaos`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHAOS_DIR = Path(__file__).resolve().parent
E2E_DIR = CHAOS_DIR.parent / "e2e"
# The e2e helpers (operator_process, story) are imported by name, as the e2e tests do.
sys.path.insert(0, str(E2E_DIR))

_spec = importlib.util.spec_from_file_location("e2e_cluster_fixtures", E2E_DIR / "conftest.py")
assert _spec and _spec.loader
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

cluster = e2e.cluster
kube = e2e.kube
namespace = e2e.namespace
crd = e2e.crd
wait_until_fixture = e2e.wait_until_fixture
pytest_runtest_makereport = e2e.pytest_runtest_makereport
Cluster = e2e.Cluster
OperatorProcess = e2e.OperatorProcess
wait_until = e2e.wait_until


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CHAOS_DIR in item.path.parents:
            item.add_marker(pytest.mark.chaos)
