"""Every example, applied as it stands once the prerequisites its header names exist, is
served on the local cluster: Ready, or in offline mode Succeeded (kwok finishes a Job's pods
at once). kwok runs no container, so this proves the operator's side: scheduling on the GPUs,
node labels and tolerations it names, the claim it mounts, the Secrets it references, the
RDMA devices it asks for (advertised here as a device plugin would)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster
from kubernetes import client
from story import apply, get_sgld, wait_ready

from sglang_operator.api import SGLangDeploymentSpec, parse_spec
from sglang_operator.naming import weights_pvc_name

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
AMD_NODES = ("amd-mi300x-0", "amd-mi300x-1")

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")


def _volume(name: str, namespace: str, claim: str) -> dict[str, Any]:
    """A volume bound in advance to `claim` (the local cluster has no provisioner)."""
    return {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "2Ti"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/var/lib/weights"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


def _advertised(core: client.CoreV1Api, resource: str) -> bool:
    """Whether every AMD node already advertises `resource`."""
    return all(
        resource in (core.read_node_status(node).status.allocatable or {}) for node in AMD_NODES
    )


def _advertise(cluster: Cluster, resource: str, count: int | None) -> None:
    """Adds (or, with None, removes) an extended resource on the AMD nodes' status."""
    escaped = resource.replace("~", "~0").replace("/", "~1")
    for node in AMD_NODES:
        ops = [
            {"op": "add" if count is not None else "remove", "path": f"/status/{field}/{escaped}"}
            | ({"value": str(count)} if count is not None else {})
            for field in ("capacity", "allocatable")
        ]
        cluster.kubectl(
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=json",
            "-p",
            json.dumps(ops),
            check=count is not None,
        )


@pytest.fixture
def prerequisites(
    request: pytest.FixtureRequest, cluster: Cluster, kube: Any, namespace: str
) -> Iterator[tuple[dict[str, Any], SGLangDeploymentSpec]]:
    """Creates what the example's header says it needs; removes the cluster-wide parts."""
    doc = yaml.safe_load(request.param.read_text())
    spec = parse_spec(doc["spec"])
    core = client.CoreV1Api(kube)
    for ref in (spec.model.hf_token_secret, spec.server.api_key_secret):
        if ref is not None:
            cluster.kubectl(
                "create",
                "secret",
                "generic",
                ref.name,
                "-n",
                namespace,
                f"--from-literal={ref.key}=not-a-real-value",
            )
    volumes = []
    cache = spec.model.cache
    if cache is not None:
        claim = cache.claim_name or weights_pvc_name(doc["metadata"]["name"])
        volumes.append(_volume(f"{namespace}-weights", namespace, claim))
        core.create_persistent_volume(volumes[-1])
        if cache.claim_name:
            cluster.kubectl(
                "apply",
                "-n",
                namespace,
                "-f",
                "examples/prerequisites/model-cache-pvc.yaml",
            )
    # Advertised only where no node has it yet (hack/cluster/nodes.yaml may), and removed
    # afterwards only then: other tests rely on the nodes' own RDMA capacity.
    rdma = spec.network.rdma_resource_name
    added = bool(rdma) and not _advertised(core, rdma)
    if added:
        _advertise(cluster, rdma, 8)
    try:
        yield doc, spec
    finally:
        if added:
            _advertise(cluster, rdma, None)
        for volume in volumes:
            core.delete_persistent_volume(volume["metadata"]["name"])


@pytest.mark.parametrize("prerequisites", EXAMPLES, ids=lambda p: p.name, indirect=True)
def test_example_is_served_once_its_prerequisites_exist(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    prerequisites: tuple[dict[str, Any], SGLangDeploymentSpec],
    wait_until: Any,
) -> None:
    doc, spec = prerequisites
    apply(cluster, namespace, doc)
    if spec.mode == "server":
        wait_ready(cluster, namespace, doc["metadata"]["name"], timeout=180)
        return
    # kwok finishes a Job's pods at once: the run completes once every rank was scheduled.
    wait_until(
        lambda: (
            get_sgld(kube, namespace, doc["metadata"]["name"]).get("status", {}).get("phase")
            == "Succeeded"
        ),
        timeout=180,
        what="the offline run Succeeded",
    )
