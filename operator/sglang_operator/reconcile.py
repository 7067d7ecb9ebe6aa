"""One idempotent reconcile of one SGLangDeployment: make the cluster match, then say so.

Create, update, operator restart, drift and timers all land here. The order matters:
1. parse the spec; if the operator rejects it, report InvalidSpec and touch nothing, so a bad
   update never tears down what runs;
2. apply every desired child (server-side apply, owner reference on each), refusing to take
   over an object of the same name that this resource does not own;
3. remove groups beyond spec.replicas, highest index first;
4. read the pods, decide group restarts and rollout steps (`groups.decide`), act on them;
5. write status (only when it changed) and events for decisions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sglang_operator import KIND, naming, runs
from sglang_operator.api import SGLangDeploymentSpec, format_validation_error, parse_spec
from sglang_operator.builders import desired_objects
from sglang_operator.conditions import (
    DEGRADED,
    PROGRESSING,
    READY,
    Condition,
    Reason,
    find,
    merge_conditions,
    now_rfc3339,
)
from sglang_operator.groups import Decision, GroupMemory, decide
from sglang_operator.kube import SGLD_API_VERSION, Kube, Ref
from sglang_operator.ownership import (
    conflict,
    may_manage,
    owned_by,
    owner_reference,
    with_owner,
)

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
# Far below the CRD's 32768 for condition messages, so a status write is never refused.
MAX_MESSAGE = 4096

Obj = dict[str, Any]


def _controlled_by(pod: Mapping[str, Any], statefulset: str) -> bool:
    return any(
        ref.get("controller")
        and ref.get("kind") == "StatefulSet"
        and ref.get("name") == statefulset
        for ref in pod["metadata"].get("ownerReferences") or []
    )


def _group_of(obj: Mapping[str, Any]) -> int | None:
    value = (obj["metadata"].get("labels") or {}).get(naming.GROUP_LABEL)
    return int(value) if value is not None and value.isdigit() else None


class _Events:
    """Collects the reconcile's events; they are posted once status is written."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def normal(self, reason: str, message: str) -> None:
        self.items.append(("Normal", reason, message))

    def warning(self, reason: str, message: str) -> None:
        self.items.append(("Warning", reason, message))


def reconcile(kube: Kube, namespace: str, name: str) -> float | None:
    """Returns seconds after which to look again (a timer), or None to wait for a change."""
    sgld = kube.get(Ref(SGLD_API_VERSION, KIND, namespace, name))
    if sgld is None or sgld["metadata"].get("deletionTimestamp"):
        return None
    events = _Events()
    status = dict(sgld.get("status") or {})
    generation = int(sgld["metadata"].get("generation", 0))
    try:
        spec = parse_spec(sgld.get("spec") or {})
    except ValidationError as exc:
        new_status = _invalid_status(status, generation, format_validation_error(exc))
        _publish(kube, sgld, status, new_status, events)
        return None

    previous_replicas = status.get("replicas")
    if isinstance(previous_replicas, int) and previous_replicas < spec.replicas:
        events.normal(
            Reason.SCALED, f"scaling up from {previous_replicas} to {spec.replicas} replica(s)"
        )
    desired = [*desired_objects(spec, name, namespace), *runs.run_objects(spec, name, namespace)]
    problems: list[tuple[str, str]] = []
    try:
        held = _apply_children(kube, sgld, desired, events, problems)
        _prune(kube, sgld, desired, spec, events)
        decision = _heal_and_roll(
            kube, sgld=sgld, spec=spec, desired=desired, held=held, status=status, events=events
        )
        run = _runs(kube, sgld, spec, status, decision)
    except ApiException as exc:
        # Reading the cluster failed: say why, keep what status knew (groups, restart
        # history, readiness) and let the queue retry; nothing running is removed.
        log.warning("reconcile %s/%s: %s", namespace, name, exc)
        message = f"{exc.status} {exc.reason}: {_api_message(exc)}"
        _publish(kube, sgld, status, _failed_status(status, generation, message), events)
        return RETRY_SECONDS
    problems += run.problems
    events.items += run.events
    new_status = _status(
        status,
        generation=generation,
        spec=spec,
        sgld=sgld,
        decision=decision,
        problems=problems,
        run=run,
    )
    _publish(kube, sgld, status, new_status, events)
    failed_apply = any(reason == Reason.APPLY_FAILED for reason, _ in problems)
    return RETRY_SECONDS if failed_apply else decision.requeue_after


