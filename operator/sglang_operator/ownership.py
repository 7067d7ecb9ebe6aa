"""Which objects belong to which SGLangDeployment: the owner reference the operator puts on
every child, and the check that keeps it away from objects it does not own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sglang_operator import API_GROUP, API_VERSION, KIND
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


def with_owner(obj: Obj, owner: Obj) -> Obj:
    """A copy of a built object carrying the owner reference (builders leave it out)."""
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [owner]}}


def conflict(kind: str, name: str) -> tuple[str, str]:
    """The ConflictingObject problem for an object of ours by name that someone else owns."""
    return (
        Reason.CONFLICTING_OBJECT,
        f"{kind} {name} exists and is not owned by this SGLangDeployment; the operator "
        "leaves it alone: rename or delete it",
    )
