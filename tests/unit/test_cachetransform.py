"""What the controller's caches keep of an object (cachetransform): everything a decision
reads. Plans made from transformed objects equal plans made from the objects as the API
server returns them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sglang_operator import naming
from sglang_operator.api import parse_spec
from sglang_operator.cachetransform import cached as cached_answer
from sglang_operator.cachetransform import transform
from sglang_operator.plan import Plan, desired_children, plan, template_hash
from sglang_operator.reconcile import Memory, observe

Obj = dict[str, Any]

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UID = "sgld-uid"
MANAGED_FIELDS = [
    {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}}
]


def _at(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sgld(replicas: int, nodes: int, groups: list[Obj] | None = None) -> Obj:
    return {
        "apiVersion": "sglang-operator.io/v1alpha1",
        "kind": "SGLangDeployment",
        "metadata": {
            "name": "demo",
            "namespace": "ns",
            "uid": UID,
            "generation": 2,
            "resourceVersion": "10",
            "managedFields": MANAGED_FIELDS,
        },
        "spec": {
            "model": {"path": "m"},
            "gpu": {"perNode": 2},
            "parallelism": {"nodes": nodes},
            "replicas": replicas,
        },
        "status": {"observedGeneration": 2, "groups": groups or []},
    }


def stored_children(resource: Obj) -> list[Obj]:
    """The children as the API server returns them after the operator applied them."""
    out = []
    for obj in desired_children(resource, parse_spec(resource["spec"])):
        stored = copy.deepcopy(obj)
        stored["metadata"].update(
            uid=f"uid-{obj['kind']}-{obj['metadata']['name']}",
            resourceVersion="5",
            generation=1,
            managedFields=MANAGED_FIELDS,
        )
        if obj["kind"] == "StatefulSet":
            stored["status"] = {"observedGeneration": 1, "replicas": obj["spec"]["replicas"]}
        out.append(stored)
    return out


def stored_pod(sts: Obj, rank: int, spec_hash: str, node: str | None, **status: Any) -> Obj:
    """A pod of `sts` as the API server returns it: the template's whole spec on it; `node`
    None: one no scheduler has answered (no node, no PodScheduled condition)."""
    template = copy.deepcopy(sts["spec"]["template"])
    name = f"{sts['metadata']['name']}-{rank}"
    labels = {**template["metadata"]["labels"], naming.POD_INDEX_LABEL: str(rank)}
    annotations = {**template["metadata"].get("annotations", {})}
    annotations[naming.POD_SPEC_HASH_ANNOTATION] = spec_hash
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"pod-{name}-{spec_hash}",
            "resourceVersion": "7",
            "creationTimestamp": status.pop("created", _at(5)),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": sts["metadata"]["name"],
                    "uid": sts["metadata"]["uid"],
                    "controller": True,
                }
            ],
            "managedFields": MANAGED_FIELDS,
        },
        "spec": {
            "schedulerName": "default-scheduler",
            **template["spec"],
            **({"nodeName": node} if node else {}),
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
        },
        "status": {
            **status,
            "conditions": [c for c in status["conditions"] if node or c["type"] != "PodScheduled"],
        },
    }


def pod_status(phase: str, ready: bool, restarts: int, waiting: str | None) -> Obj:
    state = {"waiting": {"reason": waiting, "message": "m"}} if waiting else {"running": {}}
    return {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
        "containerStatuses": [
            {
                "name": "sglang",
                "image": "img",
                "ready": ready,
                "restartCount": restarts,
                "state": state,
            }
        ],
    }


def planned(resource: Obj, children: list[Obj], pods: list[Obj], nodes: Obj) -> Plan:
    """The plan from these objects, as a reconcile makes it (observe, then plan)."""
    snapshot = observe(
        resource, children, pods, failed_creates={}, nodes=nodes, memory=Memory(), now=NOW
    )
    return plan(snapshot)


def cached(obj: Obj) -> Obj:
    # Decoded afresh, as each watch event is: no string shared with the fixture by chance.
    return transform(json.loads(json.dumps(obj)), obj["apiVersion"], obj["kind"])


def test_a_cache_entry_drops_managed_fields_and_keeps_the_rest() -> None:
    body = {
        "metadata": {
            "name": "m0-0",
            "uid": "u1",
            "labels": {"app": "x"},
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c"}]}}},
        "status": {"readyReplicas": 2},
    }
    entry = transform(body, "apps/v1", "StatefulSet")
    assert entry == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "m0-0", "uid": "u1", "labels": {"app": "x"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c"}]}}},
        "status": {"readyReplicas": 2},
    }
    # The body kopf holds is left as it was.
    assert "managedFields" in body["metadata"]


def test_a_cached_pod_keeps_of_its_spec_its_node_scheduler_and_containers_startup_probes() -> None:
    children = stored_children(sgld(1, 2))
    sts = next(c for c in children if c["kind"] == "StatefulSet")
    pod = stored_pod(sts, 1, "h", "node-a", **pod_status("Running", True, 0, None))
    entry = cached(pod)
    assert entry["metadata"] == {k: v for k, v in pod["metadata"].items() if k != "managedFields"}
    assert entry["status"] == pod["status"]
    (container,) = pod["spec"]["containers"]
    assert entry["spec"] == {
        "nodeName": "node-a",
        "schedulerName": "default-scheduler",
        "containers": [
            {
                "name": container["name"],
                "startupProbe": container["startupProbe"],
                "env": [{"name": "NNODES", "value": "2"}],
            }
        ],
    }


def test_equal_strings_of_two_cache_entries_are_one_object() -> None:
    children = stored_children(sgld(2, 2))
    first, second = (cached(c) for c in children if c["kind"] == "StatefulSet")
    assert first is not second
    image = first["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image is second["spec"]["template"]["spec"]["containers"][0]["image"]
    key = next(k for k in first["spec"] if k == "podManagementPolicy")
    assert key is next(k for k in second["spec"] if k == "podManagementPolicy")


def test_a_pods_startup_probe_decides_its_groups_startup_timeout_from_the_cache_too() -> None:
    """A pod started under an older spec with a longer startup probe than today's: not
    timed out. Without its probe it would be (the transform must keep it)."""
    resource = sgld(1, 1)
    children = stored_children(resource)
    sts = next(c for c in children if c["kind"] == "StatefulSet")
    spec_hash = str(template_hash(sts))
    pod = stored_pod(
        sts, 0, spec_hash, "node-a", created=_at(90), **pod_status("Running", False, 0, None)
    )
    container = next(c for c in pod["spec"]["containers"] if "startupProbe" in c)
    container["startupProbe"] = {**container["startupProbe"], "periodSeconds": 10}
    container["startupProbe"]["failureThreshold"] = 720  # two hours
    full = planned(resource, children, [pod], {"node-a": {"status": "True"}})
    trimmed = planned(
        cached(resource),
        [cached(c) for c in children],
        [cached(pod)],
        {"node-a": {"status": "True"}},
    )
    assert trimmed == full
    del container["startupProbe"]
    assert planned(resource, children, [pod], {"node-a": {"status": "True"}}) != full


def test_half_a_group_left_behind_by_its_statefulset_is_sized_from_the_cache_too() -> None:
    """Group 1's StatefulSet deleted with --cascade=orphan, then a scale-down to 1 while
    group 0 is down; of group 1's 2 pods only rank 0 is left: half a group, which does not
    serve, so it is not kept. Without the group size in the cached pods' env, rank 0 alone
    looked like a whole group of 1 and was kept (the transform must keep it)."""
    children = stored_children(sgld(2, 2))
    sts0, sts1 = (c for c in children if c["kind"] == "StatefulSet")
    resource = sgld(1, 2)
    down = stored_pod(
        sts0, 0, str(template_hash(sts0)), "node-a", **pod_status("Running", False, 0, None)
    )
    left = stored_pod(
        sts1, 0, str(template_hash(sts1)), "node-b", **pod_status("Running", True, 0, None)
    )
    left["metadata"]["ownerReferences"] = []
    left["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = left["metadata"]["name"]
    # Nothing records the spec its pods ran (an operator version before the records), else
    # the size is the recorded spec's.
    rest = [c for c in children if c is not sts1 and c["kind"] != "ControllerRevision"]
    del sts0["metadata"]["annotations"][naming.BUILT_FROM_ANNOTATION]
    nodes = {"node-a": {"status": "True"}, "node-b": {"status": "True"}}
    full = planned(resource, rest, [down, left], nodes)
    assert full.kept == []
    assert ("Pod", "ns", left["metadata"]["name"], left["metadata"]["uid"]) in full.delete
    trimmed = planned(
        cached(resource), [cached(c) for c in rest], [cached(down), cached(left)], nodes
    )
    assert trimmed == full


@st.composite
def states(draw: st.DrawFn) -> tuple[Obj, list[Obj], list[Obj], Obj]:
    """A deployment mid-life: StatefulSets on the old or the new revision, pods of either
    in any health and age, on healthy, unreachable or deleted nodes."""
    replicas = draw(st.integers(1, 3))
    nodes = draw(st.integers(1, 3))
    groups = [
        {"index": g, "members": draw(st.sampled_from([[], ["gone"]])), "restarts": []}
        for g in range(replicas)
    ]
    resource = sgld(replicas, nodes, groups)
    children = stored_children(resource)
    statefulsets = [c for c in children if c["kind"] == "StatefulSet"]
    for sts in statefulsets:
        if draw(st.booleans()):
            sts["spec"]["template"]["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION] = (
                "old"
            )
        sts["status"]["observedGeneration"] = draw(st.sampled_from([0, 1]))
    pods = []
    for sts in statefulsets:
        for rank in range(nodes):
            if draw(st.integers(0, 9)) == 0:
                continue
            status = pod_status(
                draw(st.sampled_from(["Running", "Running", "Pending", "Failed"])),
                draw(st.booleans()),
                draw(st.sampled_from([0, 0, 1])),
                draw(st.sampled_from([None, None, "CrashLoopBackOff", "ImagePullBackOff"])),
            )
            pod = stored_pod(
                sts,
                rank,
                draw(st.sampled_from(["old", str(template_hash(sts))])),
                draw(st.sampled_from(["node-a", "node-lost", "node-gone", None])),
                created=_at(draw(st.sampled_from([1, 30, 90, 200]))),
                **status,
            )
            if not pod["spec"].get("nodeName"):
                # As no scheduler has answered it: no container has been started either.
                pod["status"] = {"phase": "Pending", "conditions": []}
                pod["spec"]["schedulerName"] = draw(st.sampled_from(["default-scheduler", "gang"]))
                if draw(st.booleans()):
                    pod["spec"]["schedulingGates"] = [{"name": "example.com/queue"}]
            if draw(st.booleans()):
                container = next(c for c in pod["spec"]["containers"] if "startupProbe" in c)
                container["startupProbe"]["failureThreshold"] = draw(st.integers(1, 1500))
            pods.append(pod)
    unreachable = {"status": "Unknown", "lastTransitionTime": _at(draw(st.integers(0, 20)))}
    return resource, children, pods, {"node-a": {"status": "True"}, "node-lost": unreachable}


@settings(max_examples=200)
@given(states())
def test_plans_from_cached_objects_equal_plans_from_stored_objects(
    state: tuple[Obj, list[Obj], list[Obj], Obj],
) -> None:
    resource, children, pods, nodes = state
    full = planned(resource, children, pods, nodes)
    trimmed = planned(
        cached(resource), [cached(c) for c in children], [cached(p) for p in pods], nodes
    )
    assert trimmed == full


def test_an_answer_to_a_write_is_kept_as_the_caches_keep_objects() -> None:
    """reconcile.Memory keeps the API server's answers to the operator's writes until the
    caches catch up; they go through the same transform (they stand in for cache entries)."""
    children = stored_children(sgld(1, 2))
    sts = next(c for c in children if c["kind"] == "StatefulSet")
    pod = stored_pod(sts, 0, "h", "node-a", **pod_status("Running", True, 0, None))
    for answer in (sts, pod):
        assert cached_answer(answer) == transform(answer, answer["apiVersion"], answer["kind"])
        assert "managedFields" not in cached_answer(answer)["metadata"]


def test_a_statefulset_rebuilt_from_its_siblings_record_is_planned_from_the_cache_too() -> None:
    """The spec a StatefulSet records (plan.BUILT_FROM_ANNOTATION) survives the transform: a
    group missing while the rollout is held comes back on the old revision from cached
    objects as from stored ones."""
    running = sgld(3, 2)
    old = stored_children(running)
    changed = copy.deepcopy(running)
    changed["spec"]["env"] = [{"name": "EVIL", "value": "1"}]
    changed["metadata"]["generation"] = 3
    new = stored_children(changed)

    def sts(children: list[Obj], group: int) -> Obj:
        name = naming.group_name("demo", group)
        return next(
            c for c in children if c["kind"] == "StatefulSet" and c["metadata"]["name"] == name
        )

    new0 = str(template_hash(sts(new, 0)))
    changed["status"]["groups"] = [
        {"index": 0, "failedCreate": {new0: "workers refused"}},
        {"index": 1},
        {"index": 2},
    ]
    children = [c for c in new if c["kind"] != "StatefulSet"] + [sts(new, 0), sts(old, 1)]
    running_status = pod_status("Running", True, 0, None)
    pods = [stored_pod(sts(new, 0), 0, new0, "node-a", **pod_status("Running", False, 0, None))]
    pods += [
        stored_pod(sts(old, 1), r, str(template_hash(sts(old, 1))), "node-a", **running_status)
        for r in range(2)
    ]
    nodes = {"node-a": {"status": "True"}}
    full = planned(changed, children, pods, nodes)
    rebuilt = [o for o in full.apply if o["metadata"]["name"] == "demo-2"]
    assert [template_hash(o) for o in rebuilt] == [template_hash(sts(old, 2))]
    trimmed = planned(
        cached(changed), [cached(c) for c in children], [cached(p) for p in pods], nodes
    )
    assert trimmed == full
