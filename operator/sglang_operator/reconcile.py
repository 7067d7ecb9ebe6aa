"""One reconcile of one SGLangDeployment: observe (a snapshot from the caches), plan (pure,
plan.py), act (this module: the writes, then status and events).

Create, update, operator restart, drift and timers all land here. Acting:
1. apply the children the plan names (server-side apply; the records, then the others all
   at once); a child the API server refuses (4xx, or the 500 of a server-side apply that
   cannot build its typed patch) is remembered with its message and retried with
   exponential backoff, the others are still applied;
2. delete what the plan names: stale children, and the pods of groups it restarts or rolls
   (each with a uid precondition, so only the incarnation it saw);
3. the runs (benchmark and offline Jobs, runs.py);
4. write status (only when it changed) and events for decisions (posted in the background).

Before the StatefulSets of a new pod template are written, one pod of it is created in a
server-side dry run (`_check_pods`, once per template intent): what admission refuses only at
pod creation then blocks the rollout instead of deleting running pods.

The operator remembers, per deployment, what it wrote until the caches show it (`Memory`):
a pass started before a watch event arrived must not act on a state it already changed
(restart a group twice, post a rollout step twice).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from sglang_operator import naming, plan, runs
from sglang_operator.cachetransform import cached
from sglang_operator.conditions import (
    DEGRADED,
    MAX_API_MESSAGE,
    bounded,
    find,
)
from sglang_operator.groups import NODE_GONE, format_time, parse_time
from sglang_operator.kube import Kube, Ref
from sglang_operator.ownership import conflict, may_manage, owner_reference, with_owner
from sglang_operator.plan import (
    Admitted,
    Key,
    Plan,
    PodCheck,
    Refusal,
    Snapshot,
    key_of,
    quota_exceeded_by_others,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# A refused child, or a pass that failed (the API unreachable, an exception), is retried after
# RETRY_BASE_SECONDS, doubling per failure in a row up to RETRY_MAX_SECONDS, like
# controller-runtime's per-item rate limiter; a spec change still runs at once.
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
# A dry run of new pods the API server refuses is asked again at most a minute later: what
# lifts that refusal happens outside the spec (a PriorityClass created, a quota raised or a
# namespace's Pod Security label changed) and no watch tells the operator. The cost: one
# dry-run create a minute per deployment held so, none for any other.
POD_CHECK_RETRY_MAX_SECONDS = 60.0
# Status writes are coalesced (`_status_held`): at N = 1 each observed step of the pods was
# a status write, which the final Ready queued behind and which slowed the control plane
# re-creating the pods (docs/performance.md). A write that changes nothing a later pass
# decides from (plan.same_memory) is left to the next pass when one is already due (a
# watch event arrived during this one), at most this long since the first write so held,
# so a stream of events cannot keep the status stale.
STATUS_HOLD_MAX_SECONDS = 1.0
# The threads that write one pass's children at once (`_Applier.apply_all`), shared by all
# passes: with the controller's WORKERS passes, within the client's connection pool (5
# connections a CPU), so no connection is opened and dropped per request.
_WRITERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="write")
_T = TypeVar("_T")
_R = TypeVar("_R")


def _at_once(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`fn` of each of `items`, in their order, all at once in `_WRITERS` (one alone in this
    thread: no thread hop for a single request)."""
    return list(_WRITERS.map(fn, items)) if len(items) > 1 else [fn(i) for i in items]


def retry_delay(failures: int, cap: float = RETRY_MAX_SECONDS) -> float:
    """Seconds before retrying after `failures` (>= 1) failures in a row, at most `cap`."""
    return float(min(RETRY_BASE_SECONDS * 2 ** min(failures - 1, 32), cap))


def refused_again(
    earlier: Refusal | Admitted | None,
    intent: str,
    message: str,
    now: datetime,
    cap: float = RETRY_MAX_SECONDS,
) -> Refusal:
    """The API server refused `intent` (a child's, or a dry run's of new pods) with
    `message` at `now`: one refusal more in a row when `earlier` refused the same intent,
    else the first; sent again after `retry_delay` (at most `cap`)."""
    attempts = (
        earlier.attempts if isinstance(earlier, Refusal) and earlier.intent == intent else 0
    ) + 1
    return Refusal(intent, message, attempts, now + timedelta(seconds=retry_delay(attempts, cap)))


@dataclass(frozen=True)
class Outcome:
    """What the controller does after a reconcile: `requeue_after` seconds until a
    time-based decision is due (None: wait for a change); `failed`: the cluster could not be
    read or written (an outage, an exception), retried with the controller's backoff."""

    requeue_after: float | None = None
    failed: bool = False


