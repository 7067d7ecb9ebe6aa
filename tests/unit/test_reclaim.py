"""Pods of ours whose identity labels were changed by hand (plan.reclaim): a StatefulSet
releases a pod whose labels stop matching its selector, and can then never create a pod of
that name again while it exists. Pure: plans from stored objects, no cluster."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator import naming
from sglang_operator.conditions import Reason
from sglang_operator.groups import format_time
from sglang_operator.plan import (
    STATEFULSET_POD_NAME_LABEL,
    LookedUp,
    Snapshot,
    made_by_group,
    ordinal,
    plan,
    reclaim,
    taken,
    template_hash,
)
from stored_objects import admitted, sgld, stored_children

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GROUP = naming.GROUP_LABEL
INSTANCE = naming.INSTANCE_LABEL


def statefulset(children: list[dict[str, Any]], group: int) -> dict[str, Any]:
    return next(
        c
        for c in children
        if c["kind"] == "StatefulSet" and c["metadata"]["name"] == f"demo-{group}"
    )


def pod(children: list[dict[str, Any]], group: int, rank: int) -> dict[str, Any]:
    """A running, ready pod as group `group`'s StatefulSet made it (owned, every label)."""
    name = f"demo-{group}-{rank}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-27T11:00:00Z",
            "labels": {
                **naming.group_labels("demo", group),
                naming.POD_INDEX_LABEL: str(rank),
                STATEFULSET_POD_NAME_LABEL: name,
                naming.POD_REVISION_LABEL: f"demo-{group}-5d4f8b7c9",
            },
            "annotations": {
                naming.POD_SPEC_HASH_ANNOTATION: str(template_hash(statefulset(children, group)))
            },
            "ownerReferences": [
                {"kind": "StatefulSet", "name": f"demo-{group}", "controller": True, "uid": "x"}
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "sglang", "restartCount": 0, "state": {}}],
        },
    }


def released(p: dict[str, Any], **labels: str | None) -> dict[str, Any]:
    """`p` as its StatefulSet leaves it once `labels` were changed (None: removed) by hand:
    no owner reference."""
    p = copy.deepcopy(p)
    for key, value in labels.items():
        if value is None:
            p["metadata"]["labels"].pop(key, None)
        else:
            p["metadata"]["labels"][key] = value
    p["metadata"]["ownerReferences"] = []
    return p


