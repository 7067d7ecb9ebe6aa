"""Stories of children the API server refuses: nothing that runs is harmed, status says why,
healing goes on (DESIGN.md pitfalls 10-12). Refusals come from the real API server: its own
validation, a ValidatingAdmissionPolicy, a webhook that cannot be reached (HTTP 500), and
admission of pods after their StatefulSet was accepted."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
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
    is_ready,
    live_pods,
    manifest,
    statefulsets,
    wait_ready,
    wait_reason,
)

from sglang_operator.naming import (
    BUILT_FROM_ANNOTATION,
    COMPONENT_LABEL,
    GROUP_LABEL,
    INSTANCE_LABEL,
    group_name,
    headless_service_name,
    offline_job_name,
)

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

Wait = Callable[..., Any]
# Long enough for the operator to come back several times (its retries start at 5 s).
SETTLE_SECONDS = 12
# A ValidatingAdmissionPolicy rule matching the creation of pods.
POD_CREATE = {
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "operations": ["CREATE"],
    "resources": ["pods"],
}


def uids(kube: Any, namespace: str, name: str) -> set[str]:
    return {p.metadata.uid for p in live_pods(kube, namespace, name)}


def refused_and_current(
    kube: Any, namespace: str, name: str, reason: str = "ApplyFailed"
) -> dict[str, Any]:
    """The Degraded condition once it reports `reason` for the resource's current
    generation, else {}."""
    obj = get_sgld(kube, namespace, name)
    cond = condition(obj, "Degraded")
    current = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    return cond if current and cond.get("reason") == reason else {}


@contextmanager
def admission_policy(
    cluster: Cluster,
    namespace: str,
    *,
    name: str,
    rule: dict[str, Any],
    expression: str,
    message: str,
) -> Iterator[None]:
    """A ValidatingAdmissionPolicy refusing, in this namespace only, what `rule` matches
    unless `expression` holds, with `message`: what a policy engine, Pod Security or a
    webhook would do."""
    name = name[:63].rstrip("-")
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [rule]},
            "validations": [{"expression": expression, "message": message}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    for obj in (policy, binding):
        apply(cluster, namespace, obj)
    # A new policy takes effect within about a second (the API server's policy informer).
    time.sleep(2)
    yield
    cluster.kubectl(
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        name,
        "--ignore-not-found",
    )


@pytest.fixture
def refuse_pod_label(cluster: Cluster, namespace: str) -> Iterator[str]:
    """StatefulSets whose pods carry the label `refuse-me` are refused."""
    rule = {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["statefulsets"],
    }
    with admission_policy(
        cluster,
        namespace,
        name=f"refuse-{namespace}",
        rule=rule,
        expression="!has(object.spec.template.metadata.labels) || "
        "!('refuse-me' in object.spec.template.metadata.labels)",
        message="pods labelled refuse-me are not allowed here",
    ):
        yield "refuse-me"


@pytest.fixture
def refuse_real_pods(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The real creation of pods labelled `refuse-real` is refused, while a server-side dry
    run of the same pod passes: what a webhook that only refuses real creates does, or a
    quota used up between the operator's dry run and the StatefulSet controller's create."""
    with admission_policy(
        cluster,
        namespace,
        name=f"refuse-real-{namespace}",
        rule=POD_CREATE,
        expression="request.dryRun == true || "
        "!has(object.metadata.labels) || !('refuse-real' in object.metadata.labels)",
        message="pods labelled refuse-real are not allowed here",
    ):
        yield "refuse-real"


@pytest.fixture
def missing_priority_class(cluster: Cluster, namespace: str) -> Iterator[str]:
    """The name of a PriorityClass that does not exist yet (the test may create it); deleted
    after the test."""
    name = f"later-{namespace}"[:63].rstrip("-")
    yield name
    cluster.kubectl("delete", "priorityclass", name, "--ignore-not-found")


def test_an_update_whose_pods_admission_refuses_deletes_no_pod_and_healing_goes_on(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, missing_priority_class: str
) -> None:
    """The StatefulSet would be accepted (a PriorityClass is resolved only when a pod is
    created): the operator asks admission about one pod of the new template first (a
    server-side dry run), so nothing is written, rolled or deleted while it refuses."""
    obj = manifest("gated", nodes=2, replicas=2)
    apply_formed_group(cluster, kube, namespace, obj)
    before = uids(kube, namespace, "gated")
    apps = client.AppsV1Api(kube)
    generations = {
        g: apps.read_namespaced_stateful_set(group_name("gated", g), namespace).metadata.generation
        for g in range(2)
    }

    changed = copy.deepcopy(obj)
    changed["spec"]["podTemplate"] = {"spec": {"priorityClassName": missing_priority_class}}
    apply(cluster, namespace, changed)

    cond = wait_until(
        lambda: refused_and_current(kube, namespace, "gated", "PodCreationFailed"),
        timeout=60,
        what="PodCreationFailed for the new generation",
    )
    assert "not rolled out" in cond["message"]
    assert 'pods "gated-0-*" is forbidden' in cond["message"]
    assert f"no PriorityClass with name {missing_priority_class} was found" in cond["message"]
    time.sleep(SETTLE_SECONDS)
    assert uids(kube, namespace, "gated") == before
    held = condition(get_sgld(kube, namespace, "gated"), "Progressing")
    assert (held["status"], held["reason"]) == ("True", "RolloutHeld")
    assert held["message"].endswith("group(s) 0, 1 still run the old one")
    for g, generation in generations.items():
        sts = apps.read_namespaced_stateful_set(group_name("gated", g), namespace)
        assert sts.metadata.generation == generation
    told = [
        e for e in events(kube, namespace, "PodCreationFailed") if e.involved_object.name == "gated"
    ]
    assert len(told) == 1, [e.message for e in told]
    assert missing_priority_class in told[0].message

    # Healing goes on, on the template the group runs. Group 1's pods are read before the
    # deletion: read after it, they could include the victim's replacement, made by the
    # StatefulSet controller while the operator's restart deleted only the pods it had seen
    # (the survivor), and "every pod new" would then never hold (a timeout seen under load).
    victim = group_name("gated", 1) + "-1"
    group1 = {
        p.metadata.uid
        for p in live_pods(kube, namespace, "gated")
        if p.metadata.labels[GROUP_LABEL] == "1"
    }
    assert len(group1) == 2
    client.CoreV1Api(kube).delete_namespaced_pod(victim, namespace)
    wait_until(
        lambda: (
            len(
                now := [
                    p
                    for p in live_pods(kube, namespace, "gated")
                    if p.metadata.labels[GROUP_LABEL] == "1"
                ]
            )
            == 2
            and not {p.metadata.uid for p in now} & group1
            and all(is_ready(p) for p in now)
        ),
        timeout=90,
        what="group 1 restarted whole and ready again",
    )
    assert all(not p.spec.priority_class_name for p in live_pods(kube, namespace, "gated"))

    # The class appears: the next retry admits the pods and the rollout proceeds.
    cluster.kubectl("create", "priorityclass", missing_priority_class, "--value=1000")
    wait_until(
        lambda: (
            len(now := live_pods(kube, namespace, "gated")) == 4
            and all(p.spec.priority_class_name == missing_priority_class for p in now)
        ),
        timeout=180,
        what="both groups rolled to the admitted revision",
    )
    wait_ready(cluster, namespace, "gated")
    assert condition(get_sgld(kube, namespace, "gated"), "Degraded")["status"] == "False"


