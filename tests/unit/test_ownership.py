"""Ownership: which stored objects a deployment may write over, and which get an owner
reference (a retained weights claim gets none, and the next deployment of its name takes it
up)."""

from typing import Any

from hypothesis import given

from sglang_operator import naming
from sglang_operator.api import parse_spec
from sglang_operator.builders import weights_pvc
from sglang_operator.ownership import may_manage, owned_by, owner_reference, with_owner
from strategies import resource_names

NS = "llm"


def sgld(name: str, uid: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "uid": uid}}


def claim(name: str, when_deleted: str) -> dict[str, Any]:
    spec = parse_spec(
        {"model": {"path": "m", "cache": {"size": "1Ti", "whenDeleted": when_deleted}}}
    )
    built = weights_pvc(spec, name, NS)
    assert built is not None
    return built


@given(resource_names)
def test_a_retained_claim_has_no_owner_and_a_new_deployment_of_its_name_takes_it_up(
    name: str,
) -> None:
    old = sgld(name, "uid-old")
    stored = with_owner(claim(name, "Retain"), owner_reference(old))
    assert not stored["metadata"].get("ownerReferences")
    assert may_manage(stored, old)
    assert may_manage(stored, sgld(name, "uid-new"))
    assert not may_manage(stored, sgld(name + "x", "uid-other"))


def test_a_claim_under_delete_is_owned_and_only_its_owner_manages_it() -> None:
    old = sgld("qwen", "uid-old")
    stored = with_owner(claim("qwen", "Delete"), owner_reference(old))
    assert owned_by(stored, "uid-old")
    assert may_manage(stored, old)
    # Being garbage-collected with the old deployment: not the new one's.
    assert not may_manage(stored, sgld("qwen", "uid-new"))


def test_an_object_someone_else_made_or_controls_is_never_taken() -> None:
    retained = with_owner(claim("qwen", "Retain"), owner_reference(sgld("qwen", "u")))
    not_ours = {
        **retained,
        "metadata": {**retained["metadata"], "labels": {naming.MANAGED_BY_LABEL: "helm"}},
    }
    assert not may_manage(not_ours, sgld("qwen", "u2"))
    controlled = {
        **retained,
        "metadata": {
            **retained["metadata"],
            "ownerReferences": [{"uid": "x", "controller": True, "kind": "StatefulSet"}],
        },
    }
    assert not may_manage(controlled, sgld("qwen", "u2"))
    unmarked = {"metadata": {"name": "qwen-weights", "labels": retained["metadata"]["labels"]}}
    assert not may_manage(unmarked, sgld("qwen", "u2"))
