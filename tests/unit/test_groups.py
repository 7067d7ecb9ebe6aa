"""Group health, restart and rollout decisions, on plain pod dicts (no cluster)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sglang_operator.api import parse_spec
from sglang_operator.builders import desired_objects
from sglang_operator.conditions import Reason
from sglang_operator.groups import (
    NODE_GONE,
    RESTART_BUDGET,
    SCHEDULER_GRACE,
    Decision,
    FailedCreate,
    GroupMemory,
    GroupView,
    Healing,
    Problem,
    backoff_before,
    decide,
    pod_problem,
    startup_window,
)
from sglang_operator.groups import rank as pod_rank
from sglang_operator.naming import POD_INDEX_LABEL, POD_REVISION_LABEL, POD_SPEC_HASH_ANNOTATION

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
    revision: str | None = None,
) -> dict[str, Any]:
    revision_label = {POD_REVISION_LABEL: revision} if revision is not None else {}
    meta: dict[str, Any] = {
        "name": f"demo-{group}-{rank}",
        "uid": uid or f"uid-{group}-{rank}",
        "labels": {POD_INDEX_LABEL: str(rank), **revision_label},
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
    # Scheduled (on a node) unless a test says otherwise: a Pending pod here is one whose
    # images are being pulled, as most Pending pods are.
    return {"metadata": meta, "spec": {"nodeName": "node-a"}, "status": status}


def run(
    pods: Sequence[dict[str, Any]],
    *,
    replicas: int = 1,
    nodes: int = 2,
    memory: Sequence[GroupMemory] = (),
    now: datetime = NOW,
    stored: Mapping[int, str] | None = None,
    healing: Healing = Healing(),  # noqa: B008
    unreachable: Mapping[str, datetime] | None = None,
    **extra: Any,
) -> Decision:
    by_group: dict[int, list[dict[str, Any]]] = {}
    for p in pods:
        by_group.setdefault(int(p["metadata"]["name"].split("-")[1]), []).append(p)
    return decide(
        replicas=replicas,
        nodes=nodes,
        stored_hashes=dict.fromkeys(range(replicas), HASH) if stored is None else stored,
        startup_timeout=timedelta(hours=1),
        pods_by_group=by_group,
        memory=memory,
        now=now,
        healing=healing,
        unreachable=unreachable,
        **extra,
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


def test_oom_killed_names_the_host_memory_limit_not_gpu_memory() -> None:
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
    # An OOM kill is the container's host memory limit; memFractionStatic is GPU memory.
    assert "resources.limits.memory" in problem.message
    assert "memFractionStatic" not in problem.message


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


# ---- the numbers, stated literally: restart memory, budget, window, backoff, timeouts --------

CRASHED_WORKER = "pod demo-0-1 container sglang restarted"


def crashed_group() -> list[dict[str, Any]]:
    """A formed 2-node group whose rank 1 container restarted: a failure of the group."""
    return [pod(0, 0), pod(0, 1, restarts=1)]


def remembered(*restarted_ago: timedelta) -> list[GroupMemory]:
    return [GroupMemory(0, ["uid-0-0", "uid-0-1"], [ts(-ago) for ago in restarted_ago])]


def test_restart_memory_is_read_back_from_status() -> None:
    raw = {
        "index": 2,
        "ready": False,
        "members": ["uid-a", "uid-b"],
        "restarts": ["2026-11-27T11:50:00Z", "2026-11-27T11:55:00Z"],
    }
    assert GroupMemory.from_status(raw) == GroupMemory(
        2, ["uid-a", "uid-b"], ["2026-11-27T11:50:00Z", "2026-11-27T11:55:00Z"]
    )
    # What an older operator, or a group never formed, left behind.
    assert GroupMemory.from_status({"index": 1}) == GroupMemory(1, [], [])
    assert GroupMemory.from_status({"members": None, "restarts": None}) == GroupMemory(0, [], [])


def test_restarts_made_before_an_operator_restart_still_count() -> None:
    # status.groups as the previous operator process wrote it: five restarts in 25 minutes.
    raw = {
        "index": 0,
        "members": ["uid-0-0", "uid-0-1"],
        "restarts": [
            "2026-11-27T11:35:00Z",
            "2026-11-27T11:40:00Z",
            "2026-11-27T11:45:00Z",
            "2026-11-27T11:50:00Z",
            "2026-11-27T11:55:00Z",
        ],
    }
    d = run(crashed_group(), memory=[GroupMemory.from_status(raw)])
    assert d.actions == []
    assert [p.reason for p in d.budget_exhausted] == ["GroupRestartBudgetExhausted"]
    assert d.memory[0].restarts == raw["restarts"]


def test_four_restarts_in_the_window_allow_a_fifth() -> None:
    memory = remembered(*(timedelta(minutes=m) for m in (20, 15, 10, 5)))
    d = run(crashed_group(), memory=memory)
    assert [(a.index, a.kind) for a in d.actions] == [(0, "GroupRestarted")]
    assert d.actions[0].message == f"restarting group 0: {CRASHED_WORKER}"
    assert d.actions[0].pod_names == (("demo-0-0", "uid-0-0"), ("demo-0-1", "uid-0-1"))
    assert d.memory[0] == GroupMemory(
        0,
        [],
        [
            "2026-11-27T11:40:00Z",
            "2026-11-27T11:45:00Z",
            "2026-11-27T11:50:00Z",
            "2026-11-27T11:55:00Z",
            "2026-11-27T12:00:00Z",
        ],
    )
    assert d.budget_exhausted == []
    assert d.backoff == []
    assert d.requeue_after is None


def test_five_restarts_inside_30_minutes_exhaust_the_budget() -> None:
    # The oldest restart one second inside the window.
    memory = remembered(*(timedelta(minutes=m) for m in (29, 24, 18, 12)), timedelta(seconds=1799))
    memory[0].restarts.sort()
    d = run(crashed_group(), memory=memory)
    assert d.actions == []
    assert d.budget_exhausted == [
        Problem(
            "GroupRestartBudgetExhausted",
            "group 0 was restarted 5 times in 30m and is left alone until "
            f"2026-11-27T12:00:01Z or a spec change replaces it: {CRASHED_WORKER}",
        )
    ]
    # Tried again when the oldest restart leaves the window, one second from now.
    assert d.requeue_after == 1.0
    assert d.backoff == []
    assert len(d.memory[0].restarts) == 5


def test_an_exhausted_group_is_tried_again_when_its_oldest_restart_leaves_the_window() -> None:
    memory = remembered(*(timedelta(minutes=m) for m in (25, 20, 15, 10, 5)))
    d = run(crashed_group(), memory=memory)
    assert d.actions == []
    assert d.requeue_after == 300.0
    assert "left alone until 2026-11-27T12:05:00Z or a spec change" in d.budget_exhausted[0].message


def test_a_restart_exactly_30_minutes_ago_has_left_the_window() -> None:
    # Five restarts, the oldest exactly 30 minutes ago: four count, the last 5 minutes ago
    # (past the 240 s backoff after four), so the group restarts.
    memory = remembered(*(timedelta(minutes=m) for m in (30, 25, 20, 15, 5)))
    d = run(crashed_group(), memory=memory)
    assert [a.kind for a in d.actions] == ["GroupRestarted"]
    assert d.memory[0].restarts == [
        "2026-11-27T11:35:00Z",
        "2026-11-27T11:40:00Z",
        "2026-11-27T11:45:00Z",
        "2026-11-27T11:55:00Z",
        "2026-11-27T12:00:00Z",
    ]
    assert d.budget_exhausted == []


def test_restarts_out_of_the_window_are_forgotten_even_without_a_failure() -> None:
    memory = remembered(timedelta(minutes=31), timedelta(minutes=29))
    d = run([pod(0, 0), pod(0, 1)], memory=memory)
    assert d.actions == []
    assert d.memory[0].restarts == ["2026-11-27T11:31:00Z"]


@pytest.mark.parametrize(
    ("previous", "backoff_seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240)],
)
def test_backoff_doubles_from_30_seconds(previous: int, backoff_seconds: int) -> None:
    # The last restart 10 s ago, the earlier ones well apart and inside the window.
    ago = [timedelta(minutes=5 * (previous - i)) for i in range(1, previous)] + [
        timedelta(seconds=10)
    ]
    d = run(crashed_group(), memory=remembered(*ago))
    assert d.actions == []
    assert d.requeue_after == backoff_seconds - 10
    wait_until = NOW + timedelta(seconds=backoff_seconds - 10)
    assert d.backoff == [
        Problem(
            "GroupRestartBackoff",
            f"group 0 will be restarted at {wait_until:%Y-%m-%dT%H:%M:%SZ} (backoff after "
            f"{previous} restart(s)): {CRASHED_WORKER}",
        )
    ]
    # One second after the backoff ends, the group goes.
    later = run(
        crashed_group(),
        memory=remembered(*ago),
        now=NOW + timedelta(seconds=backoff_seconds - 10),
    )
    assert [a.kind for a in later.actions] == ["GroupRestarted"]


def test_backoff_message_times_for_two_restarts() -> None:
    # Two restarts, the last 45 s ago: the third waits 60 s, until 12:00:15.
    d = run(crashed_group(), memory=remembered(timedelta(seconds=100), timedelta(seconds=45)))
    assert d.requeue_after == 15.0
    assert d.backoff[0].message == (
        "group 0 will be restarted at 2026-11-27T12:00:15Z (backoff after 2 restart(s)): "
        f"{CRASHED_WORKER}"
    )


def test_the_first_restart_does_not_wait() -> None:
    d = run(crashed_group(), memory=[formed()])
    assert [a.kind for a in d.actions] == ["GroupRestarted"]
    assert d.backoff == []
    assert d.requeue_after is None


@pytest.mark.parametrize(
    ("previous", "seconds"),
    [(0, 0), (1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (7, 600), (12, 600)],
)
def test_backoff_steps_and_their_10_minute_cap(previous: int, seconds: int) -> None:
    # With today's budget of 5 the longest wait decide() can reach is 240 s (after 4
    # restarts); the cap applies from the 6th restart on (docs/testing.md).
    assert backoff_before(previous) == timedelta(seconds=seconds)


def test_a_wakeup_under_a_second_is_rounded_up_to_one() -> None:
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1"], [(NOW - timedelta(seconds=29.5)).isoformat()])]
    d = run(crashed_group(), memory=memory)
    assert d.actions == []
    assert d.requeue_after == 1.0


# ---- rollout and memory ---------------------------------------------------------------------


def test_a_rolled_group_starts_with_a_clean_restart_memory() -> None:
    memory = remembered(timedelta(minutes=20), timedelta(minutes=10))
    d = run([pod(0, 0, spec_hash="old"), pod(0, 1, spec_hash="old")], memory=memory)
    assert [(a.index, a.kind) for a in d.actions] == [(0, "RolloutStep")]
    assert d.actions[0].message == "replacing group 0 with the new revision"
    assert d.memory == [GroupMemory(0, [], [])]


def test_terminating_pods_are_left_out_of_a_rollouts_deletions() -> None:
    pods = [
        pod(0, 0, spec_hash="old"),
        pod(0, 1, spec_hash="old", terminating=True),
        pod(0, 1, spec_hash="old", uid="uid-0-1-new"),
    ]
    d = run(pods)
    assert [a.kind for a in d.actions] == ["RolloutStep"]
    assert d.actions[0].pod_names == (("demo-0-0", "uid-0-0"), ("demo-0-1", "uid-0-1-new"))
    assert d.views[0] == GroupView(0, 2, 2, True, True, None)


def test_terminating_pods_are_left_out_of_a_restarts_deletions() -> None:
    pods = [pod(0, 0), pod(0, 1, terminating=True), pod(0, 1, uid="uid-0-1-new", restarts=1)]
    d = run(pods, memory=[GroupMemory(0, ["uid-0-0", "uid-0-1-new"])])
    assert [a.kind for a in d.actions] == ["GroupRestarted"]
    assert d.actions[0].pod_names == (("demo-0-0", "uid-0-0"), ("demo-0-1", "uid-0-1-new"))


def test_a_group_of_only_terminating_pods_is_not_restarted() -> None:
    pods = [pod(0, 0, terminating=True, restarts=1), pod(0, 1, terminating=True)]
    d = run(pods, memory=[formed()])
    assert d.actions == []
    assert d.views[0] == GroupView(0, 0, 0, False, False, None)


def test_a_restart_holds_the_rollout_back() -> None:
    pods = [pod(0, 0), pod(0, 1, restarts=1)]
    pods += [pod(1, r, spec_hash="old") for r in range(2)]
    d = run(pods, replicas=2, memory=[formed(0), formed(1)])
    assert [(a.index, a.kind) for a in d.actions] == [(0, "GroupRestarted")]


def test_two_failed_groups_restart_in_the_same_decision() -> None:
    pods = [pod(g, r, restarts=r) for g in range(2) for r in range(2)]
    d = run(pods, replicas=2, memory=[formed(0), formed(1)])
    assert [(a.index, a.kind) for a in d.actions] == [
        (0, "GroupRestarted"),
        (1, "GroupRestarted"),
    ]


def test_a_group_without_a_stored_hash_is_not_rolled_while_the_others_are_current() -> None:
    # Group 1's StatefulSet is not stored (refused, missing or not ours): its pods have no
    # stored template to differ from, and deleting them would act on what was built.
    d = decide(
        replicas=2,
        nodes=1,
        stored_hashes={0: HASH},
        startup_timeout=timedelta(hours=1),
        pods_by_group={0: [pod(0, 0)], 1: [pod(1, 0)]},
        memory=[],
        now=NOW,
    )
    assert [(v.index, v.outdated) for v in d.views] == [(0, False), (1, False)]
    assert d.actions == []


def test_a_smaller_group_size_reforms_the_membership_instead_of_restarting() -> None:
    # nodes 3 -> 2 with the same template hash: rank 2 is gone by design, not by failure.
    d = run([pod(0, 0), pod(0, 1)], memory=[GroupMemory(0, ["uid-0-0", "uid-0-1", "uid-0-2"])])
    assert d.actions == []
    assert d.memory[0].members == ["uid-0-0", "uid-0-1"]


def test_a_pod_beyond_the_group_size_is_not_a_member() -> None:
    # `kubectl scale sts demo-0 --replicas=3` on a formed 2-node group: rank 2 can never join
    # it (and goes when replicas is put back); before, the group was restarted ("0 pod(s) of
    # group 0 were deleted, evicted or replaced") and counted as not serving.
    for extra in (pod(0, 2), pod(0, 2, phase="Pending", ready=False)):
        d = run([pod(0, 0), pod(0, 1), extra], memory=[formed()])
        assert d.actions == []
        assert d.views[0].ready
        assert d.memory[0].members == ["uid-0-0", "uid-0-1"]
    # Remembered only from the group's own ranks.
    d = run([pod(0, 0), pod(0, 1), pod(0, 2)])
    assert d.memory[0].members == ["uid-0-0", "uid-0-1"]
    # A member that does go still restarts the group.
    d = run([pod(0, 0), pod(0, 1, uid="fresh"), pod(0, 2)], memory=[formed()])
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]
    assert "1 pod(s) of group 0" in d.actions[0].message


def test_a_lost_member_is_named_in_the_restart_message() -> None:
    d = run([pod(0, 0), pod(0, 1, uid="uid-0-1-new")], memory=[formed()])
    assert d.actions[0].message == (
        "restarting group 0: 1 pod(s) of group 0 were deleted, evicted or replaced"
    )
    assert d.actions[0].pod_names == (("demo-0-0", "uid-0-0"), ("demo-0-1", "uid-0-1-new"))


def test_an_incomplete_group_is_not_remembered_as_formed() -> None:
    d = run([pod(0, 0), pod(0, 1, phase="Pending", ready=False)])
    assert d.memory[0].members == []
    d = run([pod(0, 0), pod(0, 1), pod(0, 1, uid="old", terminating=True)])
    assert d.memory[0].members == []


def test_a_failed_pod_without_a_reason_and_a_terminated_container() -> None:
    failed = pod(0, 1, phase="Failed")
    d = run([pod(0, 0), failed], memory=[formed()])
    assert d.actions[0].message == "restarting group 0: pod demo-0-1 failed (Failed)"
    done = pod(
        0,
        1,
        extra_status={
            "containerStatuses": [{"name": "sglang", "state": {"terminated": {"exitCode": 1}}}]
        },
    )
    d = run([pod(0, 0), done], memory=[formed()])
    assert d.actions[0].message == "restarting group 0: pod demo-0-1 container sglang terminated"


def test_init_containers_that_retried_or_completed_do_not_fail_the_group() -> None:
    # An init container terminates by design (exit 0), and one that retried until rank 0's
    # name resolved has done its job once the pod runs: restarting the group for either
    # looped (a fresh adversary's run: any init container restarted a multi-node group).
    status = {
        "initContainerStatuses": [
            {"name": "wait-dns", "restartCount": 2, "state": {"terminated": {"exitCode": 0}}}
        ]
    }
    d = run([pod(0, 0, extra_status=status), pod(0, 1, extra_status=status)], memory=[formed()])
    assert d.actions == []
    assert d.views[0].ready


def test_a_pod_without_status_is_pending_and_holds_the_restart() -> None:
    bare = {"metadata": pod(0, 1, uid="new", created=timedelta(0))["metadata"]}
    d = run([pod(0, 0), bare], memory=[formed()])
    assert d.actions == []
    assert d.views[0] == GroupView(0, 2, 1, False, False, None)


def test_a_pods_rank_is_its_names_ordinal_whatever_its_pod_index_label_says() -> None:
    # The fourth adversary: a pod-index label of "abc" crashed every pass (int()), one past
    # the group's size made the group restart for a member it took for gone (and only half
    # of it). The StatefulSet controller reads the ordinal from the name; so does the
    # operator (and puts the label back: plan.reclaim).
    for value in (None, "abc", "5", "1"):
        odd = pod(0, 0)
        if value is None:
            del odd["metadata"]["labels"]
        else:
            odd["metadata"]["labels"][POD_INDEX_LABEL] = value
        assert pod_rank(odd) == 0
        d = run([odd, pod(0, 1)])
        assert d.views[0].ready and not d.actions, value
    nameless = pod(0, 0)
    nameless["metadata"]["name"] = "demo-0-x"
    assert pod_rank(nameless) == -1
    assert not run([nameless, pod(0, 1)]).views[0].ready


# ---- startup timeout ------------------------------------------------------------------------


def test_the_startup_timeout_counts_from_the_newest_pod() -> None:
    pods = [
        pod(0, 0, ready=False, created=timedelta(hours=-2)),
        pod(0, 1, created=timedelta(minutes=-30)),
    ]
    d = run(pods)
    assert d.views[0].problem is None
    assert d.requeue_after == 1800.0


def test_the_startup_timeout_applies_from_its_deadline_on() -> None:
    hour = timedelta(hours=-1)
    pods = [pod(0, 0, ready=False, created=hour), pod(0, 1, created=hour)]
    d = run(pods)
    assert d.views[0].problem == Problem(
        "StartupTimeout",
        "group 0 is not ready 3600s after its pods started: check rank 0's logs; for "
        "multi-node groups check that rank 0's DNS name resolves and network.ncclSocketIfname "
        "names the right interface",
    )
    young = timedelta(seconds=-3599)
    one_second_before = [pod(0, 0, ready=False, created=young), pod(0, 1, created=young)]
    d = run(one_second_before)
    assert d.views[0].problem is None
    assert d.requeue_after == 1.0


def probed(p: dict[str, Any], **probe: int) -> dict[str, Any]:
    """The pod carrying this startupProbe on its sglang container (and a sidecar without)."""
    containers = [{"name": "sidecar"}, {"name": "sglang", "startupProbe": probe}]
    return {**p, "spec": {"containers": containers}}


def test_the_startup_deadline_is_the_probe_the_pod_carries_initial_delay_included() -> None:
    # initialDelaySeconds 600 + periodSeconds 10 x failureThreshold 360: the kubelet lets
    # the container start for 4200 s, so the operator says nothing before.
    probe = {"initialDelaySeconds": 600, "periodSeconds": 10, "failureThreshold": 360}
    before = timedelta(seconds=-4199)
    d = run([probed(pod(0, 0, ready=False, created=before), **probe)], nodes=1)
    assert d.views[0].problem is None
    assert d.requeue_after == 1.0
    at = timedelta(seconds=-4200)
    d = run([probed(pod(0, 0, ready=False, created=at), **probe)], nodes=1)
    assert d.views[0].problem is not None
    assert d.views[0].problem.reason == Reason.STARTUP_TIMEOUT
    assert d.views[0].problem.message.startswith("group 0 is not ready 4200s after its pods")


def test_a_startup_probe_with_unset_fields_takes_kubernetes_defaults() -> None:
    # failureThreshold 3 and initialDelaySeconds 0 by default: 30 s x 3 = 90 s.
    young = timedelta(seconds=-89)
    d = run([probed(pod(0, 0, ready=False, created=young), periodSeconds=30)], nodes=1)
    assert d.views[0].problem is None
    assert d.requeue_after == 1.0
    old = timedelta(seconds=-90)
    d = run([probed(pod(0, 0, ready=False, created=old), periodSeconds=30)], nodes=1)
    assert d.views[0].problem is not None
    assert "not ready 90s after" in d.views[0].problem.message


def test_the_startup_window_of_the_built_pods_follows_spec_probes() -> None:
    built = desired_objects(
        parse_spec(
            {
                "model": {"path": "m"},
                "probes": {
                    "startupTimeoutSeconds": 1800,
                    "startup": {"initialDelaySeconds": 300, "periodSeconds": 20},
                },
            }
        ),
        "demo",
        "ns",
    )
    template = next(o for o in built if o["kind"] == "StatefulSet")["spec"]["template"]
    # 300 s + 20 s x ceil(1800 / 20) = 2100 s, whatever the fallback says.
    assert startup_window(template, timedelta(hours=1)) == timedelta(seconds=2100)
    assert startup_window({"spec": {"containers": []}}, timedelta(hours=1)) == timedelta(hours=1)


def test_no_startup_timeout_while_a_pod_is_not_running() -> None:
    pods = [pod(0, 0, ready=False, created=timedelta(hours=-2)), pod(0, 1, phase="Pending")]
    d = run(pods)
    assert d.views[0].problem is None
    assert d.requeue_after is None


# ---- pod problems reach the group's view ----------------------------------------------------


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "containerStatuses": [
            {
                "name": "sglang",
                "image": "lmsysorg/sglang:v0.5.23",
                "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ]
    }


@pytest.mark.parametrize(
    "reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]
)
def test_an_image_pull_failure_reaches_the_groups_view(reason: str) -> None:
    stuck = pod(0, 1, phase="Pending", ready=False, extra_status=waiting(reason, "not found"))
    d = run([pod(0, 0), stuck])
    assert d.views[0] == GroupView(
        0,
        2,
        1,
        False,
        False,
        Problem(
            "ImagePullFailed",
            "pod demo-0-1 cannot pull image lmsysorg/sglang:v0.5.23: not found "
            "(check spec.image and imagePullSecrets)",
        ),
    )


def test_a_crash_loop_reaches_the_groups_view_with_the_previous_logs_hint() -> None:
    crashing = pod(0, 0, ready=False, extra_status=waiting("CrashLoopBackOff", "back-off 5m"))
    d = run([crashing, pod(0, 1)], nodes=2)
    assert d.views[0].problem == Problem(
        "CrashLoopBackOff",
        "pod demo-0-0 container sglang keeps crashing: see `kubectl logs demo-0-0 --previous`",
    )


def test_an_oom_kill_reaches_the_groups_view() -> None:
    status = {
        "containerStatuses": [
            {"name": "sglang", "restartCount": 0, "state": {"terminated": {"reason": "OOMKilled"}}}
        ]
    }
    d = run([pod(0, 0, ready=False, extra_status=status)], nodes=1)
    assert d.views[0].problem == Problem(
        "OOMKilled",
        "pod demo-0-0 container sglang was OOMKilled (host memory over its limit; /dev/shm "
        "counts against it): raise resources.limits.memory",
    )


def test_a_past_oom_kill_counts_while_the_container_is_not_ready() -> None:
    status = {
        "containerStatuses": [
            {
                "name": "sglang",
                "ready": False,
                "restartCount": 1,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {"terminated": {"reason": "OOMKilled"}},
            }
        ]
    }
    problem = pod_problem(pod(0, 0, extra_status=status))
    assert problem is not None
    assert problem.reason == "OOMKilled"


def unschedulable(message: str) -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    return {"conditions": [condition], "containerStatuses": []}


def test_unschedulable_reaches_the_groups_view_with_every_short_resource() -> None:
    text = "0/4 nodes are available: 4 Insufficient amd.com/gpu, 2 Insufficient cpu."
    stuck = pod(0, 1, phase="Pending", ready=False, extra_status=unschedulable(text))
    d = run([pod(0, 0), stuck])
    assert d.views[0].problem == Problem(
        "Unschedulable",
        f"pod demo-0-1 cannot be scheduled: not enough amd.com/gpu, cpu on any node ({text})",
    )


def test_unschedulable_without_a_missing_resource_says_no_node_fits() -> None:
    text = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    problem = pod_problem(pod(0, 0, phase="Pending", ready=False, extra_status=unschedulable(text)))
    assert problem == Problem(
        "Unschedulable", f"pod demo-0-0 cannot be scheduled: no node fits ({text})"
    )


def test_a_scheduled_false_for_another_reason_is_no_problem() -> None:
    status = {
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
        "containerStatuses": [],
    }
    assert pod_problem(pod(0, 0, phase="Pending", ready=False, extra_status=status)) is None
    status = {
        "conditions": [{"type": "PodScheduled", "status": "True", "reason": "Unschedulable"}],
        "containerStatuses": [],
    }
    assert pod_problem(pod(0, 0, phase="Pending", ready=False, extra_status=status)) is None


def test_the_lowest_rank_with_a_problem_is_the_groups_problem() -> None:
    pods = [
        pod(0, 1, ready=False, extra_status=waiting("CrashLoopBackOff")),
        pod(0, 0, ready=False, extra_status=waiting("ImagePullBackOff")),
    ]
    d = run(pods)
    assert d.views[0].problem is not None
    assert d.views[0].problem.reason == "ImagePullFailed"


def test_an_init_container_waiting_on_its_image_is_a_problem() -> None:
    status = {
        "initContainerStatuses": [
            {
                "name": "wait-dns",
                "image": "busybox:1",
                "state": {"waiting": {"reason": "ErrImagePull"}},
            }
        ],
        "containerStatuses": [],
    }
    problem = pod_problem(pod(0, 0, phase="Pending", ready=False, extra_status=status))
    assert problem == Problem(
        "ImagePullFailed",
        "pod demo-0-0 cannot pull image busybox:1:  (check spec.image and imagePullSecrets)",
    )


def test_unschedulable_without_a_message() -> None:
    problem = pod_problem(pod(0, 0, phase="Pending", ready=False, extra_status=unschedulable("")))
    assert problem == Problem("Unschedulable", "pod demo-0-0 cannot be scheduled: no node fits ()")


def test_a_new_incarnation_still_coming_up_has_no_members_yet() -> None:
    pods = [pod(0, 0, uid="a"), pod(0, 1, uid="b", phase="Pending", ready=False)]
    d = run(pods, memory=[formed()])
    assert d.actions == []
    assert d.memory == [GroupMemory(0, [], [])]


def test_a_pod_without_annotations_is_outdated() -> None:
    bare = pod(0, 0)
    del bare["metadata"]["annotations"]
    d = run([bare], nodes=1)
    assert d.views[0].outdated
    assert [a.kind for a in d.actions] == ["RolloutStep"]


def test_the_earliest_wakeup_of_all_groups_is_the_requeue() -> None:
    # Group 0 backs off for 20 more seconds; group 1's startup deadline is 30 minutes away.
    pods = [pod(0, 0), pod(0, 1, restarts=1)]
    pods += [pod(1, 0, ready=False, created=timedelta(minutes=-30))]
    pods += [pod(1, 1, created=timedelta(minutes=-30))]
    memory = [*remembered(timedelta(seconds=10)), formed(1)]
    d = run(pods, replicas=2, memory=memory)
    assert d.actions == []
    assert d.requeue_after == 20.0


def test_pods_of_the_stored_template_are_current_whatever_was_built() -> None:
    # The API server refused the new template: the stored one is still "old", and pods made
    # from it must not be deleted (they would come back the same, forever).
    d = run(
        [pod(g, r, spec_hash="old") for g in range(2) for r in range(2)],
        replicas=2,
        stored={0: "old", 1: "old"},
    )
    assert d.actions == []
    assert not any(v.outdated for v in d.views)


def test_a_group_without_a_stored_statefulset_is_never_rolled() -> None:
    d = run([pod(0, 0, spec_hash="x"), pod(0, 1, spec_hash="x")], stored={})
    assert d.actions == []
    assert not d.views[0].outdated


def on_node(p: dict[str, Any], node: str) -> dict[str, Any]:
    return {**p, "spec": {"nodeName": node}}


def test_a_configured_budget_reaches_the_backoff_cap() -> None:
    # With a budget of 8, the 7th restart waits 30 s * 2^5 = 960 s, capped at 600 s.
    healing = Healing(restart_budget=8, restart_window=timedelta(hours=2))
    restarts = [ts(timedelta(minutes=-100 + i)) for i in range(6)]
    last = NOW + timedelta(minutes=-95)
    memory = [GroupMemory(0, ["uid-0-0", "uid-0-1"], restarts)]
    d = run(
        [pod(0, 0), pod(0, 1, restarts=1)],
        memory=memory,
        healing=healing,
        now=last + timedelta(seconds=599),
    )
    assert d.actions == []
    assert "restarted at " + (last + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ") in (
        d.backoff[0].message
    )
    d = run(
        [pod(0, 0), pod(0, 1, restarts=1)],
        memory=memory,
        healing=healing,
        now=last + timedelta(seconds=600),
    )
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]


def test_a_budget_of_zero_never_restarts() -> None:
    d = run(
        [pod(0, 0), pod(0, 1, restarts=1)], memory=[formed()], healing=Healing(restart_budget=0)
    )
    assert d.actions == []
    assert d.budget_exhausted


def test_a_pod_on_an_unreachable_node_restarts_its_group_and_names_the_node() -> None:
    pods = [on_node(pod(0, 0), "n0"), on_node(pod(0, 1), "n1")]
    since = NOW - timedelta(seconds=10)
    d = run(pods, memory=[formed()], unreachable={"n1": since})
    assert not d.views[0].ready
    assert d.views[0].problem is not None
    assert d.views[0].problem.reason == Reason.NODE_UNREACHABLE
    assert "node n1" in d.views[0].problem.message
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]
    # Not yet force-deleted: the node may come back within the timeout.
    assert d.force_deletes == []
    assert d.requeue_after is not None


def test_a_pod_stuck_on_an_unreachable_node_is_force_deleted_after_the_timeout() -> None:
    stuck = on_node(pod(0, 1, terminating=True), "n1")
    pods = [on_node(pod(0, 0, uid="fresh"), "n0"), stuck]
    healing = Healing(unreachable_timeout=timedelta(seconds=30))
    d = run(pods, unreachable={"n1": NOW - timedelta(seconds=31)}, healing=healing)
    assert [(a.kind, a.pod_names) for a in d.force_deletes] == [
        (Reason.POD_FORCE_DELETED, (("demo-0-1", "uid-0-1"),))
    ]
    assert "node n1" in d.force_deletes[0].message


def test_a_pod_on_a_deleted_node_is_force_deleted_at_once() -> None:
    d = run([on_node(pod(0, 0), "gone")], nodes=1, unreachable={"gone": NODE_GONE})
    assert [a.pod_names for a in d.force_deletes] == [(("demo-0-0", "uid-0-0"),)]
    assert d.views[0].problem is not None
    assert "was deleted" in d.views[0].problem.message


def unscheduled(group: int, rank: int, created: timedelta, **spec: Any) -> dict[str, Any]:
    """A pod no scheduler has answered: Pending, on no node, no PodScheduled condition."""
    p = pod(group, rank, phase="Pending", ready=False, created=created)
    p["status"]["conditions"] = []
    return {**p, "spec": spec}


def test_a_pod_no_scheduler_answers_is_a_problem_after_the_grace() -> None:
    late = -SCHEDULER_GRACE - timedelta(seconds=1)
    pods = [pod(0, 0), unscheduled(0, 1, late, schedulerName="my-sched")]
    d = run(pods)
    problem = d.views[0].problem
    assert problem is not None
    assert problem.reason == Reason.UNSCHEDULABLE
    assert "demo-0-1" in problem.message
    assert "'my-sched'" in problem.message
    assert d.actions == []  # waiting for a scheduler is no failure to restart for


def test_a_pod_no_scheduler_answered_yet_wakes_the_plan_at_the_grace() -> None:
    d = run([pod(0, 0), unscheduled(0, 1, timedelta(seconds=-10))])
    assert d.views[0].problem is None
    assert d.requeue_after == pytest.approx(SCHEDULER_GRACE.total_seconds() - 10)


def test_the_default_scheduler_is_named_when_the_pod_names_none() -> None:
    d = run([unscheduled(0, 0, timedelta(minutes=-5))], nodes=1)
    assert d.views[0].problem is not None
    assert "'default-scheduler'" in d.views[0].problem.message


@pytest.mark.parametrize(
    "answered",
    [
        {"spec": {"nodeName": "node-b"}},  # bound, pulling its images
        {"spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]}},  # queued
        {
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            }
        },
    ],
)
def test_a_pod_a_scheduler_answered_or_a_gate_holds_is_not_unscheduled(
    answered: dict[str, Any],
) -> None:
    p = unscheduled(0, 0, timedelta(minutes=-5))
    for key, value in answered.items():
        p = {**p, key: {**p[key], **value}}
    d = run([p], nodes=1)
    assert d.views[0].problem is None


# ---- the rollout turn: only one group's StatefulSet takes the new template ----------------------


def rolled(
    pods: Sequence[dict[str, Any]],
    *,
    stored: Mapping[int, str],
    replicas: int = 2,
    nodes: int = 1,
    memory: Sequence[GroupMemory] = (),
    **extra: Any,
) -> Decision:
    """A decision with the spec's desired hash HASH for every group."""
    desired = dict.fromkeys(range(replicas), HASH)
    return run(
        pods,
        replicas=replicas,
        nodes=nodes,
        memory=memory,
        stored=stored,
        desired_hashes=desired,
        **extra,
    )


