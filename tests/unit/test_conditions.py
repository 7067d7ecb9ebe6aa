"""Conditions keep lastTransitionTime unless their status flips, and always carry the generation."""

from sglang_operator.conditions import READY, Condition, merge_conditions


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
