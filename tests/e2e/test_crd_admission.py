"""The CRD on a real API server: it installs, every example is accepted, every bad case is
refused at apply time with the API's own message, the stored object is what the user wrote,
and the status and scale subresources take what the operator writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pydantic import ValidationError

from sglang_operator import API_GROUP, API_VERSION, KIND, PLURAL
from sglang_operator.api import BenchmarkResult, Condition, SGLangDeploymentStatus, parse_spec
from sglang_operator.crd import CRD_NAME, build_crd

# The `cluster` fixture's type lives in tests/e2e/conftest.py, which is not importable as a
# module; Any stands for it here.
Cluster = Any

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / f"{CRD_NAME}.yaml"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

# Bad specs and the message the API server must answer with (the CEL rule's, or the
# schema's own for single-field bounds).
BAD: list[tuple[dict[str, Any], str]] = [
    ({"parallelism": {"nodes": 2, "tp": 3}}, "tp * pp must be a multiple of parallelism.nodes"),
    ({"parallelism": {"tp": 16}}, "tp * pp * dp must fit in the copy's GPUs"),
    ({"gpu": {"perNode": 4}, "parallelism": {"pp": 8}}, "tp * pp * dp must fit"),
    ({"parallelism": {"nodes": 2, "tp": 8, "dp": 2}}, "dp > 1 needs nodes 1"),
    ({"parallelism": {"tp": 8, "ep": 3}}, "ep must divide tp"),
    ({"env": [{"name": "NODE_RANK", "value": "1"}]}, "are set by the operator"),
    ({"env": [{"name": "A"}]}, "set exactly one of value or valueFrom"),
    ({"mode": "offline", "benchmark": {"enabled": True}}, "a serving benchmark needs mode server"),
    ({"benchmark": {"datasetName": "sharegpt"}}, "need datasetPath"),
    ({"model": {"path": "m", "cache": {}}}, "set exactly one of claimName"),
    (
        {"model": {"path": "m", "cache": {"claimName": "c", "storageClassName": "s"}}},
        "apply only to a PVC the operator creates",
    ),
    ({"model": {"path": "m", "servedModelName": "a:b"}}, "spec.model.servedModelName"),
    ({"gpu": {"vendor": "intel"}}, "spec.gpu.vendor"),
    ({"replicas": -1}, "spec.replicas"),
]


def manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def crd_installed(cluster: Cluster) -> Iterator[None]:
    # Client-side apply, as a user would: it also proves the CRD fits the annotation limit.
    cluster.kubectl("apply", "-f", str(CRD_FILE))
    cluster.wait_crd_established(CRD_NAME)
    # Left installed: other e2e tests use it, and deleting it deletes their objects.
    yield


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", *extra, input=json.dumps(obj), check=False
    )


def test_the_installed_crd_is_the_generated_one(kube: Any, crd_installed: None) -> None:
    ext = client.ApiextensionsV1Api(kube)
    stored = ext.read_custom_resource_definition(CRD_NAME)
    built = build_crd()
    assert stored.spec.names.short_names == built["spec"]["names"]["shortNames"]
    assert stored.spec.versions[0].subresources.scale.label_selector_path == ".status.selector"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.stem)
def test_every_example_is_accepted(
    cluster: Cluster, crd_installed: None, namespace: str, example: Path
) -> None:
    for doc in yaml.safe_load_all(example.read_text()):
        doc["metadata"].pop("namespace", None)
        result = apply(cluster, namespace, doc, "--dry-run=server")
        assert result.returncode == 0, result.stderr


def test_each_bad_case_is_refused_with_its_message(
    cluster: Cluster, crd_installed: None, namespace: str
) -> None:
    for index, (fields, message) in enumerate(BAD):
        spec = {"model": {"path": "org/model"}, **fields}
        result = apply(cluster, namespace, manifest(f"bad-{index}", spec), "--dry-run=server")
        assert result.returncode != 0, fields
        assert message in result.stderr, (fields, result.stderr)
        # The operator (and `render`) refuse the same spec.
        with pytest.raises(ValidationError):
            parse_spec(spec)


def test_stored_object_is_exactly_what_was_applied(
    cluster: Cluster, crd_installed: None, namespace: str
) -> None:
    spec = {"model": {"path": "org/model"}, "replicas": 1}
    assert apply(cluster, namespace, manifest("plain", spec)).returncode == 0
    got = json.loads(cluster.kubectl("get", "-n", namespace, "sgld", "plain", "-o", "json").stdout)
    assert got["spec"] == spec


def test_status_and_scale_subresources_take_what_the_operator_writes(
    cluster: Cluster, kube: Any, crd_installed: None, namespace: str
) -> None:
    spec = {"model": {"path": "m"}, "replicas": 1}
    assert apply(cluster, namespace, manifest("scaled", spec)).returncode == 0
    objects = client.CustomObjectsApi(kube)
    status = SGLangDeploymentStatus(
        observed_generation=1,
        phase="Ready",
        conditions=[
            Condition(
                type="Ready",
                status="True",
                reason="AllGroupsReady",
                message="1/1 ready",
                last_transition_time="2026-01-01T00:00:00Z",
                observed_generation=1,
            )
        ],
        replicas=1,
        ready_replicas=1,
        nodes=1,
        gpus=8,
        endpoint="http://scaled.ns.svc.cluster.local:30000",
        selector="app.kubernetes.io/instance=scaled",
        message="serving",
        benchmark=BenchmarkResult(output_throughput=1234.5, completed=10, failed=0),
    ).wire()
    status["addedByANewerOperator"] = {"kept": True}
    objects.patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, namespace, PLURAL, "scaled", {"status": status}
    )
    got = objects.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, "scaled")
    assert got["status"] == status

    scale = cluster.kubectl(
        "get", "-n", namespace, "sgld/scaled", "--subresource=scale", "-o", "json"
    )
    assert json.loads(scale.stdout)["status"]["selector"] == "app.kubernetes.io/instance=scaled"
    cluster.kubectl("scale", "-n", namespace, "sgld/scaled", "--replicas=3")
    got = objects.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, "scaled")
    assert got["spec"]["replicas"] == 3

    table = cluster.kubectl("get", "-n", namespace, "sgld", "-o", "wide").stdout
    header = table.splitlines()[0].split()
    assert header[:7] == ["NAME", "MODEL", "NODES", "GPUS", "READY", "PHASE", "AGE"]
    assert "1234.5" in table
