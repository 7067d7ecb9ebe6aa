"""User stories against the real control plane: the operator process, kwok nodes, real
controllers. kwok makes pods Running and Ready at once and never runs a container, so these
tests prove the operator's side: objects, status, self-healing and rollout order."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
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
    condition,
    events,
    get_sgld,
    live_pods,
    manifest,
    pods,
    statefulsets,
    wait_ready,
    wait_reason,
)

from sglang_operator import API_GROUP, API_VERSION, PLURAL
from sglang_operator.api import DEFAULT_IMAGE_NVIDIA
from sglang_operator.naming import (
    GROUP_LABEL,
    INSTANCE_LABEL,
    POD_INDEX_LABEL,
    POD_REVISION_LABEL,
    POD_SPEC_HASH_ANNOTATION,
    RESYNC_ANNOTATION,
    client_service_name,
    group_name,
    headless_service_name,
    instance_label_value,
    weights_pvc_name,
)

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

REPO = Path(__file__).resolve().parents[2]
Wait = Callable[..., Any]


def test_apply_example_becomes_ready_with_rank_wired_pods(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    example = yaml.safe_load((REPO / "examples" / "multi-node-2x8-mi300x.yaml").read_text())
    example["metadata"].pop("namespace", None)
    # The example mounts an existing weights claim and targets a node label and RDMA devices
    # the fake nodes don't have; keep its topology, drop what kwok nodes cannot offer.
    for key in ("nodeSelector", "tolerations"):
        example["spec"].pop(key, None)
    example["spec"]["model"].pop("cache", None)
    example["spec"]["network"].pop("rdmaResourceName", None)
    example["spec"]["network"].pop("rdmaCount", None)
    name = example["metadata"]["name"]
    apply(cluster, namespace, example)
    wait_ready(cluster, namespace, name)

    obj = get_sgld(kube, namespace, name)
    status = obj["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    assert status["endpoint"] == (
        f"http://{client_service_name(name)}.{namespace}.svc.cluster.local:30000"
    )
    for type_ in ("Ready", "Progressing", "Degraded"):
        cond = condition(obj, type_)
        assert cond["observedGeneration"] == obj["metadata"]["generation"]
        assert cond["reason"][0].isupper()
    assert condition(obj, "Degraded")["status"] == "False"

    group_pods = sorted(live_pods(kube, namespace, name), key=lambda p: p.metadata.name)
    assert [p.metadata.labels[POD_INDEX_LABEL] for p in group_pods] == ["0", "1"]
    for pod in group_pods:
        # NODE_RANK comes from the pod-index label, which the StatefulSet sets to the ordinal.
        env = {e.name: e for e in pod.spec.containers[0].env}
        field = env["NODE_RANK"].value_from.field_ref.field_path
        assert field == f"metadata.labels['{POD_INDEX_LABEL}']"
        assert pod.metadata.name.endswith(f"-{pod.metadata.labels[POD_INDEX_LABEL]}")
        assert pod.metadata.owner_references[0].kind == "StatefulSet"

    core = client.CoreV1Api(kube)
    svc = core.read_namespaced_service(client_service_name(name), namespace)
    assert svc.spec.selector[POD_INDEX_LABEL] == "0"
    headless = core.read_namespaced_service(headless_service_name(name, 0), namespace)
    assert headless.spec.cluster_ip == "None"
    assert headless.spec.publish_not_ready_addresses is True
    sts = client.AppsV1Api(kube).read_namespaced_stateful_set(group_name(name, 0), namespace)
    assert sts.spec.pod_management_policy == "Parallel"
    assert sts.metadata.owner_references[0].uid == obj["metadata"]["uid"]
    created = events(kube, namespace, "Created")
    assert created
    assert created[0].involved_object.name == name


def test_scale_up_and_down_whole_groups(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("scaler", replicas=1))
    wait_ready(cluster, namespace, "scaler")

    cluster.kubectl("scale", "-n", namespace, "sgld/scaler", "--replicas=3")
    wait_until(
        lambda: get_sgld(kube, namespace, "scaler").get("status", {}).get("readyReplicas") == 3,
        timeout=90,
        what="3 ready groups",
    )
    wait_ready(cluster, namespace, "scaler")
    assert statefulsets(kube, namespace, "scaler") == sorted(
        group_name("scaler", g) for g in range(3)
    )
    assert len(live_pods(kube, namespace, "scaler")) == 6
    scale = client.CustomObjectsApi(kube).get_namespaced_custom_object_scale(
        API_GROUP, API_VERSION, namespace, PLURAL, "scaler"
    )
    assert scale["status"]["replicas"] == 3
    assert "selector" in scale["status"]

    cluster.kubectl("scale", "-n", namespace, "sgld/scaler", "--replicas=1")
    wait_until(
        lambda: statefulsets(kube, namespace, "scaler") == [group_name("scaler", 0)],
        timeout=90,
        what="groups 1 and 2 removed",
    )
    wait_until(
        lambda: {p.metadata.labels[GROUP_LABEL] for p in pods(kube, namespace, "scaler")} == {"0"},
        timeout=90,
        what="pods of removed groups gone",
    )
    wait_ready(cluster, namespace, "scaler")
    scaled = [e.message for e in events(kube, namespace, "Scaled")]
    assert "scaling up from 1 to 3 replica(s)" in scaled
    assert any("removed group(s) 2, 1" in m for m in scaled)


@pytest.mark.parametrize("nodes", [1, 2], ids=["single-node", "multi-node"])
def test_image_change_replaces_groups_one_at_a_time(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, nodes: int
) -> None:
    obj = manifest("roller", replicas=3, nodes=nodes)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "roller")
    before = {p.metadata.uid for p in live_pods(kube, namespace, "roller")}

    changed = copy.deepcopy(obj)
    changed["spec"]["image"] = "lmsysorg/sglang:v0.5.23-rocm700-mi35x"
    apply(cluster, namespace, changed)

    def mixed_groups() -> set[str]:
        by_group: dict[str, set[str]] = {}
        for p in live_pods(kube, namespace, "roller"):
            by_group.setdefault(p.metadata.labels[GROUP_LABEL], set()).add(
                p.metadata.annotations[POD_SPEC_HASH_ANNOTATION]
            )
        return {g for g, hashes in by_group.items() if len(hashes) > 1}

    def rolled() -> bool:
        # Never two revisions inside one group, at any moment we look.
        assert mixed_groups() == set()
        current = live_pods(kube, namespace, "roller")
        return (
            len(current) == 3 * nodes
            and not before & {p.metadata.uid for p in current}
            and all(p.spec.containers[0].image.endswith("mi35x") for p in current)
            and get_sgld(kube, namespace, "roller").get("status", {}).get("readyReplicas") == 3
        )

    wait_until(rolled, timeout=180, what="all three groups replaced", interval=0.2)
    wait_ready(cluster, namespace, "roller")

    steps = events(kube, namespace, "RolloutStep")
    assert [e.message for e in steps] == [
        f"replacing group {g} with the new revision" for g in range(3)
    ]
    # Each group's new pods were created only after the previous group's were Ready.
    current = live_pods(kube, namespace, "roller")
    by_group = {
        g: [p for p in current if p.metadata.labels[GROUP_LABEL] == str(g)] for g in range(3)
    }
    for prev, nxt in ((0, 1), (1, 2)):
        ready_at = max(
            c.last_transition_time
            for p in by_group[prev]
            for c in p.status.conditions
            if c.type == "Ready"
        )
        created_at = min(p.metadata.creation_timestamp for p in by_group[nxt])
        assert created_at >= ready_at


def test_deleting_one_pod_restarts_its_whole_group(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply_formed_group(cluster, kube, namespace, manifest("healer"))
    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "healer")}
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name('healer', 0)}-1", namespace)

    def recreated_together() -> bool:
        now = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "healer")}
        return set(now) == set(before) and not set(now.values()) & set(before.values())

    wait_until(recreated_together, timeout=120, what="both pods of the group recreated")
    wait_ready(cluster, namespace, "healer")
    restarted = events(kube, namespace, "GroupRestarted")
    assert restarted
    assert "group 0" in restarted[0].message
    assert restarted[0].type == "Warning"
    status = get_sgld(kube, namespace, "healer")["status"]
    assert len(status["groups"][0]["restarts"]) == 1


def test_a_statefulset_scaled_up_by_hand_is_put_back_without_restarting_the_group(
    cluster: Cluster, kube: Any, namespace: str, operator: OperatorProcess, wait_until: Wait
) -> None:
    """`kubectl scale sts` up by hand on a formed group (the operator down meanwhile, so the
    extra rank surely runs before it looks): that rank can never join the group, so the
    operator puts the StatefulSet's replicas back and leaves the group's members alone.
    Before, it restarted the group (an outage of the only copy) "because 0 pod(s) of group 0
    were deleted, evicted or replaced"."""
    apply_formed_group(cluster, kube, namespace, manifest("wider"))
    sts = group_name("wider", 0)
    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "wider")}
    assert sorted(before) == [f"{sts}-0", f"{sts}-1"]
    operator.kill()
    try:
        cluster.kubectl("scale", "statefulset", sts, "-n", namespace, "--replicas=3")
        wait_until(
            lambda: any(
                p.metadata.name == f"{sts}-2" and p.status.phase == "Running"
                for p in live_pods(kube, namespace, "wider")
            ),
            timeout=60,
            what="the extra rank running",
        )
    finally:
        operator.start()
    apps = client.AppsV1Api(kube)
    wait_until(
        lambda: (
            apps.read_namespaced_stateful_set(sts, namespace).spec.replicas == 2
            and sorted(p.metadata.name for p in live_pods(kube, namespace, "wider"))
            == sorted(before)
        ),
        timeout=60,
        what="replicas put back to 2 and the extra rank gone",
    )
    time.sleep(10)  # passes enough to have restarted the group, had the operator meant to
    after = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "wider")}
    assert after == before
    assert not events(kube, namespace, "GroupRestarted")
    status = get_sgld(kube, namespace, "wider")["status"]
    assert status["readyReplicas"] == 1
    assert not status["groups"][0].get("restarts")


