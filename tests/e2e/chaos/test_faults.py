"""Faults while the operator works. Afterwards each deployment must be exactly what its spec
says: every group once, every pod of the current revision, nothing duplicated, nothing
orphaned, status Ready at the current generation.

- The operator is killed (SIGKILL) at random moments of a create, a scale-up and a rollout.
- The API server and etcd are restarted under it, and while its watches are broken a pod is
  replaced, a deployment deleted and another scaled: after kopf's re-listing the operator
  must know all three (it restarts the group whose member was replaced, forgets the deleted
  deployment, scales). The operator is frozen (SIGSTOP) across the restart, so its watches
  resume only after the changes: the gap its reconnect backoff leaves open by chance, made
  certain. Only etcd and kube-apiserver restart: kwok's simulated kubelets and the
  controllers keep running as real ones would (a kwok-controller restarted with them stops
  renewing node leases and readying pods: the harness, not the operator).

CHAOS_SEED fixes the kill moments (default: random, printed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import wait_until
from kubernetes import client
from operator_process import OperatorProcess
from story import events, get_sgld, live_pods, manifest, wait_ready
from story import statefulsets as statefulsets_of

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
def chaos_operator(
    cluster: Any, crd: None, without_operator: None, namespace: str, tmp_path: Path
) -> Iterator[Any]:
    """An operator watching only the test's namespace, that the test kills and restarts; the
    session's operator is stopped meanwhile (two operators would both act)."""
    proc = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log", (namespace,))
    proc.start()
    yield proc
    print(f"---- operator log (tail), CHAOS_SEED={SEED} ----\n{proc.tail()}")
    proc.stop()


