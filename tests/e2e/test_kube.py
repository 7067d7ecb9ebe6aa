"""kube.Kube's writes against the real API server: what the reconcile relies on them to do."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from sglang_operator.kube import FIELD_MANAGER, Kube


def _service(namespace: str, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "ours"}},
        "spec": {"ports": [{"port": 80}], "selector": selector},
    }


def test_apply_new_creates_under_the_apply_manager_alone(kube: Any, namespace: str) -> None:
    """The create that replaced a `get` before each apply of a child the caches do not hold
    is still a server-side apply: one field manager, `Apply`, so a field the operator stops
    setting is removed by its next apply (a POST would leave an `Update` manager owning
    every field), and no precondition of the create is stored."""
    written = Kube(kube).apply_new(_service(namespace, "fresh", {"app": "ours"}))
    assert written is not None
    assert [(m["manager"], m["operation"]) for m in written["metadata"]["managedFields"]] == [
        (FIELD_MANAGER, "Apply")
    ]
    later = Kube(kube).apply(
        {
            **_service(namespace, "fresh", {"app": "ours"}),
            "metadata": {"name": "fresh", "namespace": namespace},
        }
    )
    assert "labels" not in later["metadata"]


def test_apply_new_leaves_a_taken_name_as_it_is(kube: Any, namespace: str) -> None:
    """A name taken by someone else's object: None, and nothing of the object changed (a
    forced apply would have taken its fields over)."""
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        namespace,
        {"metadata": {"name": "taken"}, "spec": {"ports": [{"port": 81}], "selector": {"a": "b"}}},
    )
    before = core.read_namespaced_service("taken", namespace)
    assert Kube(kube).apply_new(_service(namespace, "taken", {"app": "ours"})) is None
    after = core.read_namespaced_service("taken", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec.selector == {"a": "b"}
    assert not after.metadata.labels


def test_apply_same_writes_our_object_and_nothing_else(kube: Any, namespace: str) -> None:
    """The apply of a child the operator created and the caches do not show yet carries the
    uid of its own create's answer: written when that object is still stored; None, with
    nothing written, when it was deleted (not created again by this request) or when the name
    is now another object's (whose fields a forced apply would have taken over)."""
    ours = Kube(kube)
    created = ours.apply_new(_service(namespace, "same", {"app": "ours"}))
    assert created is not None
    uid = created["metadata"]["uid"]
    again = ours.apply_same(_service(namespace, "same", {"app": "again"}), uid)
    assert again is not None
    assert again["metadata"]["uid"] == uid
    assert again["spec"]["selector"] == {"app": "again"}
    assert [(m["manager"], m["operation"]) for m in again["metadata"]["managedFields"]] == [
        (FIELD_MANAGER, "Apply")
    ]

    core = client.CoreV1Api(kube)
    core.delete_namespaced_service("same", namespace)
    assert ours.apply_same(_service(namespace, "same", {"app": "ours"}), uid) is None
    assert "same" not in [s.metadata.name for s in core.list_namespaced_service(namespace).items]

    core.create_namespaced_service(
        namespace,
        {"metadata": {"name": "same"}, "spec": {"ports": [{"port": 81}], "selector": {"a": "b"}}},
    )
    before = core.read_namespaced_service("same", namespace)
    assert ours.apply_same(_service(namespace, "same", {"app": "ours"}), uid) is None
    after = core.read_namespaced_service("same", namespace)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec.selector == {"a": "b"}
    assert not after.metadata.labels
