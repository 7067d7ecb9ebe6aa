"""Stories of children the API server refuses: nothing that runs is harmed, status says why,
healing goes on (DESIGN.md pitfalls 10-12). Refusals come from the real API server: its own
validation, a ValidatingAdmissionPolicy, a webhook that cannot be reached (HTTP 500), and
admission of pods after their StatefulSet was accepted."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Cluster
from kubernetes import client
from story import (
    apply,
    apply_formed_group,
    condition,
    get_sgld,
    live_pods,
    manifest,
    wait_ready,
    wait_reason,
)

from sglang_operator.naming import GROUP_LABEL, INSTANCE_LABEL, group_name, offline_job_name

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

Wait = Callable[..., Any]
# Long enough for the operator to come back several times (its retries start at 5 s).
SETTLE_SECONDS = 12


def uids(kube: Any, namespace: str, name: str) -> set[str]:
    return {p.metadata.uid for p in live_pods(kube, namespace, name)}


def refused_and_current(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    """Status once it reports the refusal for the resource's current generation."""
    obj = get_sgld(kube, namespace, name)
    cond = condition(obj, "Degraded")
    current = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    return cond if current and cond.get("reason") == "ApplyFailed" else {}


@pytest.fixture
def refuse_pod_label(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A ValidatingAdmissionPolicy refusing, in this namespace only, StatefulSets whose pods
    carry the label `refuse-me`: what a policy engine or Pod Security would do."""
    name = f"refuse-{namespace}"[:63]
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["statefulsets"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.spec.template.metadata.labels) || "
                    "!('refuse-me' in object.spec.template.metadata.labels)",
                    "message": "pods labelled refuse-me are not allowed here",
                }
            ],
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
    yield "refuse-me"
    cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name)


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
    status = get_sgld(kube, namespace, "steady")["status"]
    assert status["phase"] == "Degraded"
    assert status["readyReplicas"] == 2

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
    cluster: Cluster, kube: Any, namespace: str
) -> None:
    obj = manifest("noclass", nodes=1)
    # The StatefulSet is accepted; each of its pods is refused by the Priority admission
    # plugin, which only the StatefulSet's FailedCreate events tell.
    obj["spec"]["priorityClassName"] = "no-such-class"
    apply(cluster, namespace, obj)
    cond = wait_reason(kube, namespace, "noclass", "Degraded", "PodCreationFailed")
    assert f"StatefulSet {group_name('noclass', 0)} cannot create pods" in cond["message"]
    assert "no-such-class" in cond["message"]
    assert get_sgld(kube, namespace, "noclass")["status"]["phase"] == "Degraded"


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
