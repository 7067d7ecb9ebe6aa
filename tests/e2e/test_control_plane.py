"""The local control plane is a real one: scheduling by GPU resource, garbage collection,
RBAC, Jobs completing, and kwok leaving test-patched pod status alone."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from kubernetes import client

AMD_NODES = {"amd-mi300x-0", "amd-mi300x-1"}


def gpu_statefulset(name: str, replicas: int, resource: str = "amd.com/gpu") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": "example.invalid/sglang:test",
                            "resources": {"limits": {resource: "8"}},
                        }
                    ]
                },
            },
        },
    }


def plain_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/busybox:test"}]},
    }


def is_ready(pod: Any) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
    )


def test_fake_nodes_advertise_their_gpus(kube: Any) -> None:
    nodes = {n.metadata.name: n for n in client.CoreV1Api(kube).list_node().items}
    amd = {name for name, n in nodes.items() if n.status.allocatable.get("amd.com/gpu") == "8"}
    nvidia = {
        name for name, n in nodes.items() if n.status.allocatable.get("nvidia.com/gpu") == "8"
    }
    assert amd == AMD_NODES
    assert nvidia == {"nvidia-h100-0", "nvidia-h100-1"}
    assert all("amd.com/gpu.product-name" in nodes[name].metadata.labels for name in amd)
    assert "nvidia.com/gpu.product" in nodes["nvidia-h100-0"].metadata.labels
    cpu_only = set(nodes) - amd - nvidia
    assert cpu_only, "a node without GPUs"
    assert all(
        next(c for c in n.status.conditions if c.type == "Ready").status == "True"
        for n in nodes.values()
    )


def test_gpu_statefulset_fills_amd_nodes_then_waits_and_is_garbage_collected(
    kube: Any, namespace: str, wait_until: Callable[..., Any]
) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    apps.create_namespaced_stateful_set(namespace, gpu_statefulset("group", replicas=2))

    def pods() -> list[Any]:
        return list(core.list_namespaced_pod(namespace, label_selector="app=group").items)

    ready = wait_until(
        lambda: [p for p in pods() if is_ready(p)] if sum(map(is_ready, pods())) == 2 else [],
        timeout=90,
        what="both GPU pods Running and Ready",
    )
    assert sorted(p.spec.node_name for p in ready) == sorted(AMD_NODES)

    # Both AMD nodes are now full: a third 8-GPU pod has nowhere to go.
    apps.patch_namespaced_stateful_set_scale(
        namespace=namespace, name="group", body={"spec": {"replicas": 3}}
    )

    def unschedulable() -> Any:
        pod = next((p for p in pods() if p.metadata.name == "group-2"), None)
        scheduled = pod and next(
            (c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None
        )
        return scheduled if scheduled and scheduled.reason == "Unschedulable" else None

    condition = wait_until(unschedulable, timeout=60, what="group-2 to be Unschedulable")
    assert condition.status == "False"
    assert "Insufficient amd.com/gpu" in condition.message
    third = core.read_namespaced_pod("group-2", namespace)
    assert third.status.phase == "Pending"
    assert third.spec.node_name is None

    # The garbage collector in kube-controller-manager removes the dependents.
    apps.delete_namespaced_stateful_set("group", namespace, propagation_policy="Background")
    wait_until(lambda: not pods(), timeout=90, what="the StatefulSet's pods to be deleted")


def test_nvidia_pods_go_to_the_nvidia_node(
    kube: Any, namespace: str, wait_until: Callable[..., Any]
) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    apps.create_namespaced_stateful_set(
        namespace, gpu_statefulset("cuda", replicas=1, resource="nvidia.com/gpu")
    )
    pod = wait_until(
        lambda: next((p for p in core.list_namespaced_pod(namespace).items if is_ready(p)), None),
        timeout=90,
        what="the NVIDIA pod to be Ready",
    )
    assert pod.spec.node_name in ("nvidia-h100-0", "nvidia-h100-1")


def test_rbac_denies_a_service_account_without_a_binding(
    cluster: Any, kube: Any, namespace: str, wait_until: Callable[..., Any]
) -> None:
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    who = f"--as=system:serviceaccount:{namespace}:robot"

    def can_list_pods() -> subprocess.CompletedProcess[str]:
        return cluster.kubectl("auth", "can-i", "list", "pods", "-n", namespace, who, check=False)

    denied = can_list_pods()
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")

    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "robot-reads-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}],
        },
    )
    allowed = wait_until(
        lambda: (r := can_list_pods()).returncode == 0 and r,
        timeout=30,
        what="the RoleBinding to take effect",
    )
    assert allowed.stdout.strip() == "yes"
    # The binding is scoped: other verbs and namespaces stay denied.
    assert (
        cluster.kubectl(
            "auth", "can-i", "delete", "pods", "-n", namespace, who, check=False
        ).returncode
        == 1
    )
    assert (
        cluster.kubectl(
            "auth", "can-i", "list", "pods", "-n", "default", who, check=False
        ).returncode
        == 1
    )


def test_job_pods_complete_and_the_job_succeeds(
    kube: Any, namespace: str, wait_until: Callable[..., Any]
) -> None:
    batch = client.BatchV1Api(kube)
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "bench"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "bench", "image": "example.invalid/bench:test"}],
                    }
                },
            },
        },
    )
    job = wait_until(
        lambda: (j := batch.read_namespaced_job("bench", namespace)).status.succeeded and j,
        timeout=90,
        what="the Job to succeed",
    )
    assert job.status.succeeded == 1
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)


def test_kwok_leaves_a_patched_pod_status_alone(
    kube: Any, namespace: str, wait_until: Callable[..., Any]
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_pod(namespace, plain_pod("crashed"))
    pod = wait_until(
        lambda: is_ready(p := core.read_namespaced_pod("crashed", namespace)) and p,
        timeout=90,
        what="the pod to be Ready",
    )
    started = pod.status.container_statuses[0].state.running.started_at
    core.patch_namespaced_pod_status(
        "crashed",
        namespace,
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
                ],
                "containerStatuses": [
                    {
                        "name": "main",
                        "image": "example.invalid/busybox:test",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 3,
                        "state": {
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "message": "NCCL timeout on rank 1",
                                "startedAt": started.isoformat(),
                                "finishedAt": started.isoformat(),
                            }
                        },
                    }
                ],
            }
        },
    )
    # A barrier: kwok handles pod events in order, so once a pod created after the patch is
    # Ready, kwok has already seen the patched pod and chosen to leave it.
    core.create_namespaced_pod(namespace, plain_pod("barrier"))
    wait_until(
        lambda: is_ready(core.read_namespaced_pod("barrier", namespace)),
        timeout=90,
        what="the barrier pod to be Ready",
    )
    after = core.read_namespaced_pod("crashed", namespace)
    status = after.status.container_statuses[0]
    assert status.restart_count == 3
    assert status.state.terminated.message == "NCCL timeout on rank 1"
    assert status.state.running is None
    assert not is_ready(after)