def test_a_pod_whose_managed_by_label_is_removed_is_still_a_member(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """`kubectl label pod NAME-0-1 app.kubernetes.io/managed-by-` on a formed group: the pod
    is still its StatefulSet's (the label is not in its selector) and runs on, so the group
    is left alone. Before, the operator's pod cache (filtered by that label) lost it: it
    restarted the group "because 1 pod(s) of group 0 were deleted, evicted or replaced",
    deleting rank 0 only, and reported rank 1 missing for good while it ran."""
    name = "unlabel"
    apply_formed_group(cluster, kube, namespace, manifest(name))
    sts = group_name(name, 0)
    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, name)}
    assert sorted(before) == [f"{sts}-0", f"{sts}-1"]
    cluster.kubectl("label", "pod", f"{sts}-1", "-n", namespace, "app.kubernetes.io/managed-by-")
    time.sleep(10)  # passes enough to have restarted the group, had the operator meant to
    core = client.CoreV1Api(kube)
    after = {n: core.read_namespaced_pod(n, namespace).metadata.uid for n in before}
    assert after == before
    assert not events(kube, namespace, "GroupRestarted")
    status = get_sgld(kube, namespace, name)["status"]
    assert status["readyReplicas"] == 1
    assert not any(c["status"] == "True" for c in status["conditions"] if c["type"] == "Degraded")