def test_the_group_in_turn_is_written_first_and_its_pods_wait_for_the_stored_template() -> None:
    old = [pod(g, 0, spec_hash="old") for g in range(2)]
    d = rolled(old, stored={0: "old", 1: "old"})
    # Group 0's turn: its StatefulSet takes the new template; no pod is deleted yet.
    assert (d.turn, d.actions) == (0, [])
    assert [v.outdated for v in d.views] == [True, True]
    # Stored (and observed): now its pods go; group 1 still keeps the old template.
    d = rolled(old, stored={0: HASH, 1: "old"})
    assert d.turn == 0
    assert [(a.index, a.kind, a.pod_names) for a in d.actions] == [
        (0, Reason.ROLLOUT_STEP, (("demo-0-0", "uid-0-0"),))
    ]
    # Stored but not observed yet: nothing goes, no group is in turn.
    d = rolled(old, stored={0: HASH, 1: "old"}, unobserved={0})
    assert (d.turn, d.actions) == (None, [])


def test_a_group_whose_statefulset_is_refused_gives_its_turn_to_the_next() -> None:
    old = [pod(g, 0, spec_hash="old") for g in range(3)]
    d = rolled(old, stored=dict.fromkeys(range(3), "old"), replicas=3, held={0})
    assert (d.turn, d.actions) == (1, [])
    d = rolled(old, stored=dict.fromkeys(range(3), "old"), replicas=3, held={0, 1, 2})
    assert d.turn is None


