"""The reconcile's plan, on snapshots built by hand (no cluster): what is written, deleted and
reported, and the safety rules as properties over generated cluster states."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import sglang_operator.plan as plan_module
from sglang_operator import naming, runs
from sglang_operator.conditions import ADVISORY, Reason
from sglang_operator.groups import NODE_GONE, FailedCreate, Healing, format_time
from sglang_operator.plan import (
    APPLIED_ANNOTATION,
    BUILT_FROM_ANNOTATION,
    FAILED_CREATE_GRACE,
    LOOK_UP_AFTER,
    Accepted,
    Admitted,
    LookedUp,
    Refusal,
    Snapshot,
    group_of,
    key_of,
    plan,
    refusal_problem,
    statefulset_refused,
    status,
    template_hash,
)
from stored_objects import UID, admitted, sgld, stored_children

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T = "2026-11-27T12:00:00Z"
OLD = "0ld0ld0ld0ld0ld0"


def statefulset(children: Sequence[dict[str, Any]], group: int) -> dict[str, Any]:
    name = naming.group_name("demo", group)
    return next(c for c in children if c["kind"] == "StatefulSet" and c["metadata"]["name"] == name)


def with_old_template(sts: dict[str, Any]) -> None:
    """As if the StatefulSet still held an older revision (a refused or not yet sent one)."""
    sts["spec"]["template"]["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION] = OLD
    sts["metadata"]["annotations"][APPLIED_ANNOTATION] = "older-intent"


def pod(
    group: int,
    rank: int,
    spec_hash: str,
    *,
    ready: bool = True,
    phase: str = "Running",
    restarts: int = 0,
    owner: str | None = None,
    created: str = "2026-11-27T11:00:00Z",
) -> dict[str, Any]:
    sts_name = naming.group_name("demo", group)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{sts_name}-{rank}",
            "namespace": "ns",
            "uid": f"pod-{group}-{rank}-{spec_hash}",
            "creationTimestamp": created,
            "labels": {
                **naming.group_labels("demo", group),
                naming.POD_INDEX_LABEL: str(rank),
            },
            "annotations": {naming.POD_SPEC_HASH_ANNOTATION: spec_hash},
            "ownerReferences": [
                {"kind": "StatefulSet", "name": owner or sts_name, "controller": True, "uid": "x"}
            ],
        },
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "sglang", "restartCount": restarts, "state": {}}],
        },
    }


def pods_for(children: Sequence[dict[str, Any]], replicas: int, nodes: int) -> list[dict[str, Any]]:
    return [
        pod(g, r, str(template_hash(statefulset(children, g))))
        for g in range(replicas)
        for r in range(nodes)
    ]


def stored_revision(children: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ControllerRevision among stored_children(...): the recorded spec it keeps."""
    return next(c for c in children if c["kind"] == "ControllerRevision")


def revision_key(resource: dict[str, Any]) -> tuple[str, str, str]:
    """The key of the ControllerRevision that keeps `resource`'s recorded spec."""
    return key_of(plan_module.revision(resource, str(plan_module.recorded_spec(resource))))


def snapshot(resource: dict[str, Any], children: Any, pods: Any, **extra: Any) -> Snapshot:
    """Pods of new templates admitted (`admitted`) unless `pod_check` is given."""
    snap = Snapshot(sgld=resource, children=children, pods=pods, now=NOW, **extra)
    return snap if "pod_check" in extra else admitted(snap)


def test_at_rest_nothing_is_written_or_deleted() -> None:
    resource = sgld()
    children = stored_children(resource)
    p = plan(snapshot(resource, children, pods_for(children, 2, 2), pod_check=None))
    assert (p.apply, p.delete, p.delete_pods, p.problems) == ([], [], [], [])
    assert all(v.ready for v in p.decision.views)
    # No pod template changes: nothing to ask the API server about (no request at rest).
    assert p.check_pod is None


def test_a_name_of_another_deployments_headless_service_is_refused() -> None:
    # Third adversary's MED 2: a deployment `demo-1-hs` beside `demo` would take demo's
    # group-1 headless Service name for its client Service; before, whichever came second
    # ran its group without that Service (no rendezvous DNS) and counted it ready.
    resource = sgld()
    resource["metadata"]["name"] = "demo-1-hs"
    p = plan(snapshot(resource, [], []))
    assert (p.apply, p.delete) == ([], [])
    assert p.invalid is not None and "a name ending in -<number>-hs" in p.invalid
    for near in ("demo-hs", "demo-1-hsx", "demo-x-hs"):
        resource["metadata"]["name"] = near
        assert plan(snapshot(resource, [], [])).invalid is None, near


def test_a_missing_child_is_applied_and_only_it() -> None:
    resource = sgld()
    children = stored_children(resource)
    gone = children.pop(0)
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert [key_of(o) for o in p.apply] == [key_of(gone)]


def test_a_field_changed_by_hand_is_put_back() -> None:
    resource = sgld()
    children = stored_children(resource)
    sts = statefulset(children, 1)
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert [key_of(o) for o in p.apply] == [key_of(sts)]


def test_fields_the_api_server_adds_are_no_difference() -> None:
    resource = sgld()
    children = stored_children(resource)
    for child in children:
        child["metadata"]["managedFields"] = [{"manager": "sglang-operator"}]
        child["status"] = {"observedGeneration": 1}
        if child["kind"] == "StatefulSet":
            child["spec"]["revisionHistoryLimit"] = 10
            container = child["spec"]["template"]["spec"]["containers"][0]
            container["terminationMessagePath"] = "/dev/termination-log"
    assert plan(snapshot(resource, children, pods_for(children, 2, 2))).apply == []


def test_a_new_spec_is_applied_but_pods_wait_for_the_stored_revision() -> None:
    running = sgld()
    children = stored_children(running)
    pods = pods_for(children, 2, 2)
    changed = sgld(image="example.com/sglang:new")
    p = plan(snapshot(changed, children, pods))
    # Only the group whose rollout turn it is gets the new template; group 1 keeps its
    # stored one (healed meanwhile, it comes back on it). No pod is deleted before the
    # new template is stored.
    assert p.decision.turn == 0
    assert {o["metadata"]["name"] for o in p.apply if o["kind"] == "StatefulSet"} == {
        naming.group_name("demo", 0)
    }
    assert p.delete_pods == []


def test_a_new_pod_template_waits_for_a_dry_run_of_one_of_its_pods() -> None:
    children = stored_children(sgld())
    changed = sgld(image="example.com/sglang:new", priorityClassName="high")
    p = plan(snapshot(changed, children, pods_for(children, 2, 2), pod_check=None))
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)
    assert p.delete_pods == []
    assert p.check_pod is not None
    intent, pod = p.check_pod
    # Ordinal 0 of group 0, as the StatefulSet controller would make it, under a generated name.
    built = next(
        o for o in plan(snapshot(changed, children, [])).apply if o["kind"] == "StatefulSet"
    )
    assert built["metadata"]["name"] == "demo-0"
    template = built["spec"]["template"]
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["generateName"] == "demo-0-"
    assert "name" not in pod["metadata"]
    assert pod["metadata"]["namespace"] == "ns"
    assert pod["metadata"]["annotations"] == template["metadata"]["annotations"]
    assert pod["metadata"]["labels"] == {
        **template["metadata"]["labels"],
        "statefulset.kubernetes.io/pod-name": "demo-0-0",
        naming.POD_INDEX_LABEL: "0",
    }
    assert pod["spec"] == {
        **template["spec"],
        "hostname": "demo-0-0",
        "subdomain": built["spec"]["serviceName"],
    }
    assert pod["spec"]["priorityClassName"] == "high"
    # Admitted for this intent: the StatefulSet of the group in turn is written.
    p = plan(snapshot(changed, children, pods_for(children, 2, 2), pod_check=Admitted(intent)))
    assert {o["metadata"]["name"] for o in p.apply if o["kind"] == "StatefulSet"} == {"demo-0"}
    assert p.check_pod is None
    # An answer for another intent (an older spec) is no answer for this one.
    p = plan(snapshot(sgld(image="other:2"), children, [], pod_check=Admitted(intent)))
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)
    assert p.check_pod is not None and p.check_pod[0] != intent


def new_templates(p: Any, children: Sequence[dict[str, Any]]) -> list[str]:
    """The StatefulSets the plan writes that are new or carry another pod template than the
    stored one (one whose template stays may be written to record the new spec)."""
    stored = {key_of(c): template_hash(c) for c in children}
    return [
        o["metadata"]["name"]
        for o in p.apply
        if o["kind"] == "StatefulSet" and stored.get(key_of(o)) != template_hash(o)
    ]


def test_a_new_group_is_created_only_after_a_dry_run_too() -> None:
    children = stored_children(sgld(replicas=1))
    p = plan(snapshot(sgld(replicas=2), children, pods_for(children, 1, 2), pod_check=None))
    assert new_templates(p, children) == []
    assert p.check_pod is not None
    assert p.check_pod[1]["metadata"]["generateName"] == "demo-1-"


def test_pods_refused_in_the_dry_run_block_the_rollout_and_healing_goes_on() -> None:
    children = stored_children(sgld())
    pods = pods_for(children, 2, 2)
    pods[3]["status"]["containerStatuses"][0]["restartCount"] = 1  # group 1 rank 1 restarted
    changed = sgld(priorityClassName="does-not-exist")
    healthy = pods_for(children, 2, 2)
    intent = plan(snapshot(changed, children, healthy, pod_check=None)).check_pod[0]  # type: ignore[index]
    refusal = '403 pods "demo-0-" is forbidden: no PriorityClass with name does-not-exist was found'
    check = Refusal(intent, refusal, 1, NOW + timedelta(seconds=5))
    p = plan(snapshot(changed, children, pods, pod_check=check))
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)
    assert p.check_pod is None
    # Group 1 does not serve: its rank 1 restarted, its rank 0's communicators are broken.
    assert (
        Reason.POD_CREATION_FAILED,
        "the new pod template is not rolled out, and group(s) 1 are down meanwhile: the API "
        f"server refuses its pods: {refusal}",
    ) in p.problems
    assert p.requeue_after == 5.0
    # Nothing rolled; the broken group is restarted on the template it runs.
    assert rollout_steps(p) == []
    assert sorted(name for name, _ in p.delete_pods) == ["demo-1-0", "demo-1-1"]
    assert [e[1] for e in p.events] == [Reason.GROUP_RESTARTED]
    # Once its backoff expired, the API server is asked again, by the next plan whose
    # rollout turn would write the new template (none while a group restarts).
    later = Refusal(intent, refusal, 1, NOW - timedelta(seconds=1))
    p = plan(snapshot(changed, children, pods, pod_check=later))
    assert p.decision.turn is None and p.check_pod is None
    p = plan(snapshot(changed, children, healthy, pod_check=later))
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)
    assert p.check_pod is not None and p.check_pod[0] == intent


def test_a_stored_new_revision_rolls_one_group() -> None:
    resource = sgld()
    children = stored_children(resource)
    old_pods = [pod(g, r, OLD) for g in range(2) for r in range(2)]
    p = plan(snapshot(resource, children, old_pods))
    assert {name for name, _ in p.delete_pods} == {
        f"{naming.group_name('demo', 0)}-{r}" for r in range(2)
    }
    assert [e[1] for e in p.events] == [Reason.ROLLOUT_STEP]


def test_a_group_whose_pods_were_made_from_two_revisions_is_replaced_whole() -> None:
    """`kubectl set env sts/demo-1 FOO=x` with group 1's pods deleted: rank 0 was re-created
    from the changed template before the operator put it back, rank 1 after. Both carry the
    desired pod-spec hash (it is in the template); their controller-revision-hash tells.
    While the template is still the changed one, it is put back and nothing is deleted;
    once the StatefulSet controller observed it, group 1 is replaced whole."""
    resource = sgld()
    children = stored_children(resource)
    pods = pods_for(children, 2, 2)
    for p in pods:
        group = group_of(p)
        p["metadata"]["labels"][naming.POD_REVISION_LABEL] = f"demo-{group}-good"
    pods[2]["metadata"]["labels"][naming.POD_REVISION_LABEL] = "demo-1-edited"
    sts = statefulset(children, 1)
    edited = copy.deepcopy(sts)
    edited["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "FOO", "value": "x"})
    edited["metadata"]["generation"] = 2
    edited["status"] = {"observedGeneration": 2, "updateRevision": "demo-1-edited"}
    at_edit = [edited if c is sts else c for c in children]
    p = plan(snapshot(resource, at_edit, pods))
    assert [key_of(o) for o in p.apply] == [key_of(sts)]
    assert (p.delete_pods, p.decision.turn) == ([], None)
    # Put back, not observed yet: no step either.
    sts["metadata"]["generation"] = 3
    sts["status"] = {"observedGeneration": 2, "updateRevision": "demo-1-edited"}
    assert plan(snapshot(resource, children, pods)).delete_pods == []
    # Observed: rank 0 is on another revision than its StatefulSet's current one.
    sts["status"] = {"observedGeneration": 3, "updateRevision": "demo-1-good"}
    statefulset(children, 0)["status"] = {"updateRevision": "demo-0-good"}
    p = plan(snapshot(resource, children, pods))
    assert p.apply == []
    assert sorted(name for name, _ in p.delete_pods) == ["demo-1-0", "demo-1-1"]
    assert [e[1:] for e in p.events] == [
        (
            Reason.ROLLOUT_STEP,
            "replacing group 1: pod(s) demo-1-0 were made from another pod template than its "
            "StatefulSet's current one (demo-1-good)",
        )
    ]


def test_a_refused_statefulset_deletes_nothing_and_is_reported() -> None:
    running = sgld()
    children = stored_children(running)
    for g in range(2):
        with_old_template(statefulset(children, g))
    pods = [pod(g, r, OLD) for g in range(2) for r in range(2)]
    # The refusal is the API server's (injected below): the spec itself is valid.
    changed = sgld(podLabels={"team": "ml-platform"})
    # What the operator sends for each (its sizes are the stored ones).
    intents = {
        key_of(o): o["metadata"]["annotations"][APPLIED_ANNOTATION]
        for o in plan(snapshot(changed, [], [])).apply
    }
    refusals = {
        key: Refusal(intent, "422 invalid label value", 1, NOW + timedelta(seconds=5))
        for key, intent in intents.items()
        if key[0] == "StatefulSet"
    }
    p = plan(snapshot(changed, children, pods, refusals=refusals))
    assert p.delete_pods == []
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)
    assert [r for r, _ in p.problems] == [Reason.APPLY_FAILED] * 2
    assert p.requeue_after == 5.0
    # Only group 0's refused: its turn is skipped, group 1's StatefulSet takes the new
    # template instead (a refused child blocks only what depends on it).
    del refusals[key_of(statefulset(children, 1))]
    p = plan(snapshot(changed, children, pods, refusals=refusals))
    assert p.decision.turn == 1
    # The new spec's ControllerRevision comes first: no StatefulSet records a spec that no
    # revision keeps.
    assert [key_of(o) for o in p.apply] == [revision_key(changed), key_of(statefulset(children, 1))]
    assert p.delete_pods == []


