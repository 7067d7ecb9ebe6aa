"""The controller's wiring, without a cluster: the caches' index handlers run on kopf's event
loop (not in its thread pool), and WORKERS passes really run at once."""

import asyncio
import inspect
import threading
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching

from sglang_operator import cachetransform, controller
from sglang_operator.naming import INSTANCE_LABEL
from sglang_operator.reconcile import Outcome


def registered(monkeypatch: pytest.MonkeyPatch) -> kopf.OperatorRegistry:
    # register() installs relisting's wrapper around kopf's watch stream: undone afterwards,
    # so that no other test finds kopf wrapped already.
    monkeypatch.setattr(watching, "infinite_watch", watching.infinite_watch)
    registry = kopf.OperatorRegistry()
    controller.register(registry)
    return registry


def test_every_index_handler_is_a_coroutine(monkeypatch: pytest.MonkeyPatch) -> None:
    # kopf runs a synchronous handler in its thread pool: a hop between threads for every
    # watch event of every child, for a few microseconds of work.
    registry = registered(monkeypatch)
    handlers = registry._indexing.get_all_handlers()
    assert {h.id for h in handlers} >= {"sglds", "pods", "statefulsets", "nodes", "failedcreates"}
    assert all(inspect.iscoroutinefunction(h.fn) for h in handlers), [
        h.id for h in handlers if not inspect.iscoroutinefunction(h.fn)
    ]


def test_a_child_is_indexed_by_namespace_and_instance_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = registered(monkeypatch)
    (handler,) = [h for h in registry._indexing.get_all_handlers() if h.id == "pods"]
    body = {
        "metadata": {
            "name": "m0-0-0",
            "namespace": "ns",
            "labels": {INSTANCE_LABEL: "m0"},
            "managedFields": [{"manager": "x"}],
        },
        "spec": {"nodeName": "n0", "containers": [{"name": "sglang", "image": "i"}]},
    }
    found = asyncio.run(
        handler.fn(body=body, namespace="ns", labels=body["metadata"]["labels"])  # type: ignore[call-arg]
    )
    assert found == {("ns", "m0"): cachetransform.transform(body, "v1", "Pod")}


def test_workers_passes_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each pass blocks until WORKERS passes are in it: this ends only if the workers' passes
    # run in as many threads.
    barrier = threading.Barrier(controller.WORKERS, timeout=30)

    passes: list[str] = []

    def reconcile(*_: Any) -> Outcome:
        barrier.wait()
        passes.append(threading.current_thread().name)
        return Outcome()

    monkeypatch.setattr(controller, "reconcile", reconcile)
    keys = [("ns", f"d{i}") for i in range(controller.WORKERS)]
    indices: dict[str, dict[Any, list[Any]]] = {
        index: {} for index in ("sglds", *controller._KINDS, "failedcreates", "nodes")
    }
    for namespace, name in keys:
        indices["sglds"][(namespace, name)] = [
            {
                "apiVersion": "sglang-operator.io/v1alpha1",
                "kind": "SGLangDeployment",
                "metadata": {"namespace": namespace, "name": name, "uid": name},
                "spec": {},
            }
        ]

    async def story() -> None:
        queue = controller.WorkQueue()
        for key in keys:
            queue.remember(key)
            queue.add(key)
        caches = [controller.Caches(indices)]
        executor = controller.pass_pool()
        workers = [
            asyncio.create_task(controller._worker(queue, None, caches, executor))  # type: ignore[arg-type]
            for _ in range(controller.WORKERS)
        ]
        try:
            async with asyncio.timeout(60):
                while len(passes) < len(keys):
                    await asyncio.sleep(0.05)
        finally:
            for worker in workers:
                worker.cancel()
            executor.shutdown(wait=False)
        assert not barrier.broken
        assert not queue.failures
        assert len(set(passes)) == controller.WORKERS

    asyncio.run(story())
