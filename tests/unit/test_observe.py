"""The snapshot a plan sees: caches with the operator's own writes laid over them (no
cluster)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sglang_operator.groups import NODE_GONE
from sglang_operator.reconcile import POD_CHECK_RETRY_MAX_SECONDS, Memory, observe, retry_delay

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def obj(kind: str, name: str, version: str, uid: str = "u", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": version}
    return {"kind": kind, "metadata": meta, **extra}


def test_our_newer_write_stands_until_the_cache_catches_up() -> None:
    memory = Memory()
    sgld = obj("SGLangDeployment", "demo", "5", status={"groups": []})
    written = obj("SGLangDeployment", "demo", "7", status={"groups": [{"index": 0}]})
    memory.written[("SGLangDeployment", "ns", "demo")] = written
    seen = observe(sgld, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    assert seen.sgld["status"] == {"groups": [{"index": 0}]}
    # The cache now holds a newer version: it wins and the memory is dropped.
    newer = obj("SGLangDeployment", "demo", "8", status={"groups": []})
    seen = observe(newer, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    assert seen.sgld["status"] == {"groups": []}
    assert not memory.written


def test_deleted_pods_look_terminating_until_the_cache_drops_them() -> None:
    memory = Memory(deleted={"p1"})
    pod = obj("Pod", "demo-0-0", "3", uid="p1")
    sgld = obj("SGLangDeployment", "demo", "1")
    seen = observe(sgld, [], [pod], failed_creates={}, nodes=None, memory=memory, now=NOW)
    assert seen.pods[0]["metadata"]["deletionTimestamp"]
    observe(sgld, [], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    assert memory.deleted == set()


def test_force_deleted_pods_are_left_out_until_the_cache_drops_them() -> None:
    # No grace period: gone from the API server at once, whatever the cache still holds.
    memory = Memory(force_deleted={"p1"})
    stuck = obj("Pod", "demo-0-1", "3", uid="p1", spec={"nodeName": "lost"})
    other = obj("Pod", "demo-0-0", "3", uid="p0", spec={"nodeName": "lost"})
    sgld = obj("SGLangDeployment", "demo", "1")
    nodes = {"kept": {"status": "True"}}
    seen = observe(sgld, [], [stuck, other], failed_creates={}, nodes=nodes, memory=memory, now=NOW)
    assert [p["metadata"]["uid"] for p in seen.pods] == ["p0"]
    assert memory.force_deleted == {"p1"}
    observe(sgld, [], [other], failed_creates={}, nodes=nodes, memory=memory, now=NOW)
    assert memory.force_deleted == set()


def test_unreachable_nodes_are_those_ready_unknown_or_deleted() -> None:
    pods = [
        {**obj("Pod", f"p{i}", "1", uid=f"u{i}"), "spec": {"nodeName": node}}
        for i, node in enumerate(["ok", "lost", "gone"])
    ]
    nodes = {
        "ok": {"status": "True"},
        "lost": {"status": "Unknown", "lastTransitionTime": "2026-11-27T11:59:00Z"},
    }
    sgld = obj("SGLangDeployment", "demo", "1")
    seen = observe(sgld, [], pods, failed_creates={}, nodes=nodes, memory=Memory(), now=NOW)
    assert seen.unreachable == {
        "lost": datetime(2026, 11, 27, 11, 59, tzinfo=UTC),
        "gone": NODE_GONE,
    }
    # Without a node cache nothing is taken for gone.
    seen = observe(sgld, [], pods, failed_creates={}, nodes=None, memory=Memory(), now=NOW)
    assert seen.unreachable == {}


def test_replacement_times_are_kept_while_their_statefulset_is_cached() -> None:
    memory = Memory(replaced={"sts-a": "2026-11-27T11:00:00Z", "sts-b": "2026-11-27T11:30:00Z"})
    sgld = obj("SGLangDeployment", "demo", "5")
    kept = obj("StatefulSet", "demo-0", "3", uid="sts-a")
    seen = observe(sgld, [kept], [], failed_creates={}, nodes=None, memory=memory, now=NOW)
    assert seen.replaced == {"sts-a": "2026-11-27T11:00:00Z"}
    assert memory.replaced == {"sts-a": "2026-11-27T11:00:00Z"}


def test_retries_double_from_5_seconds_to_5_minutes_and_a_pod_check_to_1_minute() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 40)] == [5, 10, 20, 160, 300, 300]
    assert POD_CHECK_RETRY_MAX_SECONDS == 60
    assert [retry_delay(n, POD_CHECK_RETRY_MAX_SECONDS) for n in (1, 4, 5, 40)] == [5, 40, 60, 60]
