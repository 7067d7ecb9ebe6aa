"""kopf wiring: watch-fed caches, a level-triggered work queue, settings, and `run`.

Caches: kopf's indexes (`@kopf.index`), one per watched kind, fed by kopf's watch streams.
Children are filtered ON THE API SERVER by the operator's managed-by label, pods by their
StatefulSets' selector labels (`settings.watching.label_selectors`), and FailedCreate
events by a field selector, so the operator never receives the rest of the cluster's pods,
Services or Jobs. Each index is keyed by (namespace, instance label), the label every child
of one deployment carries; the reconcile reads its snapshot from them and sends no read
request. kopf starts no handler before every index holds its initial listing, so no pass
ever sees a half-filled cache. The index handlers are coroutines: kopf runs a synchronous
handler in its thread pool, a thread hop for every watch event for a few microseconds of
work.

Triggers only enqueue the resource's key; one idempotent reconcile does the work, like
controller-runtime: a spec or metadata change of the resource (not its status: our own
status writes come back as events and need no pass), any change of a child, a FailedCreate
event, and timers the plan asks for (backoff expiry, startup timeout, a refused child's
retry). No periodic full pass: everything a pass reads is watched, and an object deleted
while a watch was broken arrives as a DELETED event after kopf's re-listing
(`relisting.py`: kopf itself sends none, so a cache would keep it forever).

kopf's own timers, daemons and create/update handlers are not used: they would put a
finalizer on every resource (deletion would hang whenever the operator is down) and would
not fire when a child drifts. Nothing here blocks deletion: children carry owner references
and the garbage collector removes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from typing import Any

import kopf

from sglang_operator import API_GROUP, API_VERSION, PLURAL, cachetransform, metrics, relisting
from sglang_operator.kube import Kube, load_client_config
from sglang_operator.naming import (
    APP_NAME,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    instance_label_value,
)
from sglang_operator.reconcile import Memory, Outcome, observe, reconcile, retry_delay

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
Obj = dict[str, Any]

# Passes at once (controller-runtime's MaxConcurrentReconciles). Measured (docs/performance.md):
# at N = 50, 8 workers converged no sooner than 4 (29.4 s against 28.5 s, load 10): the API
# server and the StatefulSet controller were the bound, and more workers only add concurrent
# writes to them. At N = 1,000 4 workers used 11% of a core. Within the client's connection
# pool (5 connections a CPU), so no connection is re-opened per request.
WORKERS = 4
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
# Pods are selected by the fewest labels the operator needs (its name, and the instance label
# the caches index by), not by the managed-by label or the component: a pod whose label is
# removed by hand is still its group's (its StatefulSet's, or released by it and holding its
# name, plan.reclaim), and a cache that lost it would restart its group for a member it
# believes gone. A pod without these two is read by name when its StatefulSet lacks it
# (plan.LOOK_UP_AFTER).
POD_SELECTOR = f"{NAME_LABEL}={APP_NAME},{INSTANCE_LABEL}"
# (group, version, plural) of every kind of child, filtered by MANAGED_SELECTOR (pods by
# POD_SELECTOR).
CHILD_RESOURCES = (
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("", "v1", "persistentvolumeclaims"),
    ("apps", "v1", "statefulsets"),
    # The recorded specs (plan.revision) a group is built again from, its StatefulSet gone.
    ("apps", "v1", "controllerrevisions"),
    ("batch", "v1", "jobs"),
)
_KINDS = {
    "pods": "Pod",
    "services": "Service",
    "configmaps": "ConfigMap",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "statefulsets": "StatefulSet",
    "controllerrevisions": "ControllerRevision",
    "jobs": "Job",
}
_API_VERSIONS = {"": "v1", "apps": "apps/v1", "batch": "batch/v1"}


class WorkQueue:
    """Deduplicating queue: a key is processed by one worker at a time, and a key enqueued
    while it is being processed is processed once more afterwards (client-go's workqueue,
    with its metrics: an add of a key already waiting is not counted)."""

    def __init__(self) -> None:
        self.metrics = metrics.QueueMetrics(metrics.CONTROLLER)
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.failures: dict[Key, int] = {}
        self.memory: dict[Key, Memory] = {}
        # What of each resource triggers a pass: its spec, labels, annotations, deletion.
        self.seen: dict[Key, Any] = {}
        # Children carry the owner's instance label, which is the name hashed when too long.
        self.by_label: dict[Key, Key] = {}

    def remember(self, key: Key) -> None:
        self.by_label[(key[0], instance_label_value(key[1]))] = key
        self.memory.setdefault(key, Memory())

    def forget(self, key: Key) -> None:
        self.by_label.pop((key[0], instance_label_value(key[1])), None)
        for table in (self.failures, self.memory, self.seen):
            table.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def known(self, key: Key) -> bool:
        return key in self.memory

    def due(self, key: Key) -> bool:
        """Whether `key` is to be processed again after the pass running now (it was added
        meanwhile). Read from the pass's thread: a set's membership test is atomic."""
        return key in self._dirty

    def add(self, key: Key) -> None:
        if key in self._queued or key in self._dirty:
            return
        log.debug("enqueued %s/%s", *key)
        self.metrics.add(key)
        if key in self._active:
            self._dirty.add(key)
        else:
            self._push(key)

    def _push(self, key: Key) -> None:
        self._queued.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Enqueues later; an earlier pending timer for the same key wins. Counted as a
        retry, as client-go's AddAfter."""
        self.metrics.retry()
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
        self.metrics.get(key)
        return key

    def done(self, key: Key) -> None:
        self.metrics.done(key)
        self._active.discard(key)
        if key in self._dirty:
            # Counted as an add when it was marked dirty.
            self._dirty.discard(key)
            self._push(key)


