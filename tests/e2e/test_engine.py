"""The controller engine against the real control plane: lost nodes, and a log that tells the
story of every decision."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from operator_process import OperatorProcess
from story import (
    apply,
    apply_formed_group,
    events,
    get_sgld,
    live_pods,
    manifest,
    wait_ready,
)

from sglang_operator.naming import group_name

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

REPO = Path(__file__).resolve().parents[2]
Wait = Callable[..., Any]


@pytest.fixture
def lost_node(cluster: Cluster, kube: Any, wait_until: Wait) -> Iterator[list[str]]:
    """Yields a list the test fills with the name of the node it deletes; the node is put
    back afterwards as hack/cluster.sh made it."""
    deleted: list[str] = []
    yield deleted
    docs = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((REPO / "hack" / "cluster" / "nodes.yaml").read_text())
        if d
    }
    core = client.CoreV1Api(kube)
    for name in deleted:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(docs[name]))

        def ready(node: str = name) -> bool:
            try:
                conditions = core.read_node(node).status.conditions or []
            except ApiException:
                return False
            return any(c.type == "Ready" and c.status == "True" for c in conditions)

        wait_until(ready, timeout=120, what=f"node {name} back and Ready")


def test_a_deleted_node_takes_its_pod_and_the_group_comes_back_elsewhere(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, lost_node: list[str]
) -> None:
    obj = manifest("nomad", nodes=2, per_node=2)
    apply_formed_group(cluster, kube, namespace, obj)
    victim = next(p for p in live_pods(kube, namespace, "nomad") if p.metadata.name.endswith("-1"))
    node = victim.spec.node_name
    lost_node.append(node)
    client.CoreV1Api(kube).delete_node(node)

    def back_elsewhere() -> bool:
        pods = live_pods(kube, namespace, "nomad")
        return (
            len(pods) == 2
            and victim.metadata.uid not in {p.metadata.uid for p in pods}
            and all(p.spec.node_name and p.spec.node_name != node for p in pods)
        )

    wait_until(back_elsewhere, timeout=120, what="the group recreated on other nodes")
    wait_ready(cluster, namespace, "nomad")
    forced = [e.message for e in events(kube, namespace, "PodForceDeleted")]
    assert any(victim.metadata.name in m and f"node {node}" in m for m in forced), forced
    assert any("group 0" in e.message for e in events(kube, namespace, "GroupRestarted")), (
        "the group was restarted as a whole"
    )


def test_the_log_names_each_decision_of_a_story(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    operator: OperatorProcess,
) -> None:
    obj = manifest("teller", nodes=2, replicas=2)
    apply_formed_group(cluster, kube, namespace, obj)
    wait_until(
        lambda: all(
            g.get("members") for g in get_sgld(kube, namespace, "teller")["status"]["groups"]
        ),
        timeout=60,
        what="both groups' members recorded",
    )
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name('teller', 1)}-1", namespace)
    wait_until(
        lambda: events(kube, namespace, "GroupRestarted"), timeout=60, what="a group restart"
    )
    changed = copy.deepcopy(obj)
    changed["spec"]["replicas"] = 1
    changed["spec"]["env"] = [{"name": "REVISION", "value": "2"}]
    apply(cluster, namespace, changed)
    wait_until(lambda: events(kube, namespace, "RolloutStep"), timeout=60, what="a rollout step")
    wait_ready(cluster, namespace, "teller")

    where = f"{namespace}/teller"
    lines = [line for line in operator.tail(5000).splitlines() if where in line]
    expected = [
        f"created StatefulSet {group_name('teller', 0)}",
        "restarting group 1: ",
        f"pruned StatefulSet {group_name('teller', 1)}",
        f"applied StatefulSet {group_name('teller', 0)}",
        "replacing group 0 with the new revision",
    ]
    for text in expected:
        assert any(text in line for line in lines), f"no log line with {text!r}: {lines}"
    # One line per decision, not a traceback.
    assert not any("Traceback" in line for line in operator.tail(5000).splitlines())