def apply(cluster: Any, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def kill_at_random_moments(operator: Any, rng: random.Random, kills: int, window: float) -> None:
    """Kills the operator `kills` times within about `window` seconds, restarting it each time."""
    for _ in range(kills):
        time.sleep(rng.uniform(0, window / kills))
        operator.kill()
        operator.start()


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

    try:
        wait(converged, timeout=180, what=f"{name} to converge on its spec (CHAOS_SEED={SEED})")
    except AssertionError:
        # Tell the harness from the operator: nodes NotReady or pods never Running is kwok.
        for args in (("get", "sgld,sts,pods,nodes", "-o", "wide"), ("get", "sgld", "-o", "yaml")):
            print(cluster.kubectl(*args, "-n", namespace, check=False).stdout)
        raise
    wait_ready(cluster, namespace, name)


def test_operator_killed_during_create_scale_and_rollout(
    cluster: Any, kube: Any, namespace: str, wait_until: Wait, chaos_operator: Any
) -> None:
    rng = random.Random(SEED)
    obj = manifest("killed", nodes=2, per_node=1, replicas=2)

    apply(cluster, namespace, obj)
    kill_at_random_moments(chaos_operator, rng, kills=2, window=3)
    wait_converged(cluster, kube, namespace, obj, wait_until)

    obj["spec"]["replicas"] = 3
    apply(cluster, namespace, obj)
    kill_at_random_moments(chaos_operator, rng, kills=2, window=3)
    wait_converged(cluster, kube, namespace, obj, wait_until)

    # A new pod template: every group is replaced, one at a time.
    obj["spec"]["podLabels"] = {"rollout": "two"}
    apply(cluster, namespace, obj)
    kill_at_random_moments(chaos_operator, rng, kills=3, window=6)
    wait_converged(cluster, kube, namespace, obj, wait_until)
    # Replaced, not duplicated: the GroupRestarted budget was not spent on rollout steps.
    status = get_sgld(kube, namespace, "killed")["status"]
    assert all(not g.get("restarts") for g in status.get("groups", [])), status["groups"]


def _component(cluster: Any, name: str) -> tuple[Path, list[str]]:
    """A control plane component's pid file and command line (kwokctl's workdir keeps both)."""
    pid_file = cluster.kubeconfig.parent / "pids" / f"{name}.pid"
    cmdline = Path(f"/proc/{int(pid_file.read_text())}/cmdline")
    argv = cmdline.read_bytes().rstrip(b"\0").split(b"\0") if cmdline.exists() else []
    return pid_file, [a.decode() for a in argv]


def _start(cluster: Any, name: str, argv: list[str]) -> None:
    workdir = cluster.kubeconfig.parent
    with (workdir / "logs" / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (workdir / "pids" / f"{name}.pid").write_text(str(proc.pid))


class ControlPlane:
    """Kills (SIGKILL: a graceful API server waits a minute for open watches) and starts
    again kube-apiserver and etcd of the test cluster, and plays the supervisor a real
    control plane has (the kubelet for static pods, systemd): kube-controller-manager and
    kube-scheduler exit when they cannot renew their leader Lease for 10 s (or on a fatal
    error after the outage, such as kube-scheduler's "cache is corrupted"), and are started
    again, every second until `stop` (the tests after the restart share the cluster). Same
    command lines, logs and pid files (so `hack/cluster.sh down` still stops them)."""

    SUPERVISED = ("kube-controller-manager", "kube-scheduler")

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        names = ("kube-apiserver", "etcd", *self.SUPERVISED)
        self.argv = {name: _component(cluster, name)[1] for name in names}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._supervising, daemon=True)
        self._thread.start()

    def _supervising(self) -> None:
        while not self._stopped.wait(1.0):
            self.supervise()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def restart_api_server_and_etcd(self, down_seconds: float) -> None:
        for name in ("kube-apiserver", "etcd"):
            pid = int(_component(self.cluster, name)[0].read_text())
            os.kill(pid, signal.SIGKILL)
            wait_until(
                lambda: not Path(f"/proc/{pid}").exists(),  # noqa: B023 (used at once)
                timeout=30,
                what=f"{name} to exit",
                interval=0.2,
            )
        time.sleep(down_seconds)
        for name in ("etcd", "kube-apiserver"):
            _start(self.cluster, name, self.argv[name])

    def supervise(self) -> bool:
        """Starts any supervised component that exited; True (for wait_until)."""
        with self._lock:
            for name in self.SUPERVISED:
                pid = int(_component(self.cluster, name)[0].read_text())
                if not Path(f"/proc/{pid}").exists():
                    _start(self.cluster, name, self.argv[name])
        return True

    def leaders_back(self, kube: Any, since: datetime) -> bool:
        """Supervises, and whether each supervised component renewed its leader Lease after
        `since` (the API server's restart): only then can it no longer exit on the outage.
        One that exits after the last `supervise` would stay down for every later test (a CI
        run lost its scheduler so, and every test after this one that needed a pod failed)."""
        self.supervise()
        leases = client.CoordinationV1Api(kube)
        renewed = [
            leases.read_namespaced_lease(n, "kube-system").spec.renew_time for n in self.SUPERVISED
        ]
        return all(t is not None and t > since for t in renewed)


@pytest.fixture(scope="session")
def control_plane(cluster: Any) -> Iterator[ControlPlane]:
    """The session cluster's control plane, supervised until the session ends (before the
    cluster is stopped: a supervisor left running would start components again)."""
    plane = ControlPlane(cluster)
    yield plane
    plane.stop()


def api_server_ready(cluster: Any) -> bool:
    try:
        return cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        # Starting, under load: the connection is accepted before requests are answered.
        return False


def test_api_server_and_etcd_restart_with_changes_the_watches_missed(
    control_plane: ControlPlane, kube: Any, namespace: str, wait_until: Wait, chaos_operator: Any
) -> None:
    cluster = control_plane.cluster
    core = client.CoreV1Api(kube)
    kept = manifest("kept", nodes=2, per_node=1, replicas=2)
    gone = manifest("gone", nodes=1, per_node=1, replicas=1)
    apply(cluster, namespace, kept)
    apply(cluster, namespace, gone)
    for obj in (kept, gone):
        wait_converged(cluster, kube, namespace, obj, wait_until)
    wait_until(
        lambda: all(
            g.get("members") for g in get_sgld(kube, namespace, "kept")["status"]["groups"]
        ),
        timeout=60,
        what="group membership recorded",
    )
    worker = core.read_namespaced_pod("kept-0-1", namespace)
    assert chaos_operator.proc is not None
    os.kill(chaos_operator.proc.pid, signal.SIGSTOP)
    try:
        control_plane.restart_api_server_and_etcd(down_seconds=3)
        wait_until(lambda: api_server_ready(cluster), timeout=90, what="the API server back")
        back = datetime.now(UTC)
        control_plane.supervise()
        # What the operator's watches miss: a group member replaced, a deployment deleted
        # (its children garbage-collected), another scaled.
        core.delete_namespaced_pod("kept-0-1", namespace)
        wait_until(
            lambda: (
                control_plane.supervise()
                and any(
                    p.metadata.name == "kept-0-1" and p.metadata.uid != worker.metadata.uid
                    for p in live_pods(kube, namespace, "kept")
                )
            ),
            timeout=60,
            what="kept-0-1 replaced by its StatefulSet",
        )
        client.CustomObjectsApi(kube).delete_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURAL, "gone"
        )
        kept["spec"]["replicas"] = 3
        apply(cluster, namespace, kept)
        wait_until(
            lambda: not live_pods(kube, namespace, "gone"),
            timeout=90,
            what="the deleted deployment's pods garbage-collected",
        )
    finally:
        os.kill(chaos_operator.proc.pid, signal.SIGCONT)
        # Whatever failed, the controllers run again for the tests after this one.
        control_plane.supervise()
    wait_until(
        lambda: control_plane.leaders_back(kube, back),
        timeout=90,
        what="kube-controller-manager and kube-scheduler leading again",
    )
    wait_converged(cluster, kube, namespace, kept, wait_until)
    assert chaos_operator.running(), "the operator survived the outage"
    # The replaced member was noticed: its group restarted as a whole, once.
    restarted = wait_until(
        lambda: [
            e
            for e in events(kube, namespace, "GroupRestarted")
            if e.involved_object.name == "kept" and "group 0" in e.message
        ],
        timeout=60,
        what="the GroupRestarted event of group 0",
    )
    assert len(restarted) == 1, [e.message for e in restarted]
    status = get_sgld(kube, namespace, "kept")["status"]
    assert [len(g.get("restarts") or []) for g in status["groups"]] == [1, 0, 0], status
    objects = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL
    )["items"]
    assert [o["metadata"]["name"] for o in objects] == ["kept"]
    assert not statefulsets_of(kube, namespace, "gone")