class Caches:
    """Read access to kopf's indexes, from the event loop only (kopf writes them there)."""

    def __init__(self, indices: Mapping[str, Any]) -> None:
        self._indices = indices

    def _values(self, index: str, key: Any) -> Iterable[Obj]:
        found = self._indices[index]
        return list(found[key]) if key in found else []

    def snapshot_inputs(
        self, key: Key
    ) -> tuple[Obj | None, list[Obj], list[Obj], dict[str, tuple[str, str]]]:
        """The resource, its children, its pods, and the FailedCreate events of its
        children (by the child's uid)."""
        sglds = self._values("sglds", key)
        sgld = next(iter(sglds), None)
        label = (key[0], instance_label_value(key[1]))
        children = [
            c
            for plural, kind in _KINDS.items()
            if kind != "Pod"
            for c in self._values(plural, label)
        ]
        pods = list(self._values("pods", label))
        failed: dict[str, tuple[str, str]] = {}
        for child in children:
            for when, message in self._values("failedcreates", child["metadata"]["uid"]):
                if (
                    child["metadata"]["uid"] not in failed
                    or when >= failed[child["metadata"]["uid"]][0]
                ):
                    failed[child["metadata"]["uid"]] = (when, message)
        return sgld, children, pods, failed

    def nodes(self) -> dict[str, Obj] | None:
        """Node name -> its Ready condition; None before any Node was seen (no rights to
        watch them, or a cluster without any), so no node counts as deleted by mistake."""
        index = self._indices["nodes"]
        found = {name: next(iter(index[name])) for name in index}
        return found or None


class _ReconcileError(Exception):
    """A reconcile that returned failed (already logged): counted as controller-runtime's
    `error` result."""


async def _reconcile(
    key: Key, queue: WorkQueue, kube: Kube, caches: list[Caches], executor: Executor
) -> Outcome:
    sgld, children, pods, failed = caches[0].snapshot_inputs(key)
    memory = queue.memory.get(key)
    if sgld is None or memory is None:
        # Deleted meanwhile: nothing to do (the garbage collector removes the children).
        return Outcome()
    snapshot = observe(
        sgld,
        children,
        pods,
        failed_creates=failed,
        nodes=caches[0].nodes(),
        memory=memory,
        now=datetime.now(UTC),
    )
    # The pass's requests block: in a thread of the controller's own pool, one per worker, so
    # WORKERS is the bound (asyncio's default pool has min(32, CPUs + 4) threads, 6 on 2 CPUs,
    # and is shared with aiohttp's DNS lookups).
    return await asyncio.get_running_loop().run_in_executor(
        executor, reconcile, kube, snapshot, memory, partial(queue.due, key)
    )