def test_a_stored_template_of_the_desired_revision_is_current_even_with_no_pods() -> None:
    # Group 0 was rolled and its pods are not created yet (refused, or coming).
    d = rolled([pod(1, 0, spec_hash="old")], stored={0: HASH, 1: "old"})
    assert [v.outdated for v in d.views] == [False, True]
    # Group 1 serves: it waits for group 0, which is not known to fail (no hold).
    assert (d.turn, d.actions, d.holding) == (None, [], [])


def test_a_group_healed_while_the_new_revision_fails_is_never_moved_onto_it() -> None:
    # Group 0 rolled, its pods refused at creation; group 1 (old revision) restarting after
    # a pod was deleted: nothing serves, but the new revision is known to fail.
    coming_back = [pod(1, r, spec_hash="old", phase="Pending", ready=False) for r in range(2)]
    refused = {0: FailedCreate(HASH, "quota")}
    d = rolled(coming_back, stored={0: HASH, 1: "old"}, nodes=2, refused=refused)
    assert (d.turn, d.actions) == (None, [])
    # Group 0 holds the rollout (status: RolloutHeld); group 1, on the old one, does not.
    assert d.holding == [0]
    # The same with the new revision's group crash looping (a problem of its own).
    crashing = pod(
        0,
        0,
        ready=False,
        extra_status={
            "containerStatuses": [
                {
                    "name": "sglang",
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ]
        },
    )
    d = rolled([crashing, *coming_back], stored={0: HASH, 1: "old"}, nodes=2, replicas=2)
    assert d.views[0].problem is not None
    assert (d.turn, d.holding) == (None, [0])
    # Nor while the new revision's group merely comes up: group 1 is no broken group.
    d = rolled(
        [pod(0, 0, ready=False, phase="Pending"), *coming_back],
        stored={0: HASH, 1: "old"},
        nodes=2,
    )
    assert d.turn is None


def test_with_nothing_serving_only_outdated_groups_that_fail_are_replaced_meanwhile() -> None:
    # The new revision's group 0 comes up; group 1's old pods are refused (no pods at all),
    # group 2's are coming up: only group 1 is replaced before group 0 is ready.
    starting = [
        pod(0, 0, ready=False, phase="Pending"),
        pod(2, 0, spec_hash="old", ready=False, phase="Pending"),
    ]
    stored = {0: HASH, 1: "old", 2: "old"}
    d = rolled(starting, stored=stored, replicas=3, refused={1: FailedCreate("old", "quota")})
    assert (d.turn, d.actions) == (1, [])
    d = rolled(starting, stored=stored, replicas=3)
    assert d.turn is None


def test_a_group_is_judged_at_the_size_it_is_given() -> None:
    # A group still on its old template at its old size (1) while the spec says 2.
    d = decide(
        replicas=2,
        nodes={0: 2, 1: 1},
        stored_hashes={0: HASH, 1: "old"},
        desired_hashes={0: HASH, 1: HASH},
        startup_timeout=timedelta(hours=1),
        pods_by_group={0: [pod(0, 0), pod(0, 1)], 1: [pod(1, 0, spec_hash="old")]},
        memory=[],
        now=NOW,
    )
    assert [v.ready for v in d.views] == [True, True]
    assert d.turn == 1 and d.actions == []


def test_a_rollout_step_cut_short_is_finished_as_a_step_not_a_restart() -> None:
    """The operator stopped between the two pod deletions of a rollout step: rank 0 runs
    the stored (desired) revision, rank 1 the old one, and the remembered members changed.
    The step is finished; no restart is counted."""
    pods = [pod(0, 0, uid="new"), pod(0, 1, spec_hash="old")]
    d = run(pods, memory=[formed()])
    assert [(a.index, a.kind) for a in d.actions] == [(0, Reason.ROLLOUT_STEP)]
    assert d.actions[0].pod_names == (("demo-0-0", "new"), ("demo-0-1", "uid-0-1"))
    assert d.memory[0] == GroupMemory(0)
    # The same change with every pod on one revision is a replaced member: a restart.
    d = run([pod(0, 0, uid="new"), pod(0, 1)], memory=[formed()])
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]
    assert d.memory[0].restarts


