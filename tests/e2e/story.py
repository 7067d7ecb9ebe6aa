"""Steps of the e2e user stories: apply a manifest, wait, look (shared by the e2e tests)."""

from __future__ import annotations

from typing import Any

import yaml
from conftest import Cluster, wait_until
from kubernetes import client

from sglang_operator import API_GROUP, API_VERSION, PLURAL
from sglang_operator.naming import INSTANCE_LABEL


def manifest(name: str, *, nodes: int = 2, per_node: int = 2, replicas: int = 1) -> dict[str, Any]:
    """A small AMD deployment: tests share 16 fake AMD GPUs, so groups stay small."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "SGLangDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
            "gpu": {"vendor": "amd", "perNode": per_node},
            "parallelism": {"nodes": nodes},
            "replicas": replicas,
        },
    }


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def get_sgld(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, name
    )
    return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: int = 120) -> None:
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        f"sgld/{name}",
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )


def pods(kube: Any, namespace: str, name: str) -> list[Any]:
    items: list[Any] = (
        client.CoreV1Api(kube)
        .list_namespaced_pod(namespace, label_selector=f"{INSTANCE_LABEL}={name}")
        .items
    )
    return items


def live_pods(kube: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in pods(kube, namespace, name) if not p.metadata.deletion_timestamp]


def statefulsets(kube: Any, namespace: str, name: str) -> list[str]:
    items = (
        client.AppsV1Api(kube)
        .list_namespaced_stateful_set(namespace, label_selector=f"{INSTANCE_LABEL}={name}")
        .items
    )
    return sorted(s.metadata.name for s in items)


def events(kube: Any, namespace: str, reason: str) -> list[Any]:
    items = client.CoreV1Api(kube).list_namespaced_event(namespace).items
    return sorted(
        (e for e in items if e.reason == reason),
        # Timestamps have whole seconds; the resourceVersion orders events within one.
        key=lambda e: (e.last_timestamp, int(e.metadata.resource_version)),
    )


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def wait_reason(kube: Any, namespace: str, name: str, type_: str, reason: str) -> dict[str, Any]:
    """Waits until condition `type_` has `reason`; returns the condition."""
    found: dict[str, Any] = wait_until(
        lambda: (
            (c := condition(get_sgld(kube, namespace, name), type_)).get("reason") == reason and c
        ),
        timeout=60,
        what=f"condition {type_} with reason {reason}",
    )
    return found


def apply_formed_group(cluster: Cluster, kube: Any, namespace: str, obj: dict[str, Any]) -> None:
    """Applies a deployment and waits until it is Ready and every group's members are known
    (the operator can only tell a replaced member once it has seen the group whole)."""
    name = obj["metadata"]["name"]
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, name)
    wait_until(
        lambda: (
            (groups := get_sgld(kube, namespace, name).get("status", {}).get("groups"))
            and all(g.get("members") for g in groups)
        ),
        timeout=60,
        what="every group's membership recorded",
    )
