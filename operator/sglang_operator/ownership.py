"""Which objects belong to which SGLangDeployment: the owner reference the operator puts on
every child, and the check that keeps it away from objects it does not own.

A child marked with `naming.RETAINED_FOR_ANNOTATION` (the weights claim under
cache.whenDeleted Retain) gets no owner reference, so the garbage collector leaves it when
the deployment is deleted, as a StatefulSet's claims under `whenDeleted: Retain`. Such an
object is still ours: a deployment of the name it was retained for manages it, including a
new deployment of that name (another uid) created after the old one was deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sglang_operator import API_GROUP, API_VERSION, KIND, naming
from sglang_operator.conditions import Reason

Obj = dict[str, Any]


def owner_reference(sgld: Mapping[str, Any]) -> Obj:
    meta = sgld["metadata"]
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def retained_for(obj: Mapping[str, Any]) -> str | None:
    """The deployment name an object is retained for, if it is a retained child."""
    annotations = obj["metadata"].get("annotations") or {}
    value = annotations.get(naming.RETAINED_FOR_ANNOTATION)
    return str(value) if value is not None else None


def may_manage(existing: Mapping[str, Any], sgld: Mapping[str, Any]) -> bool:
    """Whether the deployment `sgld` may write over the stored object `existing`.

    Yes when it owns it, or when the object is a retained child of a deployment of the same
    name (the operator's label, the name in the annotation) that no controller owns: a claim
    left by `kubectl delete sgld NAME` is taken up by the next `NAME`.
    """
    meta = sgld["metadata"]
    if owned_by(existing, meta["uid"]):
        return True
    labels = existing["metadata"].get("labels") or {}
    controlled = any(
        ref.get("controller") for ref in existing["metadata"].get("ownerReferences") or []
    )
    return (
        not controlled
        and labels.get(naming.MANAGED_BY_LABEL) == naming.MANAGED_BY_VALUE
        and retained_for(existing) == meta["name"]
    )


def with_owner(obj: Obj, owner: Obj) -> Obj:
    """A copy of a built object carrying the owner reference (builders leave it out), unless
    the object is to outlive its deployment (`retained_for`)."""
    if retained_for(obj) is not None:
        return obj
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [owner]}}


def conflict(kind: str, name: str) -> tuple[str, str]:
    """The ConflictingObject problem for an object of ours by name that someone else owns."""
    return (
        Reason.CONFLICTING_OBJECT,
        f"{kind} {name} exists and is not owned by this SGLangDeployment; the operator "
        "leaves it alone: rename or delete it",
    )