def test_a_step_cut_short_waits_beside_a_restart_and_is_a_restart_with_no_rollout() -> None:
    cut = [pod(0, 0, uid="new"), pod(0, 1, spec_hash="old")]
    failed = [pod(1, 0), pod(1, 1, restarts=1)]
    d = run(cut + failed, replicas=2, memory=[formed(0), formed(1)])
    assert [(a.index, a.kind) for a in d.actions] == [(1, Reason.GROUP_RESTARTED)]
    # No valid spec (roll=False): no rollout step; the changed member is a failure as ever.
    d = decide(
        replicas=1,
        nodes=2,
        stored_hashes={0: HASH},
        startup_timeout=timedelta(hours=1),
        pods_by_group={0: cut},
        memory=[formed()],
        now=NOW,
        roll=False,
    )
    assert [a.kind for a in d.actions] == [Reason.GROUP_RESTARTED]


def test_the_gates_a_groups_pending_pods_wait_on_are_in_its_view() -> None:
    gated = unscheduled(0, 0, timedelta(minutes=-5))
    gated = {**gated, "spec": {**gated["spec"], "schedulingGates": [{"name": "kueue/admit"}]}}
    d = run([gated], nodes=1)
    assert (d.views[0].gates, d.views[0].problem) == (("kueue/admit",), None)
    assert run([pod(0, 0)], nodes=1).views[0].gates == ()


