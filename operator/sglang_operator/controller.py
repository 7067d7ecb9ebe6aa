"""kopf wiring: watches, a level-triggered work queue, settings, and `run`.

Every trigger (the resource changed, a child changed, a timer fired, the periodic resync)
only enqueues the resource's key; one idempotent `reconcile` does all the work. This is the
controller-runtime model, built on kopf's watch streams instead of kopf's per-handler
progress bookkeeping: kopf's timers and daemons would put a finalizer on every resource
(deletion would then hang whenever the operator is down), and its create/update/resume
handlers would not fire when a child drifts. Nothing here blocks deletion: children carry
owner references and the garbage collector removes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

import kopf

from sglang_operator import API_GROUP, API_VERSION, PLURAL
from sglang_operator.kube import Kube, load_client_config
from sglang_operator.naming import (
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    instance_label_value,
)
from sglang_operator.reconcile import reconcile

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)

WORKERS = 4
RESYNC_SECONDS = 60.0
RETRY_SECONDS = 10.0

_CHILD_FILTER = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}


class WorkQueue:
    """Deduplicating queue: a key is processed by one worker at a time, and a key enqueued
    while it is being processed is processed once more afterwards."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.known: set[Key] = set()
        # Children carry the owner's instance label, which is the name hashed when too long.
        self.by_label: dict[Key, Key] = {}

    def remember(self, key: Key) -> None:
        self.known.add(key)
        self.by_label[(key[0], instance_label_value(key[1]))] = key

    def forget(self, key: Key) -> None:
        self.known.discard(key)
        self.by_label.pop((key[0], instance_label_value(key[1])), None)

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Enqueues later; an earlier pending timer for the same key wins."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)


async def _worker(queue: WorkQueue, kube: Kube) -> None:
    while True:
        key = await queue.get()
        try:
            requeue = await asyncio.to_thread(reconcile, kube, *key)
        except Exception:
            log.exception("reconcile of %s/%s failed; retrying in %ss", *key, RETRY_SECONDS)
            requeue = RETRY_SECONDS
        finally:
            queue.done(key)
        if requeue is not None and key in queue.known:
            queue.add_after(key, requeue)


async def _resync(queue: WorkQueue) -> None:
    """A safety net for anything a watch missed (and for time-based decisions)."""
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        for key in list(queue.known):
            queue.add(key)


def register(registry: kopf.OperatorRegistry) -> None:
    """Registers all handlers on `registry`, so tests and `run` share one wiring."""
    queue = WorkQueue()
    tasks: list[asyncio.Task[None]] = []

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A registry of our own does not get kopf's default login handlers: the kubernetes
        # client's own logic (in-cluster account, else the kubeconfig) is what we want.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        # The project's own group for kopf's annotations and finalizer, should kopf ever
        # write them, so nothing on a user's object says "kopf.zalando.org".
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=API_GROUP, key="last-handled-configuration"
        )
        settings.persistence.finalizer = f"{API_GROUP}/finalizer"
        # kopf would otherwise post a Kubernetes event for each of its own log lines.
        settings.posting.enabled = False
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        kube = Kube(load_client_config())
        tasks.extend(asyncio.create_task(_worker(queue, kube)) for _ in range(WORKERS))
        tasks.append(asyncio.create_task(_resync(queue)))

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @kopf.on.event(API_GROUP, API_VERSION, PLURAL, registry=registry)
    async def _sgld_event(event: kopf.RawEvent, namespace: str | None, name: str, **_: Any) -> None:
        if namespace is None:
            return
        key = (namespace, name)
        if event.get("type") == "DELETED":
            queue.forget(key)
            return
        queue.remember(key)
        queue.add(key)

    async def _child_event(labels: kopf.Labels, namespace: str | None, **_: Any) -> None:
        owner = queue.by_label.get((namespace or "", labels.get(INSTANCE_LABEL, "")))
        if owner:
            queue.add(owner)

    # kopf filters labels client-side, so each watch streams every object of its kind in the
    # cluster: only the kinds whose changes need a quick answer are watched; a ConfigMap or
    # PVC changed by hand is put back by the periodic resync.
    for resource in (
        ("v1", "pods"),
        ("v1", "services"),
        ("apps", "v1", "statefulsets"),
        ("batch", "v1", "jobs"),
    ):
        kopf.on.event(*resource, id=resource[-1], labels=_CHILD_FILTER, registry=registry)(
            _child_event
        )


def run(
    *,
    namespaces: Collection[str] = (),
    liveness_endpoint: str | None = None,
    standalone: bool = True,
) -> None:
    """Runs the operator until interrupted: cluster-wide unless namespaces are given."""
    registry = kopf.OperatorRegistry()
    register(registry)
    kopf.run(
        registry=registry,
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=liveness_endpoint,
    )
