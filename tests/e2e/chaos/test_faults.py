"""Faults while the operator works: the whole control plane (API server and etcd) is stopped
and started under it. Afterwards the deployment must be exactly what its spec says: every
group once, every pod of the current revision, nothing duplicated, nothing orphaned.

CHAOS_SEED (default: random) is printed with the operator's log."""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from operator_process import OperatorProcess
from story import get_sgld, live_pods, manifest, wait_ready

from sglang_operator import API_GROUP, API_VERSION, PLURAL, builders
from sglang_operator.api import parse_spec
from sglang_operator.naming import (
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    POD_SPEC_HASH_ANNOTATION,
    group_name,
    instance_label_value,
)

# The chaos tier (under tests/e2e, so also e2e): `-m "not chaos"` leaves it out.
pytestmark = pytest.mark.chaos
Wait = Callable[..., Any]
SEED = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(10**6))))


@pytest.fixture
def chaos_operator(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[Any]:
    """An operator watching only the test's namespace, that the test kills and restarts."""
    proc = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log", (namespace,))
    proc.start()
    yield proc
    print(f"---- operator log (tail), CHAOS_SEED={SEED} ----\n{proc.tail()}")
    proc.stop()


def apply(cluster: Any, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def assert_exactly_the_spec(kube: Any, namespace: str, obj: dict[str, Any]) -> None:
    """Every desired group once, with `nodes` live pods of the current revision; no other
    object of ours in the namespace, and every one of ours owned by the deployment."""
    name = obj["metadata"]["name"]
    spec = parse_spec(obj["spec"])
    sgld = get_sgld(kube, namespace, name)
    selector = (
        f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{INSTANCE_LABEL}={instance_label_value(name)}"
    )
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    sets = apps.list_namespaced_stateful_set(namespace, label_selector=selector).items
    assert sorted(s.metadata.name for s in sets) == sorted(
        group_name(name, g) for g in range(spec.replicas)
    )
    services = core.list_namespaced_service(namespace, label_selector=selector).items
    desired = {
        o["metadata"]["name"]
        for o in builders.desired_objects(spec, name, namespace)
        if o["kind"] == "Service"
    }
    assert sorted(s.metadata.name for s in services) == sorted(desired), "duplicate or orphan"
    for owned in [*sets, *services]:
        owners = owned.metadata.owner_references or []
        assert [o.uid for o in owners] == [sgld["metadata"]["uid"]], owned.metadata.name
    want = {
        group_name(name, g): builders.statefulset(spec, name, namespace, g)["spec"]["template"][
            "metadata"
        ]["annotations"][POD_SPEC_HASH_ANNOTATION]
        for g in range(spec.replicas)
    }
    pods = live_pods(kube, namespace, name)
    assert len(pods) == spec.replicas * spec.parallelism.nodes
    for pod in pods:
        group = pod.metadata.name.rsplit("-", 1)[0]
        assert pod.metadata.annotations[POD_SPEC_HASH_ANNOTATION] == want[group], pod.metadata.name


def wait_converged(
    cluster: Any, kube: Any, namespace: str, obj: dict[str, Any], wait: Wait
) -> None:
    name = obj["metadata"]["name"]

    def converged() -> bool:
        try:
            assert_exactly_the_spec(kube, namespace, obj)
        except AssertionError:
            return False
        status = get_sgld(kube, namespace, name).get("status", {})
        return bool(
            status.get("observedGeneration")
            == get_sgld(kube, namespace, name)["metadata"]["generation"]
            and status.get("phase") == "Ready"
        )

    wait(converged, timeout=180, what=f"{name} to converge on its spec (CHAOS_SEED={SEED})")
    wait_ready(cluster, namespace, name)


def kwokctl(cluster: Any, *args: str) -> None:
    env = {**cluster.env(), "KWOK_WORKDIR": str(cluster.kubeconfig.parents[2])}
    subprocess.run(
        [str(cluster.bin_dir / "kwokctl"), *args, "--name", cluster.name],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


def test_control_plane_restart_during_a_create(
    cluster: Any, kube: Any, namespace: str, wait_until: Wait, chaos_operator: Any
) -> None:
    obj = manifest("outage", nodes=2, per_node=1, replicas=2)
    apply(cluster, namespace, obj)
    # The API server and etcd go away mid-way and come back: the operator's watches and
    # requests fail meanwhile, and it must finish the job without duplicating anything.
    kwokctl(cluster, "stop", "cluster")
    time.sleep(5)
    kwokctl(cluster, "start", "cluster")
    wait_until(
        lambda: (
            subprocess.run(
                [str(cluster.bin_dir / "kubectl"), "get", "--raw", "/readyz"],
                env=cluster.env(),
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ),
        timeout=120,
        what="the API server back",
    )
    wait_converged(cluster, kube, namespace, obj, wait_until)
    assert chaos_operator.running(), "the operator survived the outage"
    objects = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL
    )["items"]
    assert [o["metadata"]["name"] for o in objects] == ["outage"]