def test_a_pod_made_from_another_revision_of_its_statefulset_is_replaced_in_its_turn() -> None:
    """Both pods carry the desired pod-spec hash (it is in the template), but rank 0 was made
    from a template changed by hand, then put back (its controller-revision-hash is not the
    StatefulSet's updateRevision): the group is outdated and replaced whole in its rollout
    turn, with an event that says why. Before, it was ready and left on two templates."""
    pods = [pod(0, r, revision="demo-0-good") for r in range(2)]
    pods += [pod(1, 0, revision="demo-1-edited"), pod(1, 1, revision="demo-1-good")]
    current = {0: "demo-0-good", 1: "demo-1-good"}
    d = run(pods, replicas=2, memory=[formed(0), formed(1)], revisions=current)
    assert [v.outdated for v in d.views] == [False, True]
    assert d.turn == 1
    assert [(a.index, a.kind) for a in d.actions] == [(1, Reason.ROLLOUT_STEP)]
    assert {name for name, _ in d.actions[0].pod_names} == {"demo-1-0", "demo-1-1"}
    assert d.actions[0].message == (
        "replacing group 1: pod(s) demo-1-0 were made from another pod template than its "
        "StatefulSet's current one (demo-1-good)"
    )
    # As any ready outdated group, it waits while another group is down.
    down = [pod(0, r, ready=False, revision="demo-0-good") for r in range(2)]
    d = run(down + pods[2:], replicas=2, memory=[formed(1)], revisions=current)
    assert (d.turn, d.actions) == (None, [])
    # Its current revision not known (the StatefulSet not observed, or its template about to
    # be put back): nothing to say.
    d = run(pods, replicas=2, memory=[formed(0), formed(1)], revisions={0: "demo-0-good"})
    assert [v.outdated for v in d.views] == [False, False] and d.actions == []


def test_a_kept_groups_pods_on_another_revision_are_not_rolled() -> None:
    """A group a scale-down keeps is never rolled, whatever revision its pods run."""
    pods = [pod(0, r, ready=False) for r in range(2)]
    pods += [pod(1, 0, revision="demo-1-edited"), pod(1, 1, revision="demo-1-good")]
    d = run(pods, replicas=1, stored={0: HASH, 1: HASH}, kept=[1], revisions={1: "demo-1-good"})
    assert [v.outdated for v in d.kept] == [False]
    assert d.actions == [] and d.turn is None
