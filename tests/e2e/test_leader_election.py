"""Two operator processes against one cluster, with leader election on a Lease: only the
leader acts (one event per decision, restart memory kept), a killed leader is replaced by the
standby, which carries on, and a leader that stops cleanly hands over at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Cluster
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from operator_process import OperatorProcess
from story import apply_formed_group, events, get_sgld, live_pods, manifest, wait_ready

from sglang_operator.naming import group_name

Wait = Callable[..., Any]
LEASE = "sglang-operator-e2e"


def holder(kube: Any, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(kube).read_namespaced_lease(LEASE, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    name: str | None = lease.spec.holder_identity
    return name


@pytest.fixture
def candidates(
    cluster: Cluster, namespace: str, without_operator: None, tmp_path: Path
) -> Iterator[Callable[[str], OperatorProcess]]:
    """Makes operators that elect a leader in the test's namespace (a short lease, so the
    test waits seconds); the session's own operator is stopped meanwhile, or it would act
    too."""
    started: list[OperatorProcess] = []

    def make(identity: str) -> OperatorProcess:
        proc = OperatorProcess(
            cluster.kubeconfig,
            tmp_path / f"{identity}.log",
            (namespace,),
            extra_args=(
                "--leader-elect",
                "--leader-election-namespace",
                namespace,
                "--leader-election-id",
                LEASE,
                "--leader-elect-lease-duration",
                "4",
                "--leader-elect-renew-deadline",
                "3",
                "--leader-elect-retry-period",
                "1",
            ),
            env={"POD_NAME": identity},
        )
        proc.start()
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            print(f"---- {proc.log_path.name} (tail) ----\n{proc.tail()}")
            proc.stop()


def test_one_leader_acts_and_a_killed_leader_is_replaced(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    candidates: Callable[[str], OperatorProcess],
) -> None:
    first = candidates("op-a")
    wait_until(
        lambda: (holder(kube, namespace) or "").startswith("op-a_"),
        timeout=30,
        what="op-a to lead",
    )
    candidates("op-b")
    apply_formed_group(cluster, kube, namespace, manifest("ha", nodes=2, per_node=1))
    assert (holder(kube, namespace) or "").startswith("op-a_")
    # One decision, one event: the standby posted nothing.
    assert len(events(kube, namespace, "Created")) == 1

    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "ha")}
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name('ha', 0)}-1", namespace)
    wait_until(
        lambda: (
            len(get_sgld(kube, namespace, "ha")["status"]["groups"][0].get("restarts", [])) == 1
        ),
        timeout=60,
        what="the group restart recorded",
    )
    wait_until(
        lambda: (
            not {p.metadata.uid for p in live_pods(kube, namespace, "ha")} & set(before.values())
            and len(live_pods(kube, namespace, "ha")) == 2
        ),
        timeout=120,
        what="the group recreated",
    )
    wait_ready(cluster, namespace, "ha")

    first.kill()
    wait_until(
        lambda: (holder(kube, namespace) or "").startswith("op-b_"),
        timeout=60,
        what="op-b to take over the lease",
    )
    # The new leader acts: a scale-up is served.
    cluster.kubectl("scale", "-n", namespace, "sgld/ha", "--replicas=2")
    wait_until(
        lambda: get_sgld(kube, namespace, "ha").get("status", {}).get("readyReplicas") == 2,
        timeout=120,
        what="two ready copies under the new leader",
    )
    status = get_sgld(kube, namespace, "ha")["status"]
    # What the first leader remembered survived the handover, and nothing was done twice.
    assert len(status["groups"][0]["restarts"]) == 1
    assert len(events(kube, namespace, "GroupRestarted")) == 1
    created = [e.message for e in events(kube, namespace, "Created")]
    assert len(created) == len(set(created)) >= 2, created  # the first group, then the second


def test_a_leader_that_stops_cleanly_releases_the_lease(
    kube: Any, namespace: str, wait_until: Wait, candidates: Callable[[str], OperatorProcess]
) -> None:
    leader = candidates("op-a")
    wait_until(
        lambda: (holder(kube, namespace) or "").startswith("op-a_"),
        timeout=30,
        what="op-a to lead",
    )
    standby = candidates("op-b")
    leader.stop()
    # Released on the way out: no waiting for the lease to expire.
    assert not (holder(kube, namespace) or "").startswith("op-a_")
    wait_until(
        lambda: (holder(kube, namespace) or "").startswith("op-b_"),
        timeout=30,
        what="op-b to lead",
    )
    assert standby.running()