async def _worker(queue: WorkQueue, kube: Kube, caches: list[Caches], executor: Executor) -> None:
    while True:
        key = await queue.get()
        # With `--log-level debug`: when each pass ran (hack/bench_operator.py --timeline).
        log.debug("pass of %s/%s started", *key)
        outcome = Outcome()
        try:
            with metrics.reconciling() as counted:
                outcome = await _reconcile(key, queue, kube, caches, executor)
                if outcome.failed:
                    raise _ReconcileError
                counted.requeue_after = outcome.requeue_after
        except _ReconcileError:
            pass
        except Exception as exc:
            # A traceback the first time; then one line at 1, 2, 4, 8... failures in a row,
            # so an API outage does not flood the log.
            failures = queue.failures.get(key, 0) + 1
            if failures == 1:
                log.exception("reconcile of %s/%s failed", *key)
            elif failures & (failures - 1) == 0:
                log.warning("reconcile of %s/%s failed %d times in a row: %s", *key, failures, exc)
            outcome = Outcome(failed=True)
        finally:
            queue.done(key)
            log.debug("pass of %s/%s done", *key)
        requeue = outcome.requeue_after
        if outcome.failed:
            failures = queue.failures[key] = queue.failures.get(key, 0) + 1
            delay = retry_delay(failures)
            requeue = delay if requeue is None else min(requeue, delay)
        else:
            queue.failures.pop(key, None)
        if requeue is not None and queue.known(key):
            queue.add_after(key, requeue)


def pass_pool() -> ThreadPoolExecutor:
    """The threads the workers' passes run in (their requests block): one per worker."""
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="reconcile")


def _ready_condition(body: Mapping[str, Any]) -> Obj:
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return {k: cond.get(k) for k in ("status", "reason", "lastTransitionTime")}
    return {}


def _trigger(body: Mapping[str, Any]) -> Any:
    meta = body.get("metadata") or {}
    return (
        meta.get("generation"),
        meta.get("labels"),
        meta.get("annotations"),
        meta.get("deletionTimestamp"),
    )