@dataclass
class Memory:
    """What the operator wrote for one deployment and its caches may not show yet.

    `written`: the API server's answers to our writes, by child key (and the resource's own
    key for status), used until the cache holds that resourceVersion or a newer one; kept
    as the caches keep objects (cachetransform: at 1,000 deployments the whole answers were
    74 MiB); a child written before that the caches do not show yet is applied again as
    ours, guarded by the answer's uid (`_Applier.send`, `Kube.apply_same`);
    `deleted`: uids we deleted, seen as terminating until the cache drops them;
    `force_deleted`: uids of pods we deleted with no grace period, which are gone from the API
    server at once: left out of the snapshot until the cache drops them too (else the next
    pass would take the pod for still stuck on its lost node and report it again);
    `refusals`: children the API server refused, by key;
    `pod_check`: the last server-side dry run of the deployment's pods (plan.PodCheck), so a
    template intent is asked about once (a refusal again after its backoff), and a settled
    deployment costs no request;
    `accepted`: how the last spec the operator accepted heals groups (plan.Accepted), to
    heal with while a newer spec is refused (lost with the process: the plan then heals as
    the newest spec a StatefulSet records says);
    `replaced`: uid of a StatefulSet -> when we last deleted its group's pods (a FailedCreate
    event older than that is about pods before it), until the cache drops the StatefulSet;
    `short_since`: uid of a StatefulSet -> (its template's pod-spec hash, since when it has
    been short of a pod), as the last plan saw it (plan.Snapshot.short_since): lost with the
    process, which then waits plan.FAILED_CREATE_GRACE once more (what was learned is in
    status.groups);
    `kept`: the groups the last plan's scale-down kept, with their StatefulSets
    (plan.Plan.kept_statefulsets): kept on while no group that stays serves, even while they
    restart, and a kept StatefulSet deleted by hand is created again from it (lost with the
    process: which group is kept is then read from status.groups, plan._kept_serving, but a
    kept StatefulSet deleted by hand is no longer created again: its pods are spared);
    `looked_up`: uid of a StatefulSet -> what reading the names of its missing pods found
    (plan.LookedUp): read once per time it is short (lost with the process: read once more);
    `status_held_since`: when a status write was first held back (`_status_held`), None
    once a status is written or unchanged.
    """

    written: dict[Key, Obj] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    force_deleted: set[str] = field(default_factory=set)
    refusals: dict[Key, Refusal] = field(default_factory=dict)
    pod_check: PodCheck | None = None
    accepted: plan.Accepted | None = None
    replaced: dict[str, str] = field(default_factory=dict)
    short_since: dict[str, tuple[str, str]] = field(default_factory=dict)
    kept: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    looked_up: dict[str, plan.LookedUp] = field(default_factory=dict)
    status_held_since: datetime | None = None