def test_a_refused_child_is_sent_again_once_its_backoff_expired() -> None:
    resource = sgld()
    children = stored_children(resource)
    pods = pods_for(children, 2, 2)
    sts = statefulset(children, 0)
    with_old_template(sts)
    intent = plan(snapshot(resource, children, pods)).apply[0]["metadata"]["annotations"][
        APPLIED_ANNOTATION
    ]
    refusals = {key_of(sts): Refusal(intent, "500 boom", 3, NOW - timedelta(seconds=1))}
    p = plan(snapshot(resource, children, pods, refusals=refusals))
    assert [key_of(o) for o in p.apply] == [key_of(sts)]
    # Before then it is not sent.
    refusals = {key_of(sts): Refusal(intent, "500 boom", 3, NOW + timedelta(seconds=1))}
    assert plan(snapshot(resource, children, pods, refusals=refusals)).apply == []


def test_an_object_of_another_owner_is_reported_never_touched() -> None:
    resource = sgld()
    children = stored_children(resource)
    foreign = statefulset(children, 0)
    foreign["metadata"]["ownerReferences"] = [{"uid": "someone-else", "controller": True}]
    foreign["spec"]["template"]["spec"]["containers"][0]["image"] = "theirs"
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert key_of(foreign) not in {key_of(o) for o in p.apply}
    assert key_of(foreign) not in {d[:3] for d in p.delete}
    assert Reason.CONFLICTING_OBJECT in [r for r, _ in p.problems]


def test_groups_beyond_replicas_are_pruned_highest_first() -> None:
    children = stored_children(sgld(replicas=3))
    p = plan(snapshot(sgld(replicas=1), children, pods_for(children, 3, 2)))
    assert [d[2] for d in p.delete if d[0] == "StatefulSet"] == [
        naming.group_name("demo", 2),
        naming.group_name("demo", 1),
    ]
    assert any("removed group(s) 2, 1" in e[2] for e in p.events)


def pruned_groups(p: Any) -> list[int]:
    return sorted(int(name.split("-")[1]) for kind, _, name, _ in p.delete if kind == "StatefulSet")


def test_a_group_with_a_replaced_member_does_not_serve() -> None:
    # Adversary H1: group 0's rank 1 was replaced (deleted twice: its restart backs off);
    # its rank 0 stays Ready, but its collective communicators are broken until the group
    # restarts whole. Before, it counted as serving: Ready "1/1", a scale-down to 1 removed
    # group 1, the only intact copy (then group 0 restarted: nothing served), and a rollout
    # replaced group 1 before it.
    children = stored_children(sgld(replicas=2))
    pods = pods_for(children, 2, 2)
    members = sorted(p["metadata"]["uid"] for p in pods if group_of(p) == 0)
    pods[1]["metadata"]["uid"] = "pod-0-1-new"
    just = format_time(NOW - timedelta(seconds=5))
    state = {"groups": [{"index": 0, "members": members, "restarts": [just]}, {"index": 1}]}
    resource = sgld(replicas=2)
    resource["status"] = state
    p = plan(snapshot(resource, children, pods))
    assert [(v.index, v.ready) for v in p.decision.views] == [(0, False), (1, True)]
    assert [b.reason for b in p.decision.backoff] == [Reason.GROUP_RESTART_BACKOFF]
    assert plan_status(resource, p)["readyReplicas"] == 1
    # Scaled to 1: group 1 is kept while group 0 does not serve.
    down = sgld(replicas=1)
    down["status"] = state
    p = plan(snapshot(down, children, pods))
    assert (p.kept, pruned_groups(p)) == ([1], [])
    # A new spec while group 1 is the broken one: it is replaced first (its StatefulSet
    # takes the new template), not group 0, the only one serving.
    pods = pods_for(children, 2, 2)
    members = sorted(p["metadata"]["uid"] for p in pods if group_of(p) == 1)
    pods[3]["metadata"]["uid"] = "pod-1-1-new"
    changed = sgld(replicas=2, env=[{"name": "NEW", "value": "1"}])
    changed["status"] = {
        "groups": [{"index": 0}, {"index": 1, "members": members, "restarts": [just]}]
    }
    p = plan(snapshot(changed, children, pods))
    assert new_templates(p, children) == ["demo-1"]