def register(registry: kopf.OperatorRegistry) -> None:
    """Registers all handlers on `registry`, so tests and `run` share one wiring."""
    relisting.install()
    queue = WorkQueue()
    tasks: list[asyncio.Task[None]] = []
    caches: list[Caches] = []
    executor = pass_pool()

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A registry of our own does not get kopf's default login handlers: the kubernetes
        # client's own logic (in-cluster account, else the kubeconfig) is what we want.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
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
        # Server-side filters: only the operator's children, only FailedCreate events.
        for group, version, plural in CHILD_RESOURCES:
            settings.watching.label_selectors[(group or version, plural)] = (
                POD_SELECTOR if plural == "pods" else MANAGED_SELECTOR
            )
        settings.watching.field_selectors[("v1", "events")] = "reason=FailedCreate"
        caches.append(Caches(kwargs))
        kube = Kube(load_client_config())
        metrics.set_max_concurrent_reconciles(WORKERS)
        tasks.extend(
            asyncio.create_task(_worker(queue, kube, caches, executor)) for _ in range(WORKERS)
        )

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        executor.shutdown(wait=False, cancel_futures=True)

    @kopf.index(API_GROUP, API_VERSION, PLURAL, id="sglds", registry=registry)
    async def _sgld_index(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        entry = cachetransform.transform(body, f"{API_GROUP}/{API_VERSION}", "SGLangDeployment")
        return {(namespace, name): entry}

    @kopf.on.event(API_GROUP, API_VERSION, PLURAL, registry=registry)
    async def _sgld_event(event: kopf.RawEvent, namespace: str | None, name: str, **_: Any) -> None:
        if namespace is None:
            return
        key = (namespace, name)
        if event.get("type") == "DELETED":
            queue.forget(key)
            return
        queue.remember(key)
        log.debug("%s SGLangDeployment %s/%s", event.get("type"), *key)
        trigger = _trigger(event["object"])
        if queue.seen.get(key) != trigger:
            queue.seen[key] = trigger
            queue.add(key)

    _register_children(registry, queue, caches)


def _register_children(
    registry: kopf.OperatorRegistry, queue: WorkQueue, caches: list[Caches]
) -> None:
    """Caches and triggers for the children, the Nodes and the FailedCreate events."""

    def child_index(api_version: str, kind: str) -> Any:
        async def index(
            body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
        ) -> Any:
            entry = cachetransform.transform(body, api_version, kind)
            return {(namespace, labels.get(INSTANCE_LABEL, "")): entry}

        return index

    async def _child_event(
        event: kopf.RawEvent, labels: kopf.Labels, namespace: str | None, **_: Any
    ) -> None:
        owner = queue.by_label.get((namespace or "", labels.get(INSTANCE_LABEL, "")))
        if owner:
            if log.isEnabledFor(logging.DEBUG):
                meta = event["object"]["metadata"]
                log.debug(
                    "%s %s %s/%s",
                    event.get("type"),
                    event["object"].get("kind"),
                    meta.get("namespace"),
                    meta.get("name"),
                )
            queue.add(owner)

    for group, version, plural in CHILD_RESOURCES:
        selector = (group, version, plural) if group else (version, plural)
        api_version = _API_VERSIONS[group]
        kopf.index(*selector, id=plural, registry=registry)(
            child_index(api_version, _KINDS[plural])
        )
        kopf.on.event(*selector, id=f"{plural}-event", registry=registry)(_child_event)

    @kopf.index("v1", "events", id="failedcreates", registry=registry)
    async def _failed_create_index(body: kopf.Body, **_: Any) -> Any:
        involved = body.get("involvedObject") or {}
        when = str(
            body.get("lastTimestamp")
            or (body.get("series") or {}).get("lastObservedTime")
            or body.get("eventTime")
            or body["metadata"].get("creationTimestamp")
            or ""
        )
        return {involved.get("uid", ""): (when, str(body.get("message") or ""))}

    @kopf.index("v1", "nodes", id="nodes", registry=registry)
    async def _node_index(body: kopf.Body, name: str, **_: Any) -> Any:
        return {name: _ready_condition(body)}

    seen_nodes: dict[str, Any] = {}

    @kopf.on.event("v1", "nodes", id="nodes-event", registry=registry)
    async def _node_event(event: kopf.RawEvent, name: str, body: kopf.Body, **_: Any) -> None:
        # Heartbeats change a Node often; only a change of its Ready condition (or its
        # deletion) matters to the groups with pods on it.
        ready = None if event.get("type") == "DELETED" else _ready_condition(body).get("status")
        if seen_nodes.get(name, "new") == ready:
            return
        seen_nodes[name] = ready
        if not caches:
            return
        for key in list(queue.memory):
            pods = caches[0].snapshot_inputs(key)[2]
            if any((p.get("spec") or {}).get("nodeName") == name for p in pods):
                queue.add(key)

    @kopf.on.event("v1", "events", id="failedcreates-event", registry=registry)
    async def _failed_create_event(body: kopf.Body, **_: Any) -> None:
        involved = body.get("involvedObject") or {}
        # The StatefulSet's labels are not on the event: find its owner through the caches.
        for key in list(queue.memory):
            if caches and any(
                c["metadata"]["uid"] == involved.get("uid")
                for c in caches[0].snapshot_inputs(key)[1]
            ):
                queue.add(key)
                return


def configure_logging(level: str = "info", log_format: str = "text") -> None:
    """Root logging through kopf's formatters: `text` (kopf's full format, one line per
    record) or `json` (one JSON object per line, with the object a line is about)."""
    kopf.configure(
        debug=level == "debug",
        log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(level.upper())
    # kopf says "Handler ... succeeded" for every watch event: noise below debug.
    logging.getLogger("kopf.objects").setLevel("DEBUG" if level == "debug" else "WARNING")


def run(
    *,
    namespaces: Collection[str] = (),
    liveness_endpoint: str | None = None,
    standalone: bool = True,
) -> None:
    """Runs the operator until interrupted: cluster-wide unless namespaces are given."""
    log.info(
        "sglang-operator %s starting: watching %s; %s",
        metadata.version("sglang-operator"),
        ", ".join(sorted(namespaces)) if namespaces else "all namespaces",
        "kopf peering off (leadership, if any, is the Lease's: --leader-elect)"
        if standalone
        else "kopf peering",
    )
    registry = kopf.OperatorRegistry()
    register(registry)
    kopf.run(
        registry=registry,
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=liveness_endpoint,
    )
