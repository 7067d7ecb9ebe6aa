"""The example ArgoCD Applications point at real paths of this repository and order the
operator before the models."""

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from sglang_operator import API_GROUP, KIND, chartgen
from sglang_operator.api import parse_spec

APPS_DIR = chartgen.ROOT / "argocd" / "applications"


def app(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((APPS_DIR / name).read_text())
    return loaded


def source_dir(application: dict[str, Any]) -> Path:
    return chartgen.ROOT / application["spec"]["source"]["path"]


def wave(application: dict[str, Any]) -> int:
    return int(application["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def test_operator_application_installs_the_chart() -> None:
    operator = app("sglang-operator.yaml")
    assert source_dir(operator) == chartgen.CHART_DIR
    values = operator["spec"]["source"]["helm"]["valuesObject"]
    # Values given there must be ones the chart's schema knows.
    chartgen.ChartValues.model_validate(values)


def test_models_application_holds_sglang_deployments() -> None:
    models = app("models.yaml")
    pattern = models["spec"]["source"]["directory"]["include"]
    files = [p for p in source_dir(models).iterdir() if fnmatch.fnmatch(p.name, pattern)]
    assert files
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"].startswith(f"{API_GROUP}/") and doc["kind"] == KIND
    assert "SkipDryRunOnMissingResource=true" in models["spec"]["syncPolicy"]["syncOptions"]


def test_operator_syncs_in_an_earlier_wave_than_the_models() -> None:
    assert wave(app("sglang-operator.yaml")) < wave(app("models.yaml"))


def test_app_of_apps_includes_both_applications() -> None:
    parent = app("app-of-apps.yaml")
    assert source_dir(parent) == APPS_DIR
    include = parent["spec"]["source"]["directory"]["include"]
    # ArgoCD's include is a glob with {a,b} alternatives.
    alternatives = include.strip("{}").split(",")
    assert sorted(alternatives) == ["models.yaml", "sglang-operator.yaml"]
    assert all((APPS_DIR / name).is_file() for name in alternatives)


def test_app_of_apps_deploys_one_small_example_not_all_of_them() -> None:
    models = app("models.yaml")
    pattern = models["spec"]["source"]["directory"]["include"]
    files = [p for p in source_dir(models).iterdir() if fnmatch.fnmatch(p.name, pattern)]
    gpus = sum(parse_spec(yaml.safe_load(p.read_text())["spec"]).total_gpus for p in files)
    # The local cluster's two AMD nodes hold it; every example at once would need dozens.
    assert [p.name for p in files] == ["quickstart.yaml"]
    assert gpus <= 8