def _serving(spec: SGLangDeploymentSpec, decision: Decision) -> bool:
    """Every group ready on the current revision: what a benchmark may measure."""
    views = decision.views
    return (
        bool(views)
        and len(views) == spec.replicas
        and all(v.ready and not v.outdated and v.problem is None for v in views)
    )


def _runs(
    kube: Kube,
    sgld: Mapping[str, Any],
    spec: SGLangDeploymentSpec,
    status: Mapping[str, Any],
    decision: Decision,
) -> runs.RunState:
    owner = owner_reference(sgld)
    previous = find(status.get("conditions") or [], runs.BENCHMARK)
    bench = runs.serving_benchmark(
        kube,
        sgld,
        spec,
        owner=owner,
        ready=_serving(spec, decision),
        status=status,
        previous=previous,
    )
    # Called in server mode too: it removes the Jobs of a previous offline mode.
    offline = runs.offline_runs(kube, sgld, spec, owner=owner, status=status, previous=previous)
    return bench if spec.mode == "server" else offline


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "").get("message", exc.body))
    except (TypeError, ValueError):
        return str(exc.body)


def _apply_children(
    kube: Kube,
    sgld: Mapping[str, Any],
    desired: Sequence[Obj],
    events: _Events,
    problems: list[tuple[str, str]],
) -> dict[int, Obj]:
    """Applies every desired child; returns the StatefulSets held back, by group.

    One object the API server refuses (an immutable PVC field, an admission policy) is
    reported and the others are still applied: one bad field must not stop self-healing.
    A StatefulSet whose new pod template also changes its size is left as it is until the
    rollout reaches its group (`_heal_and_roll` applies it then): with Parallel pod
    management a new `nodes` would otherwise resize every group at once, each then mixing
    two revisions.
    """
    owner = owner_reference(sgld)
    created: list[str] = []
    held: dict[int, Obj] = {}
    for child in desired:
        obj = with_owner(child, owner)
        ref = Ref.of(obj)
        existing = kube.get(ref)
        if existing is not None and not may_manage(existing, sgld):
            problems.append(conflict(ref.kind, ref.name))
            continue
        group = _group_of(obj)
        if (
            existing is not None
            and ref.kind == "StatefulSet"
            and group is not None
            and _resizes_revision(existing, obj)
        ):
            held[group] = obj
            continue
        try:
            kube.apply(obj)
        except ApiException as exc:
            if exc.status not in (400, 403, 409, 422):
                raise
            problems.append(
                (Reason.APPLY_FAILED, f"{ref.kind} {ref.name}: {exc.status} {_api_message(exc)}")
            )
            continue
        if existing is None:
            created.append(f"{ref.kind} {ref.name}")
    if created:
        events.normal(Reason.CREATED, "created " + ", ".join(created))
    return held