def test_an_update_in_a_namespace_whose_quota_it_fills_rolls_out(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """The dry run of one pod more than those that run exceeds a quota the deployment fills
    exactly, while the rollout, which deletes a group's pods before they are re-created,
    fits: an exceeded quota holds no update back."""
    cluster.kubectl("create", "quota", "gpus", "-n", namespace, "--hard=requests.amd.com/gpu=2")
    obj = manifest("filled", nodes=1, per_node=2)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "filled")
    before = uids(kube, namespace, "filled")

    changed = copy.deepcopy(obj)
    changed["spec"]["env"] = [{"name": "ROLLED", "value": "yes"}]
    apply(cluster, namespace, changed)

    def rolled() -> bool:
        pods = live_pods(kube, namespace, "filled")
        return (
            len(pods) == 1
            and not before & {p.metadata.uid for p in pods}
            and all(is_ready(p) for p in pods)
            and any(e.name == "ROLLED" for e in pods[0].spec.containers[0].env or [])
        )

    wait_until(rolled, timeout=120, what="the update rolled out within the quota")
    wait_ready(cluster, namespace, "filled")
    held = events(kube, namespace, "PodCreationFailed")
    assert [e for e in held if e.involved_object.name == "filled"] == [], held


def test_an_update_whose_pod_alone_is_over_a_quota_is_held_back(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """A new pod that asks for more than a quota's hard limit never fits, however many pods
    a rollout frees: the update is held back (replicas 1: rolling it would be an outage)."""
    cluster.kubectl("create", "quota", "gpus", "-n", namespace, "--hard=requests.amd.com/gpu=2")
    obj = manifest("capped", nodes=1, per_node=2)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "capped")
    before = uids(kube, namespace, "capped")

    greedy = copy.deepcopy(obj)
    greedy["spec"]["gpu"]["perNode"] = 4
    apply(cluster, namespace, greedy)

    cond = wait_until(
        lambda: refused_and_current(kube, namespace, "capped", "PodCreationFailed"),
        timeout=60,
        what="PodCreationFailed for the new generation",
    )
    assert "exceeded quota: gpus" in cond["message"]
    time.sleep(SETTLE_SECONDS)
    assert uids(kube, namespace, "capped") == before
    assert get_sgld(kube, namespace, "capped")["status"]["readyReplicas"] == 1


def test_refused_update_deletes_no_pod_and_says_why(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_pod_label: str
) -> None:
    obj = manifest("steady", nodes=2, replicas=2)
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "steady")
    before = uids(kube, namespace, "steady")

    changed = copy.deepcopy(obj)
    changed["spec"]["podLabels"] = {refuse_pod_label: "yes"}
    apply(cluster, namespace, changed)
    cond = wait_until(
        lambda: refused_and_current(kube, namespace, "steady"),
        timeout=60,
        what="ApplyFailed for the new generation",
    )
    assert f"StatefulSet {group_name('steady', 0)}" in cond["message"]
    assert "pods labelled refuse-me are not allowed here" in cond["message"]
    time.sleep(SETTLE_SECONDS)
    # The stored templates are the old ones: every pod made from them keeps running.
    assert uids(kube, namespace, "steady") == before
    got = get_sgld(kube, namespace, "steady")
    assert got["status"]["phase"] == "Degraded"
    assert got["status"]["readyReplicas"] == 2
    # The rollout says it is held, not that it rolls (still Progressing: not finished).
    assert condition(got, "Progressing") | {"lastTransitionTime": None} == {
        "type": "Progressing",
        "status": "True",
        "reason": "RolloutHeld",
        "message": "the rollout of the new revision is held: its pod template is not written "
        "(see Degraded); group(s) 0, 1 still run the old one",
        "lastTransitionTime": None,
        "observedGeneration": got["metadata"]["generation"],
    }

    # Fixed: the rollout proceeds as usual.
    fixed = copy.deepcopy(changed)
    fixed["spec"]["podLabels"] = {"team": "ml-platform"}
    apply(cluster, namespace, fixed)
    wait_until(
        lambda: (
            not uids(kube, namespace, "steady") & before
            and len(uids(kube, namespace, "steady")) == 4
        ),
        timeout=120,
        what="both groups rolled to the fixed revision",
    )
    wait_ready(cluster, namespace, "steady")
    assert condition(get_sgld(kube, namespace, "steady"), "Degraded")["status"] == "False"


def test_label_value_the_api_server_refuses_harms_nothing(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """Issue 10's instance: `kubectl patch` a running deployment with a label value holding
    a space. Admission may refuse it (then nothing changes); if it is stored, the operator's
    StatefulSet apply is refused and no pod is deleted."""
    apply(cluster, namespace, manifest("typo", nodes=2))
    wait_ready(cluster, namespace, "typo")
    before = uids(kube, namespace, "typo")
    patched = cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "sgld/typo",
        "--type=merge",
        "-p",
        '{"spec":{"podLabels":{"team":"ml platform"}}}',
        check=False,
    )
    if patched.returncode != 0:
        assert "spec.podLabels.team" in patched.stderr
    else:
        cond = wait_until(
            lambda: refused_and_current(kube, namespace, "typo"),
            timeout=60,
            what="ApplyFailed for the new generation",
        )
        assert "ml platform" in cond["message"]
    time.sleep(SETTLE_SECONDS)
    assert uids(kube, namespace, "typo") == before


