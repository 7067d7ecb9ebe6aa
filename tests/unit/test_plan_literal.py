"""The plan's decisions and the status it writes, each stated as literals: input objects
built by hand, expected values written out (messages, times, counts, tuples), never
computed from the constants they check. Written for the mutants of plan.py that the
behavioural tests (test_plan.py, test_status.py) let live (docs/testing.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator.api import parse_spec
from sglang_operator.conditions import Condition
from sglang_operator.groups import Action, Decision, GroupMemory, GroupView, Healing, Problem
from sglang_operator.plan import (
    Accepted,
    Refusal,
    Snapshot,
    contains,
    failed_status,
    in_sync,
    intent_hash,
    invalid_status,
    key_of,
    plan,
    serving,
    stamped,
    status,
    template_hash,
)
from sglang_operator.runs import RunState
from stored_objects import UID, admitted, sgld, stored_children

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T = "2026-11-27T12:00:00Z"
EARLIER = "2026-11-27T11:00:00Z"
APPLIED = "sglang-operator.io/applied-hash"
POD_HASH = "sglang-operator.io/pod-spec-hash"
GROUP = "sglang-operator.io/group"
OLD = "0ld0ld0ld0ld0ld0"


def sts(children: list[dict[str, Any]], group: int) -> dict[str, Any]:
    return next(
        c
        for c in children
        if c["kind"] == "StatefulSet" and c["metadata"]["name"] == f"demo-{group}"
    )


def pod(
    group: int,
    rank: int,
    spec_hash: str | None,
    *,
    created: str = EARLIER,
    ready: bool = True,
    terminating: bool = False,
    controller: bool = True,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"demo-{group}-{rank}",
        "namespace": "ns",
        "uid": f"pod-{group}-{rank}",
        "creationTimestamp": created,
        "labels": {
            "app.kubernetes.io/name": "sglang",
            "app.kubernetes.io/instance": "demo",
            "app.kubernetes.io/component": "server",
            "app.kubernetes.io/managed-by": "sglang-operator",
            GROUP: str(group),
            "apps.kubernetes.io/pod-index": str(rank),
        },
        "ownerReferences": [
            {"kind": "StatefulSet", "name": f"demo-{group}", "controller": controller, "uid": "x"}
        ],
    }
    if spec_hash is not None:
        meta["annotations"] = {POD_HASH: spec_hash}
    if terminating:
        meta["deletionTimestamp"] = T
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "sglang", "restartCount": 0, "state": {}}],
        },
    }


def current_pods(children: list[dict[str, Any]], replicas: int, nodes: int) -> list[Any]:
    return [
        pod(g, r, template_hash(sts(children, g))) for g in range(replicas) for r in range(nodes)
    ]


def snap(resource: dict[str, Any], children: Any, pods: Any, **extra: Any) -> Snapshot:
    """Pods of new templates admitted (`admitted`) unless `pod_check` is given."""
    snap = Snapshot(sgld=resource, children=children, pods=pods, now=NOW, **extra)
    return snap if "pod_check" in extra else admitted(snap)


# ---- the intent hash and what counts as a difference ---------------------------------------------


def test_the_intent_hash_is_a_stable_16_character_hash_of_the_object_without_itself() -> None:
    obj = {
        "kind": "ConfigMap",
        "metadata": {"name": "a", "annotations": {APPLIED: "x", "b": "c"}},
        "data": {"k": "v"},
    }
    assert intent_hash(obj) == "8640ee74c96fcf02"
    # Its own annotation and the order of keys change nothing; any other annotation does.
    reordered = {
        "data": {"k": "v"},
        "metadata": {"annotations": {"b": "c"}, "name": "a"},
        "kind": "ConfigMap",
    }
    assert intent_hash(reordered) == "8640ee74c96fcf02"
    assert intent_hash({**obj, "metadata": {"name": "a", "annotations": {"b": "d"}}}) != (
        "8640ee74c96fcf02"
    )
    no_annotations = {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    empty_annotations = {**no_annotations, "metadata": {"name": "a", "annotations": {}}}
    assert intent_hash(no_annotations) == intent_hash(empty_annotations)


def test_stamped_adds_the_hash_and_keeps_the_other_annotations() -> None:
    obj: dict[str, Any] = {
        "kind": "ConfigMap",
        "metadata": {"name": "a", "annotations": {"b": "c"}},
        "data": {},
    }
    assert stamped(obj) == {
        "kind": "ConfigMap",
        "metadata": {"name": "a", "annotations": {"b": "c", APPLIED: intent_hash(obj)}},
        "data": {},
    }
    bare = {"kind": "ConfigMap", "metadata": {"name": "a"}}
    assert stamped(bare)["metadata"] == {"name": "a", "annotations": {APPLIED: intent_hash(bare)}}
    assert obj["metadata"]["annotations"] == {"b": "c"}  # the built object is left as it was


def test_contains_reads_the_api_servers_way_of_storing_fields() -> None:
    # Defaults the API server added are no difference; a changed or missing field is.
    assert contains({"a": 1, "b": 2}, {"a": 1}) is True
    assert contains({"a": 1}, {"a": 2}) is False
    assert contains({"b": 1}, {"a": 1}) is False
    # Empty values the API server drops are no difference.
    assert contains({}, {"a": None, "b": {}, "c": []}) is True
    assert contains({}, {"a": 0}) is False
    assert contains({}, {"a": ""}) is False
    # Quantities come back as strings.
    assert contains({"cpu": "2"}, {"cpu": 2}) is True
    assert contains(None, "None") is False
    # A mapping where a scalar is stored: only an empty one matches.
    assert contains("x", {}) is True
    assert contains("x", {"a": 1}) is False
    # Lists: same length, element by element.
    assert contains([{"a": 1, "z": 0}, 2], [{"a": 1}, 2]) is True
    assert contains([1, 2], [1]) is False
    assert contains([1], [2]) is False
    assert contains({"a": 1}, [1]) is False


def test_in_sync_needs_the_same_intent_and_every_managed_field_and_ignores_status() -> None:
    built = {"metadata": {"name": "a", "annotations": {APPLIED: "h1"}}, "spec": {"x": 1}}
    same = {"metadata": {"name": "a", "annotations": {APPLIED: "h1"}}, "spec": {"x": 1, "y": 2}}
    assert in_sync(same, {**built, "status": {"never": "compared"}}) is True
    assert in_sync({**same, "spec": {"x": 2}}, built) is False
    assert in_sync({**same, "metadata": {"name": "a", "annotations": {APPLIED: "h0"}}}, built) is (
        False
    )
    assert in_sync({"metadata": {"name": "a"}, "spec": {"x": 1}}, built) is False


def test_template_hash_reads_the_pod_templates_annotation_or_says_none() -> None:
    with_hash = {"spec": {"template": {"metadata": {"annotations": {POD_HASH: "abc"}}}}}
    assert template_hash(with_hash) == "abc"
    assert template_hash({"spec": {"template": {"metadata": {"annotations": {}}}}}) is None
    assert template_hash({"spec": {"template": {"metadata": None}}}) is None
    assert template_hash({"spec": {"template": None}}) is None
    assert template_hash({"spec": None}) is None
    assert template_hash({}) is None


def test_healing_takes_every_number_from_spec_healing_and_probes() -> None:
    spec = parse_spec(
        {
            "model": {"path": "m"},
            "probes": {"startupTimeoutSeconds": 900},
            "healing": {
                "restartBudget": 7,
                "restartWindowSeconds": 600,
                "restartBackoffSeconds": 10,
                "restartBackoffMaxSeconds": 100,
                "unreachableNodeTimeoutSeconds": 42,
            },
        }
    )
    assert Accepted.of(spec) == Accepted(
        Healing(
            restart_budget=7,
            restart_window=timedelta(seconds=600),
            backoff_base=timedelta(seconds=10),
            backoff_max=timedelta(seconds=100),
            unreachable_timeout=timedelta(seconds=42),
        ),
        timedelta(seconds=900),
    )
    # None accepted yet: the defaults of spec.healing and spec.probes.
    assert Accepted() == Accepted.of(parse_spec({"model": {"path": "m"}}))


# ---- plan: writes, refusals, requeues ------------------------------------------------------------


def test_at_rest_the_plan_is_empty_and_asks_for_no_wakeup() -> None:
    resource = sgld()
    children = stored_children(resource)
    p = plan(snap(resource, children, current_pods(children, 2, 2)))
    assert (p.apply, p.delete, p.delete_pods, p.force_delete_pods) == ([], [], [], [])
    assert (p.problems, p.events, p.requeue_after, p.invalid) == ([], [], None, None)
    assert [(v.index, v.pods, v.ready, v.outdated) for v in p.decision.views] == [
        (0, 2, True, False),
        (1, 2, True, False),
    ]


def test_everything_missing_is_applied_stamped_and_owned_in_the_builders_order() -> None:
    resource = sgld()
    p = plan(snap(resource, [], []))
    # The ControllerRevision that keeps the spec the StatefulSets record comes first.
    assert [(o["kind"], o["metadata"]["name"]) for o in p.apply] == [
        ("ControllerRevision", "demo-rev-b0e610cf06"),
        ("Service", "demo-0-hs"),
        ("StatefulSet", "demo-0"),
        ("Service", "demo-1-hs"),
        ("StatefulSet", "demo-1"),
        ("Service", "demo"),
    ]
    for obj in p.apply:
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "sglang-operator.io/v1alpha1",
                "kind": "SGLangDeployment",
                "name": "demo",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert obj["metadata"]["annotations"][APPLIED] == intent_hash(obj)
    # Nothing stored yet: no scale-up event (that is for groups added to running ones).
    assert p.events == []
    # The revision keeps the record the StatefulSets carry, as an object, and is labelled so
    # that no StatefulSet's selector (which has the group label) claims it.
    revision, statefulset = p.apply[0], p.apply[2]
    record = statefulset["metadata"]["annotations"]["sglang-operator.io/built-from"]
    assert revision["data"] == {"generation": 3, "spec": resource["spec"]}
    assert revision["data"] == json.loads(record)
    assert revision["revision"] == 3
    assert revision["metadata"]["labels"] == {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "revision",
        "app.kubernetes.io/managed-by": "sglang-operator",
    }


def test_a_refused_child_is_reported_with_its_message_and_retried_at_its_time() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts(children, 0)["metadata"]["annotations"][APPLIED] = "older-intent"
    sts(children, 0)["spec"]["template"]["metadata"]["annotations"][POD_HASH] = OLD
    (intent,) = [
        o["metadata"]["annotations"][APPLIED]
        for o in plan(snap(resource, children, [])).apply
        if o["kind"] == "StatefulSet"
    ]
    key = ("StatefulSet", "ns", "demo-0")
    refusals = {key: Refusal(intent, "422 bad label", 2, NOW + timedelta(seconds=42.5))}
    # Its pods all made (a StatefulSet short of a pod has a wakeup of its own).
    full = [pod(0, r, OLD) for r in range(sts(children, 0)["spec"]["replicas"])]

    p = plan(snap(resource, children, full, refusals=refusals))

    assert p.apply == []
    assert p.problems == [("ApplyFailed", "StatefulSet demo-0: 422 bad label")]
    assert p.requeue_after == 42.5

    # At its retry time exactly it is sent again (and still reported until it is stored).
    p = plan(snap(resource, children, [], refusals={key: Refusal(intent, "422", 2, NOW)}))
    assert [o["metadata"]["name"] for o in p.apply] == ["demo-0"]
    assert p.problems == [("ApplyFailed", "StatefulSet demo-0: 422")]


def test_a_refusal_of_an_older_intent_neither_blocks_nor_reports() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    sts(children, 0)["metadata"]["annotations"][APPLIED] = "older-intent"
    key = ("StatefulSet", "ns", "demo-0")
    refusals = {key: Refusal("older-intent", "422", 1, NOW + timedelta(seconds=30))}
    h = template_hash(sts(children, 0))
    full = [pod(0, r, h) for r in range(sts(children, 0)["spec"]["replicas"])]
    p = plan(snap(resource, children, full, refusals=refusals))
    assert [o["metadata"]["name"] for o in p.apply] == ["demo-0"]
    assert p.problems == []
    assert p.requeue_after is None


def test_the_earliest_wakeup_wins_and_is_never_under_a_second() -> None:
    resource = sgld(replicas=2)
    children = stored_children(resource)
    intents = {}
    for g in range(2):
        sts(children, g)["metadata"]["annotations"][APPLIED] = "older-intent"
    for o in plan(snap(resource, children, [])).apply:
        intents[o["metadata"]["name"]] = o["metadata"]["annotations"][APPLIED]

    def refused(first: float, second: float) -> Snapshot:
        return snap(
            resource,
            children,
            # Every pod there: no StatefulSet short of one (whose own wakeups would come first).
            current_pods(children, 2, 2),
            refusals={
                ("StatefulSet", "ns", "demo-0"): Refusal(
                    intents["demo-0"], "a", 1, NOW + timedelta(seconds=first)
                ),
                ("StatefulSet", "ns", "demo-1"): Refusal(
                    intents["demo-1"], "b", 1, NOW + timedelta(seconds=second)
                ),
            },
        )

    assert plan(refused(30, 7)).requeue_after == 7.0
    assert plan(refused(7, 30)).requeue_after == 7.0
    assert plan(refused(0.25, 30)).requeue_after == 1.0


def test_an_invalid_spec_says_why_in_a_bounded_message() -> None:
    p = plan(snap(sgld(replicas=-1), [], []))
    assert p.spec is None
    assert p.invalid is not None and "spec.replicas" in p.invalid
    assert (p.apply, p.problems, p.events, p.requeue_after) == ([], [], [], None)
    long = plan(snap(sgld(podLabels={f"k{i}": "bad value " * 20 for i in range(80)}), [], []))
    assert long.invalid is not None and len(long.invalid) == 4096
    assert long.invalid.endswith(" ...(cut)")


def test_a_stranger_in_a_childs_place_is_a_conflict_and_the_rest_goes_on() -> None:
    resource = sgld(replicas=1)
    children = stored_children(resource)
    # The first object in the builders' order is someone else's; the ones after it go on.
    service = next(c for c in children if c["metadata"]["name"] == "demo-0-hs")
    service["metadata"]["ownerReferences"] = [{"uid": "other", "controller": True}]
    children.remove(sts(children, 0))
    children.remove(next(c for c in children if c["metadata"]["name"] == "demo"))
    p = plan(snap(resource, children, []))
    assert p.problems == [
        (
            "ConflictingObject",
            "Service demo-0-hs exists and is not owned by this SGLangDeployment; the operator "
            "leaves it alone: rename or delete it",
        )
    ]
    assert [(o["kind"], o["metadata"]["name"]) for o in p.apply] == [
        ("StatefulSet", "demo-0"),
        ("Service", "demo"),
    ]


# ---- plan: scaling, pruning ----------------------------------------------------------------------


def test_scaling_up_says_from_how_many_groups_to_how_many_replicas() -> None:
    children = stored_children(sgld(replicas=1))
    p = plan(snap(sgld(replicas=3), children, current_pods(children, 1, 2)))
    assert p.events == [("Normal", "Scaled", "scaling up from 1 to 3 replica(s)")]
    # demo-0 records the new spec (plan.BUILT_FROM_ANNOTATION), which a new revision keeps;
    # its template stays.
    assert [o["metadata"]["name"] for o in p.apply] == [
        "demo-rev-dcb26c6659",
        "demo-0",
        "demo-1-hs",
        "demo-1",
        "demo-2-hs",
        "demo-2",
    ]


def test_a_group_counts_as_running_or_new_by_its_statefulset_not_its_service() -> None:
    # Group 1's headless Service is already stored (an earlier, interrupted scale-up), its
    # StatefulSet is not: one group runs, one is new.
    before = stored_children(sgld(replicas=1))
    children = [
        *before,
        *(c for c in stored_children(sgld(replicas=2)) if c["metadata"]["name"] == "demo-1-hs"),
    ]
    p = plan(snap(sgld(replicas=2), children, current_pods(children, 1, 2)))
    assert p.events == [("Normal", "Scaled", "scaling up from 1 to 2 replica(s)")]
    assert "demo-1" in [o["metadata"]["name"] for o in p.apply]
    # Group 0's StatefulSet already built for 2 copies (the pass that began the scale-up
    # rewrote it, and told it): group 1's created now is no new scale-up (the fourth
    # adversary saw every scale-up told twice, and a StatefulSet deleted by hand told as one).
    children = stored_children(sgld(replicas=2))
    children.remove(sts(children, 1))
    p = plan(snap(sgld(replicas=2), children, current_pods(children, 1, 2)))
    assert p.events == []
    assert [o["metadata"]["name"] for o in p.apply] == ["demo-1"]
    # Only group 0's Service stored: no group runs yet, so nothing is "scaled up".
    only_service = [
        c for c in stored_children(sgld(replicas=1)) if c["metadata"]["name"] == "demo-0-hs"
    ]
    assert plan(snap(sgld(replicas=2), only_service, [])).events == []


def test_a_valid_spec_is_handed_on_parsed() -> None:
    p = plan(snap(sgld(replicas=3, nodes=2), [], []))
    assert p.spec is not None
    assert (p.spec.replicas, p.spec.parallelism.nodes, p.spec.gpu.per_node) == (3, 2, 2)


def test_key_of_is_kind_namespace_name_with_an_empty_namespace_when_there_is_none() -> None:
    assert key_of({"kind": "Service", "metadata": {"name": "a", "namespace": "ns"}}) == (
        "Service",
        "ns",
        "a",
    )
    assert key_of({"kind": "PriorityClass", "metadata": {"name": "high"}}) == (
        "PriorityClass",
        "",
        "high",
    )


def test_offline_mode_makes_no_group_decisions() -> None:
    p = plan(snap(sgld(replicas=2, mode="offline"), [], []))
    assert (p.events, p.decision.views, p.delete_pods, p.requeue_after) == ([], [], [], None)
    assert [(o["kind"], o["metadata"]["name"]) for o in p.apply] == [
        ("Service", "demo-offline-0-hs"),
        ("Service", "demo-offline-1-hs"),
        ("ConfigMap", "demo-bench-reporter"),
    ]
    assert {o["metadata"]["namespace"] for o in p.apply} == {"ns"}


def test_pruning_deletes_our_stale_children_highest_group_first_with_their_uids() -> None:
    children = stored_children(sgld(replicas=3))
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "demo-weights",
            "namespace": "ns",
            "uid": "uid-pvc",
            "labels": {"app.kubernetes.io/instance": "demo"},
            "ownerReferences": [{"uid": UID, "controller": True}],
        },
    }
    leaving = copy.deepcopy(sts(children, 2))
    leaving["metadata"]["name"] = "demo-7"
    leaving["metadata"]["uid"] = "uid-demo-7"
    leaving["metadata"]["labels"][GROUP] = "7"
    leaving["metadata"]["deletionTimestamp"] = T
    stranger = copy.deepcopy(sts(children, 2))
    stranger["metadata"].update(name="demo-9", uid="uid-demo-9", ownerReferences=[{"uid": "x"}])
    stranger["metadata"]["labels"][GROUP] = "9"
    no_group = copy.deepcopy(next(c for c in children if c["metadata"]["name"] == "demo"))
    no_group["metadata"].update(name="demo-old", uid="uid-demo-old")

    p = plan(
        snap(
            sgld(replicas=1),
            [no_group, *children, pvc, leaving, stranger],
            current_pods(children, 3, 2),
        )
    )

    assert p.delete == [
        ("Service", "ns", "demo-2-hs", "uid-demo-2-hs"),
        ("StatefulSet", "ns", "demo-2", "uid-demo-2"),
        ("Service", "ns", "demo-1-hs", "uid-demo-1-hs"),
        ("StatefulSet", "ns", "demo-1", "uid-demo-1"),
        ("Service", "ns", "demo-old", "uid-demo-old"),
    ]
    assert ("Normal", "Scaled", "scaled to 1 replica(s): removed group(s) 2, 1") in p.events


def test_pruning_without_a_group_says_nothing_about_groups() -> None:
    children = stored_children(sgld(replicas=1))
    extra = copy.deepcopy(next(c for c in children if c["metadata"]["name"] == "demo"))
    extra["metadata"].update(name="demo-old", uid="uid-demo-old")
    p = plan(snap(sgld(replicas=1), [*children, extra], current_pods(children, 1, 2)))
    assert p.delete == [("Service", "ns", "demo-old", "uid-demo-old")]
    assert p.events == []


# ---- plan: a new group size in turn --------------------------------------------------------------


def _resized(pods_hashes: list[str | None], *, terminating: tuple[int, ...] = ()) -> list[Any]:
    """The StatefulSets plan writes when nodes go from 1 to 2 while group 0's pods carry
    the given template hashes."""
    children = stored_children(sgld(replicas=1, nodes=1))
    new = stored_children(sgld(replicas=1, nodes=2))
    group = sts(new, 0)
    group["spec"]["replicas"] = 1
    stored_sts = sts(children, 0)
    stored_sts["spec"] = group["spec"]
    stored_sts["metadata"]["annotations"][APPLIED] = "written-at-old-size"
    pods = [pod(0, rank, h, terminating=rank in terminating) for rank, h in enumerate(pods_hashes)]
    p = plan(snap(sgld(replicas=1, nodes=2), children, pods))
    return [o["spec"]["replicas"] for o in p.apply if o["kind"] == "StatefulSet"]


def test_a_new_size_is_written_once_every_live_pod_runs_the_new_template() -> None:
    new_hash = template_hash(sts(stored_children(sgld(replicas=1, nodes=2)), 0))
    assert new_hash is not None
    assert _resized([new_hash]) == [2]
    assert _resized([OLD]) == [1]
    assert _resized([None]) == [1]
    assert _resized([new_hash, OLD]) == [1]
    # A terminating pod of the old template no longer holds the new size back.
    assert _resized([new_hash, OLD], terminating=(1,)) == [2]
    assert _resized([]) == [2]


# ---- plan: healing and rolling as events ---------------------------------------------------------


def test_a_rollout_step_is_a_normal_event_and_deletes_the_groups_pods() -> None:
    resource = sgld(replicas=2, nodes=2)
    children = stored_children(resource)
    p = plan(snap(resource, children, [pod(g, r, OLD) for g in range(2) for r in range(2)]))
    assert p.delete_pods == [("demo-0-0", "pod-0-0"), ("demo-0-1", "pod-0-1")]
    assert [(kind, reason) for kind, reason, _ in p.events] == [("Normal", "RolloutStep")]


def test_a_group_restart_is_a_warning_event() -> None:
    resource = sgld(replicas=1, nodes=2)
    resource["status"] = {"groups": [{"index": 0, "members": ["pod-0-0", "gone"], "restarts": []}]}
    children = stored_children(resource)
    pods = [pod(0, 0, template_hash(sts(children, 0)))]
    p = plan(snap(resource, children, pods))
    assert p.delete_pods == [("demo-0-0", "pod-0-0")]
    assert [(kind, reason) for kind, reason, _ in p.events] == [("Warning", "GroupRestarted")]


def test_pods_on_an_unreachable_node_are_force_deleted_with_a_warning() -> None:
    resource = sgld(replicas=1, nodes=1, healing={"unreachableNodeTimeoutSeconds": 60})
    children = stored_children(resource)
    gone = pod(0, 0, template_hash(sts(children, 0)))
    gone["spec"] = {"nodeName": "node-a"}
    p = plan(snap(resource, children, [gone], unreachable={"node-a": NOW - timedelta(seconds=61)}))
    assert p.force_delete_pods == [("demo-0-0", "pod-0-0")]
    assert [(kind, reason) for kind, reason, _ in p.events][:1] == [("Warning", "PodForceDeleted")]


def test_the_groups_restart_wakeup_reaches_the_plan() -> None:
    resource = sgld(replicas=1, nodes=1)
    children = stored_children(resource)
    # Started 60 s ago, not ready: the startup timeout (default 1800 s) is due in 1740 s.
    starting = pod(
        0, 0, template_hash(sts(children, 0)), ready=False, created="2026-11-27T11:59:00Z"
    )
    p = plan(snap(resource, children, [starting]))
    assert p.requeue_after == p.decision.requeue_after
    assert p.requeue_after is not None and p.requeue_after > 1.0


def test_a_pod_with_our_labels_that_a_statefulset_does_not_control_is_not_counted() -> None:
    resource = sgld(replicas=1, nodes=1)
    children = stored_children(resource)
    h = template_hash(sts(children, 0))
    # Another controller's pod of that very name, and a pod with our labels and hash under
    # another name (made by hand from a copy of the template).
    elsewhere = pod(0, 0, h, controller=False)
    elsewhere["metadata"]["name"] = "demo-0-0-copy"
    for loose in [elsewhere, {**pod(0, 0, h)}]:
        if loose["metadata"]["ownerReferences"][0]["controller"]:
            loose["metadata"]["ownerReferences"] = [
                {"kind": "ReplicaSet", "name": "demo-0", "controller": True}
            ]
        p = plan(snap(resource, children, [loose]))
        assert [(v.index, v.pods) for v in p.decision.views] == [(0, 0)]
    # One of its name with no controller, our hash on: its StatefulSet adopts it (it claims
    # a pod of its pods' names whose labels match its selector), a member meanwhile.
    p = plan(snap(resource, children, [pod(0, 0, h, controller=False)]))
    assert [(v.index, v.pods) for v in p.decision.views] == [(0, 1)]
    # Its group label changed by hand on a pod the StatefulSet controls (until it releases
    # it): still its member, by its name and owner (plan.reclaim puts the label back).
    unlabelled = pod(0, 0, h)
    del unlabelled["metadata"]["labels"][GROUP]
    assert [v.pods for v in plan(snap(resource, children, [unlabelled])).decision.views] == [1]
    other_group = pod(0, 0, h)
    other_group["metadata"]["labels"][GROUP] = "x0"
    assert [v.pods for v in plan(snap(resource, children, [other_group])).decision.views] == [1]


def test_no_group_is_rolled_before_the_statefulset_controller_observed_its_generation() -> None:
    resource = sgld(replicas=1, nodes=1)
    children = stored_children(resource)
    old = [pod(0, 0, OLD)]
    group = sts(children, 0)
    group["metadata"]["generation"] = 2
    for observed, rolled in [(None, False), (1, False), (2, True), (3, True)]:
        group["status"] = {} if observed is None else {"observedGeneration": observed}
        assert bool(plan(snap(resource, children, old)).delete_pods) is rolled, observed
    # A first generation the controller has not reported on yet is not observed either.
    group["metadata"]["generation"] = 1
    group["status"] = {}
    assert plan(snap(resource, children, old)).delete_pods == []
    # No generation stored (a hand-made object): nothing to wait for.
    del group["metadata"]["generation"]
    group["status"] = {}
    assert plan(snap(resource, children, old)).delete_pods == [("demo-0-0", "pod-0-0")]


def test_a_rollout_waits_until_every_statefulset_observed_its_generation() -> None:
    # Group 1's StatefulSet observed first: rolling it would replace groups out of order.
    resource = sgld(replicas=3, nodes=1)
    children = stored_children(resource)
    old = [pod(g, 0, OLD) for g in range(3)]
    groups = [sts(children, g) for g in range(3)]
    for group in groups:
        group["metadata"]["generation"] = 2
        group["status"] = {"observedGeneration": 1}
    groups[1]["status"] = {"observedGeneration": 2}
    assert plan(snap(resource, children, old)).delete_pods == []
    for group in groups:
        group["status"] = {"observedGeneration": 2}
    assert plan(snap(resource, children, old)).delete_pods == [("demo-0-0", "pod-0-0")]


def test_pod_creation_failures_count_from_the_groups_newest_pod_on() -> None:
    resource = sgld(replicas=1, nodes=2)
    children = stored_children(resource)
    h = template_hash(sts(children, 0))
    uid = sts(children, 0)["metadata"]["uid"]
    one_pod = [pod(0, 0, h, created="2026-11-27T11:30:00Z")]

    def problems(when: str, pods: list[Any], message: str = "forbidden") -> list[Any]:
        failed = {uid: (when, message)}
        return [p for p in plan(snap(resource, children, pods, failed_creates=failed)).problems]

    expected = [("PodCreationFailed", "StatefulSet demo-0 cannot create pods: forbidden")]
    assert problems("2026-11-27T11:31:00Z", one_pod) == expected
    assert problems("2026-11-27T11:30:00Z", one_pod) == expected
    assert problems("2026-11-27T11:30:00.5Z", one_pod) == expected
    assert problems("2026-11-27T11:29:59Z", one_pod) == []
    assert problems("2000-01-01T00:00:00Z", []) == expected
    full = [*one_pod, pod(0, 1, h, created="2026-11-27T11:30:00Z")]
    assert problems("2026-11-27T11:59:00Z", full) == []
    (long,) = problems(T, [], "y" * 600)
    assert long[1] == "StatefulSet demo-0 cannot create pods: " + "y" * 503 + " ...(cut)"


def test_a_full_group_before_a_failing_one_hides_nothing() -> None:
    resource = sgld(replicas=2, nodes=2)
    children = stored_children(resource)
    full = [pod(0, r, template_hash(sts(children, 0))) for r in range(2)]
    failed = {
        sts(children, 0)["metadata"]["uid"]: (T, "quota"),
        sts(children, 1)["metadata"]["uid"]: (T, "quota exceeded"),
    }
    p = plan(snap(resource, children, full, failed_creates=failed))
    assert p.problems == [
        ("PodCreationFailed", "StatefulSet demo-1 cannot create pods: quota exceeded")
    ]


# ---- status --------------------------------------------------------------------------------------


SGLD_META = {"metadata": {"name": "demo", "namespace": "ns", "uid": UID, "generation": 4}}


def view(
    index: int,
    *,
    pods: int = 1,
    running: int = 1,
    ready: bool = True,
    outdated: bool = False,
    problem: Problem | None = None,
) -> GroupView:
    return GroupView(index, pods, running, ready, outdated, problem)


def decision(
    views: list[GroupView],
    *,
    memory: list[GroupMemory] | None = None,
    exhausted: list[Problem] | None = None,
    backoff: list[Problem] | None = None,
    holding: list[int] | None = None,
    kept: list[GroupView] | None = None,
    actions: list[Action] | None = None,
) -> Decision:
    return Decision(
        views,
        actions or [],
        memory or [],
        exhausted or [],
        backoff or [],
        None,
        holding=holding or [],
        kept=kept or [],
    )


def status_of(
    views: list[GroupView],
    *,
    replicas: int = 2,
    current: dict[str, Any] | None = None,
    problems: list[tuple[str, str]] | None = None,
    run: RunState | None = None,
    extra: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    spec = parse_spec(
        {"model": {"path": "m"}, "gpu": {"perNode": 4}, "replicas": replicas, **(extra or {})}
    )
    return status(
        current or {},
        generation=4,
        spec=spec,
        sgld=SGLD_META,
        decision=decision(views, **kw),
        problems=problems or [],
        run=run or RunState(),
        now=T,
    )


def cond(type_: str, status_: str, reason: str, message: str, time: str = T) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status_,
        "reason": reason,
        "message": message,
        "lastTransitionTime": time,
        "observedGeneration": 4,
    }


def test_a_serving_deployment_has_this_status_exactly() -> None:
    memory = [GroupMemory(0, ["a", "b"], [EARLIER]), GroupMemory(1), GroupMemory(2)]
    current = {
        "kept": "as it was",
        "phase": "Pending",
        "conditions": [
            cond("Ready", "True", "GroupsReady", "1/1 groups ready", EARLIER),
            cond("Degraded", "True", "Unschedulable", "no GPUs", EARLIER),
            cond("Custom", "True", "Theirs", "someone else's", EARLIER),
        ],
    }
    s = status_of([view(0), view(1)], current=current, memory=memory)
    assert s == {
        "kept": "as it was",
        "observedGeneration": 4,
        "phase": "Ready",
        "message": "2/2 groups ready",
        "conditions": [
            # Same status as before: the transition time stays.
            cond("Ready", "True", "GroupsReady", "2/2 groups ready", EARLIER),
            cond("Progressing", "False", "AsExpected", "2/2 groups ready"),
            cond("Degraded", "False", "AsExpected", "no problems found"),
            cond("Custom", "True", "Theirs", "someone else's", EARLIER),
        ],
        "replicas": 2,
        "readyReplicas": 2,
        "nodes": 1,
        "gpus": 8,  # 2 replicas x 1 node x 4 GPUs
        "endpoint": "http://demo.ns.svc.cluster.local:30000",
        "selector": (
            "app.kubernetes.io/component=server,app.kubernetes.io/instance=demo,"
            "app.kubernetes.io/name=sglang"
        ),
        "groups": [
            {"index": 0, "ready": True, "members": ["a", "b"], "restarts": [EARLIER]},
            {"index": 1, "ready": True, "members": [], "restarts": []},
            {"index": 2, "ready": False, "members": [], "restarts": []},
        ],
    }


def test_replicas_count_groups_with_pods_and_ready_ones_apart() -> None:
    views = [
        view(0),
        view(1, pods=2, running=1, ready=False),
        view(2, pods=0, running=0, ready=False),
    ]
    s = status_of(views, replicas=3)
    assert (s["replicas"], s["readyReplicas"]) == (2, 1)
    assert s["phase"] == "Initializing"
    assert s["message"] == "1/3 groups ready"
    assert s["conditions"][:2] == [
        cond("Ready", "False", "GroupsNotReady", "1/3 groups ready"),
        cond("Progressing", "True", "Reconciling", "1/3 groups ready"),
    ]


def test_groups_without_running_pods_are_pending() -> None:
    s = status_of([view(0, running=0, ready=False), view(1, pods=0, running=0, ready=False)])
    assert s["phase"] == "Pending"
    assert s["message"] == "0/2 groups ready"


def test_scaled_to_zero_is_ready_with_its_own_reason() -> None:
    s = status_of([], replicas=0)
    assert (s["phase"], s["message"]) == ("Ready", "scaled to zero")
    assert s["conditions"][0] == cond("Ready", "True", "ScaledToZero", "scaled to zero")
    assert s["conditions"][1] == cond("Progressing", "False", "AsExpected", "0/0 groups ready")


def test_a_rollout_names_the_groups_still_on_the_old_revision() -> None:
    s = status_of([view(0, outdated=True), view(1), view(2, outdated=True)], replicas=3)
    assert s["phase"] == "Ready"
    assert s["conditions"][1] == cond(
        "Progressing",
        "True",
        "RolloutStep",
        "rolling out the new revision; group(s) 0, 2 still run the old one",
    )


def test_the_last_step_of_a_rollout_coming_up_is_still_a_rollout_step() -> None:
    # replicas 1: once its group was replaced, no group runs the old revision; while the new
    # one comes up the rollout is not finished (it said RolloutStep for this generation).
    step = cond("Progressing", "True", "RolloutStep", "rolling out", EARLIER)
    coming = [view(0, running=0, ready=False)]
    s = status_of(coming, replicas=1, current={"conditions": [step]})
    assert s["conditions"][1] == cond(
        "Progressing",
        "True",
        "RolloutStep",
        "rolling out the new revision; group(s) 0 coming up on it (0/1 groups ready)",
        EARLIER,
    )
    # Not for another generation's rollout, nor once the group serves.
    older = {"conditions": [{**step, "observedGeneration": 3}]}
    assert status_of(coming, replicas=1, current=older)["conditions"][1]["reason"] == (
        "Reconciling"
    )
    done = status_of([view(0)], replicas=1, current={"conditions": [step]})["conditions"][1]
    assert (done["status"], done["reason"]) == ("False", "AsExpected")


def test_groups_held_by_scheduling_gates_say_so_in_progressing_not_degraded() -> None:
    held = GroupView(1, 1, 0, False, False, None, ("kueue.x-k8s.io/admission",))
    s = status_of([view(0), held])
    assert s["conditions"][1:] == [
        cond(
            "Progressing",
            "True",
            "Reconciling",
            "1/2 groups ready; group(s) 1 wait on schedulingGates kueue.x-k8s.io/admission "
            "(lifted by whatever set them, e.g. a queue such as Kueue)",
        ),
        cond("Degraded", "False", "AsExpected", "no problems found"),
    ]


def test_every_diagnostic_reaches_degraded_in_order_and_the_first_names_the_reason() -> None:
    s = status_of(
        [view(0, ready=False, problem=Problem("ImagePullBackOff", "pull failed")), view(1)],
        problems=[("ApplyFailed", "StatefulSet demo-0: 422")],
        exhausted=[Problem("GroupRestartBudgetExhausted", "left alone")],
        backoff=[Problem("GroupRestartBackoff", "waiting 30s")],
    )
    message = "StatefulSet demo-0: 422; left alone; waiting 30s; pull failed"
    assert s["phase"] == "Degraded"
    assert s["message"] == message
    assert s["conditions"] == [
        cond("Ready", "False", "GroupsNotReady", "1/2 groups ready"),
        # An exhausted budget: nothing more will happen by itself.
        cond("Progressing", "False", "AsExpected", "1/2 groups ready"),
        cond("Degraded", "True", "ApplyFailed", message),
    ]


def test_a_degraded_message_is_bounded() -> None:
    s = status_of([view(0), view(1)], problems=[("ApplyFailed", "z" * 5000)])
    assert len(s["message"]) == 4096
    assert s["message"] == "z" * 4087 + " ...(cut)"


def test_a_problem_while_every_group_serves_is_degraded_not_ready() -> None:
    s = status_of([view(0), view(1)], backoff=[Problem("GroupRestartBackoff", "b")])
    assert s["phase"] == "Degraded"
    assert s["conditions"][0]["status"] == "True"
    assert s["conditions"][1] == cond("Progressing", "False", "AsExpected", "2/2 groups ready")


def test_offline_phases_conditions_and_messages() -> None:
    offline = {"mode": "offline"}
    s = status_of([], replicas=1, extra=offline)
    assert (s["phase"], s["message"], s["endpoint"]) == (
        "Pending",
        "waiting for the offline runs",
        None,
    )
    assert s["conditions"] == [
        cond("Ready", "False", "Reconciling", "waiting for the offline runs"),
        cond("Progressing", "True", "Reconciling", "waiting for the offline runs"),
        cond("Degraded", "False", "AsExpected", "no problems found"),
    ]

    running = RunState(offline_phase="Running", offline_message="1 offline run(s) running")
    s = status_of([], replicas=1, extra=offline, run=running)
    assert (s["phase"], s["message"]) == ("Running", "1 offline run(s) running")
    assert s["conditions"][1] == cond(
        "Progressing", "True", "Reconciling", "1 offline run(s) running"
    )

    done = RunState(offline_phase="Succeeded", offline_message="1 offline run(s) completed")
    s = status_of([], replicas=1, extra=offline, run=done)
    assert s["conditions"][:2] == [
        cond("Ready", "True", "Completed", "1 offline run(s) completed"),
        cond("Progressing", "False", "Completed", "1 offline run(s) completed"),
    ]
    assert s["message"] == "1 offline run(s) completed"

    failed = RunState(offline_phase="Failed", offline_message="1 of 1 offline run(s) failed")
    s = status_of([], replicas=1, extra=offline, run=failed, problems=[("ApplyFailed", "x")])
    assert s["phase"] == "Failed"
    assert s["message"] == "x; 1 of 1 offline run(s) failed"
    assert s["conditions"] == [
        cond("Ready", "False", "JobFailed", "1 of 1 offline run(s) failed"),
        cond("Progressing", "False", "JobFailed", "1 of 1 offline run(s) failed"),
        cond("Degraded", "True", "ApplyFailed", "x; 1 of 1 offline run(s) failed"),
    ]


def test_an_offline_run_with_a_problem_is_degraded_unless_it_failed() -> None:
    offline = {"mode": "offline"}
    done = RunState(offline_phase="Succeeded", offline_message="done")
    s = status_of([], replicas=1, extra=offline, run=done, problems=[("ApplyFailed", "x")])
    assert (s["phase"], s["message"]) == ("Degraded", "x")
    # Problems of the views alone (none in offline mode) do not degrade it.
    s = status_of([], replicas=1, extra=offline, run=done)
    assert s["phase"] == "Succeeded"


def test_the_runs_add_their_condition_and_benchmark_result() -> None:
    run = RunState(
        benchmark={"requestThroughput": 1.5, "generation": 4},
        condition=Condition("BenchmarkSucceeded", "True", "BenchmarkCompleted", "done"),
    )
    s = status_of([view(0), view(1)], run=run)
    assert s["benchmark"] == {"requestThroughput": 1.5, "generation": 4}
    assert [c["type"] for c in s["conditions"]] == [
        "Ready",
        "Progressing",
        "Degraded",
        "BenchmarkSucceeded",
    ]
    assert "benchmark" not in status_of([view(0), view(1)])


def test_serving_needs_every_group_ready_current_and_healthy() -> None:
    spec = parse_spec({"model": {"path": "m"}, "replicas": 2})
    assert serving(spec, decision([view(0), view(1)])) is True
    assert serving(spec, decision([])) is False
    assert serving(spec, decision([view(0)])) is False
    assert serving(spec, decision([view(0), view(1, ready=False)])) is False
    assert serving(spec, decision([view(0), view(1, outdated=True)])) is False
    assert serving(spec, decision([view(0), view(1, problem=Problem("X", "y"))])) is False
    assert serving(parse_spec({"model": {"path": "m"}, "replicas": 0}), decision([])) is False


def test_an_invalid_spec_status_exactly() -> None:
    benchmark = cond("BenchmarkSucceeded", "True", "BenchmarkCompleted", "done", EARLIER)
    before = [
        cond("Ready", "True", "GroupsReady", "2/2", EARLIER),
        cond("Degraded", "True", "ApplyFailed", "older", EARLIER),
        benchmark,
    ]
    current = {"readyReplicas": 2, "conditions": before, "replicas": 2}
    s = invalid_status(current, 5, "spec.shmSize: not a quantity", T)
    message = "spec.shmSize: not a quantity"
    assert s == {
        "readyReplicas": 2,
        "replicas": 2,
        "observedGeneration": 5,
        "phase": "Degraded",
        "message": "invalid spec: spec.shmSize: not a quantity",
        # The old pods still serve: Ready stays as last observed (as for ApplyFailed),
        # Degraded carries the refusal.
        "conditions": [
            {
                **cond("Progressing", "False", "InvalidSpec", "waiting for a valid spec"),
                "observedGeneration": 5,
            },
            {**cond("Degraded", "True", "InvalidSpec", message, EARLIER), "observedGeneration": 5},
            cond("Ready", "True", "GroupsReady", "2/2", EARLIER),
            benchmark,
        ],
    }
    assert invalid_status({"readyReplicas": 0}, 1, "bad", T)["phase"] == "Failed"
    never_ran = invalid_status({}, 1, "bad", T)
    assert never_ran["phase"] == "Failed"
    # Nothing observed yet: Ready says False, and why.
    assert never_ran["conditions"][0] == {
        **cond("Ready", "False", "InvalidSpec", "bad"),
        "observedGeneration": 1,
    }
    cut = invalid_status({}, 1, "w" * 5000, T)
    assert cut["message"] == "invalid spec: " + "w" * 4073 + " ...(cut)"
    assert cut["conditions"][0]["message"] == "w" * 4087 + " ...(cut)"


def test_a_failed_write_status_exactly() -> None:
    before = [
        cond("Ready", "True", "GroupsReady", "2/2", EARLIER),
        cond("Degraded", "True", "ApplyFailed", "older", EARLIER),
    ]
    s = failed_status({"phase": "Ready", "conditions": before}, 6, "500 etcd timeout", T)
    assert s == {
        "phase": "Ready",
        "message": "500 etcd timeout",
        "conditions": [
            {
                **cond("Degraded", "True", "ApplyFailed", "500 etcd timeout", EARLIER),
                "observedGeneration": 6,
            },
            cond("Ready", "True", "GroupsReady", "2/2", EARLIER),
        ],
    }
    first = failed_status({}, 1, "v" * 5000, T)
    assert first["message"] == "v" * 4087 + " ...(cut)"
    assert first["conditions"] == [
        {
            **cond("Degraded", "True", "ApplyFailed", "v" * 4087 + " ...(cut)"),
            "observedGeneration": 1,
        }
    ]


REFUSED = ("PodCreationFailed", "StatefulSet demo-0 cannot create pods: workers refused")


def test_a_held_scale_down_counts_the_kept_group_that_serves() -> None:
    # Group 0 stays but is stuck on a revision whose worker is refused at creation; group 1,
    # which `kubectl scale --replicas=1` removes, is kept and serves: the endpoint is served
    # by one copy, as asked. Counted as a Deployment counts its old pods while it scales
    # down; Ready says so; the phase is Degraded for the refused revision alone.
    stuck = view(0, pods=1, running=1, ready=False)
    kept = [view(1, pods=2, running=2)]
    # The kept group is decided as a group: its memory is kept in status.
    memory = [GroupMemory(0), GroupMemory(1, ["a", "b"], [EARLIER])]
    s = status_of([stuck], replicas=1, kept=kept, problems=[REFUSED], memory=memory)
    counted = "1/1 groups ready (group(s) 1 kept by the scale-down)"
    assert (s["replicas"], s["readyReplicas"]) == (2, 1)
    assert s["phase"] == "Degraded"
    assert s["conditions"] == [
        cond("Ready", "True", "GroupsReady", counted),
        cond(
            "Progressing",
            "True",
            "Reconciling",
            f"{counted}; the scale-down to 1 replica(s) keeps group(s) 1, which serve(s), "
            "until a group that stays serves",
        ),
        cond("Degraded", "True", "PodCreationFailed", REFUSED[1]),
    ]
    assert s["groups"] == [
        {"index": 0, "ready": False, "members": [], "restarts": []},
        {"index": 1, "ready": True, "members": ["a", "b"], "restarts": [EARLIER]},
    ]
    # Group 0 known to fail on the new revision (`Decision.holding`): the rollout is as held
    # as before the scale-down, and Progressing keeps saying so (a fresh adversary saw
    # "Reconciling" there).
    held = status_of([stuck], replicas=1, kept=kept, problems=[REFUSED], holding=[0])
    assert held["conditions"][1] == cond(
        "Progressing",
        "True",
        "RolloutHeld",
        "the rollout of the new revision is held: group(s) 0 fail(s) on it (see Degraded) "
        f"({counted}); the scale-down to 1 replica(s) keeps group(s) 1, which serve(s), "
        "until a group that stays serves",
    )
    # Without a problem (group 0 merely restarting), the phase is Ready: a copy serves.
    assert status_of([stuck], replicas=1, kept=kept)["phase"] == "Ready"
    # The kept group re-creating a pod (deleted, evicted): kept, counted, not ready.
    coming = [view(1, pods=2, running=1, ready=False)]
    s = status_of([stuck], replicas=1, kept=coming, memory=memory)
    assert (s["replicas"], s["readyReplicas"], s["phase"]) == (2, 0, "Initializing")
    assert s["conditions"][0] == cond("Ready", "False", "GroupsNotReady", "0/1 groups ready")
    assert s["groups"][1] == {
        "index": 1,
        "ready": False,
        "members": ["a", "b"],
        "restarts": [EARLIER],
    }
    # Of 2 replicas, one kept copy is not enough.
    two = status_of([stuck, view(1, ready=False)], replicas=2, kept=[view(2)])
    assert two["readyReplicas"] == 1
    assert two["conditions"][0]["status"] == "False"


def test_a_rollout_held_by_a_group_that_fails_on_the_new_revision_says_so() -> None:
    # Group 0 went onto the new revision, whose pods are refused: groups 1 and 2 stay on the
    # old one (never two groups taken down by a bad revision). Still Progressing (the
    # rollout has not finished), with a reason of its own; Degraded says why.
    views = [view(0, running=0, ready=False), view(1, outdated=True), view(2, outdated=True)]
    s = status_of(views, replicas=3, problems=[REFUSED], holding=[0])
    assert s["conditions"][1] == cond(
        "Progressing",
        "True",
        "RolloutHeld",
        "the rollout of the new revision is held: group(s) 0 fail(s) on it (see Degraded); "
        "group(s) 1, 2 still run the old one",
    )
    # Waiting for a group of the new revision that comes up (no failure) is a rollout step.
    coming = status_of(views, replicas=3)["conditions"][1]
    assert (coming["status"], coming["reason"]) == ("True", "RolloutStep")
    # A rollout step taken in this plan is no hold, whatever failed before.
    step = Action(1, "RolloutStep", "replacing group 1 with the new revision", ())
    stepping = status_of(views, replicas=3, holding=[0], actions=[step])["conditions"][1]
    assert stepping["reason"] == "RolloutStep"


def test_a_rollout_whose_new_template_is_not_written_is_held() -> None:
    # The API server refuses the new StatefulSet template, or a dry run of its pods: no
    # group is touched, every group still serves the old revision.
    views = [view(0, outdated=True), view(1, outdated=True)]
    for problem in [
        ("ApplyFailed", "StatefulSet demo-0: 422 Unprocessable Entity"),
        (
            "PodCreationFailed",
            "the new pod template is not rolled out (nothing running was touched): the API "
            "server refuses its pods: forbidden",
        ),
    ]:
        s = status_of(views, problems=[problem])
        assert s["conditions"][0] == cond("Ready", "True", "GroupsReady", "2/2 groups ready")
        assert s["conditions"][1] == cond(
            "Progressing",
            "True",
            "RolloutHeld",
            "the rollout of the new revision is held: its pod template is not written (see "
            "Degraded); group(s) 0, 1 still run the old one",
        )
    # A refused Service holds no rollout.
    other = status_of(views, problems=[("ApplyFailed", "Service demo: 422")])["conditions"][1]
    assert other["reason"] == "RolloutStep"


def test_the_last_step_of_a_rollout_held_says_so_and_stays_a_rollout() -> None:
    # replicas 1: the only group went onto the new revision and its pods are refused.
    step = cond("Progressing", "True", "RolloutStep", "rolling out", EARLIER)
    refused = [view(0, running=0, ready=False)]
    s = status_of(
        refused, replicas=1, current={"conditions": [step]}, problems=[REFUSED], holding=[0]
    )
    held = cond(
        "Progressing",
        "True",
        "RolloutHeld",
        "the rollout of the new revision is held: group(s) 0 fail(s) on it (see Degraded) "
        "(0/1 groups ready)",
        EARLIER,
    )
    assert s["conditions"][1] == held
    # Once held, still the rollout of this generation in the next status.
    again = status_of(refused, replicas=1, current={"conditions": [held]}, holding=[0])
    assert again["conditions"][1]["reason"] == "RolloutHeld"
    # The cause gone (its pods made), the group comes up: a rollout step again.
    coming = status_of(refused, replicas=1, current={"conditions": [held]})
    assert coming["conditions"][1]["reason"] == "RolloutStep"