def deployment(
    replicas: int = 2, nodes: int = 2, members: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A settled deployment (status.groups remembers each group's members when `members`)."""
    resource = sgld(replicas=replicas, nodes=nodes)
    children = stored_children(resource)
    pods = [pod(children, g, r) for g in range(replicas) for r in range(nodes)]
    resource["status"] = {
        "observedGeneration": 3,
        "groups": [
            {
                "index": g,
                "ready": True,
                "members": sorted(f"uid-demo-{g}-{r}" for r in range(nodes)) if members else [],
                "restarts": [],
            }
            for g in range(replicas)
        ],
    }
    return resource, children, pods


def snap(resource: Any, children: Any, pods: Any, **extra: Any) -> Snapshot:
    return admitted(Snapshot(sgld=resource, children=children, pods=pods, now=NOW, **extra))


def test_a_pods_group_and_rank_are_read_from_its_name_as_the_statefulset_names_it() -> None:
    assert ordinal("demo", "demo-1-2") == (1, 2)
    assert ordinal("demo", "demo-10-0") == (10, 0)
    # Another deployment's pods, and names no StatefulSet of ours gives.
    assert ordinal("demo", "demo-1-0-0") is None
    assert ordinal("demo-1", "demo-1-0") is None
    assert ordinal("demo-1", "demo-1-0-3") == (0, 3)
    assert ordinal("demo", "demo-01-2") is None
    assert ordinal("demo", "demo-1-02") is None
    assert ordinal("demo", "demo-x-2") is None
    assert ordinal("demo", "other-1-2") is None
    # A name too long for a StatefulSet's is hashed (naming.group_name): still found.
    long = "a" * 60
    assert ordinal(long, naming.group_name(long, 3) + "-1") == (3, 1)
    assert ordinal(long, f"{long}-3-1") is None


def test_only_a_pod_a_statefulset_made_is_ours_by_name() -> None:
    pods = deployment()[2]
    assert made_by_group("demo", pods[3]) == (1, 1)
    # Either mark of its StatefulSet will do (the fourth adversary removed the pod-name label
    # too: the pod was never reclaimed, its group down for good); both gone, it is not.
    copied = copy.deepcopy(pods[3])
    del copied["metadata"]["labels"][STATEFULSET_POD_NAME_LABEL]
    assert made_by_group("demo", copied) == (1, 1)
    del copied["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
    assert made_by_group("demo", copied) is None
    copied = copy.deepcopy(pods[3])
    del copied["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
    assert made_by_group("demo", copied) == (1, 1)
    copied["metadata"]["name"] = "demo-1-1-copy"
    assert made_by_group("demo", copied) is None
    # The second adversary: a pod made by hand with the pod-name label alone (someone
    # else's) was taken for released, relabelled, adopted, then deleted.
    hand = copy.deepcopy(pods[3])
    del hand["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
    hand["metadata"]["labels"] = {"app": "other", STATEFULSET_POD_NAME_LABEL: "demo-1-1"}
    assert made_by_group("demo", hand) is None
    hand["metadata"]["labels"][naming.POD_REVISION_LABEL] = "other-1-5d4f8b7c9"
    assert made_by_group("demo", hand) is None


def test_a_pod_released_by_its_group_label_removed_stays_a_member_and_is_relabelled() -> None:
    # The fourth adversary: `kubectl label pod demo-1-1 sglang-operator.io/group-`. The
    # StatefulSet released it (still running, holding its name and GPUs); the operator took
    # its group for one that lost a member and restarted it, and the StatefulSet could never
    # create demo-1-1 again: the group was down for good.
    resource, children, pods = deployment()
    pods[3] = released(pods[3], **{GROUP: None})
    p = plan(snap(resource, children, pods))
    assert p.delete_pods == []
    assert [(v.index, v.pods, v.ready) for v in p.decision.views] == [(0, 2, True), (1, 2, True)]
    assert p.relabel_pods == [("demo-1-1", "uid-demo-1-1", {GROUP: "1"})]
    ((kind, _, message),) = [e for e in p.events if e[1] == Reason.POD_RELABELED]
    assert kind == "Normal"
    assert message.startswith("put back label(s) sglang-operator.io/group=1 on pod demo-1-1")
    assert "released" in message
    # The pod's StatefulSet adopts it again: nothing more to do.
    back = pod(children, 1, 1)
    assert plan(snap(resource, children, [*pods[:3], back])).relabel_pods == []


def test_a_pod_given_another_groups_label_is_its_own_groups_not_the_others() -> None:
    # Labelled group 0, named demo-1-1: the StatefulSet demo-0 claims no pod of that name
    # (the StatefulSet controller's own rule), so it is group 1's, not a third pod of 0.
    resource, children, pods = deployment()
    pods[3] = released(pods[3], **{GROUP: "0"})
    p = plan(snap(resource, children, pods))
    assert [(v.index, v.pods) for v in p.decision.views] == [(0, 2), (1, 2)]
    assert p.delete_pods == []
    assert p.relabel_pods == [("demo-1-1", "uid-demo-1-1", {GROUP: "1"})]


def test_every_selector_label_and_the_pod_index_are_put_back() -> None:
    resource, children, pods = deployment()
    pods[0] = released(
        pods[0],
        **{naming.COMPONENT_LABEL: "debug", naming.NAME_LABEL: None, naming.POD_INDEX_LABEL: None},
    )
    # An owned pod that lost only its pod index (the client Service selects rank 0 by it).
    del pods[2]["metadata"]["labels"][naming.POD_INDEX_LABEL]
    p = plan(snap(resource, children, pods))
    assert p.relabel_pods == [
        (
            "demo-0-0",
            "uid-demo-0-0",
            {
                naming.COMPONENT_LABEL: "server",
                naming.NAME_LABEL: "sglang",
                naming.POD_INDEX_LABEL: "0",
            },
        ),
        ("demo-1-0", "uid-demo-1-0", {naming.POD_INDEX_LABEL: "0"}),
    ]
    assert p.delete_pods == []


def test_a_released_pod_of_a_group_that_restarted_without_it_is_deleted() -> None:
    # Its group's remembered members are another incarnation (restarted meanwhile, the pod
    # out of every cache): it frees its name for the new incarnation's pod.
    resource, children, pods = deployment(members=False)
    pods[3] = released(pods[3], **{GROUP: None})
    p = plan(snap(resource, children, pods))
    assert p.relabel_pods == []
    assert ("demo-1-1", "uid-demo-1-1") in p.delete_pods
    # Its StatefulSet, which backs off creating that name, is told to sync once it is gone.
    assert p.resync == [("demo-1", statefulset(children, 1)["metadata"]["uid"])]
    ((kind, _, message),) = [e for e in p.events if e[1] == Reason.RELEASED_POD_DELETED]
    assert kind == "Warning" and message.startswith("deleted pod demo-1-1 of group 1")
    # Remembered, but a peer is gone: it does not rejoin either.
    resource, children, pods = deployment()
    lone = released(pods[3], **{GROUP: None})
    assert ("demo-1-1", "uid-demo-1-1") in plan(
        snap(resource, children, [*pods[:2], lone])
    ).delete_pods


def test_every_pod_of_a_group_released_is_put_back_not_replaced() -> None:
    # The fourth adversary: both ranks' instance label changed at once. Out of every cache,
    # the group's members were forgotten (none runs, to the operator), and each pod was
    # deleted "as its group went on without it": an intact group replaced, no restart
    # counted. No pod of the group is its StatefulSet's: nothing went on without them.
    resource, children, pods = deployment(members=False)
    gone = [released(p, **{INSTANCE: "zzz"}) for p in pods[2:]]
    found = reclaim(snap(resource, children, pods[:2]), gone)
    assert [n for n, *_ in found.relabel] == ["demo-1-0", "demo-1-1"]
    assert found.delete == []


def test_a_released_rank_0_of_a_group_restarted_since_is_deleted_not_put_back() -> None:
    # The second adversary: rank 0 out of every cache, its group restarted without it; its
    # StatefulSet creates its pods in order and stops at the taken name, so no pod of the
    # group was its own when the name was read, and rank 0 was put back beside the new
    # incarnation's workers. Made before the group's last restart: deleted.
    resource, children, pods = deployment(members=False)
    gone = released(pods[2], **{INSTANCE: "zzz"})
    resource["status"]["groups"][1]["restarts"] = ["2026-11-27T11:59:00Z"]
    found = reclaim(snap(resource, children, pods[:2]), [gone])
    assert (found.relabel, found.delete) == ([], [("demo-1-0", "uid-demo-1-0")])
    # Or rolled since (the operator's memory of its own deletions).
    resource["status"]["groups"][1]["restarts"] = []
    sts_uid = statefulset(children, 1)["metadata"]["uid"]
    found = reclaim(
        snap(resource, children, pods[:2], replaced={sts_uid: "2026-11-27T11:30:00Z"}), [gone]
    )
    assert found.delete == [("demo-1-0", "uid-demo-1-0")]
    # A restart before it was made is another incarnation's: put back.
    resource["status"]["groups"][1]["restarts"] = ["2026-11-27T10:00:00Z"]
    found = reclaim(snap(resource, children, pods[:2]), [gone])
    assert [n for n, *_ in found.relabel] == ["demo-1-0"]


def test_a_pod_index_label_changed_by_hand_is_put_back_with_no_restart() -> None:
    # Past the group's size, or no number: the rank is the name's (groups.rank).
    resource, children, pods = deployment()
    pods[1]["metadata"]["labels"][naming.POD_INDEX_LABEL] = "5"
    pods[2]["metadata"]["labels"][naming.POD_INDEX_LABEL] = "abc"
    p = plan(snap(resource, children, pods))
    assert p.delete_pods == [] and [v.ready for v in p.decision.views] == [True, True]
    assert p.relabel_pods == [
        ("demo-0-1", "uid-demo-0-1", {naming.POD_INDEX_LABEL: "1"}),
        ("demo-1-0", "uid-demo-1-0", {naming.POD_INDEX_LABEL: "0"}),
    ]


def test_the_only_pod_of_a_group_released_is_always_put_back() -> None:
    resource, children, pods = deployment(nodes=1, members=False)
    pods[1] = released(pods[1], **{INSTANCE: None})
    found = reclaim(snap(resource, children, [pods[0]]), [pods[1]])
    assert (found.relabel, found.delete) == (
        [("demo-1-0", "uid-demo-1-0", {INSTANCE: "demo"})],
        [],
    )


def test_a_pod_no_cache_holds_is_reclaimed_as_one_it_holds() -> None:
    # Its instance label changed: out of the deployment's caches; read by name (look_up).
    resource, children, pods = deployment()
    gone = released(pods[3], **{INSTANCE: "debug"})
    found = reclaim(snap(resource, children, pods[:3]), [gone])
    assert found.relabel == [("demo-1-1", "uid-demo-1-1", {INSTANCE: "demo"})]
    assert found.delete == []
    # Its group restarted meanwhile (a new incarnation, none remembered yet).
    resource["status"]["groups"][1]["members"] = []
    found = reclaim(snap(resource, children, pods[:3]), [gone])
    assert (found.relabel, found.delete) == ([], [("demo-1-1", "uid-demo-1-1")])
    assert found.resync == [("demo-1", statefulset(children, 1)["metadata"]["uid"])]


def test_pods_not_made_by_our_statefulsets_or_owned_by_others_are_never_touched() -> None:
    resource, children, pods = deployment()
    foreign = released(pods[3], **{GROUP: None})
    foreign["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "x", "controller": True, "uid": "y"}
    ]
    copied = released(pods[3], **{GROUP: None})
    del copied["metadata"]["labels"][STATEFULSET_POD_NAME_LABEL]
    del copied["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
    terminating = released(pods[3], **{GROUP: None})
    terminating["metadata"]["deletionTimestamp"] = "2026-11-27T11:59:00Z"
    other = released(pods[3], **{GROUP: None})
    other["metadata"]["name"] = other["metadata"]["labels"][STATEFULSET_POD_NAME_LABEL] = (
        "demo2-1-1"
    )
    for p in (foreign, copied, terminating, other):
        found = reclaim(snap(resource, children, pods[:3]), [p])
        assert (found.relabel, found.delete) == ([], []), p["metadata"]


def test_a_released_pod_deleted_with_its_group_restarted_has_its_statefulset_synced() -> None:
    # Released (group label removed) while a peer is deleted: the group restarts and the
    # released pod goes with it; its StatefulSet, told nothing of an orphan's deletion, is
    # synced again. A restart of pods it owns needs no such thing.
    resource, children, pods = deployment()
    released_pod = released(pods[3], **{GROUP: None})
    p = plan(snap(resource, children, [*pods[:2], released_pod]))
    assert ("demo-1-1", "uid-demo-1-1") in p.delete_pods
    assert p.resync == [("demo-1", statefulset(children, 1)["metadata"]["uid"])]
    p = plan(snap(resource, children, pods[:3]))
    assert ("demo-1-0", "uid-demo-1-0") in p.delete_pods
    assert p.resync == []


def test_a_released_pod_of_a_group_a_scale_down_removes_is_pruned() -> None:
    resource, children, pods = deployment()
    pods[3] = released(pods[3], **{GROUP: None})
    resource["spec"]["replicas"] = 1
    p = plan(snap(resource, children, pods))
    assert ("Pod", "ns", "demo-1-1", "uid-demo-1-1") in p.delete
    assert p.relabel_pods == []


def test_a_scale_down_reads_the_pods_no_cache_holds_of_the_groups_it_removes() -> None:
    # The fourth adversary: a pod released out of every cache (instance label changed),
    # then a scale-down removed its group before it was read: it ran on with its GPUs, no
    # owner to delete it. Read with the StatefulSet's removal, it is reclaimed, then pruned.
    resource, children, pods = deployment()
    resource["spec"]["replicas"] = 1
    p = plan(snap(resource, children, pods[:3]))
    assert ("StatefulSet", "ns", "demo-1", statefulset(children, 1)["metadata"]["uid"]) in p.delete
    assert p.look_up == ["demo-1-1"]
    assert plan(snap(resource, children, pods)).look_up == []


def test_a_statefulset_short_of_a_pod_has_its_name_read_once() -> None:
    # The pod left every cache (its instance label changed): its StatefulSet, observed at
    # its generation, lacks it and no FailedCreate event says why (AlreadyExists is not
    # told). Its name is read LOOK_UP_AFTER on, once per time it is short.
    resource, children, pods = deployment()
    sts = statefulset(children, 1)
    uid, template = sts["metadata"]["uid"], str(template_hash(sts))
    p = plan(snap(resource, children, pods[:3]))
    assert p.look_up == [] and p.short_since[uid] == (template, format_time(NOW))
    since = {uid: (template, format_time(NOW - timedelta(seconds=6)))}
    p = plan(snap(resource, children, pods[:3], short_since=since))
    assert p.look_up == ["demo-1-1"]
    p = plan(snap(resource, children, pods[:3], short_since=since, looked_up=p.looked_up))
    assert p.look_up == []
    # Read, and held by a pod its StatefulSet did not make (here: someone else's
    # controller's): left alone, and said at once, not after FAILED_CREATE_GRACE.
    foreign = released(pods[3], **{GROUP: None})
    foreign["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "x", "controller": True, "uid": "y"}
    ]
    snapshot = snap(resource, children, pods[:3], short_since=since)
    held = taken(snapshot, [foreign], reclaim(snapshot, [foreign]))
    assert held == {uid: ("demo-1-1",)}
    read = format_time(NOW - timedelta(seconds=4))
    looked = {uid: LookedUp(since[uid][1], held[uid], read)}
    p = plan(snap(resource, children, pods[:3], short_since=since, looked_up=looked))
    ((reason, message),) = p.problems
    assert reason == Reason.POD_CREATION_FAILED
    assert message.startswith(
        "StatefulSet demo-1 cannot create pods: pod(s) demo-1-1 exist but are not its own"
    )
    # Read again TAKEN_RECHECK after (deleted as Degraded says, nothing would tell).
    assert p.look_up == [] and p.requeue_after == 6
    later = {uid: LookedUp(since[uid][1], held[uid], format_time(NOW - timedelta(seconds=10)))}
    p = plan(snap(resource, children, pods[:3], short_since=since, looked_up=later))
    assert p.look_up == ["demo-1-1"] and p.requeue_after == 10
    assert p.looked_up[uid] == LookedUp(since[uid][1], held[uid], format_time(NOW))
    # One it made, or one reclaimed, holds nothing.
    assert taken(snapshot, [pods[3]], reclaim(snapshot, [pods[3]])) == {}
    gone = released(pods[3], **{INSTANCE: "x"})
    assert taken(snapshot, [gone], reclaim(snapshot, [gone])) == {}
    # A FailedCreate event says why: nothing to read.
    event = {uid: (format_time(NOW), "pods refused by a webhook")}
    assert (
        plan(snap(resource, children, pods[:3], short_since=since, failed_creates=event)).look_up
        == []
    )
