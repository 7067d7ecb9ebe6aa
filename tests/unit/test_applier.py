"""How a pass writes a child (reconcile._Applier), against a fake API server that counts
requests (no cluster): a child the caches do not show yet but the operator itself created
costs one request, not a create-only apply that meets it, a read and an apply."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

import stored_objects
from sglang_operator import plan
from sglang_operator.kube import Ref
from sglang_operator.ownership import conflict
from sglang_operator.plan import Plan, Refusal, Snapshot, key_of
from sglang_operator.reconcile import Memory, _act, _Applier, observe, reconcile

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
SGLD = {
    "apiVersion": "sglang.io/v1alpha1",
    "kind": "SGLangDeployment",
    "metadata": {"name": "demo", "namespace": "ns", "uid": "sgld-uid"},
}


class FakeApi:
    """Stored objects by key, each with a uid and resourceVersion; `calls` names every
    request (method and object name), as kube.Kube would send it."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._serial = itertools.count(1)

    def put(self, obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
        stored = {
            **obj,
            "apiVersion": obj.get("apiVersion", "v1"),
            "metadata": {
                **obj["metadata"],
                "uid": f"uid-{next(self._serial)}",
                "resourceVersion": str(next(self._serial)),
                **meta,
            },
        }
        self.stored[key_of(obj)] = stored
        return stored

    def _write(self, obj: dict[str, Any]) -> dict[str, Any]:
        current = self.stored.get(key_of(obj))
        meta = {**obj["metadata"]}
        meta.pop("resourceVersion", None)
        if current is None:
            meta.pop("uid", None)  # a create: the API server gives the uid
            return self.put({**obj, "metadata": meta})
        return self.put({**obj, "metadata": meta}, uid=current["metadata"]["uid"])

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply", obj["metadata"]["name"]))
        return self._write(obj)

    def apply_same(self, obj: dict[str, Any], uid: str) -> dict[str, Any] | None:
        self.calls.append(("apply_same", obj["metadata"]["name"]))
        current = self.stored.get(key_of(obj))
        if current is None or current["metadata"]["uid"] != uid:
            return None  # the API server's 409 or 422: nothing written
        return self._write(obj)

    def apply_new(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append(("apply_new", obj["metadata"]["name"]))
        if key_of(obj) in self.stored:
            return None
        return self._write(obj)

    def get(self, ref: Ref) -> dict[str, Any] | None:
        self.calls.append(("get", ref.name))
        return self.stored.get((ref.kind, ref.namespace, ref.name))


def child(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "annotations": {plan.APPLIED_ANNOTATION: f"intent-{replicas}"},
            "ownerReferences": [
                {
                    "apiVersion": "sglang.io/v1alpha1",
                    "kind": "SGLangDeployment",
                    "name": "demo",
                    "uid": "sgld-uid",
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": replicas},
    }


def a_pass(api: FakeApi, memory: Memory, cached: list[dict[str, Any]], obj: dict[str, Any]) -> Any:
    """One pass that applies `obj` from a snapshot whose caches hold `cached`."""
    snapshot = Snapshot(sgld=SGLD, children=cached, pods=[], now=NOW)
    applier = _Applier(api, snapshot, Plan(spec=None), memory, "ns/demo")  # type: ignore[arg-type]
    api.calls.clear()
    applier.apply_all([obj])
    return applier


def test_a_pass_before_the_cache_shows_our_create_sends_one_apply() -> None:
    api, memory = FakeApi(), Memory()
    first = a_pass(api, memory, [], child("demo-0"))
    assert api.calls == [("apply_new", "demo-0")]
    assert first.created == ["StatefulSet demo-0"]
    created = api.stored[("StatefulSet", "ns", "demo-0")]
    # The next pass starts before the watch event of that create: the caches are as before.
    second = a_pass(api, memory, [], child("demo-0", replicas=3))
    assert api.calls == [("apply_same", "demo-0")]
    assert second.created == []  # applied, not created again: no second Created event
    stored = api.stored[("StatefulSet", "ns", "demo-0")]
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]
    assert stored["spec"] == {"replicas": 3}
    assert (
        memory.written[("StatefulSet", "ns", "demo-0")]["metadata"]["resourceVersion"]
        == (stored["metadata"]["resourceVersion"])
    )


def test_our_create_deleted_meanwhile_is_created_again() -> None:
    api, memory = FakeApi(), Memory()
    a_pass(api, memory, [], child("demo-0"))
    before = api.stored.pop(("StatefulSet", "ns", "demo-0"))
    again = a_pass(api, memory, [], child("demo-0"))
    assert api.calls == [("apply_same", "demo-0"), ("apply_new", "demo-0")]
    assert again.created == ["StatefulSet demo-0"]
    assert (
        api.stored[("StatefulSet", "ns", "demo-0")]["metadata"]["uid"]
        != (before["metadata"]["uid"])
    )


def test_a_name_now_someone_elses_is_left_as_it_is_and_our_answer_forgotten() -> None:
    """Our create was deleted and the name taken by an object that is not ours before the
    caches showed either: the uid guard refuses the apply, nothing is written over the
    other object, and the name is then treated as any name the caches do not hold."""
    api, memory = FakeApi(), Memory()
    a_pass(api, memory, [], child("demo-0"))
    api.stored.pop(("StatefulSet", "ns", "demo-0"))
    theirs = api.put({"kind": "StatefulSet", "metadata": {"name": "demo-0", "namespace": "ns"}})
    decided = Plan(spec=None)
    snapshot = Snapshot(sgld=SGLD, children=[], pods=[], now=NOW)
    applier = _Applier(api, snapshot, decided, memory, "ns/demo")  # type: ignore[arg-type]
    api.calls.clear()
    applier.apply_all([child("demo-0")])
    assert api.calls == [("apply_same", "demo-0"), ("apply_new", "demo-0"), ("get", "demo-0")]
    assert api.stored[("StatefulSet", "ns", "demo-0")] == theirs
    assert decided.problems == [conflict("StatefulSet", "demo-0")]
    assert ("StatefulSet", "ns", "demo-0") not in memory.written
    # And the next pass does not try the forgotten uid again.
    a_pass(api, memory, [], child("demo-0"))
    assert api.calls == [("apply_new", "demo-0"), ("get", "demo-0")]


def test_a_child_the_caches_hold_is_applied_and_one_they_do_not_is_created_only() -> None:
    api, memory = FakeApi(), Memory()
    stored = api.put(child("demo-0"))
    a_pass(api, memory, [stored], child("demo-0"))
    assert api.calls == [("apply", "demo-0")]
    a_pass(api, memory, [], child("demo-1"))
    assert api.calls == [("apply_new", "demo-1")]


class Deleter:
    """Deletes as the API server answers them; `together`: requests that must be in flight
    at once (a barrier: one after the other, the first waits for the second in vain)."""

    def __init__(self, together: int = 1, refuse: str | None = None) -> None:
        self.deleted: list[tuple[str, str | None]] = []
        self._barrier = threading.Barrier(together, timeout=10) if together > 1 else None
        self.refuse = refuse

    def delete(self, ref: Ref, *, uid: str | None = None, background: bool = False) -> bool:
        assert background
        if ref.name == self.refuse:
            raise ApiException(status=500, reason="etcd timeout")
        if self._barrier is not None and ref.kind == "Pod":
            self._barrier.wait()
        self.deleted.append((ref.name, uid))
        return True


def act(kube: Any, decided: Plan, memory: Memory) -> None:
    snapshot = Snapshot(sgld=SGLD, children=[], pods=[], now=NOW)
    applier = _Applier(kube, snapshot, decided, memory, "ns/demo")
    _act(kube, snapshot, decided, applier=applier, memory=memory, events=[], where="ns/demo")


def test_a_groups_pods_are_deleted_at_once_each_with_its_uid() -> None:
    kube, memory = Deleter(together=2), Memory()
    act(kube, Plan(spec=None, delete_pods=[("demo-0-0", "p0"), ("demo-0-1", "p1")]), memory)
    assert sorted(kube.deleted) == [("demo-0-0", "p0"), ("demo-0-1", "p1")]
    assert memory.deleted == {"p0", "p1"}


def test_no_pod_is_deleted_when_a_prune_fails() -> None:
    """As one after the other: the pass fails and is retried before any group restarts."""
    kube, memory = Deleter(refuse="demo-old"), Memory()
    decided = Plan(
        spec=None,
        delete=[("Service", "ns", "demo-old", "s0"), ("Service", "ns", "demo-older", "s1")],
        delete_pods=[("demo-0-0", "p0"), ("demo-0-1", "p1")],
    )
    with pytest.raises(ApiException):
        act(kube, decided, memory)
    assert kube.deleted == [("demo-older", "s1")]
    assert memory.deleted == {"s1"}


class CreatingApi(FakeApi):
    """FakeApi with the rest of a pass's requests; `together`: the kinds whose requests must
    be in flight at once (a barrier, as in `Deleter`)."""

    def __init__(self, together: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.together = together
        self._barrier = threading.Barrier(len(together), timeout=10) if together else None
        self.status: dict[str, Any] = {}

    def _meet(self, kind: str) -> None:
        if self._barrier is not None and kind in self.together:
            self._barrier.wait()

    def dry_run_create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("dry_run", obj["kind"]))
        self._meet("dry run")
        return obj

    def apply_new(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        self._meet(obj["kind"])
        return super().apply_new(obj)

    def patch_status(self, namespace: str, name: str, status: Any) -> dict[str, Any]:
        self.status = dict(status)
        return {**stored_objects.sgld(replicas=1), "status": self.status}

    def event(self, owner: Any, event_type: str, reason: str, message: str) -> None:
        pass


def kinds(api: FakeApi) -> list[str]:
    return [
        "dry run" if how == "dry_run" else key[0]
        for how, name in api.calls
        for key in ([k for k in api.stored if k[2] == name][:1] or [("?", "", name)])
    ]


def test_a_creates_record_is_written_with_the_dry_run_and_the_statefulset_after_both() -> None:
    api, memory = CreatingApi(together=("dry run", "ControllerRevision")), Memory()
    resource = stored_objects.sgld(replicas=1)
    snapshot = observe(resource, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    reconcile(api, snapshot, memory)  # type: ignore[arg-type]
    order = kinds(api)
    assert sorted(order[:2]) == ["ControllerRevision", "dry run"]
    assert "StatefulSet" in order[2:]
    assert order.count("ControllerRevision") == 1  # not written again once admitted
    # Recorded as any write of the pass: in memory, and named as created.
    assert any(k[0] == "ControllerRevision" for k in memory.written)


def test_no_record_is_sent_with_a_dry_run_while_the_last_one_was_refused() -> None:
    api, memory = CreatingApi(), Memory()
    resource = stored_objects.sgld(replicas=1)
    snapshot = observe(resource, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    check = plan.plan(snapshot).check_pod
    assert check is not None
    memory.pod_check = Refusal(check[0] + "-older", "403 forbidden", 1, NOW)
    snapshot = observe(resource, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    reconcile(api, snapshot, memory)  # type: ignore[arg-type]
    assert kinds(api)[0] == "dry run"


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[Snapshot]:
    """The snapshots plan.plan is called with, in order."""
    seen: list[Snapshot] = []
    real = plan.plan

    def counted(snapshot: Snapshot) -> Plan:
        seen.append(snapshot)
        return real(snapshot)

    monkeypatch.setattr(plan, "plan", counted)
    return seen


def test_an_admitted_dry_run_acts_on_the_plan_hoped_for(plans: list[Snapshot]) -> None:
    api, memory = CreatingApi(), Memory()
    resource = stored_objects.sgld(replicas=1)
    snapshot = observe(resource, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    reconcile(api, snapshot, memory)  # type: ignore[arg-type]
    # The pass's plan, then the one hoped for: the dry run admitted, its answer makes the
    # same snapshot, so it is not planned a third time.
    assert [s.pod_check for s in plans] == [None, memory.pod_check]
    assert "StatefulSet" in kinds(api)


def test_a_refused_dry_run_is_planned_from_its_refusal(plans: list[Snapshot]) -> None:
    class Refusing(CreatingApi):
        def dry_run_create(self, obj: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(("dry_run", obj["kind"]))
            raise ApiException(status=403, reason="Forbidden")

    api, memory = Refusing(), Memory()
    resource = stored_objects.sgld(replicas=1)
    snapshot = observe(resource, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    reconcile(api, snapshot, memory)  # type: ignore[arg-type]
    assert isinstance(memory.pod_check, Refusal)
    assert plans[-1].pod_check == memory.pod_check
    assert "StatefulSet" not in kinds(api)
