"""The builders' objects on a real API server and real controllers, without the operator:
every example's objects pass the API server's validation, and a multi-node group's pods get
their rank from the StatefulSet controller, only rank 0 is behind the client Service, and
every rank stays resolvable through the headless Service while not Ready."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from sglang_operator import naming
from sglang_operator.api import parse_spec
from sglang_operator.builders import desired_objects
from sglang_operator.cli import render_documents

# The `cluster` fixture's type lives in tests/e2e/conftest.py, which is not importable as a
# module; Any stands for it here.
Cluster = Any
Wait = Callable[..., Any]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.stem)
def test_every_rendered_object_passes_api_server_validation(
    cluster: Cluster, namespace: str, example: Path
) -> None:
    docs = list(yaml.safe_load_all(example.read_text()))
    for doc in docs:
        doc["metadata"].pop("namespace", None)
    objects = render_documents(docs, namespace)
    assert objects
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        check=False,
    )
    assert result.returncode == 0, result.stderr


def endpoints(kube: Any, namespace: str, service: str) -> dict[str, bool]:
    """Pod name -> the ready condition DNS and proxies see, from the Service's EndpointSlices."""
    slices = client.DiscoveryV1Api(kube).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    )
    return {
        endpoint.target_ref.name: bool(endpoint.conditions and endpoint.conditions.ready)
        for item in slices.items
        for endpoint in item.endpoints or []
        if endpoint.target_ref is not None
    }


def test_rank_zero_alone_serves_and_every_rank_resolves(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    spec = parse_spec(
        {"model": {"path": "org/model"}, "gpu": {"perNode": 2}, "parallelism": {"nodes": 2}}
    )
    name = "ranks"
    objects = desired_objects(spec, name, namespace)
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    group = naming.group_name(name, 0)
    core = client.CoreV1Api(kube)

    def running_pods() -> list[Any] | None:
        pods = core.list_namespaced_pod(
            namespace, label_selector=naming.format_selector(naming.group_selector_labels(name, 0))
        ).items
        running = [p for p in pods if p.status.phase == "Running"]
        return running if len(running) == 2 else None

    pods = wait_until(running_pods, timeout=120, what="both pods of the group Running")
    # Parallel pod management: both exist at once; rank = ordinal, from the controller.
    assert {p.metadata.name: p.metadata.labels[naming.POD_INDEX_LABEL] for p in pods} == {
        f"{group}-0": "0",
        f"{group}-1": "1",
    }
    client_endpoints = wait_until(
        lambda: endpoints(kube, namespace, naming.client_service_name(name)),
        timeout=60,
        what="client Service endpoints",
    )
    assert client_endpoints == {f"{group}-0": True}

    # A rank that is not Ready keeps its DNS record (rank 0 is never Ready before the other
    # ranks joined it, and they find it by name), while clients stop being sent to it.
    core.patch_namespaced_pod_status(
        f"{group}-0",
        namespace,
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
    )
    wait_until(
        lambda: (
            endpoints(kube, namespace, naming.client_service_name(name)) == {f"{group}-0": False}
        ),
        timeout=60,
        what="rank 0 out of the client Service",
    )
    headless = naming.headless_service_name(name, 0)
    assert endpoints(kube, namespace, headless) == {f"{group}-0": True, f"{group}-1": True}
    # The StatefulSet's revision label fits: the controller would have refused otherwise.
    sts = client.AppsV1Api(kube).read_namespaced_stateful_set(group, namespace)
    assert sts.status.current_revision.startswith(group)
