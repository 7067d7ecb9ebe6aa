"""The controller's work queue: one pass per key at a time, and client-go's workqueue
metrics counting what it does (an add of a key already waiting is not an add)."""

import asyncio

from prometheus_client import REGISTRY

from sglang_operator import metrics
from sglang_operator.controller import WorkQueue

LABELS = {"name": metrics.CONTROLLER, "controller": metrics.CONTROLLER}


def value(metric: str) -> float:
    return REGISTRY.get_sample_value(metric, LABELS) or 0.0


def test_adds_depth_and_retries_follow_the_keys() -> None:
    async def story() -> None:
        queue = WorkQueue()
        adds, depth, retries = (
            value("workqueue_adds_total"),
            value("workqueue_depth"),
            value("workqueue_retries_total"),
        )
        queue.add(("ns", "a"))
        queue.add(("ns", "a"))  # already waiting: no second pass, no second add
        queue.add(("ns", "b"))
        assert value("workqueue_adds_total") == adds + 2
        assert value("workqueue_depth") == depth + 2

        key = await queue.get()
        assert key == ("ns", "a")
        assert value("workqueue_depth") == depth + 1
        queue.add(key)  # changed while processed: one more pass afterwards
        queue.add(key)
        assert value("workqueue_adds_total") == adds + 3
        queue.done(key)
        assert value("workqueue_depth") == depth + 2
        assert value("workqueue_work_duration_seconds_count") >= 1
        assert await queue.get() == ("ns", "b")
        assert await queue.get() == ("ns", "a")
        assert value("workqueue_depth") == depth

        queue.remember(("ns", "a"))
        queue.add_after(("ns", "a"), 60)
        assert value("workqueue_retries_total") == retries + 1
        queue.forget(("ns", "a"))

    asyncio.run(story())


def test_a_key_added_while_processed_is_due_again() -> None:
    # reconcile leaves a status write to the next pass only when one is due.
    async def story() -> None:
        queue = WorkQueue()
        queue.add(("ns", "a"))
        key = await queue.get()
        assert not queue.due(key)
        queue.add(key)
        assert queue.due(key)
        queue.done(key)
        assert not queue.due(key)
        assert await queue.get() == key

    asyncio.run(story())