def test_a_scale_down_never_removes_the_last_serving_group() -> None:
    # Group 0 on the new revision, its worker refused at creation (not ready); groups 1 and
    # 2 still serve the old one. `kubectl scale --replicas=1`: group 1 is kept, serving,
    # until group 0 serves; group 2 goes.
    children = stored_children(sgld(replicas=3))
    for g in (1, 2):
        with_old_template(statefulset(children, g))
    new = str(template_hash(statefulset(children, 0)))
    serving = [pod(g, r, OLD) for g in (1, 2) for r in range(2)]
    resource = sgld(replicas=1)
    p = plan(snapshot(resource, children, [pod(0, 0, new, ready=False), *serving]))
    assert (p.kept, pruned_groups(p)) == ([1], [2])
    assert {d[2] for d in p.delete} == {"demo-2", "demo-2-hs"}
    assert any("removed group(s) 2" in e[2] for e in p.events)
    progressing = next(
        c for c in plan_status(resource, p)["conditions"] if c["type"] == "Progressing"
    )
    assert progressing["status"] == "True"
    assert progressing["message"].endswith(
        "the scale-down to 1 replica(s) keeps group(s) 1, which serve(s), until a group "
        "that stays serves"
    )
    # The kept group serves the endpoint: counted (observed counts), and Ready.
    s = plan_status(resource, p)
    assert (s["replicas"], s["readyReplicas"]) == (2, 1)
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", Reason.GROUPS_READY)
    assert ready["message"].startswith("1/1 groups ready (group(s) 1 kept by the scale-down)")
    # The kept group loses a pod (deleted, evicted): it stops serving while it comes back,
    # and stays kept (the last plan kept it) rather than being removed.
    restarting = [pod(0, 0, new, ready=False), pod(1, 0, OLD), *serving[2:]]
    p = plan(snapshot(resource, children, restarting, kept={1: statefulset(children, 1)}))
    assert (p.kept, pruned_groups(p)) == ([1], [2])
    s = plan_status(resource, p)
    assert (s["replicas"], s["readyReplicas"]) == (2, 0)
    # Decided as a group: its memory stays in status (here none yet: never seen whole).
    assert s["groups"][-1] == {"index": 1, "ready": False, "members": [], "restarts": []}
    # Group 0 serves: the scale-down goes on.
    p = plan(snapshot(resource, children, [pod(0, r, new) for r in range(2)] + serving))
    assert (p.kept, pruned_groups(p)) == ([], [1, 2])
    p = plan(
        snapshot(
            resource,
            children,
            [pod(0, r, new) for r in range(2)],
            kept={1: statefulset(children, 1)},
        )
    )
    assert (p.kept, pruned_groups(p)) == ([], [1, 2])
    # Groups that go restarting (group 1 lost a pod, group 2 has no ready rank 0 yet): the
    # lowest is kept, the only one that could serve soon (a lead's decision; before, both
    # went).
    coming = [pod(1, 0, OLD), pod(2, 0, OLD, ready=False), pod(2, 1, OLD)]
    p = plan(snapshot(resource, children, [pod(0, 0, new, ready=False), *coming]))
    assert (p.kept, pruned_groups(p)) == ([1], [2])
    # Nothing to keep when the groups that go fail (group 1 crash-loops, group 2 is out of
    # its restart budget), nor when scaled to zero.
    looping = pod(1, 0, OLD)
    looping["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    spent = copy.deepcopy(resource)
    spent["status"] = {"groups": [{"index": 2, "restarts": [format_time(NOW)] * 5}]}
    p = plan(snapshot(spent, children, [pod(0, 0, new, ready=False), looping, *coming[1:]]))
    assert (p.kept, pruned_groups(p)) == ([], [1, 2])
    p = plan(snapshot(sgld(replicas=0), children, [pod(0, 0, new, ready=False), *serving]))
    assert (p.kept, pruned_groups(p)) == ([], [0, 1, 2])


def test_a_scale_down_keeps_a_restarting_group_only_on_a_revision_not_known_to_fail() -> None:
    """Group 0 is stuck on a revision whose worker is refused; group 1's pods were deleted and
    are coming back (minutes of model loading) when `kubectl scale --replicas=1` arrives: it
    is kept, the only group that could serve soon, and goes once group 0 serves. Before, it
    was removed ("removed group(s) 1"). Not kept: its own pods refused at creation."""
    children = stored_children(sgld(replicas=2))
    with_old_template(statefulset(children, 1))
    new = str(template_hash(statefulset(children, 0)))
    resource = sgld(replicas=1)
    loading = [pod(0, 0, new, ready=False), *(pod(1, r, OLD, ready=False) for r in range(2))]
    p = plan(snapshot(resource, children, loading))
    assert (p.kept, pruned_groups(p)) == ([1], [])
    progressing = next(
        c for c in plan_status(resource, p)["conditions"] if c["type"] == "Progressing"
    )
    assert progressing["message"].endswith(
        "the scale-down to 1 replica(s) keeps group(s) 1, which is restarting, until a group "
        "that stays serves"
    )
    # No pod of it back yet: still restarting.
    p = plan(snapshot(resource, children, loading[:1]))
    assert (p.kept, pruned_groups(p)) == ([1], [])
    refused = copy.deepcopy(resource)
    refused["status"] = {"groups": [{"index": 1, "failedCreate": {OLD: "refused"}}]}
    p = plan(snapshot(refused, children, loading[:1]))
    assert (p.kept, pruned_groups(p)) == ([], [1])
    p = plan(snapshot(resource, children, [pod(0, r, new) for r in range(2)], kept={}))
    assert (p.kept, pruned_groups(p)) == ([], [1])


def test_a_kept_group_is_healed_as_a_group_and_never_rolled() -> None:
    # 2 copies of 2 pods; group 0 is stuck on the new revision (its worker refused), group 1
    # serves the old one and `kubectl scale --replicas=1` keeps it. Its member demo-1-1 goes:
    # the whole group is restarted (a lone new rank 1 beside the old rank 0 hangs), counted
    # in its budget, its memory kept in status. Before, a kept group was only observed:
    # demo-1-1 came back alone, no restart, and status.groups[1] lost members and restarts.
    children = stored_children(sgld(replicas=2))
    with_old_template(statefulset(children, 1))
    new = str(template_hash(statefulset(children, 0)))
    members = [f"pod-1-{r}-{OLD}" for r in range(2)]
    resource = sgld(replicas=1)
    resource["status"] = {
        "groups": [
            {"index": 0, "members": [], "restarts": []},
            {"index": 1, "ready": True, "members": members, "restarts": []},
        ]
    }
    stuck = pod(0, 0, new, ready=False)
    p = plan(
        snapshot(
            resource,
            children,
            [stuck, *(pod(1, r, OLD) for r in range(2))],
            kept={1: statefulset(children, 1)},
        )
    )
    assert (p.kept, pruned_groups(p)) == ([1], [])
    assert plan_status(resource, p)["groups"][1] == {
        "index": 1,
        "ready": True,
        "members": members,
        "restarts": [],
    }
    replaced = pod(1, 1, OLD)
    replaced["metadata"]["uid"] = "pod-1-1-new"
    p = plan(
        snapshot(
            resource,
            children,
            [stuck, pod(1, 0, OLD), replaced],
            kept={1: statefulset(children, 1)},
        )
    )
    assert (p.kept, pruned_groups(p)) == ([1], [])
    assert sorted(p.delete_pods) == [("demo-1-0", members[0]), ("demo-1-1", "pod-1-1-new")]
    assert ("Warning", Reason.GROUP_RESTARTED) in [e[:2] for e in p.events]
    assert p.replaced == {"uid-demo-1": format_time(NOW)}
    # Restarted whole: it does not serve (its rank 0 stayed Ready beside a new rank 1).
    assert plan_status(resource, p)["groups"][1] == {
        "index": 1,
        "ready": False,
        "members": [],
        "restarts": [format_time(NOW)],
    }
    # Never rolled, never taking the rollout's turn: its StatefulSet is not written.
    assert p.decision.turn is None
    assert "demo-1" not in [o["metadata"]["name"] for o in p.apply]
    # Scaled up again, it stays what it is: a group of the spec, outdated, with its memory.
    again = copy.deepcopy(resource)
    again["spec"]["replicas"] = 2
    p = plan(snapshot(again, children, [stuck, pod(1, 0, OLD), replaced]))
    assert [(v.index, v.outdated) for v in p.decision.views] == [(0, False), (1, True)]
    assert [a.index for a in p.decision.actions] == [1]


def test_a_statefulset_changed_by_hand_out_of_its_turn_is_put_back_on_its_own_template() -> None:
    # 3 copies of 2 pods; a new spec (an env var): group 0 took the new template and comes
    # up on it, groups 1 and 2 wait for their turn on the old one. Group 1's StatefulSet is
    # scaled to 1 and given another update strategy by hand (the StatefulSet controller
    # removed demo-1-1). It is put back as built from the spec it records, on its own
    # template (never rolled out of turn), and its group, half there, does not serve.
    # Before, it was never written (not its turn) and served at the size it was left with.
    old = stored_children(sgld(replicas=3))
    resource = sgld(replicas=3, env=[{"name": "NEW", "value": "1"}])
    new = stored_children(resource)
    children = [
        *(statefulset(new, 0) if c is statefulset(old, 0) else c for c in old),
        stored_revision(new),
    ]
    halved = statefulset(children, 1)
    halved["spec"]["replicas"] = 1
    halved["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    was = str(template_hash(halved))
    pods = [
        pod(0, 0, str(template_hash(statefulset(new, 0))), ready=False),
        pod(1, 0, was),
        *(pod(2, r, was) for r in range(2)),
    ]
    p = plan(snapshot(resource, children, pods))
    written = {o["metadata"]["name"]: o for o in p.apply if o["kind"] == "StatefulSet"}
    assert sorted(written) == ["demo-1"]
    back = written["demo-1"]
    assert (back["spec"]["replicas"], back["spec"]["updateStrategy"]) == (2, {"type": "OnDelete"})
    assert template_hash(back) == was != template_hash(statefulset(new, 1))
    assert (
        back["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
        == halved["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    )
    assert [v.ready for v in p.decision.views] == [False, False, True]
    assert p.delete_pods == []
    # Put back, nothing more is written.
    back["metadata"]["uid"] = halved["metadata"]["uid"]
    stored = [back if c is halved else c for c in children]
    assert plan(snapshot(resource, stored, pods)).apply == []
    # A scale-down meanwhile keeps the whole copy (group 2), not the half one.
    down = copy.deepcopy(resource)
    down["spec"]["replicas"] = 1
    p = plan(snapshot(down, children, pods))
    assert (p.kept, pruned_groups(p)) == ([2], [1])


def test_a_kept_groups_statefulset_deleted_by_hand_is_built_again_as_it_was() -> None:
    # Group 0 is stuck on the new revision; group 1, on the old one, is kept by a scale-down
    # to 1. Its StatefulSet is deleted with --cascade=orphan (its pods run on, owned by
    # nothing): it is created again from the spec it recorded, as the operator remembers
    # it, on its own template (then it adopts its pods); its headless Service stays and no
    # event says the group was removed. Before, it never came back, and "removed group(s)
    # 1" was posted when the operator removed the Service alone.
    old = stored_children(sgld(replicas=2))
    changed = {"env": [{"name": "NEW", "value": "1"}]}
    new = stored_children(sgld(replicas=2, **changed))
    gone = statefulset(old, 1)
    children = [
        statefulset(new, 0) if c is statefulset(old, 0) else c for c in old if c is not gone
    ]
    was = str(template_hash(gone))
    orphans = [pod(1, r, was) for r in range(2)]
    for orphan in orphans:
        orphan["metadata"]["ownerReferences"] = []
        orphan["metadata"]["labels"][plan_module.STATEFULSET_POD_NAME_LABEL] = orphan["metadata"][
            "name"
        ]
    stuck = pod(0, 0, str(template_hash(statefulset(new, 0))), ready=False)
    resource = sgld(replicas=1, **changed)
    p = plan(snapshot(resource, children, [stuck, *orphans], kept={1: gone}))
    assert p.kept == [1]
    assert p.kept_statefulsets == {1: gone}
    (back,) = [o for o in p.apply if o["metadata"]["name"] == "demo-1"]
    assert (template_hash(back), back["spec"]["replicas"]) == (was, 2)
    assert (
        back["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
        == gone["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    )
    assert p.reverted == {key_of(back): plan_module.KEPT_REBUILT}
    assert (p.delete, p.delete_pods) == ([], [])
    assert Reason.SCALED not in [e[1] for e in p.events]
    progressing = next(
        c for c in plan_status(resource, p)["conditions"] if c["type"] == "Progressing"
    )
    assert "keeps group(s) 1" in progressing["message"]
    # Forgotten (the operator restarted meanwhile) while its orphaned pods serve: built
    # again all the same, from the ControllerRevision that keeps the spec its pods ran, and
    # kept (counted, healed). Before, it was only spared, and nothing counted it.
    p = plan(snapshot(resource, children, [stuck, *orphans]))
    assert p.kept == [1]
    (again,) = [o for o in p.apply if o["metadata"]["name"] == "demo-1"]
    assert again == back
    assert p.reverted == {key_of(back): plan_module.KEPT_REBUILT}
    assert (p.delete, p.delete_pods) == ([], [])
    assert [(v.index, v.ready) for v in p.decision.kept] == [(1, True)]
    # With no revision keeping that spec (an operator version before them): spared only,
    # with its Service (nothing else serves), and no event says it was removed.
    unkept = [c for c in children if c["kind"] != "ControllerRevision"]
    p = plan(snapshot(resource, unkept, [stuck, *orphans]))
    assert (p.kept, p.delete, p.delete_pods) == ([], [], [])
    assert "demo-1" not in written_statefulsets(p)
    assert Reason.SCALED not in [e[1] for e in p.events]
    # Forgotten, its orphaned pods not serving, and never kept as far as status says: the
    # group goes, with the pods its StatefulSet left behind (no StatefulSet would ever
    # delete them), and the event says so.
    orphans[0]["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p = plan(snapshot(resource, children, [stuck, *orphans]))
    assert p.kept == []
    assert sorted(d[:3] for d in p.delete) == [
        ("Pod", "ns", "demo-1-0"),
        ("Pod", "ns", "demo-1-1"),
        ("Service", "ns", "demo-1-hs"),
    ]
    assert ("Normal", Reason.SCALED, "scaled to 1 replica(s): removed group(s) 1") in p.events
    # Deleted with its pods, forgotten: only its Service is left to remove, and no event
    # claims the operator removed the group; nothing records the spec it ran any more, nor
    # runs it: the revision that keeps it goes too.
    p = plan(snapshot(resource, children, [stuck]))
    assert [d[:3] for d in p.delete] == [
        ("Service", "ns", "demo-1-hs"),
        key_of(stored_revision(old)),
    ]
    assert Reason.SCALED not in [e[1] for e in p.events]


def test_a_kept_groups_statefulset_scaled_by_hand_is_put_back_with_no_scale_up_event() -> None:
    # Group 0 is stuck on the new revision; group 1, on the old one, is kept by a scale-down
    # to 1. Its StatefulSet is scaled to 3 by hand: it is put back to 2 replicas, and no
    # event says the deployment scales up (it does not). Before: "scaling up from 1 to 1
    # replica(s)", as if the put-back StatefulSet were a new group's.
    old = stored_children(sgld(replicas=2))
    changed = {"env": [{"name": "NEW", "value": "1"}]}
    new = stored_children(sgld(replicas=2, **changed))
    children = [statefulset(new, 0) if c is statefulset(old, 0) else c for c in old]
    kept = statefulset(children, 1)
    was = str(template_hash(kept))
    kept["spec"]["replicas"] = 3
    pods = [
        pod(0, 0, str(template_hash(statefulset(new, 0))), ready=False),
        *(pod(1, r, was) for r in range(3)),
    ]
    p = plan(snapshot(sgld(replicas=1, **changed), children, pods))
    assert p.kept == [1]
    (back,) = [o for o in p.apply if o["metadata"]["name"] == "demo-1"]
    assert (template_hash(back), back["spec"]["replicas"]) == (was, 2)
    assert Reason.SCALED not in [e[1] for e in p.events]


def test_a_kept_group_whose_statefulset_is_orphan_deleted_is_not_restarted_mid_way() -> None:
    # Group 1, kept by a scale-down to 1, serves; its StatefulSet is deleted with
    # --cascade=orphan and the garbage collector has orphaned one pod, not the other yet.
    # Both are still its members: no restart (seen in e2e: "restarting group 1: 1 pod(s) of
    # group 1 were deleted, evicted or replaced" as the StatefulSet was rebuilt, and the
    # serving pods were replaced).
    old = stored_children(sgld(replicas=2))
    changed = {"env": [{"name": "NEW", "value": "1"}]}
    new = stored_children(sgld(replicas=2, **changed))
    gone = statefulset(old, 1)
    children = [
        statefulset(new, 0) if c is statefulset(old, 0) else c for c in old if c is not gone
    ]
    was = str(template_hash(gone))
    stuck = pod(0, 0, str(template_hash(statefulset(new, 0))), ready=False)
    pods = [pod(1, 0, was), *left_behind([pod(1, 1, was)])]
    resource = sgld(replicas=1, **changed)
    members = [p["metadata"]["uid"] for p in pods]
    resource["status"] = {
        "observedGeneration": 3,
        "groups": [{"index": 0}, {"index": 1, "ready": True, "members": members}],
    }
    p = plan(snapshot(resource, children, [stuck, *pods], kept={1: gone}))
    assert p.kept == [1]
    assert (p.delete, p.delete_pods) == ([], [])
    assert Reason.GROUP_RESTARTED not in [e[1] for e in p.events]
    assert [v.ready for v in p.decision.kept] == [True]


def left_behind(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`pods` as their StatefulSet left them when deleted with --cascade=orphan (groups of 2
    nodes: NNODES in their env says their group's size)."""
    out = copy.deepcopy(pods)
    for p in out:
        p["metadata"]["ownerReferences"] = []
        p["metadata"]["labels"][plan_module.STATEFULSET_POD_NAME_LABEL] = p["metadata"]["name"]
        env = [{"name": "NNODES", "value": "2"}]
        p["spec"] = {**p.get("spec", {}), "containers": [{"name": "sglang", "env": env}]}
    return out


def held_at(replicas: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Group 0 stuck on the new revision (its worker refused), groups 1.. of
    stored_children(sgld(replicas=`replicas`)) on the old one: the children, and group 0's
    pod."""
    children = stored_children(sgld(replicas=replicas))
    for g in range(1, replicas):
        with_old_template(statefulset(children, g))
    return children, pod(0, 0, str(template_hash(statefulset(children, 0))), ready=False)


def test_a_kept_group_orphaned_while_the_operator_was_down_keeps_serving() -> None:
    # Repro A: `kubectl scale --replicas=1` kept group 1 (status.groups lists it, at the
    # resource's generation); the operator stops, demo-1 is deleted with --cascade=orphan,
    # the operator starts (its memory of the kept group is gone). Group 1's pods, orphaned,
    # are the only ones serving: its pods and Service are spared. Before, both pods and the
    # Service were pruned ("removed group(s) 1") and nothing served.
    children, stuck = held_at(2)
    children = [c for c in children if c is not statefulset(children, 1)]
    orphans = left_behind([pod(1, r, OLD) for r in range(2)])
    resource = sgld(replicas=1)
    resource["status"] = {
        "observedGeneration": 3,
        "groups": [{"index": 0, "members": []}, {"index": 1, "ready": True, "members": []}],
    }
    p = plan(snapshot(resource, children, [stuck, *orphans]))
    assert (p.delete, p.delete_pods) == ([], [])
    assert Reason.SCALED not in [e[1] for e in p.events]
    # While it restarts (a pod gone, not serving), it is still kept: status says it was.
    p = plan(snapshot(resource, children, [stuck, orphans[0]]))
    assert (p.delete, p.delete_pods) == ([], [])
    # Group 0 serves: the kept group goes, its orphaned pods with it, and the event says so.
    serving0 = [pod(0, r, str(template_hash(statefulset(children, 0)))) for r in range(2)]
    p = plan(snapshot(resource, children, [*serving0, *orphans]))
    assert sorted(d[:3] for d in p.delete) == [
        ("Pod", "ns", "demo-1-0"),
        ("Pod", "ns", "demo-1-1"),
        ("Service", "ns", "demo-1-hs"),
    ]
    assert ("Normal", Reason.SCALED, "scaled to 1 replica(s): removed group(s) 1") in p.events


def test_orphaned_serving_pods_of_a_removed_group_count_for_a_scale_down() -> None:
    # Repro B: demo-1 deleted with --cascade=orphan just before `kubectl scale
    # --replicas=1` (never kept, status of the older generation): its orphaned pods serve,
    # so group 1 is kept and they are spared. Before, they were pruned and nothing served.
    children, stuck = held_at(2)
    children = [c for c in children if c is not statefulset(children, 1)]
    orphans = left_behind([pod(1, r, OLD) for r in range(2)])
    p = plan(snapshot(sgld(replicas=1), children, [stuck, *orphans]))
    assert (p.delete, p.delete_pods) == ([], [])
    assert Reason.SCALED not in [e[1] for e in p.events]
    # Repro C: replicas 3, demo-1 and demo-2 orphaned (their pods serve), then scaled to 1:
    # the lowest (group 1) is kept, group 2 goes, and the event names group 2 only.
    children, stuck = held_at(3)
    children = [c for c in children if c["metadata"]["name"] not in ("demo-1", "demo-2")]
    orphans = left_behind([pod(g, r, OLD) for g in (1, 2) for r in range(2)])
    p = plan(snapshot(sgld(replicas=1), children, [stuck, *orphans]))
    assert sorted(d[:3] for d in p.delete) == [
        ("Pod", "ns", "demo-2-0"),
        ("Pod", "ns", "demo-2-1"),
        ("Service", "ns", "demo-2-hs"),
    ]
    assert [e for e in p.events if e[1] == Reason.SCALED] == [
        ("Normal", Reason.SCALED, "scaled to 1 replica(s): removed group(s) 2")
    ]
    # Half a group left behind (group 1's rank 1 gone) does not serve: the next group that
    # serves, group 2, is kept instead, and group 1 goes.
    p = plan(snapshot(sgld(replicas=1), children, [stuck, orphans[0], *orphans[2:]]))
    assert sorted(d[:3] for d in p.delete) == [
        ("Pod", "ns", "demo-1-0"),
        ("Service", "ns", "demo-1-hs"),
    ]
    assert [e for e in p.events if e[1] == Reason.SCALED] == [
        ("Normal", Reason.SCALED, "scaled to 1 replica(s): removed group(s) 1")
    ]


def test_a_restarting_kept_group_stays_kept_across_an_operator_restart() -> None:
    # HIGH 2: scaled to 1, group 1 kept (status.groups lists it at the resource's
    # generation); its pods are deleted and their re-creation refused (or takes minutes to
    # load a model); the operator restarts (its memory of the kept group is gone). Group 1
    # is still kept and decided as a group. Before, demo-1 was pruned ("removed group(s) 1").
    children, stuck = held_at(2)
    resource = sgld(replicas=1)
    # Its re-created pods refused: not a group a scale-down would keep as restarting.
    refused = {str(template_hash(statefulset(children, 1))): "refused"}
    resource["status"] = {
        "observedGeneration": 3,
        "groups": [
            {"index": 0, "members": []},
            {"index": 1, "ready": False, "members": [], "failedCreate": refused},
        ],
    }
    p = plan(snapshot(resource, children, [stuck]))
    assert (p.kept, pruned_groups(p), p.delete) == ([1], [], [])
    assert p.kept_statefulsets == {1: statefulset(children, 1)}
    # A status of an older generation (written before this scale-down) lists every group it
    # had: it says nothing of what this spec kept, and group 1, not serving, goes.
    resource["status"]["observedGeneration"] = 2
    p = plan(snapshot(resource, children, [stuck]))
    assert (p.kept, pruned_groups(p)) == ([], [1])
    # Nor is a group kept whose pod is on an unreachable node.
    resource["status"]["observedGeneration"] = 3
    lost = pod(1, 0, OLD)
    lost["spec"] = {"nodeName": "gone"}
    p = plan(snapshot(resource, children, [stuck, lost], unreachable={"gone": NOW}))
    assert (p.kept, pruned_groups(p)) == ([], [1])


def test_a_group_on_an_unreachable_node_is_not_kept_by_a_scale_down() -> None:
    children = stored_children(sgld(replicas=2))
    with_old_template(statefulset(children, 1))
    new = str(template_hash(statefulset(children, 0)))
    serving = [pod(1, r, OLD) for r in range(2)]
    serving[1]["spec"] = {"nodeName": "gone"}
    p = plan(
        snapshot(
            sgld(replicas=1),
            children,
            [pod(0, 0, new, ready=False), *serving],
            unreachable={"gone": NODE_GONE},
        )
    )
    assert (p.kept, pruned_groups(p)) == ([], [1])


def test_a_new_group_size_waits_for_the_groups_pods_to_run_the_new_template() -> None:
    children = stored_children(sgld(nodes=1))
    old_pods = pods_for(children, 2, 1)
    p = plan(snapshot(sgld(nodes=2), children, old_pods))
    # The new template goes out at the old size, to the group in turn only: no
    # new-revision rank joins an old group. Both groups serve at their stored size.
    written = [o for o in p.apply if o["kind"] == "StatefulSet"]
    assert [o["metadata"]["name"] for o in written] == [naming.group_name("demo", 0)]
    assert all(o["spec"]["replicas"] == 1 for o in written)
    assert all(template_hash(o) != template_hash(statefulset(children, 0)) for o in written)
    assert p.delete_pods == []
    assert [v.ready for v in p.decision.views] == [True, True]

    # Stored and observed: group 0 is rolled; once its pod runs the new template it grows.
    new_children = [c for c in children if c is not statefulset(children, 0)]
    sts = copy.deepcopy(statefulset(stored_children(sgld(nodes=2)), 0))
    sts["spec"]["replicas"] = 1
    sts["metadata"]["annotations"] = written[0]["metadata"]["annotations"]
    new_children += [sts, stored_revision(stored_children(sgld(nodes=2)))]
    p = plan(snapshot(sgld(nodes=2), new_children, old_pods))
    assert [name for name, _ in p.delete_pods] == [f"{naming.group_name('demo', 0)}-0"]
    new_hash = str(template_hash(statefulset(new_children, 0)))
    grown = [pod(0, 0, new_hash), pod(1, 0, str(template_hash(statefulset(children, 1))))]
    p = plan(snapshot(sgld(nodes=2), new_children, grown))
    assert [(o["metadata"]["name"], o["spec"]["replicas"]) for o in p.apply] == [
        (naming.group_name("demo", 0), 2)
    ]
    # Group 0 is short of its second rank: group 1 waits for it, on its old template.
    assert [v.ready for v in p.decision.views] == [False, True]
    assert p.decision.turn is None


def test_no_pod_is_deleted_before_the_statefulset_controller_saw_the_template() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts = statefulset(children, 0)
    sts["metadata"]["generation"] = 2
    sts["status"] = {"observedGeneration": 1}
    p = plan(snapshot(resource, children, [pod(0, r, OLD) for r in range(2)]))
    assert p.delete_pods == []


def test_pods_refused_at_creation_are_reported_from_failed_create_events() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts = statefulset(children, 0)
    failed = {sts["metadata"]["uid"]: ("2026-11-27T11:59:00Z", 'pods "x" is forbidden: no class')}
    p = plan(snapshot(resource, children, [], failed_creates=failed))
    assert (
        Reason.POD_CREATION_FAILED,
        f"StatefulSet {sts['metadata']['name']} cannot create "
        'pods: pods "x" is forbidden: no class',
    ) in p.problems


def test_a_failed_create_from_before_the_group_was_replaced_is_history() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts = statefulset(children, 0)
    uid = sts["metadata"]["uid"]
    # The group was just rolled: no pod yet, and a FailedCreate event of an older template
    # that the API server still keeps.
    failed = {uid: ("2026-11-27T11:20:00Z", 'pods "x" is forbidden: no class')}
    replaced = {uid: "2026-11-27T11:59:30Z"}
    p = plan(snapshot(resource, children, [], failed_creates=failed, replaced=replaced))
    assert [r for r, _ in p.problems] == []
    # A refusal after the replacement counts.
    failed = {uid: ("2026-11-27T11:59:31Z", 'pods "x" is forbidden: no class')}
    p = plan(snapshot(resource, children, [], failed_creates=failed, replaced=replaced))
    assert [r for r, _ in p.problems] == [Reason.POD_CREATION_FAILED]


def test_a_failed_create_from_before_a_statefulset_was_put_back_is_history() -> None:
    # Adversary: pods refused by a policy, the policy removed, then `kubectl scale sts` by
    # hand (the group complete at that size: the refusal forgotten). The operator puts
    # replicas back; until the StatefulSet controller has seen that (observedGeneration
    # behind), its missing pod is not refused: the FailedCreate event, newer than the
    # group's pods, is from before. Before: a PodCreationFailed Warning quoting a refusal
    # gone, posted for that moment.
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts = statefulset(children, 0)
    sts["metadata"]["generation"] = 5
    sts["status"] = {"observedGeneration": 4}
    failed = {sts["metadata"]["uid"]: ("2026-11-27T11:59:00Z", 'pods "x" is forbidden: policy')}
    pods = [pod(0, 0, str(template_hash(sts)))]
    p = plan(snapshot(resource, children, pods, failed_creates=failed))
    assert p.problems == []
    # Seen by its controller and still a pod short: refused as the event says.
    sts["status"] = {"observedGeneration": 5}
    p = plan(snapshot(resource, children, pods, failed_creates=failed))
    assert [r for r, _ in p.problems] == [Reason.POD_CREATION_FAILED]


QUOTA_FILLED = (
    'create Pod demo-0-0 in StatefulSet demo-0 failed error: pods "demo-0-0" is forbidden: '
    "exceeded quota: gpus, requested: requests.amd.com/gpu=2, used: requests.amd.com/gpu=2, "
    "limited: requests.amd.com/gpu=2"
)


def test_a_quota_refusal_right_after_the_operators_own_deletion_is_not_reported_yet() -> None:
    # A rollout step deleted the group's pod, the StatefulSet controller re-created it at
    # once, and the quota controller had not released the deleted pod's usage yet: a
    # FailedCreate "exceeded quota" that the controller's retry a moment later gets past.
    # Not a refusal to report (before: a PodCreationFailed event for every such update),
    # but the group counts as failing meanwhile: nothing else goes onto its revision.
    resource = sgld(replicas=1, nodes=1)
    children = stored_children(resource)
    uid = statefulset(children, 0)["metadata"]["uid"]
    replaced = {uid: format_time(NOW - timedelta(seconds=5))}
    failed = {uid: (format_time(NOW - timedelta(seconds=4)), QUOTA_FILLED)}
    p = plan(snapshot(resource, children, [], failed_creates=failed, replaced=replaced))
    assert p.problems == []
    assert p.decision.holding == [0]
    assert p.requeue_after == 25
    # Still refused FAILED_CREATE_GRACE after the deletion: reported.
    later = {uid: format_time(NOW - FAILED_CREATE_GRACE)}
    p = plan(snapshot(resource, children, [], failed_creates=failed, replaced=later))
    assert p.problems == [
        (Reason.POD_CREATION_FAILED, f"StatefulSet demo-0 cannot create pods: {QUOTA_FILLED}")
    ]
    # At once: a quota the pod alone exceeds, and any other refusal.
    alone = QUOTA_FILLED.replace(
        "requested: requests.amd.com/gpu=2", "requested: requests.amd.com/gpu=4"
    )
    for message in (alone, 'pods "demo-0-0" is forbidden: no PriorityClass'):
        failed = {uid: (format_time(NOW - timedelta(seconds=4)), message)}
        p = plan(snapshot(resource, children, [], failed_creates=failed, replaced=replaced))
        assert [r for r, _ in p.problems] == [Reason.POD_CREATION_FAILED]


def test_a_rollout_held_by_a_quota_refusal_not_reported_yet_says_so() -> None:
    # Group 0 was rolled (its pod deleted by the operator 5 s ago); the quota has not
    # released that pod's usage yet, so its new pod is refused, which is not reported
    # within the grace (Degraded stays False). Progressing says what holds the rollout
    # meanwhile, without pointing at a Degraded that says nothing. Before: "group(s) 0
    # fail(s) on it (see Degraded)".
    resource = sgld(replicas=2, nodes=1)
    children = stored_children(resource)
    with_old_template(statefulset(children, 1))
    uid = statefulset(children, 0)["metadata"]["uid"]
    replaced = {uid: format_time(NOW - timedelta(seconds=5))}
    failed = {uid: (format_time(NOW - timedelta(seconds=4)), QUOTA_FILLED)}
    pods = [pod(1, 0, OLD)]
    p = plan(snapshot(resource, children, pods, failed_creates=failed, replaced=replaced))
    assert (p.problems, p.decision.holding) == ([], [0])
    conditions = {c["type"]: c for c in plan_status(resource, p)["conditions"]}
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Progressing"]["reason"] == Reason.ROLLOUT_HELD
    assert conditions["Progressing"]["message"] == (
        "the rollout of the new revision is held: group(s) 0 wait(s) for pods that the API "
        "server refused at creation, retried meanwhile; group(s) 1 still run the old one"
    )
    # Once reported, Degraded has the details.
    later = {uid: format_time(NOW - FAILED_CREATE_GRACE)}
    p = plan(snapshot(resource, children, pods, failed_creates=failed, replaced=later))
    conditions = {c["type"]: c for c in plan_status(resource, p)["conditions"]}
    assert conditions["Degraded"]["status"] == "True"
    assert "group(s) 0 fail(s) on it (see Degraded)" in conditions["Progressing"]["message"]


def stuck_rollout(*, memory: dict[str, str] | None) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """Group 0 rolled onto the new revision, whose rank 1 the API server refuses at
    creation; group 1, on the old one, restarting with its pods refused too (a quota): no
    group serves. `memory`: status.groups[0].failedCreate."""
    resource = sgld()
    children = stored_children(resource)
    with_old_template(statefulset(children, 1))
    new = str(template_hash(statefulset(children, 0)))
    if memory is not None:
        resource["status"] = {"groups": [{"index": 0, "failedCreate": memory}, {"index": 1}]}
    return resource, children, [pod(0, 0, new, ready=False)]


def test_a_remembered_refusal_outlives_its_events_and_nothing_is_moved_onto_it() -> None:
    # The FailedCreate events of group 0 are gone (kube-controller-manager's spam filter
    # stopped them, or they expired); status remembers the refusal of its template.
    resource, children, pods = stuck_rollout(memory=None)
    new = str(template_hash(statefulset(children, 0)))
    resource["status"] = {
        "groups": [{"index": 0, "failedCreate": {new: "workers refused"}}, {"index": 1}]
    }
    quota = {statefulset(children, 1)["metadata"]["uid"]: ("2026-11-27T11:59:00Z", "quota")}
    p = plan(snapshot(resource, children, pods, failed_creates=quota))
    assert p.decision.turn is None
    assert [o["metadata"]["name"] for o in p.apply if o["kind"] == "StatefulSet"] == []
    assert p.problems == [
        (Reason.POD_CREATION_FAILED, "StatefulSet demo-0 cannot create pods: workers refused"),
        (Reason.POD_CREATION_FAILED, "StatefulSet demo-1 cannot create pods: quota"),
    ]
    # Still remembered in the status written now.
    groups = plan_status(resource, p)["groups"]
    assert groups[0]["failedCreate"] == {new: "workers refused"}
    assert groups[1]["failedCreate"] == {OLD: "quota"}
    # With nothing remembered and no event (the hole): group 1 was moved onto the new
    # revision, whose pods the API server refuses.
    resource["status"] = {}
    p = plan(snapshot(resource, children, pods, failed_creates=quota))
    assert p.decision.turn == 1


def plan_status(resource: dict[str, Any], p: Any) -> dict[str, Any]:
    return status(
        resource.get("status") or {},
        generation=3,
        spec=p.spec,
        sgld=resource,
        decision=p.decision,
        problems=p.problems,
        run=runs.RunState(),
        now="2026-11-27T12:00:00Z",
    )


def test_a_refusal_seen_in_an_event_is_remembered_until_the_group_has_its_pods() -> None:
    resource, children, pods = stuck_rollout(memory=None)
    sts = statefulset(children, 0)
    new = str(template_hash(sts))
    failed = {sts["metadata"]["uid"]: ("2026-11-27T11:59:00Z", "workers refused")}
    p = plan(snapshot(resource, children, pods, failed_creates=failed))
    assert p.decision.memory[0].failed_create == FailedCreate(new, "workers refused")
    # Every pod of its template made: the refusal is history, whatever events remain.
    resource["status"] = plan_status(resource, p)
    full = [pod(0, r, new, created="2026-11-27T11:59:30Z") for r in range(2)]
    p = plan(snapshot(resource, children, full, failed_creates=failed))
    assert p.decision.memory[0].failed_create is None
    assert [r for r, _ in p.problems] == []
    assert "failedCreate" not in plan_status(resource, p)["groups"][0]


def test_a_refusal_of_an_earlier_template_holds_the_rollout_without_being_reported() -> None:
    # Group 0 took a newer template since its pods were refused: until that template's pods
    # are made (or refused in turn), no group is moved onto it, and status does not say
    # that its pods are refused.
    resource, children, pods = stuck_rollout(memory={OLD: "workers refused"})
    quota = {statefulset(children, 1)["metadata"]["uid"]: ("2026-11-27T11:59:00Z", "quota")}
    p = plan(snapshot(resource, children, pods, failed_creates=quota))
    assert p.decision.turn is None
    assert [m for _, m in p.problems] == ["StatefulSet demo-1 cannot create pods: quota"]


def test_a_statefulset_short_of_a_pod_past_the_grace_counts_as_refused_with_no_event() -> None:
    resource, children, pods = stuck_rollout(memory=None)
    sts = statefulset(children, 0)
    uid, new = sts["metadata"]["uid"], str(template_hash(sts))
    # First seen short now: the clock starts, a wakeup when the missing pod's name is to be
    # read (a pod no cache holds may hold it, LOOK_UP_AFTER), nothing read yet.
    p = plan(snapshot(resource, children, pods))
    assert p.short_since == {
        uid: (new, "2026-11-27T12:00:00Z"),
        statefulset(children, 1)["metadata"]["uid"]: (OLD, "2026-11-27T12:00:00Z"),
    }
    assert p.problems == [] and p.requeue_after == LOOK_UP_AFTER.total_seconds()
    assert p.look_up == [] and p.looked_up == {}
    # Both short since 10 s: their missing pods are read, once; the grace's end is 20 s
    # away.
    other = statefulset(children, 1)["metadata"]["uid"]
    ten = format_time(NOW - timedelta(seconds=10))
    since = {uid: (new, ten), other: (OLD, ten)}
    p = plan(snapshot(resource, children, pods, short_since=since))
    assert p.problems == [] and p.requeue_after == 20
    assert p.short_since == since
    looked = {uid: LookedUp(ten, read=T), other: LookedUp(ten, read=T)}
    assert "demo-0-1" in p.look_up and p.looked_up == looked
    p = plan(snapshot(resource, children, pods, short_since=since, looked_up=p.looked_up))
    assert p.look_up == [] and p.looked_up == looked
    assert p.problems == [] and p.requeue_after == 20
    # Short since the grace: refused, remembered, and nothing is moved onto it.
    since = {uid: (new, format_time(NOW - FAILED_CREATE_GRACE))}
    p = plan(snapshot(resource, children, pods, short_since=since))
    ((reason, message),) = p.problems
    assert reason == Reason.POD_CREATION_FAILED
    assert message.startswith("StatefulSet demo-0 cannot create pods: pod(s) demo-0-1 missing")
    assert p.decision.memory[0].failed_create is not None
    assert p.decision.memory[0].failed_create.template == new
    assert p.decision.turn is None
    # Short since then, but of another template: the clock starts again for this one.
    since = {uid: (OLD, format_time(NOW - timedelta(hours=1)))}
    p = plan(snapshot(resource, children, pods, short_since=since))
    assert p.problems == [] and p.short_since[uid] == (new, "2026-11-27T12:00:00Z")


def test_a_statefulset_not_observed_at_its_generation_is_not_short_yet() -> None:
    resource, children, pods = stuck_rollout(memory=None)
    sts = statefulset(children, 0)
    sts["metadata"]["generation"] = 2
    sts["status"] = {"observedGeneration": 1}
    since = {sts["metadata"]["uid"]: (str(template_hash(sts)), "2026-11-27T11:00:00Z")}
    p = plan(snapshot(resource, children, pods, short_since=since))
    assert sts["metadata"]["uid"] not in p.short_since
    assert p.problems == []


def test_a_rollout_step_or_restart_remembers_when_the_group_was_replaced() -> None:
    resource = sgld()
    children = stored_children(resource)
    p = plan(snapshot(resource, children, [pod(g, r, OLD) for g in range(2) for r in range(2)]))
    assert rollout_steps(p) == [0]
    assert p.replaced == {statefulset(children, 0)["metadata"]["uid"]: "2026-11-27T12:00:00Z"}
    pods = pods_for(children, 2, 2)
    pods[3]["status"]["containerStatuses"][0]["restartCount"] = 1
    p = plan(snapshot(resource, children, pods))
    assert p.replaced == {statefulset(children, 1)["metadata"]["uid"]: "2026-11-27T12:00:00Z"}
    assert plan(snapshot(resource, children, pods_for(children, 2, 2))).replaced == {}


def test_an_invalid_spec_plans_nothing() -> None:
    resource = sgld(shmSize="lots")
    p = plan(snapshot(resource, stored_children(sgld()), []))
    assert p.spec is None
    assert p.invalid and "shmSize" in p.invalid
    assert (p.apply, p.delete, p.delete_pods) == ([], [], [])


def test_an_invalid_spec_blocks_the_rollout_but_not_healing() -> None:
    children = stored_children(sgld())
    # Group 0 still runs an older revision (a rollout under way), group 1 lost a container.
    pods = [pod(0, r, OLD) for r in range(2)] + pods_for(children, 2, 2)[2:]
    pods[3]["status"]["containerStatuses"][0]["restartCount"] = 1
    refused = sgld(shmSize="lots")
    p = plan(snapshot(refused, children, pods))
    assert p.spec is None
    assert p.invalid and "shmSize" in p.invalid
    assert (p.apply, p.delete) == ([], [])
    assert rollout_steps(p) == []
    assert sorted(name for name, _ in p.delete_pods) == ["demo-1-0", "demo-1-1"]
    assert [e[1] for e in p.events] == [Reason.GROUP_RESTARTED]
    assert [v.index for v in p.decision.views] == [0, 1]


def test_an_invalid_spec_heals_as_the_last_accepted_spec_said() -> None:
    children = stored_children(sgld())
    pods = pods_for(children, 2, 2)
    pods[3]["status"]["containerStatuses"][0]["restartCount"] = 1
    never = Accepted(Healing(restart_budget=0))
    p = plan(snapshot(sgld(shmSize="lots"), children, pods, accepted=never))
    assert p.delete_pods == []
    assert [x.reason for x in p.decision.budget_exhausted] == [
        Reason.GROUP_RESTART_BUDGET_EXHAUSTED
    ]


def test_an_invalid_spec_still_force_deletes_pods_of_a_lost_node() -> None:
    children = stored_children(sgld(replicas=1, nodes=1))
    pods = pods_for(children, 1, 1)
    pods[0]["spec"] = {"nodeName": "gone"}
    p = plan(
        snapshot(
            sgld(replicas=1, nodes=1, shmSize="lots"),
            children,
            pods,
            unreachable={"gone": NODE_GONE},
        )
    )
    assert p.force_delete_pods == [("demo-0-0", pods[0]["metadata"]["uid"])]
    assert Reason.POD_FORCE_DELETED in [e[1] for e in p.events]


def test_an_invalid_spec_wakes_the_operator_when_healing_is_due() -> None:
    # A pod on a node unreachable for 10 s: force-deleted 110 s later (the default 2 min).
    # Before, the plan of an invalid spec never asked to be woken: the pod waited for an
    # unrelated watch event.
    children = stored_children(sgld(replicas=1, nodes=1))
    pods = pods_for(children, 1, 1)
    pods[0]["spec"] = {"nodeName": "lost"}
    p = plan(
        snapshot(
            sgld(replicas=1, nodes=1, shmSize="lots"),
            children,
            pods,
            unreachable={"lost": NOW - timedelta(seconds=10)},
        )
    )
    assert p.force_delete_pods == []
    assert p.requeue_after == 110


def test_an_invalid_spec_puts_back_a_statefulset_scaled_by_hand() -> None:
    # `kubectl scale sts demo-1 --replicas=1` while the spec is refused: the StatefulSet is
    # put back as the spec it records built it (nothing from the refused spec), and half
    # its group does not count as serving. Before, it stayed half-size and served so.
    children = stored_children(sgld())
    halved = statefulset(children, 1)
    halved["spec"]["replicas"] = 1
    pods = pods_for(children, 2, 2)[:3]
    p = plan(snapshot(sgld(shmSize="lots"), children, pods))
    assert p.spec is None
    (back,) = p.apply
    assert (back["metadata"]["name"], back["spec"]["replicas"]) == ("demo-1", 2)
    assert template_hash(back) == template_hash(halved)
    assert [v.ready for v in p.decision.views] == [True, False]


def test_an_invalid_spec_heals_each_group_at_its_stored_size() -> None:
    # A size change was under way: group 0 already at 2 pods, group 1 still at 1 (its
    # StatefulSet as the spec of 1 node built it, and records).
    children = stored_children(sgld(nodes=2))
    one = statefulset(stored_children(sgld(nodes=1)), 1)
    children = [one if c is statefulset(children, 1) else c for c in children]
    pods = [pod(0, r, str(template_hash(statefulset(children, 0)))) for r in range(2)]
    pods.append(pod(1, 0, str(template_hash(statefulset(children, 1)))))
    p = plan(snapshot(sgld(nodes=2, shmSize="lots"), children, pods))
    assert [v.ready for v in p.decision.views] == [True, True]
    assert p.delete_pods == []


def rollout_steps(p: Any) -> list[int]:
    return [a.index for a in p.decision.actions if a.kind == Reason.ROLLOUT_STEP]


def test_a_new_spec_and_a_scale_up_never_take_down_the_only_serving_group() -> None:
    # As reported: extraArgs changed and replicas 1 -> 2 at once, no room for group 1.
    resource = sgld(replicas=2, server={"extraArgs": ["--log-level", "debug"]})
    children = stored_children(resource)
    serving_old = [pod(0, r, OLD) for r in range(2)]
    # First plan: group 1's StatefulSet is not stored yet.
    first = plan(
        snapshot(resource, [c for c in children if c is not statefulset(children, 1)], serving_old)
    )
    assert rollout_steps(first) == [] and first.delete_pods == []
    # Then group 1 is stored and its pods cannot be scheduled.
    new = str(template_hash(statefulset(children, 1)))
    stuck = [pod(1, r, new, ready=False, phase="Pending") for r in range(2)]
    later = plan(snapshot(resource, children, serving_old + stuck))
    assert rollout_steps(later) == [] and later.delete_pods == []
    assert [v.ready for v in later.decision.views] == [True, False]
    # Once group 1 serves, group 0 is replaced.
    up = [pod(1, r, new) for r in range(2)]
    assert rollout_steps(plan(snapshot(resource, children, serving_old + up))) == [0]


def test_a_rollout_replaces_a_group_that_serves_nothing_first() -> None:
    resource = sgld(replicas=2)
    children = stored_children(resource)
    pods = [pod(0, r, OLD) for r in range(2)] + [
        pod(1, r, OLD, ready=False, phase="Pending") for r in range(2)
    ]
    p = plan(snapshot(resource, children, pods))
    assert rollout_steps(p) == [1]
    assert {name for name, _ in p.delete_pods} == {
        f"{naming.group_name('demo', 1)}-{r}" for r in range(2)
    }


def test_with_no_group_ready_a_broken_revision_is_replaced_without_waiting() -> None:
    resource = sgld(replicas=2)
    children = stored_children(resource)
    new = str(template_hash(statefulset(children, 0)))
    coming_up = [pod(0, r, new, ready=False, created="2026-11-27T11:59:00Z") for r in range(2)]
    broken = [pod(1, r, OLD, ready=False, restarts=1) for r in range(2)]
    resource["status"] = {
        "groups": [{"index": 1, "restarts": ["2026-11-27T11:59:00Z"] * 5}]
    }  # out of restart budget: left to the rollout
    p = plan(snapshot(resource, children, coming_up + broken))
    assert rollout_steps(p) == [1]
    # Once the new revision's group fails too (past its startup window), it is known to
    # fail: no other group is moved onto it.
    late = [pod(0, r, new, ready=False) for r in range(2)]
    assert rollout_steps(plan(snapshot(resource, children, late + broken))) == []


def test_a_statefulset_being_deleted_is_never_rolled_and_holds_the_rollout() -> None:
    # Scaled 2 -> 1 (group 1's StatefulSet is being deleted), then back to 2 at once.
    resource = sgld(replicas=2)
    children = stored_children(resource)
    statefulset(children, 1)["metadata"]["deletionTimestamp"] = "2026-11-27T11:59:59Z"
    pods = [pod(g, r, OLD) for g in range(2) for r in range(2)]
    p = plan(snapshot(resource, children, pods))
    assert rollout_steps(p) == [] and p.delete_pods == []
    assert [v.ready for v in p.decision.views] == [True, False]


# ---- properties over generated cluster states -----------------------------------------------


@st.composite
def states(draw: st.DrawFn) -> tuple[Snapshot, set[str]]:
    """A deployment mid-life: some StatefulSets on the old revision, some refused, pods of
    either revision in any health, a stranger's object and a stranger's pod among them.
    Returns the snapshot and the set of StatefulSet names whose apply is refused."""
    replicas = draw(st.integers(1, 3))
    nodes = draw(st.integers(1, 3))
    resource = sgld(replicas=replicas, nodes=nodes)
    resource["status"] = {
        "groups": [
            {"index": g, "members": draw(st.sampled_from([[], ["gone"]])), "restarts": []}
            for g in range(replicas)
        ]
    }
    children = stored_children(resource)
    refusals = {}
    refused: set[str] = set()
    intents = {key_of(o): o for o in plan(snapshot(resource, [], [])).apply}
    for g in range(replicas):
        sts = statefulset(children, g)
        if draw(st.booleans()):
            with_old_template(sts)
            if draw(st.booleans()):
                key = key_of(sts)
                intent = intents[key]["metadata"]["annotations"][APPLIED_ANNOTATION]
                refusals[key] = Refusal(intent, "422 no", 1, NOW + timedelta(seconds=30))
                refused.add(sts["metadata"]["name"])
        # The StatefulSet controller has not seen the stored generation yet.
        if draw(st.integers(0, 3)) == 0:
            sts["metadata"]["generation"] = 2
            sts["status"] = {"observedGeneration": 1}
    if draw(st.booleans()):
        stranger = statefulset(children, 0)
        stranger["metadata"]["ownerReferences"] = [{"uid": "stranger", "controller": True}]
    pods = []
    for g in range(replicas):
        for r in range(nodes):
            if draw(st.integers(0, 9)) == 0:
                continue
            pods.append(
                pod(
                    g,
                    r,
                    draw(st.sampled_from([OLD, str(template_hash(statefulset(children, g)))])),
                    ready=draw(st.booleans()),
                    phase=draw(st.sampled_from(["Running", "Running", "Pending", "Failed"])),
                    restarts=draw(st.sampled_from([0, 0, 1])),
                )
            )
    if draw(st.booleans()):
        pods.append(pod(0, 9, OLD, owner="hand-made"))
    return snapshot(resource, children, pods, refusals=refusals), refused


@settings(max_examples=300, deadline=None)
@given(states())
def test_plans_never_roll_two_groups_never_touch_strangers_never_delete_on_old_revisions(
    state: tuple[Snapshot, set[str]],
) -> None:
    snap, refused = state
    p = plan(snap)
    steps = [a for a in p.decision.actions if a.kind == Reason.ROLLOUT_STEP]
    # One group replaced at a time, and never beside a restart.
    assert len(steps) <= 1
    if steps:
        assert len(p.decision.actions) == 1
    # Only our objects: applied ones are missing or ours, deleted ones are ours.
    stored = {key_of(c): c for c in snap.children}
    for obj in p.apply:
        existing = stored.get(key_of(obj))
        assert existing is None or any(
            ref.get("uid") == UID for ref in existing["metadata"].get("ownerReferences") or []
        )
    for kind, namespace, name, _ in p.delete:
        owners = stored[(kind, namespace, name)]["metadata"]["ownerReferences"]
        assert any(ref.get("uid") == UID for ref in owners)
    pods = {(p_["metadata"]["name"], p_["metadata"]["uid"]): p_ for p_ in snap.pods}
    for target in p.delete_pods:
        owner = pods[target]["metadata"]["ownerReferences"][0]["name"]
        assert owner.startswith(naming.group_name("demo", 0)[:-1])
        assert owner != "hand-made"
    # A group is rolled only when its stored StatefulSet carries a revision some of its pods
    # lack (then the whole group goes: ranks of two revisions never serve together), and
    # never when its new StatefulSet was refused.
    for step in steps:
        sts = stored[("StatefulSet", "ns", naming.group_name("demo", step.index))]
        assert sts["metadata"]["name"] not in refused
        hashes = {
            pods[target]["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
            for target in step.pod_names
        }
        assert hashes - {template_hash(sts)}


def changed_templates(p: Any, snap: Snapshot) -> list[int]:
    """The stored groups whose StatefulSet the plan writes with another pod template."""
    stored = {key_of(c): c for c in snap.children}
    return [
        int(o["metadata"]["labels"][naming.GROUP_LABEL])
        for o in p.apply
        if o["kind"] == "StatefulSet"
        and key_of(o) in stored
        and template_hash(stored[key_of(o)]) != template_hash(o)
    ]


@settings(max_examples=300, deadline=None)
@given(states())
def test_a_new_template_goes_to_the_group_in_turn_only_and_its_pods_wait_for_it(
    state: tuple[Snapshot, set[str]],
) -> None:
    snap, _ = state
    p = plan(snap)
    desired = {
        int(o["metadata"]["labels"][naming.GROUP_LABEL]): template_hash(o)
        for o in stored_children(snap.sgld)
        if o["kind"] == "StatefulSet"
    }
    # During a rollout, at most the group in turn gets a changed template in one plan (new
    # groups and groups already on it are written as they are): a group not in turn is
    # never written one, so healing it re-creates the revision it ran.
    changed = changed_templates(p, snap)
    assert len(changed) <= 1
    assert all(g == p.decision.turn for g in changed)
    # No pod of a group is deleted for a rollout before its stored template, as the
    # StatefulSet controller observed it, is the desired one.
    stored = {key_of(c): c for c in snap.children}
    for step in rollout_steps(p):
        sts = stored[("StatefulSet", "ns", naming.group_name("demo", step))]
        assert template_hash(sts) == desired[step]
        seen = int((sts.get("status") or {}).get("observedGeneration") or 0)
        assert seen >= int(sts["metadata"].get("generation") or 0)


@st.composite
def scaling_states(draw: st.DrawFn) -> Snapshot:
    """A deployment scaled while a new revision rolls: stored groups fewer or more than the
    spec asks for, some StatefulSets missing or being deleted, pods of either revision in
    any health."""
    nodes = draw(st.integers(1, 2))
    replicas = draw(st.integers(1, 3))
    stored_groups = draw(st.integers(0, 3))
    resource = sgld(replicas=replicas, nodes=nodes)
    children = [
        c
        for c in stored_children(sgld(replicas=max(replicas, stored_groups), nodes=nodes))
        if c["kind"] != "StatefulSet"
        or (c["metadata"]["labels"] or {}).get(naming.GROUP_LABEL)
        in {str(g) for g in range(stored_groups)}
    ]
    pods = []
    for g in range(stored_groups):
        sts = statefulset(children, g)
        if draw(st.booleans()):
            with_old_template(sts)
        if draw(st.integers(0, 3)) == 0:
            sts["metadata"]["deletionTimestamp"] = "2026-11-27T11:59:59Z"
        for r in range(nodes):
            if draw(st.integers(0, 5)) == 0:
                continue
            pods.append(
                pod(
                    g,
                    r,
                    draw(st.sampled_from([OLD, str(template_hash(sts))])),
                    ready=draw(st.booleans()),
                    phase=draw(st.sampled_from(["Running", "Running", "Pending"])),
                )
            )
    return snapshot(resource, children, pods)


def serves(snap: Snapshot, group: int, nodes: int) -> bool:
    """The group's own StatefulSet (not being deleted) has every pod running, rank 0 ready."""
    name = naming.group_name("demo", group)
    sts = next(
        (c for c in snap.children if c["kind"] == "StatefulSet" and c["metadata"]["name"] == name),
        None,
    )
    if sts is None or sts["metadata"].get("deletionTimestamp"):
        return False
    mine = [
        p_
        for p_ in snap.pods
        if p_["metadata"]["ownerReferences"][0]["name"] == name
        and p_["status"]["phase"] == "Running"
    ]
    rank0 = [p_ for p_ in mine if p_["metadata"]["labels"][naming.POD_INDEX_LABEL] == "0"]
    return len(mine) == nodes and any(
        c["status"] == "True" for p_ in rank0 for c in p_["status"]["conditions"]
    )


@settings(max_examples=300, deadline=None)
@given(scaling_states())
def test_a_rollout_never_takes_down_a_serving_group_while_another_is_down(snap: Snapshot) -> None:
    p = plan(snap)
    spec = snap.sgld["spec"]
    replicas, nodes = spec["replicas"], spec["parallelism"]["nodes"]
    serving = {g for g in range(replicas) if serves(snap, g, nodes)}
    for step in rollout_steps(p):
        # Never a group being removed, or one whose StatefulSet is being deleted.
        assert step < replicas
        sts = statefulset(snap.children, step)
        assert not sts["metadata"].get("deletionTimestamp")
        # A serving group goes only when every other desired group serves too (when none
        # serves, only groups that serve nothing are replaced).
        if step in serving:
            assert serving == set(range(replicas))
    for action in p.decision.actions:
        assert action.index < replicas


def test_advice_is_a_warning_event_until_status_shows_it() -> None:
    # hostNetwork, two nodes a copy, no RDMA device: NCCL/RCCL would use TCP sockets.
    resource = sgld(network={"hostNetwork": True})
    children = stored_children(resource)
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert len(p.advice) == 1
    assert "TCP sockets" in p.advice[0]
    assert p.events == [("Warning", Reason.SPEC_ADVICE, p.advice[0])]
    assert p.problems == []
    assert all(v.ready for v in p.decision.views)

    shown = {
        "conditions": [
            {
                "type": ADVISORY,
                "status": "True",
                "reason": Reason.SPEC_ADVICE,
                "message": p.advice[0],
            }
        ]
    }
    again = plan(snapshot({**resource, "status": shown}, children, pods_for(children, 2, 2)))
    assert again.advice == p.advice
    assert again.events == []


def test_no_advice_no_event() -> None:
    resource = sgld()
    children = stored_children(resource)
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert (p.advice, p.events) == ([], [])


def test_a_statefulset_refusal_is_told_from_other_problems() -> None:
    """What keeps a benchmark from running for a generation that does not run."""
    assert statefulset_refused([refusal_problem("StatefulSet", "x-0", "422 invalid")])
    assert not statefulset_refused([refusal_problem("Service", "x", "422 invalid")])
    assert not statefulset_refused(
        [(Reason.POD_CREATION_FAILED, "StatefulSet x-0 cannot create pods: forbidden")]
    )
    assert not statefulset_refused([])
    # Held back because the dry run of its pods was refused: the generation does not run.
    children = stored_children(sgld())
    changed = sgld(priorityClassName="nope")
    intent = plan(snapshot(changed, children, [], pod_check=None)).check_pod[0]  # type: ignore[index]
    check = Refusal(intent, "403 forbidden", 1, NOW + timedelta(seconds=5))
    assert statefulset_refused(plan(snapshot(changed, children, [], pod_check=check)).problems)


# ---- a whole rollout replayed, with healing in the middle ---------------------------------------


class Replay:
    """The API server and the StatefulSet controller around plan(), one pass a second:
    applied StatefulSets are stored and observed at once, deleted pods go, then each group's
    missing pods are created from its stored template (Running and Ready at once) unless
    `refuses(replay, pod name, template hash)`, which leaves a FailedCreate event instead and
    a retry of that StatefulSet 10 s later (the controller's backoff)."""

    def __init__(self, resource: dict[str, Any], refuses: Any) -> None:
        self.resource, self.refuses = resource, refuses
        self.children = stored_children(resource)
        self.pods: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, tuple[str, str]] = {}
        self.now, self.created = NOW, 0
        self.written: list[tuple[int, str | None]] = []
        self.events: list[tuple[str, str, str]] = []
        self.retry: dict[str, datetime] = {}
        self.controller()

    def controller(self) -> None:
        for sts in [c for c in self.children if c["kind"] == "StatefulSet"]:
            name, group = (
                sts["metadata"]["name"],
                int(sts["metadata"]["labels"][naming.GROUP_LABEL]),
            )
            spec_hash = str(template_hash(sts))
            uid = sts["metadata"]["uid"]
            if self.now < self.retry.get(uid, self.now):
                continue
            for rank in range(sts["spec"]["replicas"]):
                pod_name = f"{name}-{rank}"
                if pod_name in self.pods:
                    continue
                if self.refuses(self, pod_name, spec_hash):
                    self.failed[uid] = (format_time(self.now), "refused")
                    self.retry[uid] = self.now + timedelta(seconds=10)
                    continue
                self.created += 1
                new = pod(group, rank, spec_hash, created=format_time(self.now))
                new["metadata"]["uid"] = f"{pod_name}-{self.created}"
                self.pods[pod_name] = new

    def step(self) -> Any:
        snap = Snapshot(
            self.resource, self.children, list(self.pods.values()), self.now, self.failed
        )
        p = plan(admitted(snap))
        self.events += p.events
        stored = {key_of(c): i for i, c in enumerate(self.children)}
        for obj in p.apply:
            if obj["kind"] != "StatefulSet":
                continue
            group = int(obj["metadata"]["labels"][naming.GROUP_LABEL])
            self.written.append((group, template_hash(obj)))
            stored_obj = {**copy.deepcopy(obj), "status": {}}
            stored_obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
            if key_of(obj) in stored:
                self.children[stored[key_of(obj)]] = stored_obj
            else:
                self.children.append(stored_obj)
        for name, uid in p.delete_pods:
            if name in self.pods and self.pods[name]["metadata"]["uid"] == uid:
                del self.pods[name]
        memory = [
            {"index": m.index, "members": m.members, "restarts": m.restarts}
            for m in p.decision.memory
        ]
        self.resource = {**self.resource, "status": {"groups": memory}}
        self.now += timedelta(seconds=1)
        self.controller()
        return p

    def run(self, passes: int) -> Any:
        p = None
        for _ in range(passes):
            p = self.step()
        return p

    def hashes(self, group: int) -> set[str]:
        prefix = naming.group_name("demo", group) + "-"
        return {
            p["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
            for name, p in self.pods.items()
            if name.startswith(prefix)
        }


def test_a_rollout_whose_worker_pods_are_refused_heals_the_other_group_on_its_old_revision() -> (
    None
):
    # Issue 10 F2 (b): the new revision's rank-1 pods are refused at creation only; the dry
    # run of one pod passes. Group 1 restarted meanwhile keeps serving its old revision.
    running = sgld(replicas=2, nodes=2)
    old = str(template_hash(statefulset(stored_children(running), 1)))
    changed = sgld(replicas=2, nodes=2, env=[{"name": "EVIL", "value": "1"}])
    new = {g: str(template_hash(statefulset(stored_children(changed), g))) for g in range(2)}
    replay = Replay(running, lambda _, name, h: h in new.values() and name.endswith("-1"))
    replay.run(3)
    replay.resource = {**changed, "status": replay.resource["status"]}
    p = replay.run(10)
    assert replay.hashes(0) == {new[0]} and len(replay.pods) == 3
    assert [v.ready for v in p.decision.views] == [False, True]
    assert (
        Reason.POD_CREATION_FAILED,
        "StatefulSet demo-0 cannot create pods: refused",
    ) in p.problems

    # A member of group 1 is deleted: group 1 restarts whole, on the revision it ran.
    del replay.pods["demo-1-0"]
    replay.events.clear()
    p = replay.run(10)
    assert Reason.GROUP_RESTARTED in [reason for _, reason, _ in replay.events]
    assert replay.hashes(1) == {old}
    assert [v.ready for v in p.decision.views] == [False, True]
    assert template_hash(statefulset(replay.children, 1)) == old
    assert [g for g, h in replay.written if h != old] == [0]


def test_a_rollout_stopped_by_a_quota_heals_an_untouched_group_on_its_old_revision() -> None:
    # Issue 10 F2 (a): 4 copies of 1 pod; the quota fits 6 CPU-units, an old pod takes 1, a
    # new one 2: groups 0 and 1 roll, group 2's new pod is refused, group 3 keeps serving.
    running = sgld(replicas=4, nodes=1)
    olds = {str(template_hash(statefulset(stored_children(running), g))) for g in range(4)}

    def units(spec_hash: str) -> int:
        return 1 if spec_hash in olds else 2

    def over_quota(replay: Replay, _: str, spec_hash: str) -> bool:
        used = sum(
            units(p["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION])
            for p in replay.pods.values()
        )
        return used + units(spec_hash) > 6

    replay = Replay(running, over_quota)
    replay.run(2)
    changed = sgld(replicas=4, nodes=1, resources={"requests": {"cpu": "2"}})
    replay.resource = {**changed, "status": replay.resource["status"]}
    p = replay.run(20)
    assert [v.ready for v in p.decision.views] == [True, True, False, True]
    assert [v.outdated for v in p.decision.views] == [False, False, False, True]
    # Group 3's pod is deleted: its StatefulSet re-creates it at once from the old
    # template, which fits (group 2's retry comes later, and is refused again).
    del replay.pods["demo-3-0"]
    p = replay.run(20)
    assert [v.ready for v in p.decision.views] == [True, True, False, True]
    assert replay.hashes(3) <= olds and len(replay.hashes(3)) == 1
    assert {g for g, h in replay.written if h not in olds} == {0, 1, 2}


def refused_check(changed: dict[str, Any], children: Any, pods: Any) -> Refusal:
    intent = plan(snapshot(changed, children, pods, pod_check=None)).check_pod[0]  # type: ignore[index]
    return Refusal(intent, "403 forbidden: restricted", 1, NOW + timedelta(seconds=5))


def test_a_held_template_says_which_groups_are_down_meanwhile_not_that_nothing_was_touched() -> (
    None
):
    # The namespace refuses the old template's pods too (Pod Security raised afterwards):
    # group 1 lost its pods and cannot get them back; the new template is refused as well.
    children = stored_children(sgld())
    pods = pods_for(children, 2, 2)[:2]
    changed = sgld(image="example.com/sglang:new")
    check = refused_check(changed, children, pods_for(children, 2, 2))
    p = plan(snapshot(changed, children, pods, pod_check=check))
    held = [m for r, m in p.problems if r == Reason.POD_CREATION_FAILED]
    assert held == [
        "the new pod template is not rolled out, and group(s) 1 are down meanwhile: the API "
        "server refuses its pods: 403 forbidden: restricted"
    ]
    assert statefulset_refused(p.problems)


def test_a_scale_up_held_by_the_dry_run_says_so() -> None:
    children = stored_children(sgld(replicas=1))
    pods = pods_for(children, 1, 2)
    scaled = sgld(replicas=3, priorityClassName="missing")
    p = plan(snapshot(scaled, children, pods, pod_check=refused_check(scaled, children, pods)))
    assert [m for r, m in p.problems if r == Reason.POD_CREATION_FAILED] == [
        "the new pod template is not rolled out (nothing running was touched): the API server "
        "refuses its pods: 403 forbidden: restricted"
    ]
    # The new copies are not held back with the new template: they are made on the one
    # group 0 runs (third adversary's MED 3; before, they waited, not created).
    written = written_statefulsets(p)
    assert sorted(written) == ["demo-1", "demo-2"]
    before = stored_children(sgld(replicas=3))
    for g in (1, 2):
        assert template_hash(written[f"demo-{g}"]) == template_hash(statefulset(before, g))
    assert ("Normal", Reason.SCALED, "scaling up from 1 to 3 replica(s)") in p.events
    # A scale-up alone: the running group keeps its template, only the new groups wait.
    scaled = sgld(replicas=3)
    p = plan(snapshot(scaled, children, pods, pod_check=refused_check(scaled, children, pods)))
    assert [m for r, m in p.problems if r == Reason.POD_CREATION_FAILED] == [
        "the scale-up waits: group(s) 1, 2 are not created: the API server refuses its pods: "
        "403 forbidden: restricted"
    ]
    assert statefulset_refused(p.problems)
    assert new_templates(p, children) == []


def test_a_new_deployment_held_by_the_dry_run_is_no_scale_up() -> None:
    resource = sgld(replicas=2, priorityClassName="missing")
    p = plan(snapshot(resource, [], [], pod_check=refused_check(resource, [], [])))
    assert [m for r, m in p.problems if r == Reason.POD_CREATION_FAILED] == [
        "the new pod template is not rolled out (nothing running was touched): the API server "
        "refuses its pods: 403 forbidden: restricted"
    ]
    assert not any(o["kind"] == "StatefulSet" for o in p.apply)


# ---- a missing StatefulSet while the rollout is held ---------------------------------------------


def held_rollout(
    replicas: int = 3, **changes: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[int, str]]:
    """`replicas` copies of 2 pods; an update (`changes`, else an env var) rolled onto group
    0, whose rank-1 pod the API server refused at creation (status.groups[0].failedCreate);
    the other groups serve the old revision. Returns the updated resource, the stored
    children, the pods, and each group's old pod-spec hash."""
    running = sgld(replicas=replicas)
    old_children = stored_children(running)
    old = {g: str(template_hash(statefulset(old_children, g))) for g in range(replicas)}
    changed = sgld(replicas=replicas, **(changes or {"env": [{"name": "EVIL", "value": "1"}]}))
    changed["metadata"]["generation"] = 4
    new_children = stored_children(changed)
    children = [
        *[c for c in new_children if c["kind"] != "StatefulSet"],
        statefulset(new_children, 0),
        *[statefulset(old_children, g) for g in range(1, replicas)],
        stored_revision(old_children),
    ]
    new0 = str(template_hash(statefulset(new_children, 0)))
    changed["status"] = {
        "groups": [
            {"index": 0, "failedCreate": {new0: "workers refused"}},
            *({"index": g} for g in range(1, replicas)),
        ]
    }
    pods = [pod(0, 0, new0, ready=False)] + [
        pod(g, r, old[g]) for g in range(1, replicas) for r in range(2)
    ]
    return changed, children, pods, old


def without(children: list[dict[str, Any]], group: int) -> list[dict[str, Any]]:
    name = naming.group_name("demo", group)
    return [
        c for c in children if not (c["kind"] == "StatefulSet" and c["metadata"]["name"] == name)
    ]


def written_statefulsets(p: Any) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in p.apply if o["kind"] == "StatefulSet"}


def test_a_statefulset_deleted_while_the_rollout_is_held_comes_back_on_the_old_revision() -> None:
    # Issue 10 A2: group 2's StatefulSet deleted by hand while group 0's new pods are
    # refused; the operator may have restarted (nothing in its memory).
    changed, children, pods, old = held_rollout()
    pods = [p for p in pods if group_of(p) != 2]
    p = plan(snapshot(changed, without(children, 2), pods))
    back = written_statefulsets(p)["demo-2"]
    assert template_hash(back) == old[2]
    assert p.reverted == {
        key_of(back): plan_module.ON_OLD_REVISION.format(why="the new revision fails")
    }
    # It records the spec it was built from: the old one, as its sibling does.
    recorded = statefulset(children, 1)["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    assert back["metadata"]["annotations"][BUILT_FROM_ANNOTATION] == recorded
    assert '"generation":3' in recorded
    # Exactly what the old spec built for group 2, owned and stamped.
    assert {**back, "metadata": {**back["metadata"], "uid": "uid-demo-2"}} == statefulset(
        stored_children(sgld(replicas=3)), 2
    )
    assert not any(reason == Reason.SCALED for _, reason, _ in p.events)
    assert p.problems[0][0] == Reason.POD_CREATION_FAILED
    # Before the fix (and with the rollout not held): created on the desired revision.
    changed["status"] = {}
    p = plan(snapshot(changed, without(children, 2), pods))
    assert template_hash(written_statefulsets(p)["demo-2"]) != old[2]


def orphaned(pods: list[dict[str, Any]], group: int) -> list[dict[str, Any]]:
    """The pods with group `group`'s pods left without a controller (their StatefulSet deleted
    with --cascade=orphan)."""
    out = copy.deepcopy(pods)
    for p in out:
        if group_of(p) == group:
            p["metadata"]["ownerReferences"] = []
            p["metadata"]["labels"][plan_module.STATEFULSET_POD_NAME_LABEL] = p["metadata"]["name"]
    return out


def test_a_statefulset_orphaned_while_the_rollout_is_held_comes_back_on_its_pods_revision() -> None:
    changed, children, pods, old = held_rollout()
    p = plan(snapshot(changed, without(children, 2), orphaned(pods, 2)))
    assert template_hash(written_statefulsets(p)["demo-2"]) == old[2]
    # Orphaned pods of the desired revision (group 2 was rolled before): created on it, as
    # when nothing fails; its pods are adopted, not replaced.
    new = str(template_hash(statefulset(stored_children(changed), 2)))
    rolled = [pod(2, r, new) if group_of(x) == 2 else x for x in pods for r in (rank_of(x),)]
    p = plan(snapshot(changed, without(children, 2), orphaned(rolled, 2)))
    assert template_hash(written_statefulsets(p)["demo-2"]) == new


def rank_of(x: dict[str, Any]) -> int:
    return int(x["metadata"]["labels"][naming.POD_INDEX_LABEL])


def test_the_revision_of_a_missing_group_is_the_one_its_orphaned_pods_run() -> None:
    # Two older revisions run: group 1 an older one still (a rollout of it was under way),
    # group 2 and 3 the one before the refused update. Group 3's StatefulSet is orphaned.
    changed, children, pods, old = held_rollout(replicas=4)
    older = sgld(replicas=4, env=[{"name": "OLDER", "value": "1"}])
    older["metadata"]["generation"] = 2
    older_sts = statefulset(stored_children(older), 1)
    children = [older_sts if c["metadata"]["name"] == "demo-1" else c for c in children]
    older_hash = str(template_hash(older_sts))
    pods = [pod(1, rank_of(x), older_hash) if group_of(x) == 1 else x for x in pods]
    p = plan(snapshot(changed, without(children, 3), orphaned(pods, 3)))
    assert template_hash(written_statefulsets(p)["demo-3"]) == old[3]
    # Deleted with its pods: a serving sibling's revision, the newest first.
    p = plan(snapshot(changed, without(children, 3), [x for x in pods if group_of(x) != 3]))
    assert template_hash(written_statefulsets(p)["demo-3"]) == old[3]
    # Group 2 not serving: group 1's older revision serves.
    pods = [x for x in pods if group_of(x) not in (2, 3)]
    p = plan(snapshot(changed, without(children, 3), pods))
    built = written_statefulsets(p)["demo-3"]
    assert (
        built["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
        == (older_sts["metadata"]["annotations"][BUILT_FROM_ANNOTATION])
    )


def test_with_no_recorded_spec_a_missing_statefulset_waits_while_the_rollout_is_held() -> None:
    # StatefulSets written by an operator version before the annotation: no old spec known.
    changed, children, pods, _ = held_rollout()
    children = copy.deepcopy(children)
    for c in children:
        c["metadata"]["annotations"].pop(BUILT_FROM_ANNOTATION, None)
    pods = [x for x in pods if group_of(x) != 2]
    p = plan(snapshot(changed, without(children, 2), pods))
    assert "demo-2" not in written_statefulsets(p)
    assert p.problems[0][0] == Reason.POD_CREATION_FAILED
    assert p.problems[-1] == (
        Reason.POD_CREATION_FAILED,
        "the StatefulSet(s) of group(s) 2 are missing and wait for the rollout to go on: the "
        "new revision fails, and no StatefulSet of a group not rolled yet records the "
        "revision it runs",
    )
    # A record this operator version builds other pods from is as good as none.
    changed, children, pods, _ = held_rollout()
    children = copy.deepcopy(children)
    for c in children:
        if c["kind"] == "StatefulSet":
            c["spec"]["template"]["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION] += "x"
    p = plan(snapshot(changed, without(children, 2), pods))
    assert "demo-2" not in written_statefulsets(p)
    # The rollout not held: created on the desired revision at once.
    changed["status"] = {}
    p = plan(snapshot(changed, without(children, 2), pods))
    assert "demo-2" in written_statefulsets(p)


def test_a_record_removed_from_a_statefulset_by_hand_is_put_back_and_its_revision_kept() -> None:
    # Adversary M1: while the rollout is held, `kubectl annotate sts demo-1 demo-2
    # sglang-operator.io/built-from-`. Before: not put back (they wait for their turn), and
    # the ControllerRevision keeping the old spec, which nothing recorded any more, was
    # pruned: a StatefulSet of them deleted then waited instead of coming back. Now each is
    # put back from the revision that builds its stored template, which stays.
    changed, children, pods, old = held_rollout()
    children = copy.deepcopy(children)
    recorded = statefulset(children, 1)["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    for group in (1, 2):
        del statefulset(children, group)["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    p = plan(snapshot(changed, children, pods))
    written = written_statefulsets(p)
    for group in (1, 2):
        back = written[f"demo-{group}"]
        assert template_hash(back) == old[group]
        assert back["metadata"]["annotations"][BUILT_FROM_ANNOTATION] == recorded
    assert not [d for d in p.delete if d[0] == "ControllerRevision"]
    assert p.delete_pods == []
    # Edited into another spec (one that does not build its template): the same.
    group0 = statefulset(children, 0)["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    statefulset(children, 1)["metadata"]["annotations"][BUILT_FROM_ANNOTATION] = group0
    p = plan(snapshot(changed, children, pods))
    back = written_statefulsets(p)["demo-1"]
    assert back["metadata"]["annotations"][BUILT_FROM_ANNOTATION] == recorded
    assert not [d for d in p.delete if d[0] == "ControllerRevision"]


def test_orphaned_pods_on_an_old_revision_keep_a_scaled_up_group_off_the_failing_one() -> None:
    # Adversary: a kept group 1 (replicas 2 -> 1 while group 0 is held), its StatefulSet
    # deleted with --cascade=orphan while the operator was down (nothing remembers it), then
    # replicas 1 -> 2. The only record left is group 0's, of a spec with 1 replica, so group
    # 1 looks new in a scale-up; but its orphaned pods run the old revision and serve.
    # Before 076f98a, its StatefulSet was created on the refused revision (adopting the old
    # pods; their next restart: refused, nothing served). The ControllerRevision that keeps
    # the spec of that revision builds it again on it, adopting its pods (before: it
    # waited, not counted).
    changed, children, pods, old = held_rollout(replicas=2)
    shrunk = copy.deepcopy(changed)
    shrunk["spec"]["replicas"] = 1
    shrunk["metadata"]["generation"] = 3
    group0 = statefulset(stored_children(shrunk), 0)
    assert template_hash(group0) == template_hash(statefulset(children, 0))
    children = [group0 if c["metadata"]["name"] == "demo-0" else c for c in without(children, 1)]
    p = plan(snapshot(changed, children, orphaned(pods, 1)))
    back = written_statefulsets(p)["demo-1"]
    assert (template_hash(back), back["spec"]["replicas"]) == (old[1], 2)
    assert not [d for d in p.delete_pods if d[0].startswith("demo-1-")]
    assert p.reverted == {key_of(back): plan_module.ADOPTING.format(why="the new revision fails")}
    # No revision keeps it (an operator version before them): it waits, its pods serving.
    children = [c for c in children if c["kind"] != "ControllerRevision"]
    p = plan(snapshot(changed, children, orphaned(pods, 1)))
    assert "demo-1" not in written_statefulsets(p)
    assert not [d for d in p.delete_pods if d[0].startswith("demo-1-")]
    assert p.problems[-1][0] == Reason.POD_CREATION_FAILED
    assert "group(s) 1 are missing and wait for the rollout to go on" in p.problems[-1][1]
    # Its orphaned pods on the desired revision: created on it (adopted), as before.
    new = str(template_hash(statefulset(stored_children(changed), 1)))
    rolled = [pod(1, rank_of(x), new) if group_of(x) == 1 else x for x in pods]
    p = plan(snapshot(changed, children, orphaned(rolled, 1)))
    assert template_hash(written_statefulsets(p)["demo-1"]) == new


def test_a_scale_up_while_the_rollout_is_held_creates_new_groups_on_the_working_revision() -> None:
    # Third adversary's MED 3: group 0 fails on the new revision; a scale-up from 3 to 4
    # made group 3 on it too, a copy that could never start (2/4 ready). It is made on the
    # revision the groups not rolled yet run (from a serving sibling's recorded spec, as if
    # scaled up), and rolled in its turn once the rollout goes on.
    changed, children, pods, old = held_rollout(replicas=3)
    scaled = copy.deepcopy(changed)
    scaled["spec"]["replicas"] = 4
    p = plan(snapshot(scaled, without(children, 2), [x for x in pods if group_of(x) != 2]))
    written = written_statefulsets(p)
    assert template_hash(written["demo-2"]) == old[2]
    record = plan_module.Recorded.of(statefulset(children, 1))
    assert record is not None
    was = template_hash(record.statefulset(scaled, 3, grown=True) or {})
    assert (
        template_hash(written["demo-3"])
        == was
        != template_hash(statefulset(stored_children(scaled), 3))
    )
    assert (
        written["demo-3"]["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
        == statefulset(children, 1)["metadata"]["annotations"][BUILT_FROM_ANNOTATION]
    )
    assert p.reverted[key_of(written["demo-3"])] == plan_module.GROWN.format(
        why="the new revision fails"
    )
    assert ("Normal", Reason.SCALED, "scaling up from 2 to 4 replica(s)") in p.events
    # Once made, it is outdated and healed as it is (its record builds it, grown).
    stored = [*without(children, 2), written["demo-2"], written["demo-3"]]
    for o in stored:
        o["metadata"].setdefault("uid", f"uid-{o['metadata']['name']}")
    p = plan(snapshot(scaled, stored, [*pods, *(pod(3, r, str(was)) for r in range(2))]))
    assert "demo-3" not in written_statefulsets(p)
    assert [(v.index, v.outdated) for v in p.decision.views][3] == (3, True)


def test_a_statefulset_missing_while_the_dry_run_refuses_new_pods_comes_back_on_its_revision() -> (
    None
):
    running = sgld(replicas=2)
    children = stored_children(running)
    pods = pods_for(children, 2, 2)
    old = str(template_hash(statefulset(children, 1)))
    changed = sgld(replicas=2, priorityClassName="missing")
    check = refused_check(changed, children, pods)
    p = plan(
        snapshot(
            changed, without(children, 1), [x for x in pods if group_of(x) != 1], pod_check=check
        )
    )
    assert template_hash(written_statefulsets(p)["demo-1"]) == old


def test_a_spec_too_large_to_record_is_advice_and_recorded_nowhere(monkeypatch: Any) -> None:
    resource = sgld()
    children = stored_children(resource)
    monkeypatch.setattr(plan_module, "MAX_RECORDED_SPEC_BYTES", 100)
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    assert plan_module.UNRECORDED_ADVICE in p.advice
    written = written_statefulsets(p)
    assert sorted(written) == ["demo-0", "demo-1"]
    assert all(BUILT_FROM_ANNOTATION not in o["metadata"]["annotations"] for o in written.values())


def test_an_invalid_spec_after_an_operator_restart_heals_as_the_recorded_spec_said() -> None:
    # The operator restarted: it has accepted no spec since, the StatefulSets record one.
    accepted = sgld(healing={"restartBudget": 0})
    children = stored_children(accepted)
    pods = pods_for(children, 2, 2)
    pods[3]["status"]["containerStatuses"][0]["restartCount"] = 1
    refused = sgld(healing={"restartBudget": 0}, shmSize="lots")
    p = plan(snapshot(refused, children, pods))
    assert p.delete_pods == []
    assert [x.reason for x in p.decision.budget_exhausted] == [
        Reason.GROUP_RESTART_BUDGET_EXHAUSTED
    ]
    # Group 1's StatefulSet deleted meanwhile: built again as the recorded spec says.
    refused["status"] = {"groups": [{"index": 0}, {"index": 1}]}
    p = plan(snapshot(refused, without(children, 1), pods[:2]))
    assert [o["metadata"]["name"] for o in p.apply] == ["demo-1"]
    assert {**p.apply[0], "metadata": {**p.apply[0]["metadata"], "uid": "uid-demo-1"}} == (
        statefulset(children, 1)
    )
    # Only the groups status still tracks: a record older than a scale-down to 1 (held at
    # the dry run, so group 0's StatefulSet was never rewritten) brings no group back.
    refused["status"] = {"groups": [{"index": 0}]}
    assert plan(snapshot(refused, without(children, 1), pods[:2])).apply == []


def test_a_statefulset_deleted_during_a_held_rollout_comes_back_and_stays_on_the_old_revision() -> (
    None
):
    # Issue 10 A2, replayed: group 0's new workers are refused at creation; group 2's
    # StatefulSet is deleted with its pods. It comes back on the revision it ran, serves, and
    # stays there (no rollout step, no other write of it) while the rollout is held.
    running = sgld(replicas=3, nodes=2)
    old = {g: str(template_hash(statefulset(stored_children(running), g))) for g in range(3)}
    changed = sgld(replicas=3, nodes=2, env=[{"name": "EVIL", "value": "1"}])
    changed["metadata"]["generation"] = 4
    new = {g: str(template_hash(statefulset(stored_children(changed), g))) for g in range(3)}
    replay = Replay(running, lambda _, name, h: h in new.values() and name.endswith("-1"))
    replay.run(3)
    replay.resource = {**changed, "status": replay.resource["status"]}
    replay.run(10)
    assert replay.hashes(0) == {new[0]}
    replay.children = [c for c in replay.children if c["metadata"]["name"] != "demo-2"]
    replay.pods = {n: x for n, x in replay.pods.items() if not n.startswith("demo-2-")}
    replay.written.clear()
    p = replay.run(20)
    assert replay.written == [(2, old[2])]
    assert replay.hashes(2) == {old[2]} and replay.hashes(1) == {old[1]}
    assert [v.ready for v in p.decision.views] == [False, True, True]
    assert [v.outdated for v in p.decision.views] == [False, True, True]


def test_orphaned_groups_whose_revision_a_controller_revision_keeps_come_back_on_it() -> None:
    # First adversary's MED 3: groups 1 and 2 deleted with --cascade=orphan while the
    # operator was down, during a held rollout; group 0 is on the failing revision, so no
    # stored StatefulSet records the revision groups 1 and 2 ran. Before, they waited, not
    # counted (0/3 ready while they served). The ControllerRevision keeping that spec builds
    # them again on it (adopting their pods: none is restarted), and they count as ready.
    changed, children, pods, old = held_rollout(replicas=3)
    children = without(without(children, 1), 2)
    left = orphaned(orphaned(pods, 1), 2)
    p = plan(snapshot(changed, children, left))
    written = written_statefulsets(p)
    assert {g: template_hash(written[f"demo-{g}"]) for g in (1, 2)} == {1: old[1], 2: old[2]}
    assert p.delete_pods == []
    # Stored (the orphaned pods adopted): they count, and group 0 is not rolled over them.
    back = [{**copy.deepcopy(written[f"demo-{g}"]), "status": {}} for g in (1, 2)]
    for sts in back:
        sts["metadata"]["uid"] = f"uid-{sts['metadata']['name']}-again"
    p = plan(snapshot(changed, [*children, *back], pods))
    assert [v.ready for v in p.decision.views] == [False, True, True]
    assert written_statefulsets(p) == {}


def test_a_controller_revision_stays_while_a_statefulset_records_it_or_a_pod_runs_it() -> None:
    # Held rollout: group 0 on the new revision, groups 1 and 2 on the old one, each spec
    # kept by its ControllerRevision. Nothing is written or deleted at rest.
    changed, children, pods, old = held_rollout(replicas=3)
    previous = stored_revision(children[::-1])
    assert previous["revision"] == 3
    p = plan(snapshot(changed, children, pods))
    assert [o for o in p.apply if o["kind"] == "ControllerRevision"] == []
    assert [d for d in p.delete if d[0] == "ControllerRevision"] == []
    # Rolled on: every StatefulSet records the new spec, but group 2's pods still run the
    # old template (waiting for their turn): the old revision stays.
    rolled = stored_children(changed)
    pods2 = [pod(0, r, str(template_hash(statefulset(rolled, 0)))) for r in range(2)]
    pods2 += [pod(1, r, str(template_hash(statefulset(rolled, 1)))) for r in range(2)]
    pods2 += [pod(2, r, old[2]) for r in range(2)]
    p = plan(snapshot(changed, [*rolled, previous], pods2))
    assert [d for d in p.delete if d[0] == "ControllerRevision"] == []
    # Once no pod runs it and no StatefulSet records it, it goes (as stored: its uid).
    p = plan(snapshot(changed, [*rolled, previous], pods_for(rolled, 3, 2)))
    assert [d for d in p.delete if d[0] == "ControllerRevision"] == [
        (*key_of(previous), previous["metadata"]["uid"])
    ]
    # The spec's own revision is never deleted, even with nothing that records it yet (its
    # StatefulSets refused, say); and under an invalid spec nothing is pruned.
    unrecorded = [c for c in rolled if c["kind"] != "StatefulSet"]
    p = plan(snapshot(changed, unrecorded, []))
    assert [d for d in p.delete if d[0] == "ControllerRevision"] == []
    invalid = copy.deepcopy(changed)
    invalid["spec"]["replicas"] = -1
    p = plan(snapshot(invalid, [*rolled, previous], pods_for(rolled, 3, 2)))
    assert p.delete == []


def test_a_record_edited_by_hand_into_an_unreadable_one_is_not_kept() -> None:
    resource = sgld()
    children = [c for c in stored_children(resource) if c["kind"] != "ControllerRevision"]
    statefulset(children, 1)["metadata"]["annotations"][BUILT_FROM_ANNOTATION] = "{not json"
    p = plan(snapshot(resource, children, pods_for(children, 2, 2)))
    # The spec's record (on demo-0) is kept; the garbage on demo-1 is not, and no crash.
    assert [key_of(o) for o in p.apply if o["kind"] == "ControllerRevision"] == [
        revision_key(resource)
    ]


def test_a_scale_up_is_told_once_and_a_statefulset_created_again_is_no_scale_up() -> None:
    # The fourth adversary: each real scale-up posted Scaled twice (the pass after the one
    # that created the new StatefulSet, before the caches showed it, created it "again"),
    # and a StatefulSet deleted by hand and created again said "scaling up from 1 to 2".
    before = stored_children(sgld(replicas=1))
    up = sgld(replicas=2)
    p = plan(snapshot(up, before, pods_for(before, 1, 2)))
    scaled = [m for _, r, m in p.events if r == Reason.SCALED]
    assert scaled == ["scaling up from 1 to 2 replica(s)"]
    # The next pass: group 0's StatefulSet as the first pass wrote it (its record is the
    # new spec's), group 1's not in the caches yet.
    written = {key_of(o): o for o in p.apply}
    rewritten = [
        {**written[key_of(c)], "metadata": {**written[key_of(c)]["metadata"], "uid": "x"}}
        if key_of(c) in written
        else c
        for c in before
    ]
    again = plan(snapshot(up, rewritten, pods_for(before, 1, 2)))
    assert "demo-1" in [o["metadata"]["name"] for o in again.apply]
    assert Reason.SCALED not in [r for _, r, _ in again.events]
    # Group 1's StatefulSet deleted by hand: created again, no scale-up.
    whole = stored_children(up)
    gone = [c for c in whole if c is not statefulset(whole, 1)]
    p = plan(snapshot(up, gone, pods_for(whole, 2, 2)[:2]))
    assert "demo-1" in [o["metadata"]["name"] for o in p.apply]
    assert Reason.SCALED not in [r for _, r, _ in p.events]
