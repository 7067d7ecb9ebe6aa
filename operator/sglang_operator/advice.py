"""Advice: specs that are valid and will run, but slower or more fragile than the user likely
meant. Pure: a spec in, sentences out, for status and Warning events; never a reason to
refuse the spec or to flip Ready.
"""

from __future__ import annotations

import re
from typing import Any

from sglang_operator.api import SGLangDeploymentSpec, template_container

# Extended resources that device plugins use for RDMA NICs: the k8s-rdma-shared-dev-plugin's
# rdma/<pool>, NVIDIA network operator's nvidia.com/rdma*, Mellanox's *hca*, SR-IOV's
# openshift.io/*rdma* and AMD's *.com/rdma* (by name, since the pool names are the cluster's).
RDMA_RESOURCE = re.compile(r"(^rdma/|rdma|hca)", re.IGNORECASE)
INFINIBAND_DEVICES = "/dev/infiniband"


def _resource_names(container: dict[str, Any]) -> set[str]:
    resources = container.get("resources") or {}
    return {name for kind in ("requests", "limits") for name in (resources.get(kind) or {})}


def has_rdma(spec: SGLangDeploymentSpec) -> bool:
    """Whether the SGLang pods get RDMA devices: an RDMA resource (spec.network,
    spec.resources or the template's sglang container), a hostPath of /dev/infiniband, or a
    privileged sglang container (which sees every host device)."""
    if spec.network.rdma_resource_name:
        return True
    names = set(spec.resources.requests) | set(spec.resources.limits)
    container = template_container(spec)
    names |= _resource_names(container)
    if any(RDMA_RESOURCE.search(name) for name in names):
        return True
    if (container.get("securityContext") or {}).get("privileged"):
        return True
    volumes = ((spec.pod_template or {}).get("spec") or {}).get("volumes") or []
    return any(
        ((v.get("hostPath") or {}).get("path") or "").rstrip("/") in ("/dev", INFINIBAND_DEVICES)
        for v in volumes
    )


def advice(spec: SGLangDeploymentSpec) -> list[str]:
    """Sentences of advice for `spec` (empty when there is none), each one line."""
    found: list[str] = []
    nodes = spec.parallelism.nodes
    if spec.network.host_network and nodes > 1 and not has_rdma(spec):
        found.append(
            f"NCCL/RCCL will use TCP sockets between the {nodes} nodes of each copy: "
            "hostNetwork is set but the pods get no RDMA device (no RDMA resource such as "
            "network.rdmaResourceName, no /dev/infiniband hostPath, not privileged); see "
            "the user guide's RDMA section"
        )
    return found
