"""Conditions keep lastTransitionTime unless their status flips, and always carry the generation."""

import re
import time
from datetime import UTC, datetime

import pytest

from sglang_operator.conditions import (
    CONDITION_TYPES,
    DEGRADED,
    MAX_MESSAGE,
    PROGRESSING,
    READY,
    Condition,
    Reason,
    bounded,
    find,
    merge_conditions,
    now_rfc3339,
    reasons,
)


def test_first_write_stamps_time_and_generation() -> None:
    merged = merge_conditions([], [Condition(READY, "False", "Reconciling", "m")], 3, "T1")
    assert merged == [
        {
            "type": READY,
            "status": "False",
            "reason": "Reconciling",
            "message": "m",
            "lastTransitionTime": "T1",
            "observedGeneration": 3,
        }
    ]


def test_same_status_keeps_transition_time_but_updates_reason_and_generation() -> None:
    first = merge_conditions([], [Condition(READY, "False", "A", "a")], 1, "T1")
    second = merge_conditions(first, [Condition(READY, "False", "B", "b")], 2, "T2")
    assert second[0]["lastTransitionTime"] == "T1"
    assert (second[0]["reason"], second[0]["observedGeneration"]) == ("B", 2)


def test_flip_moves_transition_time() -> None:
    first = merge_conditions([], [Condition(READY, "False", "A", "a")], 1, "T1")
    second = merge_conditions(first, [Condition(READY, "True", "B", "b")], 1, "T2")
    assert second[0]["lastTransitionTime"] == "T2"


def test_foreign_conditions_are_kept() -> None:
    foreign = {"type": "Custom", "status": "True"}
    merged = merge_conditions([foreign], [Condition(READY, "True", "A", "a")], 1, "T")
    assert merged[1] == foreign


def test_a_kept_condition_without_a_transition_time_gets_now() -> None:
    current = [{"type": READY, "status": "True", "reason": "A", "message": "a"}]
    merged = merge_conditions(current, [Condition(READY, "True", "A", "a")], 1, "T2")
    assert merged[0]["lastTransitionTime"] == "T2"


def test_desired_conditions_come_in_their_order_before_foreign_ones() -> None:
    current = [
        {"type": "Custom", "status": "True"},
        {"type": DEGRADED, "status": "False", "lastTransitionTime": "T0"},
        {"type": READY, "status": "True", "lastTransitionTime": "T0"},
    ]
    desired = [
        Condition(READY, "True", "GroupsReady", "up"),
        Condition(PROGRESSING, "False", "RolloutComplete", "done"),
        Condition(DEGRADED, "True", "GroupRestarted", "down"),
    ]
    merged = merge_conditions(current, desired, 7, "T1")
    assert [(c["type"], c["lastTransitionTime"]) for c in merged[:3]] == [
        ("Ready", "T0"),
        ("Progressing", "T1"),
        ("Degraded", "T1"),
    ]
    assert merged[3] == {"type": "Custom", "status": "True"}
    assert len(merged) == 4
    assert {c["observedGeneration"] for c in merged[:3]} == {7}


def test_condition_types_are_the_ones_tools_read() -> None:
    assert CONDITION_TYPES == ("Ready", "Progressing", "Degraded")


def test_find_returns_the_condition_of_that_type_or_none() -> None:
    conditions = [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}]
    assert find(conditions, "Degraded") == {"type": "Degraded", "status": "False"}
    assert find(conditions, "Ready") == {"type": "Ready", "status": "True"}
    assert find(conditions, "Progressing") is None
    assert find([], "Ready") is None


def test_now_is_utc_to_the_second_in_rfc3339(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's zone must not leak in: five and a half hours from UTC.
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = now_rfc3339()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
    assert before <= datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= after
    monkeypatch.undo()
    time.tzset()


# The reasons users and alerts search for in conditions and events: a contract. Renaming or
# dropping one breaks their queries, so it must fail this test first.
REASONS = {
    "RECONCILING": "Reconciling",
    "CREATED": "Created",
    "SCALED": "Scaled",
    "GROUPS_READY": "GroupsReady",
    "GROUPS_NOT_READY": "GroupsNotReady",
    "SCALED_TO_ZERO": "ScaledToZero",
    "AS_EXPECTED": "AsExpected",
    "ROLLOUT_STEP": "RolloutStep",
    "ROLLOUT_HELD": "RolloutHeld",
    "ROLLOUT_COMPLETE": "RolloutComplete",
    "GROUP_RESTARTED": "GroupRestarted",
    "GROUP_RESTART_BACKOFF": "GroupRestartBackoff",
    "GROUP_RESTART_BUDGET_EXHAUSTED": "GroupRestartBudgetExhausted",
    "NODE_UNREACHABLE": "NodeUnreachable",
    "POD_FORCE_DELETED": "PodForceDeleted",
    "POD_RELABELED": "PodRelabeled",
    "RELEASED_POD_DELETED": "ReleasedPodDeleted",
    "INVALID_SPEC": "InvalidSpec",
    "UNSCHEDULABLE": "Unschedulable",
    "OOM_KILLED": "OOMKilled",
    "IMAGE_PULL_FAILED": "ImagePullFailed",
    "CRASH_LOOP": "CrashLoopBackOff",
    "STARTUP_TIMEOUT": "StartupTimeout",
    "CONFLICTING_OBJECT": "ConflictingObject",
    "APPLY_FAILED": "ApplyFailed",
    "POD_CREATION_FAILED": "PodCreationFailed",
    "COMPLETED": "Completed",
    "JOB_FAILED": "JobFailed",
    "BENCHMARK_STARTED": "BenchmarkStarted",
    "BENCHMARK_SUCCEEDED": "BenchmarkSucceeded",
    "BENCHMARK_FAILED": "BenchmarkFailed",
    "SPEC_ADVICE": "SpecAdvice",
}


def test_the_reasons_users_search_for_are_a_contract() -> None:
    defined = {k: v for k, v in vars(Reason).items() if k.isupper()}
    assert defined == REASONS


def test_reasons_lists_them_in_declaration_order() -> None:
    assert reasons() == list(REASONS.values())


def test_every_reason_is_camel_case_and_distinct() -> None:
    values = list(REASONS.values())
    assert len(set(values)) == len(values)
    for value in values:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", value), value


def test_a_huge_message_is_cut_below_the_crd_limit() -> None:
    # A 33 kB value echoed by a message must never make the status write itself refused.
    (cond,) = merge_conditions([], [Condition(READY, "False", "InvalidSpec", "x" * 40_000)], 1, "t")
    assert len(cond["message"]) <= MAX_MESSAGE < 32768
    assert cond["message"].endswith("(cut)")
    assert bounded("short") == "short"
