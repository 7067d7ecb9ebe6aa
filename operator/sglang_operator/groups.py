"""What the pods of each replica group say, and what to do about it. Pure: no API calls.

A group is `nodes` pods that only work together: when one of them dies, restarts or is
replaced, rank 0 keeps running and hangs (DESIGN.md pitfall 4). So the unit of health,
restart and rollout is the whole group:

- restart: any pod of a multi-node group failed, restarted or was replaced -> delete all its
  pods so the StatefulSet recreates them together; never while a pod is still Pending (that
  is scheduling or pulling, and deleting the others would not help); with exponential backoff
  and a budget per sliding window, after which the group is left alone and says why.
- rollout: a group is outdated when its StatefulSet's stored template or any of its pods
  lacks the desired pod-spec hash, or a pod of it was made from another revision than its
  StatefulSet's current one (a template changed by hand, then put back). One group at a
  time has its turn (`Decision.turn`): only its StatefulSet is written the new template
  (plan.py), so every other group, healed meanwhile, comes back on the revision it ran
  (never onto one that fails to start); its
  pods are deleted only once its template *as the API server stored it, and the
  StatefulSet controller observed it* is the desired one. Never a serving group while
  another group is not ready, and the next group only once no group of the new revision is
  still coming up, so a bad revision never takes down more than one group (`_rollout_turn`).
  The stored template, never the one the operator built: when the API server refuses a
  new template, the old one stays, and pods compared with the built one would look outdated
  forever (deleted, recreated from the old template, deleted again: an outage).

A pod on an unreachable node (its Node's Ready condition Unknown, or the Node deleted) is a
failure of its group at once (the node controller would mark it not ready only ~40 s later),
and once the node has been unreachable for `Healing.unreachable_timeout` the pod is
force-deleted: the kubelet that would confirm its end is gone, so it would stay Terminating
forever and its StatefulSet would never recreate it elsewhere (DESIGN.md pitfall 15).

Group membership is remembered as the pod UIDs seen when every pod of the group was
running: a UID that disappears while others of the same incarnation remain means a member was
deleted, evicted or replaced. The memory lives in the resource's status, so it survives an
operator restart.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator.api import SGLANG_CONTAINER
from sglang_operator.conditions import Reason
from sglang_operator.naming import POD_REVISION_LABEL, POD_SPEC_HASH_ANNOTATION

# Defaults of spec.healing.
RESTART_BACKOFF_BASE = timedelta(seconds=30)
RESTART_BACKOFF_MAX = timedelta(minutes=10)
RESTART_BUDGET = 5
RESTART_WINDOW = timedelta(minutes=30)
UNREACHABLE_TIMEOUT = timedelta(minutes=2)
# How long a pod may wait with no scheduler having looked at it (no PodScheduled condition,
# no node) before that is a problem: kube-scheduler sets the condition or binds within
# milliseconds to seconds, even when the pod does not fit; a pod no scheduler ever answers
# names a scheduler that does not run (spec.schedulerName) and waits forever otherwise.
SCHEDULER_GRACE = timedelta(seconds=30)
# A deleted Node: unreachable since forever, so its pods are force-deleted at once.
NODE_GONE = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Healing:
    """How groups are restarted: at most `restart_budget` restarts per sliding
    `restart_window`; the first at once, then `backoff_base` doubling up to `backoff_max`;
    pods on a node unreachable for `unreachable_timeout` are force-deleted."""

    restart_budget: int = RESTART_BUDGET
    restart_window: timedelta = RESTART_WINDOW
    backoff_base: timedelta = RESTART_BACKOFF_BASE
    backoff_max: timedelta = RESTART_BACKOFF_MAX
    unreachable_timeout: timedelta = UNREACHABLE_TIMEOUT


_IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}


@dataclass(frozen=True)
class Problem:
    """Something a user should know about a group, with the reason used in status."""

    reason: str
    message: str


@dataclass(frozen=True)
class FailedCreate:
    """A pod template of a group whose pods the API server refused at creation: its pod-spec
    hash, and why (the FailedCreate event's message, or what the operator saw)."""

    template: str
    message: str


@dataclass
class GroupMemory:
    """What must be remembered about a group across reconciles (kept in status.groups):
    `members` and `restarts` (restarts), `failed_create` (plan: kept until the group has
    all its pods of that template; FailedCreate events stop after a burst and expire)."""

    index: int
    members: list[str] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    failed_create: FailedCreate | None = None

    @classmethod
    def from_status(cls, raw: Mapping[str, Any]) -> GroupMemory:
        failed = next(iter((raw.get("failedCreate") or {}).items()), None)
        return cls(
            index=int(raw.get("index", 0)),
            members=list(raw.get("members") or []),
            restarts=list(raw.get("restarts") or []),
            failed_create=FailedCreate(str(failed[0]), str(failed[1])) if failed else None,
        )


@dataclass(frozen=True)
class GroupView:
    """One group as observed, for status and for the decisions below. `gates`: the
    schedulingGates its pending pods wait on (no problem: a queue such as Kueue lifts them;
    status names them in Progressing). `strays`: the names of its pods made from another
    revision than its StatefulSet's current one (`_behind`), which make it outdated."""

    index: int
    pods: int
    running: int
    ready: bool
    outdated: bool
    problem: Problem | None
    gates: tuple[str, ...] = ()
    strays: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    """Delete every pod of group `index`; `kind` is the event reason explaining why."""

    index: int
    kind: str
    message: str
    pod_names: tuple[tuple[str, str], ...]  # (name, uid) pairs, deleted with a uid precondition


@dataclass
class Decision:
    """`actions`: groups whose pods are deleted (restart or rollout step); `force_deletes`:
    pods on unreachable nodes deleted with no grace period; `turn`: the group whose rollout
    turn it is (None: no group's), the only stored group whose StatefulSet may be written a
    new pod template (its pods are deleted, a rollout step among `actions`, once that
    template is stored and observed); `holding`: groups of the new revision known to fail (a
    problem, pods refused at creation, out of restart budget or backing off), which hold
    the rollout: no other group goes onto that revision meanwhile (`_rollout_turn`);
    `kept`: the groups beyond `views` (the spec's replicas) that a scale-down keeps while
    no group of `views` serves (decide's `kept`), as observed; decided as every group is
    (their restarts in `actions`, their memory in `memory`), never rolled."""

    views: list[GroupView]
    actions: list[Action]
    memory: list[GroupMemory]
    budget_exhausted: list[Problem]
    backoff: list[Problem]
    requeue_after: float | None
    force_deletes: list[Action] = field(default_factory=list)
    turn: int | None = None
    holding: list[int] = field(default_factory=list)
    kept: list[GroupView] = field(default_factory=list)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(value: datetime) -> str:
    """RFC 3339 in whole seconds, UTC (as the API server writes times)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _condition(pod: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None


def _is_ready(pod: Mapping[str, Any]) -> bool:
    cond = _condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def live_pods(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods not being deleted (no deletionTimestamp)."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def rank(pod: Mapping[str, Any]) -> int:
    """A group's pod's rank: its StatefulSet ordinal, the number its name ends with
    (`<StatefulSet>-<ordinal>`), as the StatefulSet controller reads it; not its pod-index
    label, which a hand can change (to a rank past the group's size, or to no number). -1
    for a name with none."""
    ordinal = str(pod["metadata"]["name"]).rpartition("-")[2]
    return int(ordinal) if ordinal.isdigit() else -1


def pod_hash(pod: Mapping[str, Any]) -> str | None:
    """The pod-spec hash a pod was made with (its template's revision), if it carries one."""
    return (pod["metadata"].get("annotations") or {}).get(POD_SPEC_HASH_ANNOTATION)


def _behind(live: Sequence[Mapping[str, Any]], current: str | None) -> tuple[str, ...]:
    """The names of the pods (`live`) that its StatefulSet made from another template than
    its current revision (`current`: status.updateRevision; None: not known). The pod-spec
    hash cannot tell: it is in the template, so a template changed by hand (then put back)
    keeps it, and a pod made from the changed one meanwhile carries it too."""
    if current is None:
        return ()
    return tuple(
        p["metadata"]["name"]
        for p in live
        if (made := (p["metadata"].get("labels") or {}).get(POD_REVISION_LABEL)) is not None
        and made != current
    )


def serves(
    live: Sequence[Mapping[str, Any]], size: int, unreachable: Mapping[str, datetime]
) -> bool:
    """Whether a group's pods are up: its `size` ranks' pods not being deleted (`live`; a
    pod at an ordinal beyond `size` is not a member: `_members`), all Running, rank 0 Ready,
    and none on an unreachable node (`unreachable`: node name -> since when; the node
    controller marks such a pod not ready only ~40 s later). It serves if it is not
    `broken` as well."""
    members = _members(live, size)
    rank0 = next((p for p in members if rank(p) == 0), None)
    running = sum(1 for p in members if _phase(p) == "Running")
    return (
        running == size
        and rank0 is not None
        and _is_ready(rank0)
        and not on_lost(members, unreachable)
    )


def broken(live: Sequence[Mapping[str, Any]], size: int, remembered: Collection[str]) -> bool:
    """Whether a group of several pods must restart whole before it serves again: one of
    its members (`remembered`: their pod uids, status.groups[].members) replaced
    (`_replaced`), failed or restarted (`_failure`). Its peers' collective communicators
    (NCCL/RCCL) are broken until then, while rank 0 may stay Ready."""
    members = _members(live, size)
    return size > 1 and (
        _replaced(remembered, members, size) is not None or any(_failure(p) for p in members)
    )


def _members(pods: Sequence[Mapping[str, Any]], size: int) -> list[Mapping[str, Any]]:
    """A group's pods at its `size` ranks, by rank. A pod at an ordinal beyond (`kubectl
    scale sts` up by hand) is not a member: it can never join the group (its rank is
    outside --nnodes) and goes when the StatefulSet's replicas is put back; restarting the
    group for it would take down what serves."""
    return sorted((p for p in pods if rank(p) < size), key=rank)


def pod_problem(pod: Mapping[str, Any]) -> Problem | None:
    """The most useful thing to tell a user about one pod, if anything is wrong."""
    name = pod["metadata"]["name"]
    scheduled = _condition(pod, "PodScheduled")
    if (
        scheduled
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == ("Unschedulable")
    ):
        text = str(scheduled.get("message") or "")
        short = sorted(set(re.findall(r"Insufficient ([\w./-]*\w)", text)))
        what = f"not enough {', '.join(short)} on any node" if short else "no node fits"
        return Problem(Reason.UNSCHEDULABLE, f"pod {name} cannot be scheduled: {what} ({text})")
    for cs in _containers(pod):
        state = cs.get("state") or {}
        last = cs.get("lastState") or {}
        waiting = state.get("waiting") or {}
        # A past OOM kill matters only while the container has not recovered from it.
        past = {} if cs.get("ready") else last.get("terminated") or {}
        for terminated in (state.get("terminated") or {}, past):
            if terminated.get("reason") == "OOMKilled":
                return Problem(
                    Reason.OOM_KILLED,
                    f"pod {name} container {cs.get('name')} was OOMKilled (host memory over "
                    "its limit; /dev/shm counts against it): raise resources.limits.memory",
                )
        if waiting.get("reason") in _IMAGE_PULL_REASONS:
            return Problem(
                Reason.IMAGE_PULL_FAILED,
                f"pod {name} cannot pull image {cs.get('image')}: {waiting.get('message') or ''}"
                " (check spec.image and imagePullSecrets)",
            )
        if waiting.get("reason") == "CrashLoopBackOff":
            return Problem(
                Reason.CRASH_LOOP,
                f"pod {name} container {cs.get('name')} keeps crashing: see `kubectl logs "
                f"{name} --previous`",
            )
    return None


def _failure(pod: Mapping[str, Any]) -> str | None:
    """Why this pod breaks its group, or None while it is healthy."""
    name = pod["metadata"]["name"]
    if _phase(pod) == "Failed":
        why = (pod.get("status") or {}).get("reason") or "Failed"
        return f"pod {name} failed ({why})"
    # The main containers only: an init container terminates by design once done, and one
    # that fails keeps its pod Pending (Init:CrashLoopBackOff, `pod_problem`), which no
    # restart of the group helps.
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if int(cs.get("restartCount") or 0) > 0:
            return f"pod {name} container {cs.get('name')} restarted"
        if (cs.get("state") or {}).get("terminated"):
            return f"pod {name} container {cs.get('name')} terminated"
    return None


def backoff_before(previous_restarts: int, healing: Healing = Healing()) -> timedelta:
    """The wait after the last restart before the next one, given the restarts in the
    window: none before the first, then `healing.backoff_base` doubling up to its maximum."""
    if previous_restarts == 0:
        return timedelta(0)
    delay: timedelta = healing.backoff_base * int(2 ** min(previous_restarts - 1, 32))
    return min(delay, healing.backoff_max)


@dataclass
class _Outcome:
    """What deciding about one group produced, beside its view."""

    actions: list[Action] = field(default_factory=list)
    force: list[Action] = field(default_factory=list)
    exhausted: list[Problem] = field(default_factory=list)
    backoff: list[Problem] = field(default_factory=list)
    wakeups: list[float] = field(default_factory=list)
    # Groups out of restart budget or backing off: they failed again after a restart.
    failing: set[int] = field(default_factory=set)


# Kubernetes' defaults for a probe's unset fields (core/v1 Probe).
_PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3}


def startup_window(pod: Mapping[str, Any], default: timedelta) -> timedelta:
    """How long the kubelet lets the pod's SGLang container start before its startup probe
    fails it: initialDelaySeconds + periodSeconds x failureThreshold of the startupProbe the
    stored pod carries (spec.probes overrides included; Kubernetes' defaults for unset
    fields); `default` (spec.probes.startupTimeoutSeconds) when it carries none."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") != SGLANG_CONTAINER:
            continue
        probe = container.get("startupProbe")
        if not probe:
            break
        value = {k: int(probe.get(k) or v) for k, v in _PROBE_DEFAULTS.items()}
        delay, period = value["initialDelaySeconds"], value["periodSeconds"]
        return timedelta(seconds=delay + period * value["failureThreshold"])
    return default


def _startup_problem(
    index: int,
    running: Sequence[Mapping[str, Any]],
    startup_timeout: timedelta,
    now: datetime,
    out: _Outcome,
) -> Problem | None:
    """A group whose pods all run but which is not ready past the startup window of the pod
    that started last (`startup_window`)."""
    last = max(running, key=lambda p: parse_time(p["metadata"]["creationTimestamp"]))
    window = startup_window(last, startup_timeout)
    deadline = parse_time(last["metadata"]["creationTimestamp"]) + window
    if now < deadline:
        out.wakeups.append((deadline - now).total_seconds())
        return None
    return Problem(
        Reason.STARTUP_TIMEOUT,
        f"group {index} is not ready {int(window.total_seconds())}s after its pods "
        "started: check rank 0's logs; for multi-node groups check that rank 0's DNS name "
        "resolves and network.ncclSocketIfname names the right interface",
    )


def _unscheduled_problem(
    live: Sequence[Mapping[str, Any]], now: datetime, out: _Outcome
) -> Problem | None:
    """A pod that no scheduler has answered for SCHEDULER_GRACE: Pending, on no node, with
    no PodScheduled condition. Pods held by schedulingGates wait on purpose (a queue such
    as Kueue lifts the gate) and are left out."""
    for pod in live:
        spec = pod.get("spec") or {}
        if (
            _phase(pod) != "Pending"
            or spec.get("nodeName")
            or spec.get("schedulingGates")
            or _condition(pod, "PodScheduled") is not None
        ):
            continue
        due = parse_time(pod["metadata"]["creationTimestamp"]) + SCHEDULER_GRACE
        if now < due:
            out.wakeups.append((due - now).total_seconds())
            continue
        scheduler = spec.get("schedulerName") or "default-scheduler"
        return Problem(
            Reason.UNSCHEDULABLE,
            f"pod {pod['metadata']['name']} has not been looked at by any scheduler for "
            f"{int(SCHEDULER_GRACE.total_seconds())}s: its schedulerName is {scheduler!r}; "
            "check that a scheduler of that name runs in the cluster",
        )
    return None


def _gates(live: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The names of the schedulingGates that hold the group's pending pods."""
    return tuple(
        sorted(
            {
                str(gate.get("name"))
                for pod in live
                if _phase(pod) == "Pending"
                for gate in (pod.get("spec") or {}).get("schedulingGates") or []
            }
        )
    )


def _step_cut_short(
    live: Sequence[Mapping[str, Any]], stored: str | None, want: str | None
) -> bool:
    """Whether a group is halfway through a rollout step: its StatefulSet stores the desired
    template and some of its pods run it while others do not (the operator stopped between
    the step's pod deletions). Its changed members are the step's, not a failure: the step
    is finished (a rollout step, no restart counted)."""
    hashes = {pod_hash(p) for p in live}
    return stored is not None and stored == want and want in hashes and len(hashes) > 1


def _replaced(
    remembered: Collection[str], live: Sequence[Mapping[str, Any]], nodes: int
) -> int | None:
    """How many of a group's `remembered` members (pod uids) are gone while others of them
    still run (`live`), if its members changed; None if not, and for a new incarnation (none
    of them left) or a new group size (a spec change, which a rollout handles)."""
    uids = {p["metadata"]["uid"] for p in live}
    if not remembered or uids.isdisjoint(remembered) or len(remembered) != nodes:
        return None
    return len(set(remembered) - uids) if uids != set(remembered) else None


def _membership_failure(
    mem: GroupMemory, live: Sequence[Mapping[str, Any]], complete: bool, nodes: int
) -> str | None:
    """Remembers the members of a fresh, complete incarnation; reports a changed one."""
    gone = _replaced(mem.members, live, nodes)
    if gone is not None:
        return f"{gone} pod(s) of group {mem.index} were deleted, evicted or replaced"
    uids = sorted(p["metadata"]["uid"] for p in live)
    if len(mem.members) != nodes or set(mem.members) != set(uids):
        # None remembered, a new incarnation, or a new group size.
        mem.members = uids if complete else []
    return None


def _group_failure(
    mem: GroupMemory,
    live: Sequence[Mapping[str, Any]],
    unreachable: Mapping[str, datetime],
    complete: bool,
    size: int,
) -> str | None:
    """Why a group of several pods must restart whole, if it must: a member on an
    unreachable node, replaced (`_membership_failure`, which remembers the members of a
    complete incarnation in `mem`), failed or restarted (`_failure`). None for one pod,
    which restarts alone."""
    if size <= 1:
        return None
    lost_live = on_lost(live, unreachable)
    if lost_live:
        return f"pod {lost_live[0]['metadata']['name']} is on an unreachable node"
    return _membership_failure(mem, live, complete, size) or next(
        (f for p in live if (f := _failure(p))), None
    )


def _restart(
    mem: GroupMemory,
    failure: str,
    targets: tuple[tuple[str, str], ...],
    *,
    now: datetime,
    out: _Outcome,
    healing: Healing,
) -> None:
    """Restarts the group unless backing off or out of budget (then says why)."""
    if len(mem.restarts) >= healing.restart_budget:
        oldest = min((parse_time(r) for r in mem.restarts), default=now)
        window = healing.restart_window
        out.exhausted.append(
            Problem(
                Reason.GROUP_RESTART_BUDGET_EXHAUSTED,
                f"group {mem.index} was restarted {len(mem.restarts)} times in "
                f"{_duration(window)} and is left alone until "
                f"{format_time(oldest + window)} or a spec change replaces it: {failure}",
            )
        )
        out.wakeups.append(max(1.0, (oldest + window - now).total_seconds()))
        out.failing.add(mem.index)
        return
    last = max((parse_time(r) for r in mem.restarts), default=None)
    wait_until = (last + backoff_before(len(mem.restarts), healing)) if last else now
    if now < wait_until:
        out.wakeups.append((wait_until - now).total_seconds())
        out.backoff.append(
            Problem(
                Reason.GROUP_RESTART_BACKOFF,
                f"group {mem.index} will be restarted at {format_time(wait_until)} (backoff after "
                f"{len(mem.restarts)} restart(s)): {failure}",
            )
        )
        out.failing.add(mem.index)
        return
    message = f"restarting group {mem.index}: {failure}"
    out.actions.append(Action(mem.index, Reason.GROUP_RESTARTED, message, targets))
    mem.restarts = [*mem.restarts, format_time(now)]
    mem.members = []


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _targets(pods: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((p["metadata"]["name"], p["metadata"]["uid"]) for p in pods)


def decide(
    *,
    replicas: int,
    nodes: int | Mapping[int, int],
    stored_hashes: Mapping[int, str],
    startup_timeout: timedelta,
    pods_by_group: Mapping[int, Sequence[Mapping[str, Any]]],
    memory: Sequence[GroupMemory],
    now: datetime,
    healing: Healing = Healing(),
    unreachable: Mapping[str, datetime] | None = None,
    roll: bool = True,
    desired_hashes: Mapping[int, str] | None = None,
    unobserved: Collection[int] = (),
    refused: Mapping[int, FailedCreate] | None = None,
    held: Collection[int] = (),
    kept: Collection[int] = (),
    revisions: Mapping[int, str] | None = None,
) -> Decision:
    """Observes every group and picks the pod deletions that restart or roll them.

    `nodes`: pods per group (one number, or per group index). `stored_hashes`: each group's
    pod-spec hash on the template of its StatefulSet as stored by the API server ("" for a
    template without one); a group without one (its StatefulSet missing or not ours) is
    never rolled. `desired_hashes`: the pod-spec hash each group should run (None: the
    stored ones, when there is no valid spec to say it). `unobserved`: groups whose
    StatefulSet the StatefulSet controller has not observed at its generation yet (no rollout
    step while there is one: groups are replaced in their order, not in the order the
    controller happens to observe them). `refused`: groups whose StatefulSet's pods the API
    server refused at creation, with the template that was refused (remembered in
    `Decision.memory`; such a group counts as failing). `held`: groups whose StatefulSet cannot take
    a new template now (the API server refused it, until its retry): their turn is skipped.
    `unreachable`: node name -> since when it is unreachable (NODE_GONE for a deleted Node).
    `roll`: False holds every rollout step (no valid spec). `kept`: groups beyond `replicas`
    that a scale-down keeps serving (plan._kept_serving): healed as every group is (a
    multi-node group whose member goes is restarted whole; restarts count in its budget),
    but out of the rollout: their stored template is what they run (never outdated, never in
    turn, never holding it); observed in `Decision.kept`. `revisions`: the current revision
    (status.updateRevision) of each group's StatefulSet that holds the desired template as
    the operator writes it, observed by the StatefulSet controller: a group with a pod made
    from another revision (`_behind`; a template changed by hand, pods re-created from it,
    then put back) is outdated, and replaced whole in its rollout turn (pitfall 5: one
    group, one template)."""
    old = {m.index: m for m in memory}
    desired = stored_hashes if desired_hashes is None else desired_hashes
    views: list[GroupView] = []
    new_memory: list[GroupMemory] = []
    out = _Outcome()
    cut_short: list[int] = []
    kept_views: list[GroupView] = []

    for index in (*range(replicas), *sorted(kept)):
        size = nodes if isinstance(nodes, int) else nodes.get(index, 0)
        members = _members(pods_by_group.get(index, ()), size)
        live = live_pods(members)
        previous = old.get(index, GroupMemory(index))
        recent = [r for r in previous.restarts if now - parse_time(r) < healing.restart_window]
        mem = GroupMemory(index, list(previous.members), recent, (refused or {}).get(index))

        running = [p for p in live if _phase(p) == "Running"]
        stored = stored_hashes.get(index)
        want = desired.get(index, stored) if index < replicas else stored
        strays = _behind(live, (revisions or {}).get(index)) if index < replicas else ()
        outdated = stored is not None and (
            stored != want or any(pod_hash(p) != want for p in live) or bool(strays)
        )
        all_running = len(running) == size
        # Every pod of the group, members or not, is force-deleted from a lost node.
        lost = _lost(
            sorted(pods_by_group.get(index, ()), key=rank),
            unreachable or {},
            healing=healing,
            now=now,
            index=index,
            out=out,
        )
        serving = serves(live, size, unreachable or {})
        complete = all_running and len(members) == len(live)

        problem = lost[0] if lost else None
        problem = problem or next((pr for p in live if (pr := pod_problem(p)) is not None), None)
        problem = problem or _unscheduled_problem(live, now, out)
        if problem is None and all_running and not serving:
            problem = _startup_problem(index, running, startup_timeout, now, out)

        failure = _group_failure(mem, live, unreachable or {}, complete, size)
        # Never while a pod is Pending: scheduling or pulling, which a restart won't help.
        if failure is not None and live and not any(_phase(p) == "Pending" for p in live):
            if roll and index < replicas and _step_cut_short(live, stored, want):
                # Finished below as a rollout step, once the StatefulSet controller has
                # observed the template (the pods it re-creates are then the new ones).
                if index not in unobserved:
                    cut_short.append(index)
            else:
                _restart(mem, failure, _targets(live), now=now, out=out, healing=healing)
        # A member replaced, failed or restarted breaks its peers' collective communicators
        # (NCCL/RCCL) until the group restarts whole: rank 0 may stay Ready meanwhile.
        ready = serving and failure is None

        (views if index < replicas else kept_views).append(
            GroupView(
                index, len(live), len(running), ready, outdated, problem, _gates(live), strays
            )
        )
        new_memory.append(mem)

    failing = {v.index for v in views if v.problem is not None} | out.failing | set(refused or {})
    if cut_short:
        # A step cut short is finished before any other (never beside a restart).
        turn = None if out.actions else cut_short[0]
    else:
        turn = (
            _rollout_turn(views, out.actions, failing=failing, held=held)
            if roll and not unobserved
            else None
        )
    step = []
    if turn is not None and stored_hashes.get(turn) == desired.get(turn):
        # Its StatefulSet stores the desired template, observed (no group is unobserved):
        # the pods it re-creates are the new revision's.
        step = [
            _rollout_step(
                views[turn],
                pods_by_group.get(turn, ()),
                desired.get(turn),
                (revisions or {}).get(turn),
            )
        ]
        # A group replaced by a new revision starts with a clean restart record; a refusal
        # of its pods is remembered until the new revision's pods all exist (plan.py).
        new_memory[turn] = GroupMemory(turn, failed_create=new_memory[turn].failed_create)
    requeue = max(1.0, min(out.wakeups)) if out.wakeups else None
    return Decision(
        views,
        out.actions + step,
        new_memory,
        out.exhausted,
        out.backoff,
        requeue,
        out.force,
        turn,
        holding=[v.index for v in views if not v.outdated and not v.ready and v.index in failing],
        kept=kept_views,
    )


def _rollout_step(
    view: GroupView, pods: Sequence[Mapping[str, Any]], want: str | None, current: str | None
) -> Action:
    """The rollout step of the group of `view`: all its `pods` deleted, and why: a new
    revision (`want`: its pod-spec hash), or only pods made from another revision than its
    StatefulSet's `current` one (`GroupView.strays`)."""
    live = live_pods(pods)
    message = f"replacing group {view.index} with the new revision"
    if view.strays and all(pod_hash(p) == want for p in live):
        message = (
            f"replacing group {view.index}: pod(s) {', '.join(view.strays)} were made from "
            f"another pod template than its StatefulSet's current one ({current})"
        )
    return Action(view.index, Reason.ROLLOUT_STEP, message, _targets(live))


def _node(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def on_lost(
    pods: Sequence[Mapping[str, Any]], unreachable: Mapping[str, datetime]
) -> list[Mapping[str, Any]]:
    """The pods on a node in `unreachable` (node name -> since when)."""
    return [p for p in pods if _node(p) in unreachable]


def _lost(
    pods: Sequence[Mapping[str, Any]],
    unreachable: Mapping[str, datetime],
    *,
    healing: Healing,
    now: datetime,
    index: int,
    out: _Outcome,
) -> list[Problem]:
    """The group's pods on unreachable nodes: a problem naming each node, and a forced
    deletion of each pod once its node has been unreachable for the timeout."""
    problems = []
    for pod in on_lost(pods, unreachable):
        name, node = pod["metadata"]["name"], _node(pod)
        since = unreachable[node]
        due = since + healing.unreachable_timeout
        what = "was deleted" if since == NODE_GONE else f"is unreachable since {format_time(since)}"
        if now >= due:
            message = f"force-deleted pod {name}: node {node} {what}"
            out.force.append(Action(index, Reason.POD_FORCE_DELETED, message, _targets([pod])))
            later = "force-deleting the pod"
        else:
            out.wakeups.append((due - now).total_seconds())
            later = f"the pod is force-deleted at {format_time(due)}"
        problems.append(
            Problem(
                Reason.NODE_UNREACHABLE,
                f"pod {name} of group {index}: node {node} {what}; {later}",
            )
        )
    return problems


def _rollout_turn(
    views: Sequence[GroupView],
    already: Sequence[Action],
    *,
    failing: Collection[int],
    held: Collection[int],
) -> int | None:
    """The group whose turn it is to go onto the new revision: at most one per plan, like a
    rollout with maxUnavailable=1 in which groups already unavailable (new and not ready
    yet, restarting, refused, lost) take the one slot.

    - Nothing while a group restarts in this plan (`already`).
    - Never a group whose StatefulSet cannot take the new template now (`held`): the next
      outdated group has its turn instead.
    - An outdated group that is not ready (starting, broken, unschedulable) goes first: it
      serves nothing, so replacing it costs nothing.
    - A ready outdated group goes only when every other group is ready, so it is never the
      last one serving while another is down.
    - Nothing goes while a group of the new revision is not ready yet, so a bad revision
      never takes down more than one group. Only when no group serves and no group of the
      new revision is known to fail (`failing`: a problem, pods refused at creation, out of
      restart budget or backing off) are outdated groups that fail too replaced meanwhile:
      a new spec that fixes a revision which broke every group replaces them without
      waiting for one to be ready. An outdated group merely coming up (being healed, or
      loading) waits: it comes back on the revision it ran, never onto one that fails."""
    if already:
        return None
    outdated = [v for v in views if v.outdated and v.index not in held]
    coming = [v for v in views if not v.outdated and not v.ready]
    if coming:
        if any(v.ready for v in views) or any(v.index in failing for v in coming):
            return None
        outdated = [v for v in outdated if not v.ready and v.index in failing]
    chosen = next((v for v in outdated if not v.ready), outdated[0] if outdated else None)
    return None if chosen is None else chosen.index