def _resizes_revision(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """A new pod template that also changes the group's size."""
    hash_key = naming.POD_SPEC_HASH_ANNOTATION
    return bool(
        existing["spec"].get("replicas") != desired["spec"]["replicas"]
        and (existing["metadata"].get("annotations") or {}).get(hash_key)
        != desired["metadata"]["annotations"][hash_key]
    )


# Kinds removed when no longer desired. PersistentVolumeClaims are never pruned: a weights
# cache can take hours to fill; it goes with the SGLangDeployment (owner reference, under
# cache.whenDeleted Delete) or stays for the next deployment of its name (Retain).
_PRUNED_KINDS = (("apps/v1", "StatefulSet"), ("v1", "Service"))


def _prune(
    kube: Kube,
    sgld: Mapping[str, Any],
    desired: Sequence[Obj],
    spec: SGLangDeploymentSpec,
    events: _Events,
) -> None:
    """Deletes owned StatefulSets and Services that are no longer desired (scale-down, mode
    change), highest group first."""
    meta = sgld["metadata"]
    keep = {Ref.of(o) for o in desired}
    selector = naming.format_selector(
        {
            naming.INSTANCE_LABEL: naming.instance_label_value(meta["name"]),
            naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE,
        }
    )
    stale = [
        obj
        for api_version, kind in _PRUNED_KINDS
        for obj in kube.list(api_version, kind, meta["namespace"], selector)
        if owned_by(obj, meta["uid"]) and Ref.of(obj) not in keep
    ]
    stale.sort(key=lambda o: _group_of(o) or 0, reverse=True)
    for obj in stale:
        kube.delete(Ref.of(obj), background=True)
    groups = sorted({g for o in stale if (g := _group_of(o)) is not None}, reverse=True)
    if groups:
        events.normal(
            Reason.SCALED,
            f"scaled to {spec.replicas} replica(s): removed group(s) "
            + ", ".join(str(g) for g in groups),
        )


def _heal_and_roll(
    kube: Kube,
    *,
    sgld: Mapping[str, Any],
    spec: SGLangDeploymentSpec,
    desired: Sequence[Obj],
    held: Mapping[int, Obj],
    status: Mapping[str, Any],
    events: _Events,
) -> Decision:
    meta = sgld["metadata"]
    if spec.mode == "offline":
        return Decision([], [], [], [], [], None)
    pods = kube.list("v1", "Pod", meta["namespace"], naming.server_selector(meta["name"]))
    by_group: dict[int, list[Obj]] = {}
    for pod in pods:
        group = _group_of(pod)
        # Only pods of our own StatefulSets: a pod that merely carries our labels (a copy of
        # `sglang-operator render` applied by hand) is never restarted or counted.
        if group is not None and _controlled_by(pod, naming.group_name(meta["name"], group)):
            by_group.setdefault(group, []).append(pod)
    # Each group's StatefulSet template carries the hash its pods must have.
    hashes = {
        group: obj["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
        for obj in desired
        if obj["kind"] == "StatefulSet" and (group := _group_of(obj)) is not None
    }
    memory = [GroupMemory.from_status(g) for g in status.get("groups") or []]
    decision = decide(
        replicas=spec.replicas,
        nodes=spec.parallelism.nodes,
        desired_hashes=hashes,
        startup_timeout=timedelta(seconds=spec.probes.startup_timeout_seconds),
        pods_by_group=by_group,
        memory=memory,
        now=datetime.now(UTC),
    )
    for action in decision.actions:
        if action.index in held:
            # The group's turn: now it may take its new size.
            kube.apply(held[action.index])
        for pod_name, uid in action.pod_names:
            kube.delete(Ref("v1", "Pod", meta["namespace"], pod_name), uid=uid, background=True)
        if action.kind == Reason.GROUP_RESTARTED:
            events.warning(action.kind, action.message)
        else:
            events.normal(action.kind, action.message)
    return decision


def _failed_status(status: Mapping[str, Any], generation: int, message: str) -> Obj:
    """Status when the cluster could not be read: the last known state, and why."""
    conditions = [Condition(DEGRADED, "True", Reason.APPLY_FAILED, message)]
    return {
        **status,
        "message": message,
        "conditions": merge_conditions(
            status.get("conditions") or [], conditions, generation, now_rfc3339()
        ),
    }


def _invalid_status(status: Mapping[str, Any], generation: int, message: str) -> Obj:
    ready = bool(status.get("readyReplicas"))
    conditions = [
        Condition(READY, "False", Reason.INVALID_SPEC, message),
        Condition(PROGRESSING, "False", Reason.INVALID_SPEC, "waiting for a valid spec"),
        Condition(DEGRADED, "True", Reason.INVALID_SPEC, message),
    ]
    return {
        **status,
        "observedGeneration": generation,
        # Whatever ran before keeps running: Degraded if it serves, Failed if nothing does.
        "phase": "Degraded" if ready else "Failed",
        "message": f"invalid spec: {message}",
        "conditions": merge_conditions(
            status.get("conditions") or [], conditions, generation, now_rfc3339()
        ),
    }


def _server_conditions(
    spec: SGLangDeploymentSpec, decision: Decision, diagnostics: Sequence[tuple[str, str]]
) -> tuple[str, Condition, Condition]:
    """Phase, Ready and Progressing of a server: Ready means every group serves."""
    views = decision.views
    ready_groups = sum(1 for v in views if v.ready)
    outdated = [v.index for v in views if v.outdated]
    counted = f"{ready_groups}/{spec.replicas} groups ready"
    if spec.replicas == 0:
        ready = Condition(READY, "True", Reason.SCALED_TO_ZERO, "scaled to zero")
    elif ready_groups == spec.replicas:
        ready = Condition(READY, "True", Reason.GROUPS_READY, counted)
    else:
        ready = Condition(READY, "False", Reason.GROUPS_NOT_READY, counted)

    if diagnostics:
        phase = "Degraded"
    elif ready.status == "True":
        # Serving every copy; a rollout between steps shows as Progressing, not in the phase.
        phase = "Ready"
    else:
        phase = "Initializing" if any(v.running for v in views) else "Pending"

    if outdated:
        progressing = Condition(
            PROGRESSING,
            "True",
            Reason.ROLLOUT_STEP,
            f"rolling out the new revision; group(s) {', '.join(map(str, outdated))} still "
            "run the old one",
        )
    elif ready.status == "False" and not decision.budget_exhausted:
        progressing = Condition(PROGRESSING, "True", Reason.RECONCILING, counted)
    else:
        progressing = Condition(PROGRESSING, "False", Reason.AS_EXPECTED, counted)
    return phase, ready, progressing


def _offline_conditions(run: runs.RunState) -> tuple[str, Condition, Condition]:
    """Phase, Ready and Progressing of offline mode: Ready once every run completed."""
    phase = run.offline_phase or "Pending"
    message = run.offline_message or "waiting for the offline runs"
    if phase == "Succeeded":
        return (
            phase,
            Condition(READY, "True", Reason.COMPLETED, message),
            Condition(PROGRESSING, "False", Reason.COMPLETED, message),
        )
    if phase == "Failed":
        return (
            phase,
            Condition(READY, "False", Reason.JOB_FAILED, message),
            Condition(PROGRESSING, "False", Reason.JOB_FAILED, message),
        )
    return (
        phase,
        Condition(READY, "False", Reason.RECONCILING, message),
        Condition(PROGRESSING, "True", Reason.RECONCILING, message),
    )


def _status(
    status: Mapping[str, Any],
    *,
    generation: int,
    spec: SGLangDeploymentSpec,
    sgld: Mapping[str, Any],
    decision: Decision,
    problems: Sequence[tuple[str, str]],
    run: runs.RunState,
) -> Obj:
    meta = sgld["metadata"]
    views = decision.views
    diagnostics = list(problems)
    diagnostics += [(p.reason, p.message) for p in decision.budget_exhausted]
    diagnostics += [(p.reason, p.message) for p in decision.backoff]
    diagnostics += [(v.problem.reason, v.problem.message) for v in views if v.problem]
    if run.offline_phase == "Failed":
        diagnostics.append((Reason.JOB_FAILED, run.offline_message))

    if spec.mode == "offline":
        phase, ready, progressing = _offline_conditions(run)
        if phase != "Failed" and problems:
            phase = "Degraded"
    else:
        phase, ready, progressing = _server_conditions(spec, decision, diagnostics)
    if diagnostics:
        message = "; ".join(m for _, m in diagnostics)
        if len(message) > MAX_MESSAGE:
            # Many groups with the same trouble: the first ones say enough.
            message = message[: MAX_MESSAGE - 20] + f" (+{len(diagnostics)} in all)"
        degraded = Condition(DEGRADED, "True", diagnostics[0][0], message)
    else:
        degraded = Condition(DEGRADED, "False", Reason.AS_EXPECTED, "no problems found")

    conditions = [ready, progressing, degraded]
    if run.condition is not None:
        conditions.append(run.condition)
    new: Obj = {
        **status,
        "observedGeneration": generation,
        "phase": phase,
        "message": degraded.message if diagnostics else ready.message,
        "conditions": merge_conditions(
            status.get("conditions") or [], conditions, generation, now_rfc3339()
        ),
        "replicas": spec.replicas,
        "readyReplicas": sum(1 for v in views if v.ready),
        "nodes": spec.parallelism.nodes,
        "gpus": spec.total_gpus,
        "endpoint": naming.client_endpoint(
            meta["name"], meta["namespace"], spec.server.port, spec.network.cluster_domain
        )
        if spec.mode == "server"
        else None,
        "selector": naming.server_selector(meta["name"]),
        "groups": [
            {
                "index": m.index,
                "ready": next((v.ready for v in views if v.index == m.index), False),
                "members": m.members,
                "restarts": m.restarts,
            }
            for m in decision.memory
        ],
    }
    if run.benchmark is not None:
        new["benchmark"] = run.benchmark
    return new


def _publish(
    kube: Kube,
    sgld: Mapping[str, Any],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    events: _Events,
) -> None:
    """Writes status when it changed, then the events, with a warning whenever the
    deployment becomes Degraded or Degraded for another reason (so `kubectl get events`
    tells the same story as the conditions).

    A None in `new` deletes the field (merge patch); it is no change when already absent.
    """
    if dict(old) != {k: v for k, v in new.items() if v is not None}:
        kube.patch_status(sgld["metadata"]["namespace"], sgld["metadata"]["name"], new)
    was = find(old.get("conditions") or [], DEGRADED) or {}
    now = find(new.get("conditions") or [], DEGRADED) or {}
    if now.get("status") == "True" and (
        was.get("status") != "True" or was.get("reason") != now.get("reason")
    ):
        events.warning(str(now.get("reason")), str(now.get("message")))
    for event_type, reason, message in events.items:
        kube.event(sgld, event_type, reason, message)