@pytest.fixture
def unreachable_webhook(cluster: Cluster, namespace: str) -> Iterator[None]:
    """A validating webhook nobody serves, for group 0's StatefulSet of `sick` only: every
    write to it answers HTTP 500 (failed calling webhook)."""
    name = f"unreachable-{namespace}"[:63]
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "unreachable.sglang-operator.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 2,
                "clientConfig": {"url": "https://127.0.0.1:1/validate"},
                "rules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["statefulsets"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "objectSelector": {"matchLabels": {INSTANCE_LABEL: "sick", GROUP_LABEL: "0"}},
            }
        ],
    }
    apply(cluster, namespace, webhook)
    time.sleep(2)
    yield
    cluster.kubectl("delete", "validatingwebhookconfiguration", name)


@pytest.mark.usefixtures("unreachable_webhook")
def test_a_500_for_one_group_stops_neither_status_nor_healing(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("sick", nodes=2, replicas=2)
    apply_formed_group(cluster, kube, namespace, obj)

    def in_group(group: str) -> set[str]:
        return {
            p.metadata.uid
            for p in live_pods(kube, namespace, "sick")
            if p.metadata.labels[GROUP_LABEL] == group
        }

    group0, group1 = in_group("0"), in_group("1")
    changed = copy.deepcopy(obj)
    changed["spec"]["env"] = [{"name": "REVISION", "value": "2"}]
    apply(cluster, namespace, changed)
    cond = wait_until(
        lambda: refused_and_current(kube, namespace, "sick"),
        timeout=60,
        what="ApplyFailed for the new generation",
    )
    assert f"StatefulSet {group_name('sick', 0)}: 500" in cond["message"]
    # Group 1's StatefulSet took the new revision and is rolled; group 0's kept the old one.
    wait_until(
        lambda: len(in_group("1")) == 2 and not in_group("1") & group1,
        timeout=120,
        what="group 1 rolled",
    )
    assert in_group("0") == group0

    # Healing goes on for the group whose StatefulSet cannot be written.
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name('sick', 0)}-1", namespace)
    wait_until(
        lambda: len(in_group("0")) == 2 and not in_group("0") & group0,
        timeout=120,
        what="group 0 restarted as a whole",
    )
    assert wait_reason(kube, namespace, "sick", "Degraded", "ApplyFailed")


def test_an_emoji_in_the_spec_is_applied(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("smile", nodes=1)
    # Outside the BMP, and characters YAML cannot carry raw (NEL would become a space).
    raw = "a\x85b\x7fc\x9fd"
    obj["spec"]["env"] = [
        {"name": "GREETING", "value": "hello \U0001f680"},
        {"name": "RAW", "value": raw},
    ]
    obj["spec"]["podAnnotations"] = {"example.com/mood": "\U0001f600"}
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "smile")
    (pod,) = live_pods(kube, namespace, "smile")
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["GREETING"] == "hello \U0001f680"
    assert env["RAW"] == raw
    assert pod.metadata.annotations["example.com/mood"] == "\U0001f600"
    assert condition(get_sgld(kube, namespace, "smile"), "Degraded")["status"] == "False"


def test_pods_refused_at_creation_are_a_degraded_reason(
    cluster: Cluster, kube: Any, namespace: str, refuse_real_pods: str
) -> None:
    obj = manifest("noclass", nodes=1)
    # The dry run of its pods passes and the StatefulSet is accepted; each of its pods is
    # refused at real creation, which only the StatefulSet's FailedCreate events tell.
    obj["spec"]["podLabels"] = {refuse_real_pods: "yes"}
    apply(cluster, namespace, obj)
    cond = wait_reason(kube, namespace, "noclass", "Degraded", "PodCreationFailed")
    assert f"StatefulSet {group_name('noclass', 0)} cannot create pods" in cond["message"]
    assert "pods labelled refuse-real are not allowed here" in cond["message"]
    assert get_sgld(kube, namespace, "noclass")["status"]["phase"] == "Degraded"


def test_a_new_deployment_whose_pods_admission_refuses_creates_no_statefulset(
    cluster: Cluster, kube: Any, namespace: str
) -> None:
    obj = manifest("noclass", nodes=1)
    obj["spec"]["priorityClassName"] = "no-such-class"
    apply(cluster, namespace, obj)
    cond = wait_reason(kube, namespace, "noclass", "Degraded", "PodCreationFailed")
    assert "not rolled out" in cond["message"]
    assert "no PriorityClass with name no-such-class was found" in cond["message"]
    assert statefulsets(kube, namespace, "noclass") == []


def test_job_pods_refused_at_creation_are_a_degraded_reason(
    cluster: Cluster, kube: Any, namespace: str
) -> None:
    obj = manifest("noclassjob", nodes=1)
    # Offline mode: an Indexed Job instead of the StatefulSet; only the Job's FailedCreate
    # events tell that its pods are refused.
    obj["spec"]["mode"] = "offline"
    obj["spec"]["offline"] = {"numPrompts": 8}
    obj["spec"]["priorityClassName"] = "no-such-class"
    apply(cluster, namespace, obj)
    cond = wait_reason(kube, namespace, "noclassjob", "Degraded", "PodCreationFailed")
    assert f"Job {offline_job_name('noclassjob', 0)} cannot create pods" in cond["message"]
    assert "no-such-class" in cond["message"]


