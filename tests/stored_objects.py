"""A SGLangDeployment and its children as the API server stores them, built by hand for the
plan's unit tests (tests/unit/test_plan.py, test_plan_literal.py): no cluster."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from sglang_operator.api import parse_spec
from sglang_operator.plan import Admitted, Snapshot, desired_children, plan

UID = "sgld-uid"


def sgld(replicas: int = 2, nodes: int = 2, **extra: Any) -> dict[str, Any]:
    """ns/demo, generation 3: `replicas` copies of `nodes` pods with 2 GPUs each."""
    return {
        "apiVersion": "sglang-operator.io/v1alpha1",
        "kind": "SGLangDeployment",
        "metadata": {"name": "demo", "namespace": "ns", "uid": UID, "generation": 3},
        "spec": {
            "model": {"path": "m"},
            "gpu": {"perNode": 2},
            "parallelism": {"nodes": nodes},
            "replicas": replicas,
            **extra,
        },
        "status": {},
    }


def stored_children(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """What the API server holds after the operator applied everything for `resource`: each
    child stamped and owned, with the uid `uid-<name>`."""
    out = []
    for obj in desired_children(resource, parse_spec(resource["spec"])):
        child = copy.deepcopy(obj)
        child["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
        out.append(child)
    return out


def admitted(snapshot: Snapshot) -> Snapshot:
    """The snapshot with the API server's dry run admitting the pods of its spec's templates,
    as after the operator asked (reconcile._check_pods): the plan then writes them."""
    check = plan(snapshot).check_pod
    return replace(snapshot, pod_check=Admitted(check[0])) if check else snapshot