def test_a_pod_whose_group_label_is_removed_gets_it_back_and_its_group_is_left_alone(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """`kubectl label pod NAME-0-1 sglang-operator.io/group-` (the fourth adversary): its
    StatefulSet releases it (the label is in its selector) while it runs on, holding its
    name and GPUs. The operator puts the label back, the StatefulSet adopts it again, and
    the group is never restarted. Before, the operator restarted the group for a member it
    took for gone, and the StatefulSet could never create NAME-0-1 again (the name taken):
    the group was down for good."""
    name = "regroup"
    apply_formed_group(cluster, kube, namespace, manifest(name))
    sts = group_name(name, 0)
    core = client.CoreV1Api(kube)
    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, name)}
    cluster.kubectl("label", "pod", f"{sts}-1", "-n", namespace, f"{GROUP_LABEL}-")

    def adopted() -> bool:
        pod = core.read_namespaced_pod(f"{sts}-1", namespace)
        owners = [r.name for r in pod.metadata.owner_references or [] if r.controller]
        return pod.metadata.labels.get(GROUP_LABEL) == "0" and owners == [sts]

    wait_until(adopted, timeout=30, what="the label put back and the pod adopted again")
    time.sleep(5)  # passes enough to have restarted the group, had the operator meant to
    after = {n: core.read_namespaced_pod(n, namespace).metadata.uid for n in before}
    assert after == before
    assert not events(kube, namespace, "GroupRestarted")
    (told,) = events(kube, namespace, "PodRelabeled")
    assert f"pod {sts}-1" in told.message
    status = get_sgld(kube, namespace, name)["status"]
    assert status["readyReplicas"] == 1
    assert not any(c["status"] == "True" for c in status["conditions"] if c["type"] == "Degraded")


@pytest.mark.parametrize(
    "edit",
    [
        ([1], [f"{POD_INDEX_LABEL}=abc"]),
        ([1], [f"{POD_INDEX_LABEL}=5"]),
        ([1], ["app.kubernetes.io/component-"]),
        ([1], [f"{GROUP_LABEL}=5", "statefulset.kubernetes.io/pod-name-"]),
        ([0], [f"{GROUP_LABEL}=7", f"{POD_INDEX_LABEL}=3"]),
    ],
    ids=["index-abc", "index-past-size", "no-component", "group-and-pod-name", "rank-0"],
)
def test_labels_changed_by_hand_on_a_serving_group_are_put_back_with_no_restart(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    edit: tuple[list[int], list[str]],
) -> None:
    """The fourth adversary's label edits on a formed 2-pod group, each of which the operator
    took badly: a pod index of "abc" crashed every pass (the deployment frozen, still
    "Ready"); one past the group's size restarted half the group; the component label
    removed took the pod out of the caches (a restart); a group label changed with the
    pod-name label removed left the pod never reclaimed (the group down for good). Each is
    put back now, on the same pods, with no restart. (Every pod's instance label changed,
    one `kubectl label` after the other, is a race: the operator may see one pod gone
    first and restart the group; plan.reclaim's rule for it is unit-tested.)"""
    ranks, labels = edit
    name = "relabel"
    apply_formed_group(cluster, kube, namespace, manifest(name))
    sts = group_name(name, 0)
    core = client.CoreV1Api(kube)
    before = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, name)}
    cluster.kubectl(
        "label", "pod", *(f"{sts}-{r}" for r in ranks), "-n", namespace, *labels, "--overwrite"
    )

    def put_back() -> bool:
        for rank in (0, 1):
            pod = core.read_namespaced_pod(f"{sts}-{rank}", namespace)
            owners = [r.name for r in pod.metadata.owner_references or [] if r.controller]
            want = {
                INSTANCE_LABEL: name,
                GROUP_LABEL: "0",
                POD_INDEX_LABEL: str(rank),
                "app.kubernetes.io/component": "server",
            }
            if owners != [sts] or any(pod.metadata.labels.get(k) != v for k, v in want.items()):
                return False
        return True

    wait_until(put_back, timeout=30, what="the labels put back and the pods adopted again")
    time.sleep(3)  # passes enough to have restarted the group, had the operator meant to
    after = {n: core.read_namespaced_pod(n, namespace).metadata.uid for n in before}
    assert after == before
    assert not events(kube, namespace, "GroupRestarted")
    assert not events(kube, namespace, "ReleasedPodDeleted")
    wait_ready(cluster, namespace, name)


def test_a_pod_out_of_every_cache_goes_with_its_group_on_a_scale_down(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """The fourth adversary: a pod's instance label changed, then at once a scale-down
    removed its group. No owner, no cache holding it: it ran on with its GPUs for good. The
    operator reads the removed StatefulSet's missing pods by name, and the pod goes."""
    name = "shrink"
    apply_formed_group(cluster, kube, namespace, manifest(name, replicas=2))
    released = f"{group_name(name, 1)}-1"
    core = client.CoreV1Api(kube)
    cluster.kubectl(
        "label", "pod", released, "-n", namespace, f"{INSTANCE_LABEL}=zzz", "--overwrite"
    )
    cluster.kubectl(
        "patch", "sgld", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"replicas":1}}'
    )

    def gone() -> bool:
        try:
            pod = core.read_namespaced_pod(released, namespace)
        except ApiException as exc:
            return exc.status == 404
        return bool(pod.metadata.deletion_timestamp)

    wait_until(gone, timeout=60, what=f"{released} deleted")
    assert statefulsets(kube, namespace, name) == [group_name(name, 0)]
    wait_ready(cluster, namespace, name)