def test_a_spec_the_operator_refuses_blocks_the_rollout_not_healing(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("stubborn", nodes=2, replicas=1)
    apply_formed_group(cluster, kube, namespace, obj)
    apps = client.AppsV1Api(kube)
    generation = apps.read_namespaced_stateful_set(group_name("stubborn", 0), namespace)
    generation = generation.metadata.generation

    bad = copy.deepcopy(obj)
    # Admitted (each quantity is valid), refused by the operator: a request over its limit.
    bad["spec"]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    apply(cluster, namespace, bad)
    wait_reason(kube, namespace, "stubborn", "Degraded", "InvalidSpec")
    before = uids(kube, namespace, "stubborn")

    # A member of the group is deleted: the whole group is restarted from what is stored.
    client.CoreV1Api(kube).delete_namespaced_pod(group_name("stubborn", 0) + "-1", namespace)
    wait_until(
        lambda: (
            len(now := live_pods(kube, namespace, "stubborn")) == 2
            and not {p.metadata.uid for p in now} & before
            and all(is_ready(p) for p in now)
        ),
        timeout=90,
        what="the group restarted whole and ready again",
    )
    wait_until(
        lambda: [
            e
            for e in events(kube, namespace, "GroupRestarted")
            if e.involved_object.name == "stubborn"
        ],
        timeout=30,
        what="the GroupRestarted event",
    )
    got = get_sgld(kube, namespace, "stubborn")
    assert condition(got, "Degraded")["reason"] == "InvalidSpec"
    assert len(got["status"]["groups"][0]["restarts"]) == 1
    # Nothing was written from the refused spec.
    sts = apps.read_namespaced_stateful_set(group_name("stubborn", 0), namespace)
    assert sts.metadata.generation == generation
    assert all(
        (c.resources.requests or {}).get("cpu") != "2"
        for p in live_pods(kube, namespace, "stubborn")
        for c in p.spec.containers
    )


@pytest.fixture
def refuse_marked_workers(cluster: Cluster, namespace: str) -> Iterator[str]:
    """Pods named like a worker of rank 1 (`...-1`) whose container carries the env var
    `EVIL` are refused, at real creation: a server-side dry run of one pod of the template
    (a generated name) passes. What a policy that only some pods of a revision fail does."""
    with admission_policy(
        cluster,
        namespace,
        name=f"refuse-workers-{namespace}",
        rule=POD_CREATE,
        expression="!object.metadata.name.endsWith('-1') || !object.spec.containers.exists("
        "c, has(c.env) && c.env.exists(e, e.name == 'EVIL'))",
        message="workers marked EVIL are not allowed here",
    ):
        yield "EVIL"


def stored_template_env(kube: Any, namespace: str, name: str, group: int) -> set[str]:
    """The env var names of the pod template group `group`'s StatefulSet stores."""
    sts = client.AppsV1Api(kube).read_namespaced_stateful_set(group_name(name, group), namespace)
    return {e.name for c in sts.spec.template.spec.containers for e in c.env or []}


def group_pods(kube: Any, namespace: str, name: str, group: int) -> list[Any]:
    return [
        p for p in live_pods(kube, namespace, name) if p.metadata.labels[GROUP_LABEL] == str(group)
    ]


def group_serving(kube: Any, namespace: str, name: str, group: int) -> bool:
    """Group `group`'s 2 pods are there and Ready."""
    pods = group_pods(kube, namespace, name, group)
    return len(pods) == 2 and all(is_ready(p) for p in pods)


def test_a_group_healed_during_a_failing_rollout_comes_back_on_its_old_revision(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """The dry run passes, then group 0's new worker is refused at real creation: the
    rollout stops there. A pod of group 1 deleted meanwhile restarts group 1 on the revision
    it ran (its StatefulSet was never written the new template), so one copy still serves;
    before, every StatefulSet took the new template at once and healing moved group 1 onto
    the failing revision too (2 -> 0 serving copies)."""

    def template_env(group: int) -> set[str]:
        return stored_template_env(kube, namespace, "heal", group)

    def in_group(group: str) -> list[Any]:
        return group_pods(kube, namespace, "heal", int(group))

    stuck_on_refused_workers(
        cluster,
        kube,
        namespace,
        name="heal",
        marker=refuse_marked_workers,
        replicas=2,
        per_node=2,
    )
    assert refuse_marked_workers not in template_env(1)
    group1 = {p.metadata.uid for p in in_group("1")}
    assert len(group1) == 2

    # A member of group 1 is deleted: group 1 restarts as a whole, on its old revision.
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name('heal', 1)}-0", namespace)
    wait_until(
        lambda: (
            len(now := in_group("1")) == 2
            and not {p.metadata.uid for p in now} & group1
            and all(is_ready(p) for p in now)
        ),
        timeout=120,
        what="group 1 restarted whole and ready again",
    )
    time.sleep(SETTLE_SECONDS)
    now = in_group("1")
    assert len(now) == 2 and all(is_ready(p) for p in now)
    assert all(
        refuse_marked_workers not in {e.name for e in p.spec.containers[0].env or []} for p in now
    )
    assert refuse_marked_workers not in template_env(1)
    got = get_sgld(kube, namespace, "heal")
    assert got["status"]["readyReplicas"] == 1
    degraded = condition(got, "Degraded")
    assert degraded["status"] == "True"
    assert degraded["reason"] == "PodCreationFailed"
    progressing = condition(got, "Progressing")
    assert progressing["status"] == "True"
    assert "group(s) 1 still run the old one" in progressing["message"]


@contextmanager
def failed_creates_dropped(kube: Any, namespace: str, owner: str) -> Iterator[None]:
    """The FailedCreate events of object `owner` deleted as soon as they appear, meanwhile:
    what kube-controller-manager's spam filter (25 events per object, then one per 5
    minutes) and the API server's one-hour TTL do to a refusal that lasts."""
    core = client.CoreV1Api(kube)
    stop = threading.Event()

    def drop() -> None:
        selector = f"reason=FailedCreate,involvedObject.name={owner}"
        while not stop.is_set():
            for event in core.list_namespaced_event(namespace, field_selector=selector).items:
                with suppress(ApiException):
                    core.delete_namespaced_event(event.metadata.name, namespace)
            stop.wait(0.2)

    dropper = threading.Thread(target=drop, daemon=True)
    dropper.start()
    try:
        yield
    finally:
        stop.set()
        dropper.join()


def test_a_refusal_is_remembered_when_its_events_are_gone_and_the_operator_restarted(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    refuse_marked_workers: str,
    *,
    operator: OperatorProcess,
) -> None:
    """Group 0's new worker is refused at creation. The FailedCreate events that said so go
    (kube-controller-manager stops them after 25 per object and the API server drops them
    after an hour; here they are deleted) and the operator restarts; then group 1 loses a
    pod that a quota keeps from coming back: nothing serves. The operator still knows that
    the new revision's pods are refused (status.groups[].failedCreate): group 1 is not moved
    onto it, and comes back on its own revision once the quota goes. Before, with no event
    left, the "nothing serves" rule wrote the refused revision into group 1 (0/2 ready)."""
    name = "forget"
    stuck_on_refused_workers(
        cluster,
        kube,
        namespace,
        name=name,
        marker=refuse_marked_workers,
        replicas=2,
        per_node=2,
    )
    (remembered,) = get_sgld(kube, namespace, name)["status"]["groups"][0]["failedCreate"].values()
    assert "workers marked EVIL are not allowed here" in remembered

    def group1_refused() -> bool:
        message = condition(get_sgld(kube, namespace, name), "Degraded").get("message", "")
        return f"StatefulSet {group_name(name, 1)} cannot create pods" in message

    with failed_creates_dropped(kube, namespace, group_name(name, 0)):
        operator.kill()
        operator.start()
        cluster.kubectl("create", "quota", "pods", "-n", namespace, "--hard=pods=1")
        client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name(name, 1)}-0", namespace)
        wait_until(group1_refused, timeout=120, what="group 1's pods refused by the quota")
        time.sleep(SETTLE_SECONDS)
        got = get_sgld(kube, namespace, name)
    assert got["status"]["readyReplicas"] == 0
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 1)
    degraded = condition(got, "Degraded")["message"]
    assert f"StatefulSet {group_name(name, 0)} cannot create pods" in degraded
    assert "workers marked EVIL are not allowed here" in degraded

    cluster.kubectl("delete", "quota", "pods", "-n", namespace)
    wait_until(
        lambda: group_serving(kube, namespace, name, 1),
        timeout=300,
        what="group 1 back on its own revision once the quota went",
    )
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 1)
    assert all(
        refuse_marked_workers not in {e.name for e in p.spec.containers[0].env or []}
        for p in group_pods(kube, namespace, name, 1)
    )


