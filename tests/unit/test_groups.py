"""Group health, restart and rollout decisions, on plain pod dicts (no cluster)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator.conditions import Reason
from sglang_operator.groups import (
    RESTART_BUDGET,
    Decision,
    GroupMemory,
    decide,
    pod_problem,
)
from sglang_operator.naming import POD_INDEX_LABEL, POD_SPEC_HASH_ANNOTATION

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HASH = "new"


def ts(delta: timedelta = timedelta(0)) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    group: int,
    rank: int,
    *,
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    spec_hash: str = HASH,
    uid: str | None = None,
    created: timedelta = timedelta(minutes=-10),
    terminating: bool = False,
    extra_status: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"demo-{group}-{rank}",
        "uid": uid or f"uid-{group}-{rank}",
        "labels": {POD_INDEX_LABEL: str(rank)},
        "annotations": {POD_SPEC_HASH_ANNOTATION: spec_hash},
        "creationTimestamp": ts(created),
    }
    if terminating:
        meta["deletionTimestamp"] = ts()
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "sglang", "restartCount": restarts, "state": {}}],
    }
    status.update(extra_status or {})
    return {"metadata": meta, "status": status}


def run(
    pods: Sequence[dict[str, Any]],
    *,
    replicas: int = 1,
    nodes: int = 2,
    memory: Sequence[GroupMemory] = (),
    now: datetime = NOW,
) -> Decision:
    by_group: dict[int, list[dict[str, Any]]] = {}
    for p in pods:
        by_group.setdefault(int(p["metadata"]["name"].split("-")[1]), []).append(p)
    return decide(
        replicas=replicas,
        nodes=nodes,
        desired_hashes=dict.fromkeys(range(replicas), HASH),
        startup_timeout=timedelta(hours=1),
        pods_by_group=by_group,
        memory=memory,
        now=now,
    )


def formed(group: int = 0, nodes: int = 2) -> GroupMemory:
    return GroupMemory(group, [f"uid-{group}-{r}" for r in range(nodes)])


def test_healthy_group_is_ready_and_remembers_its_members() -> None:
    d = run([pod(0, 0), pod(0, 1)])
    assert d.views[0].ready
    assert d.actions == []
    assert d.memory[0].members == ["uid-0-0", "uid-0-1"]


def test_group_is_not_ready_until_rank0_is_ready_even_if_workers_are() -> None:
    d = run([pod(0, 0, ready=False), pod(0, 1)])
    assert not d.views[0].ready


def test_worker_container_restart_restarts_the_whole_group() -> None:
    d = run([pod(0, 0), pod(0, 1, restarts=1)], memory=[formed()])
    assert [(a.index, a.kind) for a in d.actions] == [(0, Reason.GROUP_RESTARTED)]
    assert {name for name, _ in d.actions[0].pod_names} == {"demo-0-0", "demo-0-1"}
    assert d.memory[0].restarts == [ts()]
    assert d.memory[0].members == []


def test_replaced_member_restarts_the_group() -> None:
    d = run([pod(0, 0), pod(0, 1, uid="fresh")], memory=[formed()])
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]
    assert "replaced" in d.actions[0].message


def test_missing_member_restarts_the_group() -> None:
    d = run([pod(0, 0)], memory=[formed()])
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]


def test_evicted_pod_restarts_the_group() -> None:
    evicted = pod(0, 1, phase="Failed", extra_status={"reason": "Evicted"})
    d = run([pod(0, 0), evicted], memory=[formed()])
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]
    assert "Evicted" in d.actions[0].message


def test_no_restart_while_a_pod_is_pending() -> None:
    d = run([pod(0, 0), pod(0, 1, uid="fresh", phase="Pending", ready=False)], memory=[formed()])
    assert d.actions == []


def test_single_node_groups_are_left_to_the_statefulset() -> None:
    d = run([pod(0, 0, restarts=3)], nodes=1)
    assert d.actions == []


def test_fully_new_incarnation_is_not_a_failure() -> None:
    d = run([pod(0, 0, uid="a"), pod(0, 1, uid="b")], memory=[formed()])
    assert d.actions == []
    assert d.memory[0].members == ["a", "b"]


def test_restart_backoff_doubles() -> None:
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1"], [ts(timedelta(seconds=-45))])]
    # One restart 45 s ago: the second waits 30 s after it, so it may go now.
    assert run([pod(0, 0), pod(0, 1, restarts=1)], memory=memory).actions
    memory = [
        GroupMemory(
            0, ["uid-0-0", "uid-0-1"], [ts(timedelta(seconds=-100)), ts(timedelta(seconds=-45))]
        )
    ]
    # Two restarts: the third waits 60 s after the last one; 45 s is not enough.
    d = run([pod(0, 0), pod(0, 1, restarts=1)], memory=memory)
    assert d.actions == []
    assert d.requeue_after is not None
    assert 14 <= d.requeue_after <= 16
    assert [p.reason for p in d.backoff] == [Reason.GROUP_RESTART_BACKOFF]
    assert "restarted at 2026-11-27T12:00:15Z" in d.backoff[0].message


def test_restart_budget_leaves_the_group_alone_and_says_why() -> None:
    restarts = [ts(timedelta(minutes=-25 + 4 * i)) for i in range(RESTART_BUDGET)]
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1"], restarts)]
    d = run([pod(0, 0), pod(0, 1, restarts=1)], memory=memory)
    assert d.actions == []
    assert [p.reason for p in d.budget_exhausted] == [Reason.GROUP_RESTART_BUDGET_EXHAUSTED]
    assert "left alone" in d.budget_exhausted[0].message


def test_old_restarts_leave_the_window() -> None:
    restarts = [ts(timedelta(hours=-2))] * RESTART_BUDGET
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1"], restarts)]
    d = run([pod(0, 0), pod(0, 1, restarts=1)], memory=memory)
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]


def test_rollout_replaces_one_group_at_a_time() -> None:
    pods = [pod(g, r, spec_hash="old") for g in range(3) for r in range(2)]
    d = run(pods, replicas=3, memory=[formed(g) for g in range(3)])
    assert [(a.index, a.kind) for a in d.actions] == [(0, Reason.ROLLOUT_STEP)]


def test_rollout_waits_for_the_replaced_group_to_be_ready() -> None:
    pods = [pod(0, r, uid=f"n{r}", ready=False) for r in range(2)]
    pods += [pod(g, r, spec_hash="old") for g in (1, 2) for r in range(2)]
    d = run(pods, replicas=3)
    assert d.actions == []
    # Pods of the replaced group not even recreated yet: still waiting.
    d = run([pod(g, r, spec_hash="old") for g in (1, 2) for r in range(2)], replicas=3)
    assert d.actions == []


def test_rollout_moves_on_when_the_replaced_group_is_ready() -> None:
    pods = [pod(0, r, uid=f"n{r}") for r in range(2)]
    pods += [pod(g, r, spec_hash="old") for g in (1, 2) for r in range(2)]
    d = run(pods, replicas=3)
    assert [(a.index, a.kind) for a in d.actions] == [(1, Reason.ROLLOUT_STEP)]


def test_unschedulable_names_the_short_resource() -> None:
    p = pod(
        0,
        0,
        phase="Pending",
        ready=False,
        extra_status={
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/4 nodes are available: 4 Insufficient amd.com/gpu.",
                }
            ]
        },
    )
    problem = pod_problem(p)
    assert problem is not None
    assert problem.reason == Reason.UNSCHEDULABLE
    assert "amd.com/gpu" in problem.message


def test_oom_killed_hints_at_mem_fraction() -> None:
    status = {
        "containerStatuses": [
            {
                "name": "sglang",
                "restartCount": 1,
                "state": {},
                "lastState": {"terminated": {"reason": "OOMKilled"}},
            }
        ]
    }
    problem = pod_problem(pod(0, 0, extra_status=status))
    assert problem is not None
    assert problem.reason == Reason.OOM_KILLED
    assert "memFractionStatic" in problem.message


def test_a_recovered_oom_kill_is_history() -> None:
    status = {
        "containerStatuses": [
            {
                "name": "sglang",
                "ready": True,
                "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"reason": "OOMKilled"}},
            }
        ]
    }
    assert pod_problem(pod(0, 0, extra_status=status)) is None


def test_image_pull_failure_is_reported() -> None:
    status = {
        "containerStatuses": [
            {
                "name": "sglang",
                "image": "nope:1",
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}},
            }
        ]
    }
    problem = pod_problem(pod(0, 0, phase="Pending", extra_status=status))
    assert problem is not None
    assert problem.reason == Reason.IMAGE_PULL_FAILED


def test_startup_timeout_after_the_window_only() -> None:
    old = timedelta(hours=-2)
    pods = [pod(0, 0, ready=False, created=old), pod(0, 1, created=old)]
    d = run(pods)
    assert d.views[0].problem is not None
    assert d.views[0].problem.reason == Reason.STARTUP_TIMEOUT
    young = [pod(0, 0, ready=False, created=timedelta(minutes=-5)), pod(0, 1)]
    d = run(young)
    assert d.views[0].problem is None
    assert d.requeue_after is not None
    assert d.requeue_after > 60


def test_a_new_group_size_is_a_rollout_not_a_failure() -> None:
    # nodes 3 -> 2: the StatefulSet removed rank 2; the rollout replaces the rest.
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1", "uid-0-2"])]
    d = run([pod(0, 0, spec_hash="old"), pod(0, 1, spec_hash="old")], memory=memory)
    assert [a.kind for a in d.actions] == [Reason.ROLLOUT_STEP]