@pytest.mark.parametrize("where", [(1, 0), (2, 1), (2, 0)], ids=["1-0", "2-1", "2-0"])
def test_a_pod_taken_out_of_every_cache_by_a_label_frees_its_name(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, where: tuple[int, int]
) -> None:
    """`kubectl label pod NAME-0-<rank> app.kubernetes.io/instance=debug --overwrite`: the
    StatefulSet releases it and no cache of the operator holds it any more (its pods are
    watched by that label). A group of several pods restarts (a member gone, as for any
    other), then the StatefulSet lacks that rank and is told nothing (AlreadyExists makes no
    FailedCreate event): the operator reads the name, finds its pod released, and deletes it
    (its group went on without it); the group comes back whole. The only pod of a group is
    given its label back instead (nothing went on without it). Before, the group stayed down
    for good, reported as pods "missing" for admission to explain."""
    nodes, rank = where
    name = f"uncached{nodes}-{rank}"
    if nodes == 1:
        # A group of one pod has no members to remember.
        apply(cluster, namespace, manifest(name, nodes=nodes))
        wait_ready(cluster, namespace, name)
    else:
        apply_formed_group(cluster, kube, namespace, manifest(name, nodes=nodes))
    # Rank 0 too (the second adversary): its StatefulSet, which creates pods in order and
    # stops at the taken name, made none of the group's others, and rank 0 was put back
    # beside the new incarnation's workers.
    released = f"{group_name(name, 0)}-{rank}"
    core = client.CoreV1Api(kube)
    uid = core.read_namespaced_pod(released, namespace).metadata.uid
    cluster.kubectl(
        "label", "pod", released, "-n", namespace, f"{INSTANCE_LABEL}=debug", "--overwrite"
    )

    def whole() -> bool:
        pods = live_pods(kube, namespace, name)
        owned = [p for p in pods if any(r.controller for r in p.metadata.owner_references or [])]
        return len(owned) == nodes and all(p.status.phase == "Running" for p in owned)

    wait_until(whole, timeout=120, what="the group whole again")
    wait_ready(cluster, namespace, name)
    now = core.read_namespaced_pod(released, namespace)
    assert now.metadata.labels[INSTANCE_LABEL] == name
    if nodes == 1:
        assert now.metadata.uid == uid
        assert [e.message for e in events(kube, namespace, "PodRelabeled")]
        assert not events(kube, namespace, "ReleasedPodDeleted")
    else:
        assert now.metadata.uid != uid
        (told,) = events(kube, namespace, "ReleasedPodDeleted")
        assert f"pod {released}" in told.message
        # Its StatefulSet, which backs off creating that name, was told to sync at once.
        sts = client.AppsV1Api(kube).read_namespaced_stateful_set(group_name(name, 0), namespace)
        assert RESYNC_ANNOTATION in sts.metadata.annotations
    assert not [
        p.metadata.name
        for p in core.list_namespaced_pod(namespace, label_selector=f"{INSTANCE_LABEL}=debug").items
        if not p.metadata.deletion_timestamp
    ]


