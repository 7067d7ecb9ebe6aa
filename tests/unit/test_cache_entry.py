"""What the controller's caches keep of an object: everything a decision reads, with
apiVersion and kind, and not the managedFields that no decision reads (half the memory)."""

from sglang_operator.controller import _plain


def test_a_cache_entry_keeps_the_object_without_its_managed_fields() -> None:
    body = {
        "metadata": {
            "name": "m0-0",
            "uid": "u1",
            "labels": {"app": "x"},
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    }
    entry = _plain(body, "apps/v1", "StatefulSet")
    assert entry == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "m0-0", "uid": "u1", "labels": {"app": "x"}},
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    }
    # The body kopf holds is left as it was.
    assert "managedFields" in body["metadata"]