def stuck_on_refused_workers(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    *,
    name: str,
    marker: str,
    replicas: int = 3,
    per_node: int = 1,
) -> dict[str, Any]:
    """`replicas` copies of 2 pods (`per_node` GPUs each) serving, every group's membership
    known; then an update whose rank-1 pods admission refuses at real creation (the dry run
    passes): group 0 is stuck on it, the other groups serve the old revision. Returns the
    updated manifest."""
    obj = manifest(name, nodes=2, per_node=per_node, replicas=replicas)
    apply_formed_group(cluster, kube, namespace, obj)
    changed = copy.deepcopy(obj)
    changed["spec"]["env"] = [{"name": marker, "value": "1"}]
    apply(cluster, namespace, changed)
    cond = wait_reason(kube, namespace, name, "Degraded", "PodCreationFailed")
    assert f"StatefulSet {group_name(name, 0)} cannot create pods" in cond["message"]
    assert "workers marked EVIL are not allowed here" in cond["message"]
    assert marker in stored_template_env(kube, namespace, name, 0)
    return changed


def test_a_scale_up_during_a_stuck_rollout_adds_copies_that_serve(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation, group 1 serves
    the old one; `kubectl scale --replicas=3` makes group 2 on the old revision too (from
    the spec group 1 records), a copy that serves at once; before, it was made on the
    refused revision and never started (1/3 ready). Once the policy goes, the rollout goes
    on and every group ends on the new revision."""
    name = "growheld"
    stuck_on_refused_workers(
        cluster, kube, namespace, name=name, marker=refuse_marked_workers, replicas=2
    )
    cluster.kubectl("scale", "sgld", name, "-n", namespace, "--replicas=3")
    wait_until(
        lambda: group_serving(kube, namespace, name, 2),
        timeout=120,
        what="group 2 serving",
    )
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 2)
    wait_until(
        lambda: get_sgld(kube, namespace, name)["status"].get("readyReplicas") == 2,
        timeout=60,
        what="2 of 3 copies counted ready",
    )
    created = " ".join(e.message for e in events(kube, namespace, "Created"))
    assert f"created StatefulSet(s) {group_name(name, 2)} on the revision" in created
    assert "a copy of the scale-up" in created

    cluster.kubectl(
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        f"refuse-workers-{namespace}"[:63].rstrip("-"),
    )
    # The StatefulSet controller backs off its refused creates: a deleted pod wakes it.
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name(name, 0)}-0", namespace)

    def rolled() -> bool:
        got = get_sgld(kube, namespace, name)
        return (
            got["status"].get("readyReplicas") == 3
            and condition(got, "Progressing").get("status") == "False"
            and all(
                refuse_marked_workers in {e.name for e in p.spec.containers[0].env or []}
                for g in range(3)
                for p in group_pods(kube, namespace, name, g)
            )
        )

    wait_until(rolled, timeout=300, what="every group rolled onto the new revision")


def test_a_scale_down_during_a_stuck_rollout_keeps_the_serving_group(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """Group 0 is on a revision whose worker is refused at creation, group 1 serves the old
    one; `kubectl scale --replicas=1` would remove group 1 and leave nothing serving. Group 1
    is kept, and status says why, until group 0 serves (here: the spec that broke it is
    undone); then it goes. Before, group 1 was pruned at once: 0 ready. Meanwhile status
    counts group 1, which serves the endpoint (before: readyReplicas 0, Ready False)."""
    name = "shrink"
    changed = stuck_on_refused_workers(
        cluster, kube, namespace, name=name, marker=refuse_marked_workers, replicas=2
    )
    serving = {p.metadata.uid for p in group_pods(kube, namespace, name, 1)}
    assert len(serving) == 2
    # The rollout cannot go on, and says so rather than "rolling out" (still Progressing).
    held = wait_reason(kube, namespace, name, "Progressing", "RolloutHeld")
    assert held["status"] == "True"
    assert held["message"] == (
        "the rollout of the new revision is held: group(s) 0 fail(s) on it (see Degraded); "
        "group(s) 1 still run the old one"
    )

    cluster.kubectl("scale", "sgld", name, "-n", namespace, "--replicas=1")

    def kept() -> dict[str, Any]:
        got = get_sgld(kube, namespace, name)
        cond = condition(got, "Progressing")
        current = got["status"].get("observedGeneration") == got["metadata"]["generation"]
        return cond if current and "keeps group(s) 1" in cond.get("message", "") else {}

    cond = wait_until(kept, timeout=60, what="the scale-down keeping group 1")
    # Group 0 still fails on the new revision: the rollout is as held as before.
    assert (cond["status"], cond["reason"]) == ("True", "RolloutHeld"), cond
    time.sleep(SETTLE_SECONDS)
    assert group_name(name, 1) in statefulsets(kube, namespace, name)
    now = group_pods(kube, namespace, name, 1)
    assert {p.metadata.uid for p in now} == serving and all(is_ready(p) for p in now)
    # Group 1 serves the endpoint: one copy serves, as asked; Degraded only for the refused
    # revision.
    got = get_sgld(kube, namespace, name)["status"]
    assert (got["readyReplicas"], got["replicas"], got["phase"]) == (1, 2, "Degraded")
    ready = condition(get_sgld(kube, namespace, name), "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "GroupsReady")
    assert ready["message"].startswith("1/1 groups ready (group(s) 1 kept by the scale-down)")
    assert condition(get_sgld(kube, namespace, name), "Degraded")["reason"] == ("PodCreationFailed")
    # What a user waiting for the scale returns at once (it fails the test otherwise).
    cluster.kubectl("wait", "sgld", name, "-n", namespace, "--for=condition=Ready", "--timeout=10s")

    # A pod of the kept group goes (deleted, evicted): the group stops serving while it is
    # restarted whole (a lone new rank 1 beside the old rank 0 hangs), and is kept through
    # it, not removed (an outage, found by an adversary). Before, the kept group was only
    # observed: the victim alone came back beside the old rank 0, no GroupRestarted, and
    # status.groups[1] lost its members and restarts.
    victim = group_name(name, 1) + "-1"
    client.CoreV1Api(kube).delete_namespaced_pod(victim, namespace)
    wait_until(
        lambda: (
            len(now := group_pods(kube, namespace, name, 1)) == 2
            and not {p.metadata.uid for p in now} & serving
            and all(is_ready(p) for p in now)
        ),
        timeout=90,
        what="the kept group restarted whole and ready again",
    )
    wait_until(
        lambda: [
            e
            for e in events(kube, namespace, "GroupRestarted")
            if e.involved_object.name == name and e.message.startswith("restarting group 1: ")
        ],
        timeout=30,
        what="the GroupRestarted event of group 1",
    )
    assert group_name(name, 1) in statefulsets(kube, namespace, name)
    assert kept()
    memory = wait_until(
        lambda: (g := get_sgld(kube, namespace, name)["status"]["groups"][1]).get("members") and g,
        timeout=60,
        what="the kept group's new members recorded",
    )
    assert memory["index"] == 1 and len(memory["restarts"]) == 1
    assert set(memory["members"]) == {p.metadata.uid for p in group_pods(kube, namespace, name, 1)}

    # The spec that broke group 0 undone (at 1 replica): group 0 serves, group 1 goes.
    obj = copy.deepcopy(changed)
    del obj["spec"]["env"]
    obj["spec"]["replicas"] = 1
    apply(cluster, namespace, obj)
    wait_until(
        lambda: statefulsets(kube, namespace, name) == [group_name(name, 0)],
        timeout=180,
        what="group 1 removed once group 0 serves",
    )
    wait_ready(cluster, namespace, name)


def back_on_old_revision(kube: Any, namespace: str, name: str, group: int, marker: str) -> bool:
    """The group's StatefulSet stores the old revision and its 2 pods run it, Ready."""
    try:
        stored = stored_template_env(kube, namespace, name, group)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    now = group_pods(kube, namespace, name, group)
    return (
        marker not in stored
        and len(now) == 2
        and all(is_ready(p) for p in now)
        and all(marker not in {e.name for e in p.spec.containers[0].env or []} for p in now)
    )


def assert_held_and_serving(kube: Any, namespace: str, name: str, marker: str) -> None:
    """Groups 1 and 2 serve the old revision; status says the rollout is held at group 0."""
    for group in (1, 2):
        assert back_on_old_revision(kube, namespace, name, group, marker), group
    got = get_sgld(kube, namespace, name)
    assert got["status"]["readyReplicas"] == 2
    degraded = condition(got, "Degraded")
    assert degraded["reason"] == "PodCreationFailed"
    assert f"StatefulSet {group_name(name, 0)} cannot create pods" in degraded["message"]
    assert "workers marked EVIL are not allowed here" in degraded["message"]
    progressing = condition(got, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "RolloutHeld")
    assert "group(s) 1, 2 still run the old one" in progressing["message"]


def test_a_statefulset_deleted_during_a_stuck_rollout_comes_back_on_the_old_revision(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    refuse_marked_workers: str,
    *,
    operator: OperatorProcess,
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation. Group 2's
    StatefulSet is deleted by hand, with the operator down (it forgets all it held in
    memory): it comes back on the revision groups 1 and 2 ran, from the spec their
    StatefulSets record, and serves. Before, it was re-created on the refused revision
    (its worker refused: one more copy down)."""
    name = "regrow"
    stuck_on_refused_workers(cluster, kube, namespace, name=name, marker=refuse_marked_workers)
    operator.kill()
    cluster.kubectl("delete", "sts", group_name(name, 2), "-n", namespace, "--wait=false")
    wait_until(
        lambda: group_name(name, 2) not in statefulsets(kube, namespace, name),
        timeout=60,
        what="group 2's StatefulSet gone",
    )
    operator.start()
    wait_until(
        lambda: back_on_old_revision(kube, namespace, name, 2, refuse_marked_workers),
        timeout=180,
        what="group 2 back on the old revision and ready",
    )
    time.sleep(SETTLE_SECONDS)
    assert_held_and_serving(kube, namespace, name, refuse_marked_workers)


def test_a_statefulset_orphaned_during_a_stuck_rollout_adopts_its_pods_on_the_old_revision(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """As above, but group 2's StatefulSet is deleted with --cascade=orphan (its pods stay,
    on the old revision), then one of its pods is deleted: the StatefulSet comes back on the
    old revision, adopts the pods left and re-creates the deleted one on it. Before, it came
    back on the refused revision and the group was rolled onto it (its worker refused)."""
    name = "orphan"
    stuck_on_refused_workers(cluster, kube, namespace, name=name, marker=refuse_marked_workers)
    apps = client.AppsV1Api(kube)
    orphaned = apps.read_namespaced_stateful_set(group_name(name, 2), namespace).metadata.uid

    def replaced() -> bool:
        try:
            sts = apps.read_namespaced_stateful_set(group_name(name, 2), namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return bool(sts.metadata.uid != orphaned)

    # Not waited for by kubectl: the operator re-creates the StatefulSet at once, and
    # kubectl's wait, listing after that, would wait for a deletion of the new one.
    cluster.kubectl(
        "delete", "sts", group_name(name, 2), "-n", namespace, "--cascade=orphan", "--wait=false"
    )
    wait_until(replaced, timeout=60, what="group 2's StatefulSet deleted")
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name(name, 2)}-0", namespace)
    wait_until(
        lambda: back_on_old_revision(kube, namespace, name, 2, refuse_marked_workers),
        timeout=180,
        what="group 2 back on the old revision and ready",
    )
    time.sleep(SETTLE_SECONDS)
    assert_held_and_serving(kube, namespace, name, refuse_marked_workers)


def test_a_statefulset_scaled_by_hand_during_a_stuck_rollout_is_put_back_whole(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation; group 1's
    StatefulSet, not in its rollout turn, is scaled to 1 by hand. It is put back to 2 pods
    on the revision it runs (from the spec it records), and its group comes back whole.
    Before, it stayed half-size for good (never its turn, so never written) and counted as
    serving at that size: a later scale-down kept it and removed the only whole copy."""
    name = "halved"
    stuck_on_refused_workers(cluster, kube, namespace, name=name, marker=refuse_marked_workers)
    cluster.kubectl("scale", "sts", group_name(name, 1), "-n", namespace, "--replicas=1")
    apps = client.AppsV1Api(kube)
    wait_until(
        lambda: (
            apps.read_namespaced_stateful_set(group_name(name, 1), namespace).spec.replicas == 2
            and back_on_old_revision(kube, namespace, name, 1, refuse_marked_workers)
        ),
        timeout=120,
        what="group 1's StatefulSet back at 2 pods on the old revision, its group ready",
    )
    time.sleep(SETTLE_SECONDS)
    assert apps.read_namespaced_stateful_set(group_name(name, 1), namespace).spec.replicas == 2
    assert_held_and_serving(kube, namespace, name, refuse_marked_workers)


def keeps_group_1(kube: Any, namespace: str, name: str) -> bool:
    """Status of the current generation says the scale-down keeps group 1."""
    got = get_sgld(kube, namespace, name)
    current = got["status"].get("observedGeneration") == got["metadata"]["generation"]
    return current and "keeps group(s) 1" in condition(got, "Progressing").get("message", "")


def kept_group_1(
    cluster: Cluster, kube: Any, namespace: str, *, name: str, marker: str, wait_until: Wait
) -> tuple[dict[str, Any], set[str]]:
    """`stuck_on_refused_workers` with 2 copies, then a scale-down to 1 that keeps group 1
    (the only copy serving). Returns the resource as changed and group 1's pod uids."""
    changed = stuck_on_refused_workers(
        cluster, kube, namespace, name=name, marker=marker, replicas=2
    )
    serving = {p.metadata.uid for p in group_pods(kube, namespace, name, 1)}
    assert len(serving) == 2
    cluster.kubectl("scale", "sgld", name, "-n", namespace, "--replicas=1")
    wait_until(
        lambda: keeps_group_1(kube, namespace, name),
        timeout=60,
        what="the scale-down keeping group 1",
    )
    return changed, serving


def rebuilt(kube: Any, namespace: str, name: str, group: int, old_uid: str) -> Any:
    """Group `group`'s StatefulSet, created anew (not `old_uid`) and owning its 2 pods
    (adopted, or made by it), else None."""
    try:
        sts = client.AppsV1Api(kube).read_namespaced_stateful_set(
            group_name(name, group), namespace
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    pods = group_pods(kube, namespace, name, group)
    adopted = all(
        any(ref.uid == sts.metadata.uid for ref in p.metadata.owner_references or []) for p in pods
    )
    return sts if sts.metadata.uid != old_uid and len(pods) == 2 and adopted else None


def test_a_kept_groups_statefulset_deleted_by_hand_comes_back_and_keeps_serving(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait, refuse_marked_workers: str
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation; a scale-down to
    1 keeps group 1, the only copy serving. Its StatefulSet is deleted by hand with
    --cascade=orphan: the operator creates it again as it was (from the spec it recorded,
    on the revision it runs), it adopts its pods, which never stop serving, and status
    still says the group is kept. Before, it never came back, its pods ran on owned by
    nothing, and "removed group(s) 1" was posted as if the operator had removed it."""
    name = "keepsts"
    _, serving = kept_group_1(
        cluster, kube, namespace, name=name, marker=refuse_marked_workers, wait_until=wait_until
    )
    apps = client.AppsV1Api(kube)
    orphaned = apps.read_namespaced_stateful_set(group_name(name, 1), namespace).metadata.uid
    cluster.kubectl(
        "delete", "sts", group_name(name, 1), "-n", namespace, "--cascade=orphan", "--wait=false"
    )
    sts = wait_until(
        lambda: rebuilt(kube, namespace, name, 1, orphaned),
        timeout=120,
        what="group 1's StatefulSet back, owning its pods",
    )
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 1)
    assert sts.spec.replicas == 2
    time.sleep(SETTLE_SECONDS)
    now = group_pods(kube, namespace, name, 1)
    assert {p.metadata.uid for p in now} == serving and all(is_ready(p) for p in now)
    assert keeps_group_1(kube, namespace, name)
    got = get_sgld(kube, namespace, name)["status"]
    assert (got["readyReplicas"], got["replicas"]) == (1, 2)
    client.CoreV1Api(kube).read_namespaced_service(headless_service_name(name, 1), namespace)
    scaled = [
        e.message for e in events(kube, namespace, "Scaled") if e.involved_object.name == name
    ]
    assert not [m for m in scaled if "removed group(s)" in m], scaled
    created = [
        e.message for e in events(kube, namespace, "Created") if e.involved_object.name == name
    ]
    assert f"created StatefulSet(s) {group_name(name, 1)} on the revision it ran" in " ".join(
        created
    ), created


def test_a_kept_group_orphaned_while_the_operator_is_down_keeps_serving(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    refuse_marked_workers: str,
    *,
    operator: OperatorProcess,
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation; a scale-down to
    1 keeps group 1, the only copy serving. The operator stops (it forgets what it held in
    memory), group 1's StatefulSet is deleted with --cascade=orphan, the operator starts:
    its orphaned pods, which serve, and its Service are spared, and no event says it was
    removed (before 7ec0547, the operator pruned both: nothing served); its StatefulSet is
    built again on the revision its pods run, from the ControllerRevision that keeps that
    spec, adopts them (none restarts), and the group counts as kept and ready (before: only
    spared, Ready False "0/1 groups ready" while it served, missing from status.groups and
    from Progressing). Once group 0 serves, the group goes."""
    name = "keptdown"
    changed, serving = kept_group_1(
        cluster, kube, namespace, name=name, marker=refuse_marked_workers, wait_until=wait_until
    )
    orphaned = orphaned_while_down(cluster, kube, namespace, name, wait_until, operator=operator)
    operator.start()
    wait_until(
        lambda: rebuilt(kube, namespace, name, 1, orphaned),
        timeout=120,
        what="group 1's StatefulSet built again, owning its pods",
    )
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 1)
    time.sleep(SETTLE_SECONDS)
    now = group_pods(kube, namespace, name, 1)
    assert {p.metadata.uid for p in now} == serving and all(
        is_ready(p) and not p.metadata.deletion_timestamp for p in now
    )
    client.CoreV1Api(kube).read_namespaced_service(headless_service_name(name, 1), namespace)
    scaled = [
        e.message for e in events(kube, namespace, "Scaled") if e.involved_object.name == name
    ]
    assert not [m for m in scaled if "removed group(s)" in m], scaled
    assert keeps_group_1(kube, namespace, name)
    got = get_sgld(kube, namespace, name)
    assert (got["status"]["readyReplicas"], got["status"]["replicas"]) == (1, 2)
    assert [g["index"] for g in got["status"]["groups"]] == [0, 1]
    ready = condition(got, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "GroupsReady"), ready
    created = [
        e.message for e in events(kube, namespace, "Created") if e.involved_object.name == name
    ]
    assert f"created StatefulSet(s) {group_name(name, 1)} on the revision it ran" in " ".join(
        created
    ), created

    # The spec that broke group 0 undone (at 1 replica): group 0 serves, group 1 goes.
    obj = copy.deepcopy(changed)
    del obj["spec"]["env"]
    obj["spec"]["replicas"] = 1
    apply(cluster, namespace, obj)
    wait_until(
        lambda: not group_pods(kube, namespace, name, 1),
        timeout=180,
        what="group 1's pods removed once group 0 serves",
    )
    wait_ready(cluster, namespace, name)
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(kube).read_namespaced_service(headless_service_name(name, 1), namespace)
    assert gone.value.status == 404
    # Of the recorded specs (the first, the refused one, the scaled ones), only the one the
    # StatefulSet records is kept: nothing runs or records the others.
    recorded = client.AppsV1Api(kube).read_namespaced_stateful_set(group_name(name, 0), namespace)
    record = json.loads(recorded.metadata.annotations[BUILT_FROM_ANNOTATION])
    wait_until(
        lambda: [r.data for r in revisions(kube, namespace, name)] == [record],
        timeout=30,
        what="the revisions no StatefulSet records nor pod runs pruned",
    )


def revisions(kube: Any, namespace: str, name: str) -> list[Any]:
    """The ControllerRevisions keeping the deployment's recorded specs."""
    return list(
        client.AppsV1Api(kube)
        .list_namespaced_controller_revision(
            namespace, label_selector=f"{INSTANCE_LABEL}={name},{COMPONENT_LABEL}=revision"
        )
        .items
    )


def orphaned_while_down(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    name: str,
    wait_until: Wait,
    *,
    operator: OperatorProcess,
) -> str:
    """Stops the operator (it forgets what it held in memory) and deletes group 1's
    StatefulSet with --cascade=orphan; returns that StatefulSet's uid."""
    orphaned = str(
        client.AppsV1Api(kube)
        .read_namespaced_stateful_set(group_name(name, 1), namespace)
        .metadata.uid
    )
    operator.kill()
    cluster.kubectl(
        "delete", "sts", group_name(name, 1), "-n", namespace, "--cascade=orphan", "--wait=true"
    )
    wait_until(
        lambda: all(not p.metadata.owner_references for p in group_pods(kube, namespace, name, 1)),
        timeout=60,
        what="group 1's pods orphaned",
    )
    return orphaned


def test_a_kept_group_orphaned_while_the_operator_is_down_comes_back_on_its_revision_when_scaled_up(
    cluster: Cluster,
    kube: Any,
    namespace: str,
    wait_until: Wait,
    refuse_marked_workers: str,
    *,
    operator: OperatorProcess,
) -> None:
    """Group 0 is stuck on a revision whose workers are refused at creation; a scale-down to
    1 keeps group 1, the only copy serving. The operator stops, group 1's StatefulSet is
    deleted with --cascade=orphan, and the deployment is scaled back to 2 before the
    operator starts: group 1 is no longer kept but asked for, no stored StatefulSet records
    the revision its pods run (group 0's records the new one), and the ControllerRevision
    that keeps that spec builds it on its own revision: it adopts its pods (none
    restarts), and a pod of it deleted comes back on that revision, not refused. Before
    (076f98a), the group waited with no StatefulSet, not counted; before that, it was
    created on the refused revision and its next restart was an outage (0/2 ready)."""
    name = "keptup"
    _, serving = kept_group_1(
        cluster, kube, namespace, name=name, marker=refuse_marked_workers, wait_until=wait_until
    )
    orphaned = orphaned_while_down(cluster, kube, namespace, name, wait_until, operator=operator)
    cluster.kubectl("scale", "sgld", name, "-n", namespace, "--replicas=2")
    operator.start()
    wait_until(
        lambda: rebuilt(kube, namespace, name, 1, orphaned),
        timeout=120,
        what="group 1's StatefulSet built again, owning its pods",
    )
    assert refuse_marked_workers not in stored_template_env(kube, namespace, name, 1)
    now = group_pods(kube, namespace, name, 1)
    assert {p.metadata.uid for p in now} == serving and all(is_ready(p) for p in now)
    # Its next restart is on the revision it ran: the worker is not refused.
    client.CoreV1Api(kube).delete_namespaced_pod(f"{group_name(name, 1)}-1", namespace)
    wait_until(
        lambda: (
            back_on_old_revision(kube, namespace, name, 1, refuse_marked_workers)
            and not {p.metadata.uid for p in group_pods(kube, namespace, name, 1)} & serving
        ),
        timeout=180,
        what="group 1 restarted on its own revision and ready",
    )
    time.sleep(SETTLE_SECONDS)
    got = get_sgld(kube, namespace, name)
    assert got["status"]["readyReplicas"] == 1
    progressing = condition(got, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "RolloutHeld")
    assert "group(s) 1 still run the old one" in progressing["message"]