def test_a_pod_name_taken_by_a_pod_not_ours_is_named_in_status_at_once(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """A pod named like a group's rank 1 exists before the deployment (made by hand): its
    StatefulSet can never create that name, and says nothing (AlreadyExists makes no
    FailedCreate event). The operator reads the name 5 s after the StatefulSet lacks it,
    leaves the pod alone (not its) and says which pod blocks it in Degraded at once.
    Before, status blamed admission after 30 s ("missing ... check ResourceQuota, Pod
    Security"). Once the pod is deleted, the group forms."""
    name = "taken"
    core = client.CoreV1Api(kube)
    blocker = f"{group_name(name, 0)}-1"
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": blocker},
            "spec": {"nodeName": "cpu-0", "containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    apply(cluster, namespace, manifest(name))
    message = wait_until(
        lambda: (
            (c := condition(get_sgld(kube, namespace, name), "Degraded")).get("reason")
            == "PodCreationFailed"
            and c["message"]
        ),
        timeout=20,
        what="Degraded naming the pod that holds the name",
    )
    assert f"pod(s) {blocker} exist but are not its own" in message
    assert core.read_namespaced_pod(blocker, namespace).metadata.labels is None
    # Deleted as Degraded says, after the StatefulSet controller failed for long enough to
    # back off for about as long: nothing tells the operator (the pod is not its) nor that
    # controller (the second adversary: 75 s down after 90 s blocked). The operator reads
    # the name again within 10 s and stamps the StatefulSet once it is free.
    time.sleep(45)
    core.delete_namespaced_pod(blocker, namespace, grace_period_seconds=0)
    wait_ready(cluster, namespace, name, timeout=20)
    sts = client.AppsV1Api(kube).read_namespaced_stateful_set(group_name(name, 0), namespace)
    assert RESYNC_ANNOTATION in (sts.metadata.annotations or {})


def test_a_group_left_on_two_templates_by_hand_is_replaced_whole(
    cluster: Cluster, kube: Any, namespace: str, operator: OperatorProcess, wait_until: Wait
) -> None:
    """`kubectl set env sts/NAME-1 FOO=x` while group 1's pods are deleted, the template put
    back before the second is re-created: rank 0 comes from the changed template, rank 1 from
    the one put back, both with the pod-spec hash the operator wants (it is in the template).
    (Done with the operator down, and put back by hand, so that the ranks surely come from
    the two templates.) The operator replaces group 1 whole, onto its StatefulSet's current
    revision, and leaves group 0 alone. Before, group 1 stayed Ready on two templates for
    good, rank 0 with FOO=x: only the pod-spec hashes were compared."""
    name = "twotpl"
    apply_formed_group(cluster, kube, namespace, manifest(name, replicas=2))
    sts = group_name(name, 1)
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)

    def in_group(group: int) -> list[Any]:
        return [
            p
            for p in live_pods(kube, namespace, name)
            if p.metadata.labels[GROUP_LABEL] == str(group)
        ]

    def env(pod: Any) -> set[str]:
        return {e.name for c in pod.spec.containers for e in c.env or []}

    def recreated(pod_name: str, old_uid: str) -> Any:
        return next(
            (
                p
                for p in in_group(1)
                if p.metadata.name == pod_name
                and p.metadata.uid != old_uid
                and p.status.phase == "Running"
            ),
            None,
        )

    group0 = {p.metadata.uid for p in in_group(0)}
    operator.kill()
    try:
        before = {p.metadata.name: p.metadata.uid for p in in_group(1)}
        cluster.kubectl("set", "env", f"sts/{sts}", "-n", namespace, "FOO=x")
        core.delete_namespaced_pod(f"{sts}-0", namespace)
        rank0 = wait_until(
            lambda: recreated(f"{sts}-0", before[f"{sts}-0"]),
            timeout=60,
            what="rank 0 re-created from the changed template",
        )
        assert "FOO" in env(rank0)
        cluster.kubectl("set", "env", f"sts/{sts}", "-n", namespace, "FOO-")
        core.delete_namespaced_pod(f"{sts}-1", namespace)
        rank1 = wait_until(
            lambda: recreated(f"{sts}-1", before[f"{sts}-1"]),
            timeout=60,
            what="rank 1 re-created from the template put back",
        )
        assert "FOO" not in env(rank1)
        hashes = {p.metadata.annotations[POD_SPEC_HASH_ANNOTATION] for p in (rank0, rank1)}
        assert len(hashes) == 1
        assert (
            rank0.metadata.labels[POD_REVISION_LABEL] != rank1.metadata.labels[POD_REVISION_LABEL]
        )
        mixed = {rank0.metadata.uid, rank1.metadata.uid}
    finally:
        operator.start()

    def one_template() -> bool:
        current = apps.read_namespaced_stateful_set(sts, namespace).status.update_revision
        now = in_group(1)
        return (
            len(now) == 2
            and not {p.metadata.uid for p in now} & mixed
            and all(
                p.metadata.labels[POD_REVISION_LABEL] == current and "FOO" not in env(p)
                for p in now
            )
        )

    wait_until(one_template, timeout=120, what="group 1 replaced whole on its current revision")
    wait_ready(cluster, namespace, name)
    steps = [e.message for e in events(kube, namespace, "RolloutStep")]
    assert steps == [
        f"replacing group 1: pod(s) {sts}-0 were made from another pod template than its "
        f"StatefulSet's current one ({rank1.metadata.labels[POD_REVISION_LABEL]})"
    ]
    assert not events(kube, namespace, "GroupRestarted")
    settled = {p.metadata.uid for p in in_group(1)}
    time.sleep(10)  # passes enough to have replaced the group again, had the operator meant to
    assert {p.metadata.uid for p in in_group(1)} == settled
    assert {p.metadata.uid for p in in_group(0)} == group0


def test_container_restart_in_a_worker_restarts_the_group(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply_formed_group(cluster, kube, namespace, manifest("crashy"))
    core = client.CoreV1Api(kube)
    worker = core.read_namespaced_pod(f"{group_name('crashy', 0)}-1", namespace)
    statuses = [s.to_dict() for s in worker.status.container_statuses]
    for s in statuses:
        s["restartCount"] = s.pop("restart_count") + 1
    patch = {"status": {"containerStatuses": [_camel(s) for s in statuses]}}
    core.patch_namespaced_pod_status(worker.metadata.name, namespace, patch)
    old = {p.metadata.uid for p in live_pods(kube, namespace, "crashy")}
    wait_until(
        lambda: (
            len(live_pods(kube, namespace, "crashy")) == 2
            and not old & {p.metadata.uid for p in live_pods(kube, namespace, "crashy")}
        ),
        timeout=120,
        what="the group recreated after a worker's container restarted",
    )
    # The event is written after the deletions it reports: it may arrive after the new pods.
    wait_until(
        lambda: events(kube, namespace, "GroupRestarted"), timeout=30, what="a GroupRestarted event"
    )


def _camel(value: Any) -> Any:
    """The client's snake_case dicts back to the API's camelCase (for a status patch)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            head, *rest = key.split("_")
            out[head + "".join(r.title() for r in rest)] = _camel(item)
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def test_operator_killed_midway_converges_without_duplicates(
    cluster: Cluster, kube: Any, namespace: str, operator: OperatorProcess, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("phoenix", replicas=2))
    wait_until(
        lambda: statefulsets(kube, namespace, "phoenix"),
        timeout=60,
        what="the first StatefulSet",
        interval=0.1,
    )
    operator.kill()
    operator.start()
    wait_ready(cluster, namespace, "phoenix")
    assert statefulsets(kube, namespace, "phoenix") == sorted(
        group_name("phoenix", g) for g in range(2)
    )
    services = client.CoreV1Api(kube).list_namespaced_service(
        namespace, label_selector=f"{INSTANCE_LABEL}=phoenix"
    )
    assert sorted(s.metadata.name for s in services.items) == sorted(
        [client_service_name("phoenix")] + [headless_service_name("phoenix", g) for g in range(2)]
    )
    assert len(live_pods(kube, namespace, "phoenix")) == 4


def test_child_deleted_by_hand_comes_back(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("sticky", nodes=1))
    wait_ready(cluster, namespace, "sticky")
    core = client.CoreV1Api(kube)
    svc = client_service_name("sticky")
    old_uid = core.read_namespaced_service(svc, namespace).metadata.uid
    core.delete_namespaced_service(svc, namespace)

    def back() -> bool:
        try:
            return bool(core.read_namespaced_service(svc, namespace).metadata.uid != old_uid)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    wait_until(back, timeout=60, what="the client Service recreated")

    # A hand edit to a field the operator owns is put back too.
    sts_name = group_name("sticky", 0)
    apps = client.AppsV1Api(kube)
    apps.patch_namespaced_stateful_set(
        sts_name, namespace, {"spec": {"podManagementPolicy": "Parallel", "replicas": 3}}
    )
    wait_until(
        lambda: apps.read_namespaced_stateful_set(sts_name, namespace).spec.replicas == 1,
        timeout=60,
        what="StatefulSet replicas put back to 1",
    )


def test_sixteen_gpus_per_pod_is_reported_unschedulable(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("greedy", nodes=1, per_node=16))

    cond = wait_reason(kube, namespace, "greedy", "Degraded", "Unschedulable")
    assert cond["status"] == "True"
    assert "amd.com/gpu" in cond["message"]
    obj = get_sgld(kube, namespace, "greedy")
    assert obj["status"]["phase"] == "Degraded"
    assert condition(obj, "Ready")["status"] == "False"
    warned = wait_until(
        lambda: events(kube, namespace, "Unschedulable"), timeout=30, what="an event"
    )
    assert warned[0].type == "Warning"
    assert "amd.com/gpu" in warned[0].message


def test_pods_no_scheduler_answers_are_reported(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """An unknown schedulerName is accepted everywhere (the API server cannot know which
    schedulers run) and its pods wait forever with no condition: status must say so."""
    obj = manifest("nosched", nodes=1)
    obj["spec"]["schedulerName"] = "no-such-scheduler"
    apply(cluster, namespace, obj)

    cond = wait_until(
        lambda: (
            (c := condition(get_sgld(kube, namespace, "nosched"), "Degraded")).get("reason")
            == "Unschedulable"
            and c
        ),
        timeout=120,
        what="Degraded Unschedulable",
    )
    assert "'no-such-scheduler'" in cond["message"]
    assert get_sgld(kube, namespace, "nosched")["status"]["phase"] == "Degraded"
    [pod] = pods(kube, namespace, "nosched")
    assert not pod.spec.node_name


def test_invalid_update_keeps_running_objects_and_says_why(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("careful", nodes=1)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "careful")
    sts_before = client.AppsV1Api(kube).read_namespaced_stateful_set(
        group_name("careful", 0), namespace
    )
    pods_before = {p.metadata.uid for p in live_pods(kube, namespace, "careful")}

    bad = copy.deepcopy(obj)
    # Each quantity is valid on its own, so admission accepts them; only the operator compares
    # them: a memory-backed /dev/shm as large as the memory limit leaves SGLang nothing.
    bad["spec"]["shmSize"] = "2Gi"
    bad["spec"]["resources"] = {"limits": {"memory": "1Gi"}}
    apply(cluster, namespace, bad)
    cond = wait_reason(kube, namespace, "careful", "Degraded", "InvalidSpec")
    assert "shmSize" in cond["message"]
    # The old pods still serve: Ready says so (as for a refused child), the phase is Degraded.
    refused = get_sgld(kube, namespace, "careful")
    assert condition(refused, "Ready")["status"] == "True"
    assert refused["status"]["phase"] == "Degraded"
    sts_after = client.AppsV1Api(kube).read_namespaced_stateful_set(
        group_name("careful", 0), namespace
    )
    # The StatefulSet's spec was not written to (its status may still move on).
    assert sts_after.metadata.generation == sts_before.metadata.generation
    assert sts_after.spec.template.spec.volumes == sts_before.spec.template.spec.volumes
    assert {p.metadata.uid for p in live_pods(kube, namespace, "careful")} == pods_before
    # Events are written right after the status that the wait above saw.
    wait_until(lambda: events(kube, namespace, "InvalidSpec"), timeout=30, what="the event")


def test_object_not_owned_is_left_alone(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    core = client.CoreV1Api(kube)
    squatter = {
        "metadata": {"name": client_service_name("polite"), "labels": {"owner": "someone"}},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "other"}},
    }
    core.create_namespaced_service(namespace, squatter)
    apply(cluster, namespace, manifest("polite", nodes=1))
    cond = wait_reason(kube, namespace, "polite", "Degraded", "ConflictingObject")
    assert client_service_name("polite") in cond["message"]
    svc = core.read_namespaced_service(client_service_name("polite"), namespace)
    assert svc.spec.selector == {"app": "other"}
    assert not svc.metadata.owner_references


def test_deleting_the_resource_garbage_collects_everything(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("ephemeral", replicas=2))
    wait_ready(cluster, namespace, "ephemeral")
    sgld = get_sgld(kube, namespace, "ephemeral")
    assert not sgld["metadata"].get("finalizers")
    cluster.kubectl("delete", "-n", namespace, "sgld/ephemeral", "--wait=true")

    def all_gone() -> bool:
        core = client.CoreV1Api(kube)
        selector = f"{INSTANCE_LABEL}=ephemeral"
        return not (
            statefulsets(kube, namespace, "ephemeral")
            or core.list_namespaced_service(namespace, label_selector=selector).items
            or core.list_namespaced_pod(namespace, label_selector=selector).items
        )

    wait_until(all_gone, timeout=120, what="children garbage-collected")


def test_a_63_character_name_works_end_to_end(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    # The longest name Kubernetes allows: children get hashed names, the instance label is
    # hashed too, and the operator must still find and heal its group.
    name = "a" * 50 + "-long-name-xyz"[: 63 - 50]
    assert len(name) == 63
    apply_formed_group(cluster, kube, namespace, manifest(name))
    group_pods = live_pods(kube, namespace, instance_label_value(name))
    assert len(group_pods) == 2
    for pod in group_pods:
        assert len(pod.metadata.name) <= 63
    before = {p.metadata.uid for p in group_pods}
    client.CoreV1Api(kube).delete_namespaced_pod(group_pods[1].metadata.name, namespace)
    wait_until(
        lambda: (
            len(now := live_pods(kube, namespace, instance_label_value(name))) == 2
            and not before & {p.metadata.uid for p in now}
        ),
        timeout=120,
        what="the long-named group restarted together",
    )
    wait_ready(cluster, namespace, name)


@pytest.mark.parametrize(
    "trouble",
    [
        (
            {
                "restartCount": 1,
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            },
            "OOMKilled",
            # Host memory over the container's limit, not GPU memory (memFractionStatic).
            "resources.limits.memory",
        ),
        (
            {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}},
            "ImagePullFailed",
            "imagePullSecrets",
        ),
    ],
    ids=["oom-killed", "image-pull"],
)
def test_container_trouble_is_diagnosed_in_status(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    trouble: tuple[dict[str, Any], str, str],
) -> None:
    container_state, reason, hint = trouble
    apply(cluster, namespace, manifest("troubled", nodes=1))
    wait_ready(cluster, namespace, "troubled")
    core = client.CoreV1Api(kube)
    pod = core.read_namespaced_pod(f"{group_name('troubled', 0)}-0", namespace)
    cs = pod.status.container_statuses[0]
    status = {
        "name": cs.name,
        "image": cs.image,
        "imageID": cs.image_id or "",
        "ready": False,
        "restartCount": 0,
        "state": {"running": {"startedAt": cs.state.running.started_at.isoformat()}},
        **container_state,
    }
    core.patch_namespaced_pod_status(
        pod.metadata.name, namespace, {"status": {"containerStatuses": [status]}}
    )
    cond = wait_reason(kube, namespace, "troubled", "Degraded", reason)
    assert cond["status"] == "True"
    assert hint in cond["message"]
    # Events are written right after the status that the wait above saw.
    wait_until(lambda: events(kube, namespace, reason), timeout=30, what=f"a {reason} event")


def test_new_group_size_rolls_one_group_at_a_time(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("grower", nodes=1, replicas=2)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "grower")

    grown = copy.deepcopy(obj)
    grown["spec"]["parallelism"]["nodes"] = 2
    apply(cluster, namespace, grown)

    def grown_whole() -> bool:
        by_group: dict[str, set[str]] = {}
        current = live_pods(kube, namespace, "grower")
        for p in current:
            by_group.setdefault(p.metadata.labels[GROUP_LABEL], set()).add(
                p.metadata.annotations[POD_SPEC_HASH_ANNOTATION]
            )
        # A new rank next to an old rank 0 would be a group of two revisions.
        assert all(len(hashes) == 1 for hashes in by_group.values()), by_group
        return (
            len(current) == 4
            and get_sgld(kube, namespace, "grower").get("status", {}).get("readyReplicas") == 2
        )

    wait_until(grown_whole, timeout=120, what="both groups of two pods", interval=0.1)
    steps = [e.message for e in events(kube, namespace, "RolloutStep")]
    assert steps == [f"replacing group {g} with the new revision" for g in range(2)]


def test_a_refused_child_does_not_stop_the_others(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("partial", nodes=1)
    obj["spec"]["model"]["cache"] = {"size": "10Gi"}
    apply(cluster, namespace, obj)
    wait_until(lambda: statefulsets(kube, namespace, "partial"), timeout=60, what="the StatefulSet")
    changed = copy.deepcopy(obj)
    # A Pending claim's size is immutable: the API server refuses the PVC update...
    changed["spec"]["model"]["cache"]["size"] = "5Gi"
    # ...while a second copy must still be created.
    changed["spec"]["replicas"] = 2
    apply(cluster, namespace, changed)
    cond = wait_reason(kube, namespace, "partial", "Degraded", "ApplyFailed")
    assert "PersistentVolumeClaim" in cond["message"]
    wait_until(
        lambda: len(statefulsets(kube, namespace, "partial")) == 2,
        timeout=60,
        what="the second group's StatefulSet despite the refused claim",
    )


def test_switching_offline_to_server_removes_the_offline_jobs(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("switch", nodes=1)
    obj["spec"]["mode"] = "offline"
    apply(cluster, namespace, obj)
    batch = client.BatchV1Api(kube)
    wait_until(
        lambda: batch.list_namespaced_job(namespace).items, timeout=60, what="the offline Job"
    )
    obj["spec"]["mode"] = "server"
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "switch")
    wait_until(
        lambda: not batch.list_namespaced_job(namespace).items,
        timeout=60,
        what="offline Jobs deleted",
    )


def test_nvidia_copy_lands_on_an_nvidia_node(cluster: Cluster, kube: Any, namespace: str) -> None:
    obj = manifest("green", nodes=1, per_node=8)
    obj["spec"]["gpu"]["vendor"] = "nvidia"
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "green")
    (pod,) = live_pods(kube, namespace, "green")
    assert pod.spec.node_name in ("nvidia-h100-0", "nvidia-h100-1")
    assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "8"
    assert pod.spec.containers[0].image == DEFAULT_IMAGE_NVIDIA


def test_scaled_to_zero_keeps_the_resource_ready_with_no_pods(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    apply(cluster, namespace, manifest("sleeper", nodes=2))
    wait_ready(cluster, namespace, "sleeper")
    cluster.kubectl("scale", "-n", namespace, "sgld/sleeper", "--replicas=0")
    wait_until(
        lambda: (
            not statefulsets(kube, namespace, "sleeper")
            and not live_pods(kube, namespace, "sleeper")
        ),
        timeout=60,
        what="no groups left",
    )
    cond = wait_reason(kube, namespace, "sleeper", "Ready", "ScaledToZero")
    assert cond["status"] == "True"
    # The client Service stays, so clients get connection refused, not a DNS error.
    client.CoreV1Api(kube).read_namespaced_service(client_service_name("sleeper"), namespace)


def test_a_weights_claim_outlives_its_deployment_and_the_next_one_takes_it_up(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    core = client.CoreV1Api(kube)
    claim = weights_pvc_name("keeper")
    # A volume bound in advance to the claim the operator will create, so the pods schedule
    # and the deployment becomes Ready (the local cluster has no storage provisioner).
    storage_class = f"manual-{namespace}"
    volume = {
        "metadata": {"name": f"{namespace}-weights"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/var/lib/weights"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
    core.create_persistent_volume(volume)
    try:
        obj = manifest("keeper", nodes=1)
        obj["spec"]["model"]["cache"] = {"size": "10Gi", "storageClassName": storage_class}
        apply(cluster, namespace, obj)
        wait_ready(cluster, namespace, "keeper")
        first = core.read_namespaced_persistent_volume_claim(claim, namespace)
        assert first.status.phase == "Bound"
        assert not first.metadata.owner_references

        cluster.kubectl("delete", "-n", namespace, "sgld/keeper", "--wait=true")
        wait_until(
            lambda: not statefulsets(kube, namespace, "keeper"),
            timeout=120,
            what="the StatefulSet garbage-collected",
        )
        kept = core.read_namespaced_persistent_volume_claim(claim, namespace)
        assert kept.metadata.uid == first.metadata.uid
        assert kept.metadata.deletion_timestamp is None

        apply(cluster, namespace, obj)
        wait_ready(cluster, namespace, "keeper")
        sgld = get_sgld(kube, namespace, "keeper")
        assert condition(sgld, "Degraded")["status"] == "False"
        reused = core.read_namespaced_persistent_volume_claim(claim, namespace)
        assert reused.metadata.uid == first.metadata.uid
        (sts,) = client.AppsV1Api(kube).list_namespaced_stateful_set(namespace).items
        claims = [
            v.persistent_volume_claim.claim_name
            for v in sts.spec.template.spec.volumes
            if v.persistent_volume_claim
        ]
        assert claims == [claim]
    finally:
        core.delete_persistent_volume(volume["metadata"]["name"])


def test_a_weights_claim_under_when_deleted_delete_goes_with_its_deployment(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    core = client.CoreV1Api(kube)
    obj = manifest("transient", nodes=1)
    obj["spec"]["model"]["cache"] = {"size": "10Gi", "whenDeleted": "Delete"}
    apply(cluster, namespace, obj)
    claim = weights_pvc_name("transient")

    def stored_claim() -> Any:
        try:
            return core.read_namespaced_persistent_volume_claim(claim, namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    created = wait_until(stored_claim, timeout=60, what="the weights claim")
    assert [ref.kind for ref in created.metadata.owner_references] == ["SGLangDeployment"]
    cluster.kubectl("delete", "-n", namespace, "sgld/transient", "--wait=true")
    wait_until(lambda: stored_claim() is None, timeout=120, what="the claim garbage-collected")


def test_the_demos_suggestions_work_on_the_quickstart(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    # hack/demo.sh ends by suggesting these on the local cluster (2 AMD nodes x 8 GPUs).
    quickstart = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    apply(cluster, namespace, quickstart)
    wait_ready(cluster, namespace, "quickstart")
    cluster.kubectl("scale", "-n", namespace, "sgld/quickstart", "--replicas=2")
    wait_until(
        lambda: get_sgld(kube, namespace, "quickstart").get("status", {}).get("readyReplicas") == 2,
        timeout=120,
        what="a second quickstart copy Ready beside the first",
    )
    wait_until(
        lambda: (
            get_sgld(kube, namespace, "quickstart")
            .get("status", {})
            .get("groups", [{}])[0]
            .get("members")
        ),
        timeout=60,
        what="group membership recorded",
    )
    first = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "quickstart")}
    # --wait=false: kubectl's wait for the deletion can hang for its whole timeout when the
    # StatefulSet re-creates a pod of the same name at once (kubernetes/kubectl#1803); the
    # replacement is waited for below.
    cluster.kubectl(
        "delete", "-n", namespace, "pod", f"{group_name('quickstart', 0)}-1", "--wait=false"
    )
    group0 = {n for n in first if n.startswith(f"{group_name('quickstart', 0)}-")}

    def group0_replaced() -> bool:
        now = {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, "quickstart")}
        return group0 <= set(now) and all(now[n] != first[n] for n in group0)

    wait_until(
        group0_replaced,
        timeout=120,
        what="the whole of group 0 replaced after one of its pods was deleted",
    )
    wait_ready(cluster, namespace, "quickstart")