NODES = Path(__file__).resolve().parents[3] / "hack" / "cluster" / "nodes.yaml"


def test_node_lost_and_returned(
    cluster: Any, kube: Any, namespace: str, wait_until: Wait, chaos_operator: Any
) -> None:
    # A whole node per pod: the group cannot come back without the lost node.
    obj = manifest("lost", nodes=2, per_node=8, replicas=1)
    apply(cluster, namespace, obj)
    wait_converged(cluster, kube, namespace, obj, wait_until)
    core = client.CoreV1Api(kube)
    node = core.read_namespaced_pod("lost-0-1", namespace).spec.node_name
    source = next(
        n for n in yaml.safe_load_all(NODES.read_text()) if n and n["metadata"]["name"] == node
    )

    def bound_to_node() -> set[str]:
        return {
            e.involved_object.uid
            for e in events(kube, namespace, "Scheduled")
            if e.involved_object.name == "lost-0-1" and e.message.endswith(f" to {node}")
        }

    # Incarnations gone before (none, unless the group restarted while it formed).
    earlier = bound_to_node() - {core.read_namespaced_pod("lost-0-1", namespace).metadata.uid}
    core.delete_node(node)
    try:
        wait_until(
            lambda: [
                e for e in events(kube, namespace, "PodForceDeleted") if f"node {node}" in e.message
            ],
            timeout=60,
            what=f"the pod on the deleted node {node} force-deleted",
        )
        wait_until(
            lambda: (
                get_sgld(kube, namespace, "lost").get("status", {}).get("phase") != "Ready"
                and any(
                    p.status.phase == "Pending" and not p.spec.node_name
                    for p in live_pods(kube, namespace, "lost")
                )
            ),
            timeout=60,
            what="the group waiting for a node, not Ready",
        )
        # Each incarnation of the pod bound to the deleted node force-deleted once: under
        # load the scheduler, its cache behind, bound the StatefulSet's new pod to the
        # deleted node again (seen: three in 0.6 s), and each was rightly force-deleted.
        bound = bound_to_node() - earlier
        forced = [
            e for e in events(kube, namespace, "PodForceDeleted") if f"node {node}" in e.message
        ]
        assert sum(e.count or 1 for e in forced) == len(bound), [e.message for e in forced]
    finally:
        apply(cluster, "default", source)
    # The node is back: the group is whole again on both nodes.
    wait_converged(cluster, kube, namespace, obj, wait_until)
    assert {p.spec.node_name for p in live_pods(kube, namespace, "lost")} == {
        "amd-mi300x-0",
        "amd-mi300x-1",
    }
