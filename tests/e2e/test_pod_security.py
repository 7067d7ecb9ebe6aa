"""Pod Security admission on the real API server: the operator's default pods are admitted by
a namespace that enforces `baseline` (the operator serves a deployment there), and each
feature needs the level docs/user-guide.md says (pods dry-run created, so admission judges
exactly the pod templates the operator writes: StatefulSet, offline Job and benchmark Job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Cluster, wait_until
from kubernetes import client
from story import apply, manifest, wait_ready

import dryrun
from sglang_operator import cli
from sglang_operator.api import parse_spec

Wait = Callable[..., Any]
LEVELS = ("baseline", "restricted")


def enforce(kube: Any, namespace: str, level: str) -> None:
    """Labels the namespace, then waits until Pod Security admission judges by the new level
    (it reads namespaces from an informer cache, a moment behind the write)."""
    client.CoreV1Api(kube).patch_namespace(
        namespace,
        {
            "metadata": {
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }
            }
        },
    )
    plain = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    host = {"metadata": {}, "spec": {**plain["spec"], "hostNetwork": True}}
    # A plain pod passes baseline but not restricted; a host-network pod passes neither.
    expected = {"baseline": (True, False), "restricted": (False, False)}[level]
    wait_until(
        lambda: (
            (admitted(kube, namespace, plain) is None, admitted(kube, namespace, host) is None)
            == expected
        ),
        timeout=30,
        what=f"Pod Security admission to enforce {level} in {namespace}",
    )


def pod_templates(fields: dict[str, Any], namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """(owner kind, pod template) of every workload the operator writes for the spec, with
    the benchmark Job and the offline Jobs included."""
    spec = parse_spec({"model": {"path": "org/model"}, **fields})
    return [
        (obj["kind"], obj["spec"]["template"])
        for obj in cli.all_objects(spec, "psa", namespace, 1)
        if obj["kind"] in ("StatefulSet", "Job")
    ]


def admitted(kube: Any, namespace: str, template: dict[str, Any]) -> str | None:
    """None if a pod from the template is admitted (dry run), else the API server's refusal."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "psa-",
            "namespace": namespace,
            "labels": template["metadata"].get("labels", {}),
        },
        "spec": template["spec"],
    }
    return dryrun.create(kube, pod)


# What `restricted` asks of a pod, set through the pod template (the operator sets none of it:
# the SGLang images run as root by default).
RESTRICTED_TEMPLATE: dict[str, Any] = {
    "spec": {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "sglang",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
}

# Features and the lowest of LEVELS that admits them (None: only privileged).
FEATURES: list[tuple[str, dict[str, Any], str | None]] = [
    ("defaults", {}, "baseline"),
    ("multi-node", {"parallelism": {"nodes": 2}}, "baseline"),
    (
        "cache, secrets, env from the downward API",
        {
            "model": {
                "path": "org/model",
                "cache": {"size": "100Gi"},
                "hfTokenSecret": {"name": "hf", "key": "token"},
            },
            "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        },
        "baseline",
    ),
    ("benchmark", {"benchmark": {"enabled": True}}, "baseline"),
    ("offline", {"mode": "offline", "parallelism": {"nodes": 2}}, "baseline"),
    ("restricted through the pod template", {"podTemplate": RESTRICTED_TEMPLATE}, "restricted"),
    (
        "restricted, multi-node offline with a weights cache",
        {
            "mode": "offline",
            "parallelism": {"nodes": 2},
            "model": {"path": "org/model", "cache": {"size": "100Gi"}},
            "podTemplate": RESTRICTED_TEMPLATE,
        },
        "restricted",
    ),
    ("host network", {"network": {"hostNetwork": True}}, None),
    ("RDMA devices (IPC_LOCK)", {"network": {"rdmaResourceName": "rdma/hca"}}, None),
]


@pytest.mark.parametrize(("feature", "fields", "lowest"), FEATURES, ids=[f[0] for f in FEATURES])
def test_each_feature_needs_the_documented_level(
    kube: Any, namespace: str, feature: str, fields: dict[str, Any], lowest: str | None
) -> None:
    for level in LEVELS:
        enforce(kube, namespace, level)
        should_pass = lowest is not None and LEVELS.index(level) <= LEVELS.index(lowest)
        for kind, template in pod_templates(fields, namespace):
            refusal = admitted(kube, namespace, template)
            if should_pass:
                assert refusal is None, (feature, level, kind, refusal)
            else:
                assert refusal and "violates PodSecurity" in refusal, (feature, level, kind)


def test_sglang_pods_carry_no_service_account_token(kube: Any, namespace: str) -> None:
    for _, template in pod_templates({"benchmark": {"enabled": True}}, namespace):
        assert template["spec"]["automountServiceAccountToken"] is False


def test_the_operator_serves_in_a_baseline_namespace(
    cluster: Cluster, kube: Any, namespace: str, operator_log_on_failure: Any
) -> None:
    enforce(kube, namespace, "baseline")
    apply(cluster, namespace, manifest("psa-baseline", nodes=2, per_node=1))
    # kwok's nodes make pods Running only after admission let the StatefulSet create them.
    wait_ready(cluster, namespace, "psa-baseline")
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace).items
    assert len(pods) == 2
    assert all(not p.spec.automount_service_account_token for p in pods)
    assert all(not any(v.projected for v in p.spec.volumes or []) for p in pods), "no token volume"


def test_a_restricted_template_serves_in_a_restricted_namespace(
    cluster: Cluster, kube: Any, namespace: str, operator_log_on_failure: Any
) -> None:
    enforce(kube, namespace, "restricted")
    obj = manifest("psa-restricted", nodes=2, per_node=1)
    obj["spec"]["podTemplate"] = RESTRICTED_TEMPLATE
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "psa-restricted")
    pods = client.CoreV1Api(kube).list_namespaced_pod(namespace).items
    assert len(pods) == 2
    assert all(p.spec.security_context.run_as_non_root for p in pods)
