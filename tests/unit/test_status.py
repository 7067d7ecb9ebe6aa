"""How observations become phase and conditions (the pure half of reconcile)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sglang_operator import plan
from sglang_operator.api import format_validation_error, parse_spec
from sglang_operator.conditions import ADVISORY, Condition, Reason
from sglang_operator.groups import Decision, GroupMemory, GroupView, Problem
from sglang_operator.plan import invalid_status
from sglang_operator.runs import BENCHMARK, RunState

SGLD = {"metadata": {"name": "demo", "namespace": "ns", "uid": "u", "generation": 4}}


def spec(replicas: int = 2, **extra: Any) -> Any:
    return parse_spec({"model": {"path": "m"}, "replicas": replicas, **extra})


def view(index: int, *, ready: bool = True, outdated: bool = False, problem: Any = None) -> Any:
    return GroupView(index, 1, 1 if ready else 0, ready, outdated, problem)


def status_for(views: list[GroupView], replicas: int = 2, **kw: Any) -> dict[str, Any]:
    decision = Decision(views, [], [], kw.pop("exhausted", []), kw.pop("backoff", []), None)
    return plan.status(
        {},
        generation=4,
        spec=spec(replicas, **kw.pop("extra", {})),
        sgld=SGLD,
        decision=decision,
        problems=kw.pop("problems", []),
        run=kw.pop("run", RunState()),
        now="2026-11-27T12:00:00Z",
        advice=kw.pop("advice", ()),
    )


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_all_groups_ready_is_ready() -> None:
    s = status_for([view(0), view(1)])
    assert s["phase"] == "Ready"
    assert conds(s)["Ready"] == ("True", Reason.GROUPS_READY)
    assert conds(s)["Progressing"][0] == "False"
    assert conds(s)["Degraded"][0] == "False"
    assert (s["replicas"], s["readyReplicas"], s["observedGeneration"]) == (2, 2, 4)
    assert s["endpoint"] == "http://demo.ns.svc.cluster.local:30000"


def test_rollout_in_flight_is_progressing_but_still_ready() -> None:
    s = status_for([view(0), view(1, outdated=True)])
    assert conds(s)["Ready"][0] == "True"
    assert conds(s)["Progressing"] == ("True", Reason.ROLLOUT_STEP)
    assert s["phase"] == "Ready"


def test_problem_degrades_with_its_reason() -> None:
    p = Problem(Reason.UNSCHEDULABLE, "not enough amd.com/gpu")
    s = status_for([view(0, ready=False, problem=p), view(1)])
    assert s["phase"] == "Degraded"
    assert conds(s)["Degraded"] == ("True", Reason.UNSCHEDULABLE)
    assert conds(s)["Ready"] == ("False", Reason.GROUPS_NOT_READY)
    assert "amd.com/gpu" in s["message"]


def test_exhausted_budget_stops_progressing() -> None:
    p = Problem(Reason.GROUP_RESTART_BUDGET_EXHAUSTED, "left alone")
    s = status_for([view(0, ready=False), view(1)], exhausted=[p])
    assert conds(s)["Degraded"] == ("True", Reason.GROUP_RESTART_BUDGET_EXHAUSTED)
    assert conds(s)["Progressing"][0] == "False"


def test_scaled_to_zero_is_ready() -> None:
    s = status_for([], replicas=0)
    assert conds(s)["Ready"] == ("True", Reason.SCALED_TO_ZERO)
    assert s["phase"] == "Ready"


def test_offline_phases_follow_the_runs() -> None:
    extra = {"mode": "offline"}
    done = RunState(offline_phase="Succeeded", offline_message="1 offline run(s) completed")
    s = status_for([], replicas=1, extra=extra, run=done)
    assert s["phase"] == "Succeeded"
    assert conds(s)["Ready"] == ("True", Reason.COMPLETED)
    assert s["endpoint"] is None
    failed = RunState(offline_phase="Failed", offline_message="1 of 1 offline run(s) failed")
    s = status_for([], replicas=1, extra=extra, run=failed)
    assert s["phase"] == "Failed"
    assert conds(s)["Degraded"] == ("True", Reason.JOB_FAILED)


def test_benchmark_condition_is_added_and_never_degrades() -> None:
    run = RunState(condition=Condition(BENCHMARK, "False", Reason.BENCHMARK_FAILED, "boom"))
    s = status_for([view(0), view(1)], run=run)
    assert conds(s)[BENCHMARK] == ("False", Reason.BENCHMARK_FAILED)
    assert s["phase"] == "Ready"
    assert conds(s)["Degraded"][0] == "False"


def test_invalid_spec_keeps_serving_status_and_says_why() -> None:
    running = status_for([view(0), view(1)])
    s = invalid_status(running, 5, "spec.shmSize: not a quantity", "t")
    assert s["phase"] == "Degraded"
    # The old groups still serve: Ready says so (as for a refused child, ApplyFailed).
    assert conds(s)["Ready"] == ("True", Reason.GROUPS_READY)
    assert conds(s)["Degraded"] == ("True", Reason.INVALID_SPEC)
    assert s["observedGeneration"] == 5
    assert s["readyReplicas"] == 2
    never_ran = invalid_status({}, 1, "bad", "t")
    assert never_ran["phase"] == "Failed"
    assert conds(never_ran)["Ready"] == ("False", Reason.INVALID_SPEC)
    broken = invalid_status(status_for([view(0, ready=False)]), 2, "bad", "t")
    assert broken["phase"] == "Failed"
    assert conds(broken)["Ready"] == ("False", Reason.GROUPS_NOT_READY)


def test_invalid_spec_status_follows_the_healing_that_goes_on() -> None:
    running = status_for([view(0), view(1)])
    memory = [GroupMemory(0, ["a", "b"]), GroupMemory(1, [], ["2026-11-27T12:00:00Z"])]
    decision = Decision([view(0), view(1, ready=False)], [], memory, [], [], None)
    s = invalid_status(running, 5, "spec.shmSize: not a quantity", "t", decision=decision)
    # Group 1 went down meanwhile: Ready and the counts say so, Degraded keeps the refusal.
    assert conds(s)["Ready"] == ("False", Reason.GROUPS_NOT_READY)
    assert conds(s)["Degraded"] == ("True", Reason.INVALID_SPEC)
    assert (s["replicas"], s["readyReplicas"], s["phase"]) == (2, 1, "Degraded")
    assert s["groups"] == [
        {"index": 0, "ready": True, "members": ["a", "b"], "restarts": []},
        {"index": 1, "ready": False, "members": [], "restarts": ["2026-11-27T12:00:00Z"]},
    ]


def test_invalid_spec_with_no_statefulset_left_is_not_ready() -> None:
    # Every StatefulSet deleted while the operator was down and the spec is invalid: nothing
    # serves, whatever the last status said (it said Ready 2/2 before).
    running = status_for([view(0), view(1)])
    decision = Decision([], [], [], [], [], None)
    s = invalid_status(running, 5, "spec.shmSize: not a quantity", "t", decision=decision)
    assert conds(s)["Ready"] == ("False", Reason.INVALID_SPEC)
    assert (s["replicas"], s["readyReplicas"], s["phase"]) == (0, 0, "Failed")


def test_invalid_spec_phase_stays_degraded_while_a_lone_group_is_healed() -> None:
    """Replicas 1 under InvalidSpec: a restart takes the group's pods away for a moment;
    the operator goes on healing it, so the phase is not Failed (PHASE_MEANING)."""
    running = status_for([view(0)])
    restarting = Decision([view(0, ready=False)], [], [GroupMemory(0)], [], [], None)
    s = invalid_status(running, 5, "bad", "t", decision=restarting)
    assert (s["readyReplicas"], s["phase"]) == (0, "Degraded")
    nothing_left = Decision([], [], [], [], [], None)
    assert invalid_status({}, 5, "bad", "t", decision=nothing_left)["phase"] == "Failed"


def test_every_operator_check_is_reported_at_once() -> None:
    bad = {
        "model": {"path": "m"},
        "shmSize": "2Gi",
        "resources": {"limits": {"memory": "1Gi"}},
        "podTemplate": {
            "spec": {
                "containers": [{"name": "sglang", "resources": {"limits": {"amd.com/gpu": 1}}}]
            }
        },
    }
    with pytest.raises(ValidationError) as caught:
        parse_spec(bad)
    message = format_validation_error(caught.value)
    assert "shmSize: 2Gi leaves nothing" in message
    assert "containers[0].resources.limits.amd.com/gpu: set by the operator" in message


def with_conditions(*types: str) -> dict[str, Any]:
    return {
        "conditions": [
            {"type": t, "status": "True", "reason": "Old", "message": "old"} for t in types
        ]
    }


def test_advice_is_an_advisory_condition_that_changes_neither_ready_nor_the_phase() -> None:
    s = plan.status(
        {},
        generation=4,
        spec=spec(2),
        sgld=SGLD,
        decision=Decision([view(0), view(1)], [], [], [], [], None),
        problems=[],
        run=RunState(),
        now="2026-11-27T12:00:00Z",
        advice=["NCCL/RCCL will use TCP sockets", "another"],
    )
    assert conds(s)[ADVISORY] == ("True", Reason.SPEC_ADVICE)
    advisory = next(c for c in s["conditions"] if c["type"] == ADVISORY)
    assert advisory["message"] == "NCCL/RCCL will use TCP sockets; another"
    assert conds(s)["Ready"] == ("True", Reason.GROUPS_READY)
    assert conds(s)["Degraded"][0] == "False"
    assert (s["phase"], s["message"]) == ("Ready", "2/2 groups ready")


def test_advice_gone_removes_the_advisory_condition() -> None:
    s = plan.status(
        with_conditions(ADVISORY, "SomeoneElses"),
        generation=4,
        spec=spec(2),
        sgld=SGLD,
        decision=Decision([view(0), view(1)], [], [], [], [], None),
        problems=[],
        run=RunState(),
        now="2026-11-27T12:00:00Z",
    )
    assert ADVISORY not in conds(s)
    assert "SomeoneElses" in conds(s)


def test_offline_runs_keep_their_result_but_show_no_benchmark_condition() -> None:
    result = {"generation": 4, "requestThroughput": 45.23}
    offline = {"mode": "offline", "offline": {"numPrompts": 8}}
    s = plan.status(
        with_conditions(BENCHMARK),
        generation=4,
        spec=spec(1, **offline),
        sgld=SGLD,
        decision=Decision([], [], [], [], [], None),
        problems=[],
        run=RunState(benchmark=result, offline_phase="Succeeded", offline_message="1 done"),
        now="2026-11-27T12:00:00Z",
    )
    assert s["benchmark"] == result
    assert set(conds(s)) == {"Ready", "Progressing", "Degraded"}
    assert s["phase"] == "Succeeded"


def test_a_disabled_benchmark_drops_its_stale_condition_and_keeps_its_result() -> None:
    current = {**with_conditions(BENCHMARK), "benchmark": {"generation": 3}}

    def with_benchmark(enabled: bool) -> dict[str, Any]:
        return plan.status(
            current,
            generation=4,
            spec=spec(2, benchmark={"enabled": enabled}),
            sgld=SGLD,
            decision=Decision([view(0), view(1)], [], [], [], [], None),
            problems=[],
            run=RunState(),
            now="2026-11-27T12:00:00Z",
        )

    s = with_benchmark(False)
    assert BENCHMARK not in conds(s)
    assert s["benchmark"] == {"generation": 3}
    assert conds(with_benchmark(True))[BENCHMARK] == ("True", "Old")


def test_status_memory_ignores_what_the_next_pass_observes_again() -> None:
    # Counts, readiness, Ready and Progressing move with every observed step of the pods: a
    # write of only those may be left to a pass that is already due (reconcile).
    before = status_for([view(0, ready=False), view(1, ready=False)])
    after = status_for([view(0), view(1)])
    assert (before["readyReplicas"], conds(before)["Ready"][0]) == (0, "False")
    assert (after["readyReplicas"], conds(after)["Ready"][0]) == (2, "True")
    assert plan.status_memory(before) == plan.status_memory(after)
    # A group's memory that is all empty is no memory: a first status has none either.
    empty = {**after, "groups": [{"index": 0, "ready": True, "members": [], "restarts": []}]}
    assert plan.status_memory({}) == plan.status_memory(empty)


@pytest.mark.parametrize(
    "change",
    [
        {"groups": [{"index": 0, "ready": True, "members": ["p-0-0"], "restarts": []}]},
        {"groups": [{"index": 1, "members": [], "restarts": ["2026-11-27T12:00:00Z"]}]},
        {"groups": [{"index": 0, "failedCreate": {"h": "403 refused"}}]},
        {"benchmark": {"generation": 4, "result": "x"}},
    ],
)
def test_status_memory_holds_what_a_later_pass_decides_from(change: dict[str, Any]) -> None:
    base = status_for([view(0), view(1)])
    assert plan.status_memory(base) != plan.status_memory({**base, **change})


def test_members_forgotten_are_no_change_a_later_pass_needs_first() -> None:
    # A group's members are forgotten only when none of them runs (its pods gone, some new
    # ones back): a later pass that reads the old members takes the group for a new
    # incarnation all the same, so that write may be left to it (reconcile._status_held).
    base = status_for([view(0), view(1)])
    group = {"index": 0, "ready": False, "members": ["p-0-0", "p-0-1"], "restarts": []}
    old = {**base, "groups": [group]}
    forgot = {**base, "groups": [{**group, "members": []}]}
    assert plan.status_memory(old) != plan.status_memory(forgot)
    assert plan.same_memory(old, forgot)
    # New members, or a restart beside the forgetting, are needed first.
    assert not plan.same_memory(old, {**base, "groups": [{**group, "members": ["q-0-0"]}]})
    restarted = {**group, "members": [], "restarts": ["2026-11-27T12:00:00Z"]}
    assert not plan.same_memory(old, {**base, "groups": [restarted]})
    assert plan.same_memory(old, old) and not plan.same_memory(forgot, old)


def test_status_memory_holds_degraded_and_a_rollout_step() -> None:
    healthy = status_for([view(0), view(1)])
    degraded = status_for([view(0), view(1, problem=Problem(Reason.CRASH_LOOP, "crash"))])
    rolling = status_for([view(0), view(1, outdated=True)])
    assert conds(degraded)["Degraded"][0] == "True"
    assert conds(rolling)["Progressing"] == ("True", Reason.ROLLOUT_STEP)
    # Degraded's changes are marked by a Warning event; a RolloutStep is read back by status.
    assert plan.status_memory(healthy) != plan.status_memory(degraded)
    assert plan.status_memory(healthy) != plan.status_memory(rolling)
    progressing = next(c for c in rolling["conditions"] if c["type"] == "Progressing")
    held = {
        **rolling,
        "conditions": [
            {**c, "reason": Reason.ROLLOUT_HELD} if c is progressing else c
            for c in rolling["conditions"]
        ],
    }
    assert plan.status_memory(held) == plan.status_memory(rolling)


def test_status_memory_holds_the_advice_shown() -> None:
    # A Warning event is posted for advice the Advisory condition does not show yet.
    advised = status_for([view(0), view(1)], advice=["tp 3 does not divide 8 GPUs"])
    assert plan.status_memory(status_for([view(0), view(1)])) != plan.status_memory(advised)
