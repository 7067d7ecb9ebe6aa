"""Group decisions on unreachable nodes and with configured healing numbers, as literals:
whole messages, times and wakeups written out. Written for the mutants of groups.py that
test_groups.py lets live (docs/testing.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator.groups import (
    NODE_GONE,
    Action,
    Decision,
    GroupMemory,
    Healing,
    Problem,
    decide,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def pod(group: int, rank: int, *, node: str | None = None, restarts: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metadata": {
            "name": f"demo-{group}-{rank}",
            "uid": f"uid-{group}-{rank}",
            "labels": {"apps.kubernetes.io/pod-index": str(rank)},
            "annotations": {"sglang-operator.io/pod-spec-hash": "h"},
            "creationTimestamp": "2026-11-27T11:50:00Z",
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "sglang", "restartCount": restarts, "state": {}}],
        },
    }
    if node is not None:
        out["spec"] = {"nodeName": node}
    return out


def run(
    pods_by_group: dict[int, list[dict[str, Any]]],
    *,
    replicas: int,
    nodes: int,
    healing: Healing,
    memory: list[GroupMemory] | None = None,
    unreachable: dict[str, datetime] | None = None,
    now: datetime = NOW,
) -> Decision:
    return decide(
        replicas=replicas,
        nodes=nodes,
        stored_hashes=dict.fromkeys(range(replicas), "h"),
        startup_timeout=timedelta(hours=1),
        pods_by_group=pods_by_group,
        memory=memory or [],
        now=now,
        healing=healing,
        unreachable=unreachable,
    )


THIRTY_SECONDS = Healing(unreachable_timeout=timedelta(seconds=30))


def test_a_pod_on_an_unreachable_node_says_since_when_and_when_it_goes() -> None:
    d = run(
        {1: [pod(1, 0, node="n1")]},
        replicas=2,
        nodes=1,
        healing=THIRTY_SECONDS,
        unreachable={"n1": NOW - timedelta(seconds=10)},
    )
    assert d.views[1].problem == Problem(
        "NodeUnreachable",
        "pod demo-1-0 of group 1: node n1 is unreachable since 2026-11-27T11:59:50Z; "
        "the pod is force-deleted at 2026-11-27T12:00:20Z",
    )
    assert d.force_deletes == []
    assert d.requeue_after == 20.0


def test_a_pod_is_force_deleted_exactly_at_the_unreachable_timeout() -> None:
    d = run(
        {1: [pod(1, 0, node="n1")]},
        replicas=2,
        nodes=1,
        healing=THIRTY_SECONDS,
        unreachable={"n1": NOW - timedelta(seconds=30)},
    )
    assert d.force_deletes == [
        Action(
            1,
            "PodForceDeleted",
            "force-deleted pod demo-1-0: node n1 is unreachable since 2026-11-27T11:59:30Z",
            (("demo-1-0", "uid-1-0"),),
        )
    ]
    assert d.views[1].problem == Problem(
        "NodeUnreachable",
        "pod demo-1-0 of group 1: node n1 is unreachable since 2026-11-27T11:59:30Z; "
        "force-deleting the pod",
    )


def test_a_pod_on_a_deleted_node_says_the_node_was_deleted() -> None:
    d = run(
        {0: [pod(0, 0, node="gone")]},
        replicas=1,
        nodes=1,
        healing=THIRTY_SECONDS,
        unreachable={"gone": NODE_GONE},
    )
    assert d.force_deletes == [
        Action(
            0,
            "PodForceDeleted",
            "force-deleted pod demo-0-0: node gone was deleted",
            (("demo-0-0", "uid-0-0"),),
        )
    ]
    assert d.views[0].problem == Problem(
        "NodeUnreachable", "pod demo-0-0 of group 0: node gone was deleted; force-deleting the pod"
    )


def test_a_pod_on_a_reachable_node_or_on_none_is_no_concern() -> None:
    d = run(
        {0: [pod(0, 0, node="n0"), pod(0, 1)]},
        replicas=1,
        nodes=2,
        healing=THIRTY_SECONDS,
        unreachable={"n1": NODE_GONE},
    )
    assert (d.force_deletes, d.views[0].problem, d.views[0].ready) == ([], None, True)


def crashed() -> dict[int, list[dict[str, Any]]]:
    return {0: [pod(0, 0), pod(0, 1, restarts=1)]}


def restarted(seconds_ago: int) -> list[GroupMemory]:
    when = (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [GroupMemory(0, ["uid-0-0", "uid-0-1"], [when])]


def test_a_configured_backoff_base_sets_the_wait_after_a_restart() -> None:
    healing = Healing(backoff_base=timedelta(seconds=10))
    d = run(crashed(), replicas=1, nodes=2, healing=healing, memory=restarted(5))
    assert d.actions == []
    assert d.backoff == [
        Problem(
            "GroupRestartBackoff",
            "group 0 will be restarted at 2026-11-27T12:00:05Z (backoff after 1 restart(s)): "
            "pod demo-0-1 container sglang restarted",
        )
    ]
    assert d.requeue_after == 5.0
    d = run(crashed(), replicas=1, nodes=2, healing=healing, memory=restarted(10))
    assert [a.kind for a in d.actions] == ["GroupRestarted"]


def test_a_window_of_seconds_is_named_in_seconds_and_of_minutes_in_minutes() -> None:
    healing = Healing(restart_budget=1, restart_window=timedelta(seconds=90))
    d = run(crashed(), replicas=1, nodes=2, healing=healing, memory=restarted(5))
    assert d.budget_exhausted == [
        Problem(
            "GroupRestartBudgetExhausted",
            "group 0 was restarted 1 times in 90s and is left alone until 2026-11-27T12:01:25Z "
            "or a spec change replaces it: pod demo-0-1 container sglang restarted",
        )
    ]
    assert d.requeue_after == 85.0
    healing = Healing(restart_budget=1, restart_window=timedelta(seconds=120))
    d = run(crashed(), replicas=1, nodes=2, healing=healing, memory=restarted(5))
    assert "was restarted 1 times in 2m and is left alone until 2026-11-27T12:01:55Z" in (
        d.budget_exhausted[0].message
    )