def _version(obj: Mapping[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def _fresher(cached: Mapping[str, Any] | None, memory: Memory) -> Mapping[str, Any] | None:
    """The cached object, or our own write's answer while the cache lags behind it."""
    if cached is None:
        return None
    written = memory.written.get(key_of(cached))
    if written is not None and written["metadata"].get("uid") == cached["metadata"].get("uid"):
        if _version(written) > _version(cached):
            return written
        memory.written.pop(key_of(cached), None)
    return cached


def _deleting(obj: Mapping[str, Any], memory: Memory) -> Mapping[str, Any]:
    if obj["metadata"]["uid"] in memory.deleted and not obj["metadata"].get("deletionTimestamp"):
        return {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": "deleted"}}
    return obj


def observe(
    sgld: Mapping[str, Any],
    children: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    *,
    failed_creates: runs.FailedCreates,
    nodes: Mapping[str, Mapping[str, Any]] | None,
    memory: Memory,
    now: datetime,
) -> Snapshot:
    """The snapshot a plan decides from: the caches' objects, with our own writes the caches
    do not show yet laid over them. Forgets deleted uids the caches no longer hold.

    `nodes`: Node name -> its Ready condition, for every Node (None when Nodes cannot be
    watched: then no node is taken for unreachable)."""
    sgld = _fresher(sgld, memory) or sgld
    # A child we created that the cache does not show yet is applied once more at worst
    # (server-side apply is idempotent); no decision deletes anything for its absence.
    kept = [c for c in (_fresher(c, memory) for c in children) if c is not None]
    # A pod's labels put back (plan.reclaim) are ours until the cache shows them.
    pod_list = [p for p in (_fresher(p, memory) for p in pods) if p is not None]
    memory.deleted &= {o["metadata"]["uid"] for o in (*kept, *pod_list)}
    memory.force_deleted &= {p["metadata"]["uid"] for p in pod_list}
    live = {c["metadata"]["uid"] for c in kept}
    memory.replaced = {uid: t for uid, t in memory.replaced.items() if uid in live}
    pod_list = [p for p in pod_list if p["metadata"]["uid"] not in memory.force_deleted]
    return Snapshot(
        sgld=sgld,
        children=[_deleting(c, memory) for c in kept],
        pods=[_deleting(p, memory) for p in pod_list],
        now=now,
        failed_creates=failed_creates,
        refusals=dict(memory.refusals),
        unreachable=_unreachable(pod_list, nodes),
        pod_check=memory.pod_check,
        accepted=memory.accepted,
        replaced=dict(memory.replaced),
        short_since=dict(memory.short_since),
        kept=dict(memory.kept),
        looked_up=dict(memory.looked_up),
    )


def _unreachable(
    pods: Sequence[Mapping[str, Any]], nodes: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, datetime]:
    """The nodes of these pods that are unreachable, with since when: Ready Unknown (the
    node controller's word for a kubelet that stopped reporting), or the Node deleted."""
    if not nodes:
        return {}
    found: dict[str, datetime] = {}
    for pod in pods:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not node or node in found:
            continue
        ready = nodes.get(node)
        if ready is None:
            found[node] = NODE_GONE
        elif ready.get("status") == "Unknown":
            found[node] = parse_time(str(ready.get("lastTransitionTime") or "1970-01-01T00:00:00Z"))
    return found


def _api_message(exc: ApiException) -> str:
    """The API server's own message (bounded), else the raw body."""
    try:
        text = str(json.loads(exc.body or "").get("message", exc.body))
    except (TypeError, ValueError, AttributeError):
        text = str(exc.body)
    return bounded(text, MAX_API_MESSAGE)


def refused(exc: ApiException) -> bool:
    """The API server refused this object (not: could not be reached or throttled us).

    A server-side apply that cannot build its typed patch (an unknown field in free-form
    affinity, duplicate list keys) answers 500, so 500 is a refusal of the object too.
    """
    status = int(exc.status or 0)
    return status == 500 or (400 <= status < 500 and status not in (401, 429))


def reconcile(
    kube: Kube,
    snapshot: Snapshot,
    memory: Memory,
    superseded: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Plans from the snapshot and carries the plan out. `superseded`: whether another pass
    of this deployment is already due (a watch event arrived during this one): a status
    write that changes only what that pass observes again is then left to it."""
    sgld = snapshot.sgld
    meta = sgld["metadata"]
    where = f"{meta['namespace']}/{meta['name']}"
    if meta.get("deletionTimestamp"):
        return Outcome()
    status = dict(sgld.get("status") or {})
    generation = int(meta.get("generation", 0))
    decided = plan.plan(snapshot)
    spec = decided.spec
    events: list[tuple[str, str, str]] = []
    try:
        if spec is None:
            return _heal_only(kube, snapshot, decided, memory, where)
        memory.accepted = plan.Accepted.of(spec)
        early: dict[Key, tuple[Obj, _Sent]] = {}
        if decided.check_pod is not None:
            snapshot, decided, refused_anew, early = _check_pods_and_records(
                kube, snapshot, decided.check_pod, memory=memory, where=where
            )
            if refused_anew:
                # Told once per new refusal, in the words status uses; not again by an
                # operator that restarted (its Degraded condition already says it).
                shown = find(status.get("conditions") or [], DEGRADED) or {}
                events += [
                    ("Warning", r, m)
                    for r, m in decided.problems
                    if plan.held_back(r, m)
                    and not (shown.get("reason") == r and m in str(shown.get("message")))
                ]
        events += decided.events
        applier = _Applier(kube, snapshot, decided, memory, where, early=early)
        _act(kube, snapshot, decided, applier=applier, memory=memory, events=events, where=where)
        jobs = {
            c["metadata"]["name"]: c
            for c in snapshot.children
            if c["kind"] == "Job" and not c["metadata"].get("deletionTimestamp")
        }
        observed = runs.Runs(
            kube,
            sgld,
            spec,
            jobs=jobs,
            pods=snapshot.pods,
            apply=applier.apply_run,
            status=status,
            failed_creates=snapshot.failed_creates,
        )
        bench = runs.serving_benchmark(
            observed,
            # A refused StatefulSet: this generation does not run (its pods are an older
            # one's), so a benchmark for it would measure and report the wrong pods.
            ready=plan.serving(spec, decided.decision)
            and not plan.statefulset_refused(decided.problems),
            previous=find(status.get("conditions") or [], runs.BENCHMARK),
        )
        # Called in server mode too: it removes the Jobs of a previous offline mode.
        offline = runs.offline_runs(observed)
    except ApiException as exc:
        # The cluster could not be written or read: say why, keep what status knew (groups,
        # restart history, readiness) and let the controller retry; nothing is removed.
        message = f"{exc.status} {exc.reason}: {_api_message(exc)}"
        log.warning("%s: %s", where, message)
        new = plan.failed_status(status, generation, message, format_time(snapshot.now))
        with suppress(ApiException):
            # In an outage this fails too; the warning above said why.
            _publish(kube, sgld, status, new, events=events, memory=memory)
        return Outcome(failed=True)
    run = bench if spec.mode == "server" else offline
    events += run.events
    new = plan.status(
        status,
        generation=generation,
        spec=spec,
        sgld=sgld,
        decision=decided.decision,
        problems=[*decided.problems, *run.problems],
        run=run,
        now=format_time(snapshot.now),
        advice=decided.advice,
    )
    _publish(
        kube,
        sgld,
        status,
        new,
        events=events,
        memory=memory,
        held_at=snapshot.now
        if _status_held(status, new, memory, snapshot.now, superseded)
        else None,
    )
    retries = [
        (r.retry_at - snapshot.now).total_seconds()
        for r in memory.refusals.values()
        if r.retry_at > snapshot.now
    ]
    if memory.looked_up != decided.looked_up:
        # A pod's name found taken by a pod that is not ours (`plan.taken`): the next pass
        # says so.
        retries.append(1.0)
    if _turn_refused(decided, applier.refused):
        # The group in turn cannot take the new template until its retry: the next pass
        # gives the turn to the next group (plan: a refused StatefulSet is held).
        retries.append(1.0)
    requeue = min([t for t in (decided.requeue_after, *retries) if t is not None], default=None)
    return Outcome(max(1.0, requeue) if requeue is not None else None)


def _status_held(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    memory: Memory,
    now: datetime,
    superseded: Callable[[], bool],
) -> bool:
    """Whether the write of status `new` is left to the pass already due (`superseded`):
    it changes nothing that pass decides from, and no write has been held back for
    STATUS_HOLD_MAX_SECONDS."""
    held = memory.status_held_since
    return (
        (held is None or (now - held).total_seconds() < STATUS_HOLD_MAX_SECONDS)
        and _changed(old, new)
        and plan.same_memory(old, new)
        and superseded()
    )


def _turn_refused(decided: Plan, refused: Sequence[Key]) -> bool:
    """Whether the API server refused, in this pass, the StatefulSet of the group whose
    rollout turn it was."""
    turn = decided.decision.turn
    return turn is not None and any(
        obj["kind"] == "StatefulSet" and key_of(obj) in refused and plan.group_of(obj) == turn
        for obj in decided.apply
    )


def _heal_only(
    kube: Kube, snapshot: Snapshot, decided: Plan, memory: Memory, where: str
) -> Outcome:
    """A spec the operator refuses: the healing the plan still decided, then status."""
    sgld = snapshot.sgld
    status = dict(sgld.get("status") or {})
    generation = int(sgld["metadata"].get("generation", 0))
    if status.get("observedGeneration") != generation:
        log.info("%s: invalid spec: %s", where, bounded(str(decided.invalid), 300))
    events = list(decided.events)
    applier = _Applier(kube, snapshot, decided, memory, where)
    _act(kube, snapshot, decided, applier=applier, memory=memory, events=events, where=where)
    new = plan.invalid_status(
        status,
        generation,
        str(decided.invalid),
        format_time(snapshot.now),
        decision=decided.decision,
    )
    _publish(kube, sgld, status, new, events=events, memory=memory)
    return Outcome(decided.requeue_after)


def _check_pods_and_records(
    kube: Kube,
    snapshot: Snapshot,
    check: tuple[str, Obj],
    *,
    memory: Memory,
    where: str,
) -> tuple[Snapshot, Plan, bool, dict[Key, tuple[Obj, _Sent]]]:
    """`_check_pods`, with the records (ControllerRevisions) the plan writes should the
    API server admit the pods sent at the same time: the StatefulSets wait for both, and one
    after the other they were a round trip more of every create and update (the plan is
    pure, so an admitted dry run plans those very records). The snapshot with the dry run's
    answer and the plan of it (the hoped plan itself when admitted: the same snapshot), and
    the records' answers, by key, with the object sent, for `_Applier` to record once the
    plan names them. A record the plan does not name after all (the pods refused) keeps the
    spec the StatefulSets would record: the plan keeps it while it is the spec's and deletes
    it once nothing needs it (`plan._keep_records`), as any record; no StatefulSet records a
    spec before it is stored, as before. Not while the dry run's last answer for the
    deployment is a refusal: the next is most likely one too."""
    intent = check[0]
    hoped: Plan | None = None
    records: list[Obj] = []
    if not isinstance(memory.pod_check, Refusal):
        hoped = plan.plan(replace(snapshot, pod_check=Admitted(intent)))
        records = [o for o in hoped.apply if o["kind"] == "ControllerRevision"]
    sender = _Applier(kube, snapshot, plan.Plan(spec=None), memory, where)
    pending = [_WRITERS.submit(sender.send, o) for o in records]
    try:
        checked, anew = _check_pods(kube, snapshot, check, memory=memory, where=where)
    finally:
        answers = [f.result() for f in pending]
    decided = (
        hoped if hoped is not None and checked.pod_check == Admitted(intent) else plan.plan(checked)
    )
    early = {key_of(o): (o, a) for o, a in zip(records, answers, strict=True)}
    return checked, decided, anew, early


def _check_pods(
    kube: Kube,
    snapshot: Snapshot,
    check: tuple[str, Obj],
    *,
    memory: Memory,
    where: str,
) -> tuple[Snapshot, bool]:
    """Creates the plan's pod in a server-side dry run and remembers the answer for its
    template intent; the snapshot with that answer, and whether the refusal is new for the
    intent (or in other words): a Warning event then.

    Not a refusal of the user's spec, so the templates are written as without the check (and
    it is logged): a webhook that does not support dry run (400, "does not support dry run":
    its sideEffects are not None/NoneOnDryRun), and a 403 for the operator's own missing
    right to create pods (an RBAC that predates the check), and a ResourceQuota exceeded only
    beside what runs (`quota_exceeded_by_others`): the dry run asks for one pod beside those
    that run, while a rollout deletes a group's pods before the StatefulSet controller
    re-creates them, so a quota the deployment fills exactly refused every update; a pod
    whose own request is over the quota's hard limit stays a refusal. Not answered
    (unreachable, throttled): raised, and the pass is retried with the controller's
    backoff."""
    intent, pod = check
    earlier = memory.pod_check
    verdict: PodCheck = Admitted(intent)
    try:
        kube.dry_run_create(pod)
    except ApiException as exc:
        if not refused(exc):
            raise
        # The API server names the pod it generated a name for: with the random part left
        # out, the same refusal reads the same each time (one event per new refusal).
        prefix = str(pod["metadata"]["generateName"])
        message = re.sub(re.escape(prefix) + r"[a-z0-9]*", prefix + "*", _api_message(exc))
        ignored = _inconclusive(exc, message)
        if ignored is not None:
            log.warning(
                "%s: the dry run of the new pods was refused, ignored since %s: %s",
                where,
                ignored,
                message,
            )
        else:
            refusal = f"{exc.status} {message}"
            verdict = refused_again(
                earlier, intent, refusal, snapshot.now, POD_CHECK_RETRY_MAX_SECONDS
            )
            log.warning("%s: the API server refuses the new pods: %s", where, refusal)
    memory.pod_check = verdict
    anew = isinstance(verdict, Refusal) and not (
        isinstance(earlier, Refusal)
        and (earlier.intent, earlier.message) == (verdict.intent, verdict.message)
    )
    return replace(snapshot, pod_check=verdict), anew


def _inconclusive(exc: ApiException, message: str) -> str | None:
    """Why a dry run refused is no refusal of the pod (`_check_pods`), or None when it is."""
    if exc.status == 400 and "does not support dry run" in message:
        return "a webhook on pods does not support dry run"
    if exc.status != 403:
        return None
    if 'cannot create resource "pods"' in message:
        return "the operator may not create pods (an RBAC that predates the dry run)"
    if quota_exceeded_by_others(message):
        return (
            "the quota is exceeded only beside the pods that run, and a rollout frees a "
            "group's pods before re-creating them"
        )
    return None


def _act(
    kube: Kube,
    snapshot: Snapshot,
    decided: Plan,
    *,
    applier: _Applier,
    memory: Memory,
    events: list[tuple[str, str, str]],
    where: str,
) -> None:
    """Writes and deletes what the plan says; refusals go to memory and to the plan's
    problems (so status says them in this very pass)."""
    namespace = snapshot.sgld["metadata"]["namespace"]
    # The records first (plan._keep_records: no StatefulSet may record a spec that nothing
    # keeps), then every other child at once: none needs another to be stored first (a pod
    # waits for its Services, ConfigMaps and claims), and one after the other they were
    # most of a create's latency at N = 1 (docs/performance.md).
    records = [o for o in decided.apply if o["kind"] == "ControllerRevision"]
    applier.apply_all(records)
    applier.apply_all([o for o in decided.apply if o["kind"] != "ControllerRevision"])
    # Each child created is named once: those created as the spec says, then (in words of
    # their own) the StatefulSets created from a spec a StatefulSet records.
    back = {k: how for k, how in decided.reverted.items() if f"{k[0]} {k[2]}" in applier.created}
    told: list[tuple[str, str, str]] = []
    fresh = [c for c in applier.created if c not in {f"{k[0]} {k[2]}" for k in back}]
    if fresh:
        told.append(("Normal", "Created", "created " + ", ".join(fresh)))
    for how in dict.fromkeys(back.values()):
        names = ", ".join(k[2] for k, h in back.items() if h == how)
        message = f"created StatefulSet(s) {names} {how}"
        log.info("%s: %s", where, message)
        told.append(("Normal", "Created", message))
    events[:0] = told
    for _, reason, message in decided.events:
        if reason in ("GroupRestarted", "RolloutStep"):
            log.info("%s: %s", where, message)
    # Stale children at once, then the pods of the groups restarted or rolled at once: a
    # group's pods one after the other were a round trip more of an update at N = 1, and a
    # window in which the StatefulSet controller re-creates the first beside the second, not
    # yet terminating (docs/performance.md). Pods only once every prune is answered, as when
    # one after the other: a pass that fails is retried before any group is restarted.
    pruned = [(Ref(kind, ns, name), uid) for kind, ns, name, uid in decided.delete]
    for (ref, _), deleted in zip(pruned, _delete_all(kube, pruned, memory), strict=True):
        if deleted:
            log.info("%s: pruned %s %s", where, ref.kind, ref.name)
    pods = [(Ref("Pod", namespace, name), uid) for name, uid in decided.delete_pods]
    _delete_all(kube, pods, memory)
    memory.replaced.update(decided.replaced)
    memory.short_since = dict(decided.short_since)
    memory.kept = dict(decided.kept_statefulsets)
    _relabel_all(kube, namespace, decided.relabel_pods, memory, where)
    _resync(kube, namespace, decided.resync, snapshot.now, where)
    _look_up(kube, snapshot, decided, memory=memory, events=events, where=where)
    for name, uid in decided.force_delete_pods:
        # No grace period: the node's kubelet, which would confirm the end, is unreachable.
        if kube.delete(Ref("Pod", namespace, name), uid=uid, grace_seconds=0):
            log.warning("%s: force-deleted pod %s on an unreachable node", where, name)
        # Gone either way (deleted now, or already: 404).
        memory.force_deleted.add(uid)


def _look_up(
    kube: Kube,
    snapshot: Snapshot,
    decided: Plan,
    *,
    memory: Memory,
    events: list[tuple[str, str, str]],
    where: str,
) -> None:
    """Reads by name the pods the plan names (`Plan.look_up`: no cache holds them, a selector
    label changed by hand), puts back or deletes those of ours as plan.reclaim says, and
    remembers the names held by pods that are not (plan.taken); a StatefulSet whose name is
    freed, by the operator or by the user, is stamped (`_resync`)."""
    namespace = snapshot.sgld["metadata"]["namespace"]
    if not decided.look_up:
        memory.looked_up = dict(decided.looked_up)
        return

    def read(name: str) -> Obj | None:
        return _unless_refused(
            f"read pod {name}", where, lambda: kube.get(Ref("Pod", namespace, name))
        )

    found = [p for p in _at_once(read, decided.look_up) if p]
    reclaimed = plan.reclaim(snapshot, found)
    _relabel_all(kube, namespace, reclaimed.relabel, memory, where)
    gone = _delete_all(
        kube, [(Ref("Pod", namespace, name), uid) for name, uid in reclaimed.delete], memory
    )
    for (name, _), deleted in zip(reclaimed.delete, gone, strict=True):
        if deleted:
            log.warning("%s: deleted pod %s, which its StatefulSet released", where, name)
    _resync(kube, namespace, reclaimed.resync, snapshot.now, where)
    events += reclaimed.events
    held = plan.taken(snapshot, found, reclaimed)
    memory.looked_up = {
        uid: replace(v, taken=held.get(uid, ())) for uid, v in decided.looked_up.items()
    }
    # A name found taken before and free now (that pod deleted as Degraded said): its
    # StatefulSet backs off creating it and is not told.
    children = {c["metadata"]["uid"]: c["metadata"]["name"] for c in snapshot.children}
    freed = [
        (children[uid], uid)
        for uid, before in snapshot.looked_up.items()
        if before.taken and uid in children and not held.get(uid)
    ]
    _resync(kube, namespace, freed, snapshot.now, where)


def _relabel_all(
    kube: Kube,
    namespace: str,
    relabel: Sequence[tuple[str, str, dict[str, str]]],
    memory: Memory,
    where: str,
) -> None:
    """Puts labels back on pods (plan.reclaim: name, uid, labels), all at once, each only on
    the incarnation the plan saw; the answers are laid over the cache until it shows them."""

    def patch(item: tuple[str, str, dict[str, str]]) -> Obj | None:
        return _unless_refused(
            f"put back labels on pod {item[0]}",
            where,
            lambda: kube.patch_metadata(Ref("Pod", namespace, item[0]), item[1], labels=item[2]),
        )

    for (name, _, labels), written in zip(relabel, _at_once(patch, relabel), strict=True):
        if written is not None:
            memory.written[key_of(written)] = cached(written)
            log.info("%s: put back label(s) %s on pod %s", where, sorted(labels), name)


def _resync(
    kube: Kube, namespace: str, statefulsets: Sequence[tuple[str, str]], now: datetime, where: str
) -> None:
    """Has the StatefulSet controller sync each of `statefulsets` (name, uid) at once, by
    stamping naming.RESYNC_ANNOTATION: it is not told when a pod it released goes, and may
    back off for minutes after failing to create that pod's name."""
    stamp = {naming.RESYNC_ANNOTATION: format_time(now)}
    for name, uid in statefulsets:
        _unless_refused(
            f"stamp StatefulSet {name}",
            where,
            partial(
                kube.patch_metadata, Ref("StatefulSet", namespace, name), uid, annotations=stamp
            ),
        )


def _unless_refused(what: str, where: str, call: Callable[[], _R]) -> _R | None:
    """`call()`, or None when the API server refuses it (logged): an RBAC from before the
    operator's right to do `what`, or a webhook; the rest of the pass goes on."""
    try:
        return call()
    except ApiException as exc:
        if not refused(exc):
            raise
        log.warning("%s: could not %s: %s", where, what, exc.reason)
        return None


def _delete_all(kube: Kube, targets: Sequence[tuple[Ref, str]], memory: Memory) -> list[bool]:
    """Deletes each (object, uid) with background propagation, all at once (in `_WRITERS`),
    and remembers the uids of those answered (`Memory.deleted`); whether each was deleted
    (False: gone already, or another incarnation). The first error is raised once every
    request is answered."""

    def delete(target: tuple[Ref, str]) -> bool | Exception:
        try:
            return kube.delete(target[0], uid=target[1], background=True)
        except Exception as exc:
            return exc

    answers = _at_once(delete, targets)
    deleted: list[bool] = []
    failed: Exception | None = None
    for (_, uid), answer in zip(targets, answers, strict=True):
        if isinstance(answer, Exception):
            failed = failed or answer
            continue
        memory.deleted.add(uid)
        deleted.append(answer)
    if failed is not None:
        raise failed
    return deleted


@dataclass(frozen=True)
class _Sent:
    """The API server's answer to the write of one child (`_Applier.send`): the object as
    stored, or that the name is someone else's (`taken`), or the error; `stale`: the answer
    to our earlier write of it that memory held is of another object than the one now
    stored under that name (`Kube.apply_same`)."""

    written: Obj | None = None
    existed: bool = False
    taken: bool = False
    error: ApiException | None = None
    stale: bool = False


class _Applier:
    """Server-side applies children, remembering answers and refusals."""

    def __init__(
        self,
        kube: Kube,
        snapshot: Snapshot,
        decided: Plan,
        memory: Memory,
        where: str,
        *,
        early: Mapping[Key, tuple[Obj, _Sent]] | None = None,
    ) -> None:
        self.kube, self.snapshot, self.decided = kube, snapshot, decided
        self.memory, self.where = memory, where
        # Writes sent already in this pass (`_check_pods_and_records`): object, answer.
        self.early = dict(early or {})
        self.stored = {key_of(c): c for c in snapshot.children}
        self.created: list[str] = []
        # Children refused in this pass.
        self.refused: list[Key] = []

    def apply(self, obj: Obj) -> Obj | None:
        """The object as stored after the apply, or None (refused, or someone else's)."""
        return self._record(obj, self.send(obj))

    def apply_all(self, objs: Sequence[Obj]) -> None:
        """Applies `objs` at once (their requests in `_WRITERS`), then records the answers
        in their order, so memory, problems and events read as if one after the other."""
        sent = _at_once(self.send, objs)
        for obj, answer in zip(objs, sent, strict=True):
            self._record(obj, answer)

    def send(self, obj: Obj) -> _Sent:
        """The requests of one child's write, and nothing else (run in `_WRITERS`): none
        when this very object was written earlier in the pass (`early`)."""
        key = key_of(obj)
        early = self.early.get(key)
        if early is not None and early[0] == obj:
            return early[1]
        stale = False
        try:
            if self.stored.get(key) is not None:
                return _Sent(self.kube.apply(obj), existed=True)
            ours = self.memory.written.get(key)
            uid = str((ours or {}).get("metadata", {}).get("uid") or "")
            if uid:
                # Our own earlier write (a create, most often by the pass just before) that
                # the caches do not show yet: ours as stored then, so a plain apply, guarded
                # by its uid. `apply_new` would meet it (409), read it and apply again.
                again = self.kube.apply_same(obj, uid)
                if again is not None:
                    return _Sent(again, existed=True)
                # Deleted, or the name another object's now: that answer is forgotten
                # (`_record`), and the name is written as one the caches do not hold, below.
                stale = True
            written = self.kube.apply_new(obj)
            if written is not None:
                return _Sent(written, stale=stale)
            # The name is taken by an object the caches, which hold only objects with our
            # managed-by label, do not show: someone else's, which a forced apply would take
            # over, unless it is ours after all (a create the cache shows later, a label
            # removed by hand).
            existing = self.kube.get(Ref.of(obj))
            if existing is not None and not may_manage(existing, self.snapshot.sgld):
                return _Sent(taken=True, stale=stale)
            return _Sent(self.kube.apply(obj), existed=existing is not None, stale=stale)
        except ApiException as exc:
            return _Sent(error=exc, stale=stale)

    def _record(self, obj: Obj, answer: _Sent) -> Obj | None:
        """Remembers the answer to one child's write; raises what is not a refusal."""
        key = key_of(obj)
        what = f"{key[0]} {key[2]}"
        memory, decided = self.memory, self.decided
        if answer.stale:
            memory.written.pop(key, None)
        if answer.taken:
            decided.problems.append(conflict(key[0], key[2]))
            return None
        intent = obj["metadata"]["annotations"][plan.APPLIED_ANNOTATION]
        if answer.error is not None:
            exc = answer.error
            if not refused(exc):
                raise exc
            earlier = memory.refusals.get(key)
            message = f"{exc.status} {_api_message(exc)}"
            memory.refusals[key] = refused_again(earlier, intent, message, self.snapshot.now)
            self.refused.append(key)
            if earlier is None or earlier.intent != intent:
                decided.problems.append(plan.refusal_problem(key[0], key[2], message))
            log.warning("%s: refused %s: %s", self.where, what, message)
            return None
        written = answer.written
        assert written is not None
        memory.written[key] = cached(written)
        accepted = memory.refusals.pop(key, None)
        if accepted is not None:
            # Accepted on retry: the refusal the plan reported is history.
            stale = plan.refusal_problem(key[0], key[2], accepted.message)
            decided.problems[:] = [p for p in decided.problems if p != stale]
        if answer.existed:
            log.info("%s: applied %s", self.where, what)
        else:
            self.created.append(what)
            log.info("%s: created %s", self.where, what)
        return written

    def apply_run(self, obj: Obj) -> Obj | None:
        """A run's object (a Job, a results ConfigMap; runs.py decides when), written as the
        plan's children are: owner reference and intent hash on, and not sent again while a
        refusal of the same intent backs off (the refusal stays in status meanwhile)."""
        obj = plan.stamped(with_owner(obj, owner_reference(self.snapshot.sgld)))
        key = key_of(obj)
        refusal = self.memory.refusals.get(key)
        if (
            refusal is not None
            and refusal.intent == obj["metadata"]["annotations"][plan.APPLIED_ANNOTATION]
            and self.snapshot.now < refusal.retry_at
        ):
            self.decided.problems.append(plan.refusal_problem(key[0], key[2], refusal.message))
            return None
        return self.apply(obj)


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether status `new` differs from `old` (a None in `new` deletes the field, a merge
    patch's way: no change when the field is absent)."""
    return dict(old) != {k: v for k, v in new.items() if v is not None}


def _publish(
    kube: Kube,
    sgld: Mapping[str, Any],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    events: Sequence[tuple[str, str, str]],
    memory: Memory,
    held_at: datetime | None = None,
) -> None:
    """Writes status when it changed (unless `held_at`, the snapshot's time of a write held
    back: `_status_held`), then the events, with a warning whenever the deployment
    becomes Degraded or Degraded for another reason (so `kubectl get events` tells the same
    story as the conditions), unless `events` has a warning of that reason.

    A resource deleted meanwhile (404) is not written again: its deletion ends the story.
    """
    meta = sgld["metadata"]
    if not _changed(old, new):
        memory.status_held_since = None
    elif held_at is not None:
        log.debug("%s/%s: status write held back", meta["namespace"], meta["name"])
        memory.status_held_since = memory.status_held_since or held_at
    else:
        memory.status_held_since = None
        try:
            written = kube.patch_status(meta["namespace"], meta["name"], new)
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.info("%s/%s: gone before its status was written", meta["namespace"], meta["name"])
            return
        memory.written[key_of(written)] = cached(written)
    was = find(old.get("conditions") or [], DEGRADED) or {}
    now = find(new.get("conditions") or [], DEGRADED) or {}
    told = any(t == "Warning" and r == now.get("reason") for t, r, _ in events)
    if (
        now.get("status") == "True"
        and (was.get("status") != "True" or was.get("reason") != now.get("reason"))
        and not told
    ):
        kube.event(sgld, "Warning", str(now.get("reason")), str(now.get("message")))
    for event_type, reason, message in events:
        kube.event(sgld, event_type, reason, message)
