"""The reconcile's decisions as one pure function: what the API server stored, and the time,
in; what to write, delete and report, out. No API calls here (reconcile.py acts).

Rules, each decided from the stored objects of the Snapshot (the watch caches), never from
what the operator meant to write:

- a child is applied only when it is missing, when the intent the operator last applied
  differs (the APPLIED_ANNOTATION hash), or when a field the operator sets was changed by
  someone else (every field of the built object must be found in the stored one);
- a child the API server refused is not sent again before its backoff expires unless the
  spec changed what the operator would send; it stays a Degraded reason meanwhile;
- a StatefulSet whose pod template changes (created, or a new template) is written only once
  the API server admitted one pod of that template in a server-side dry run (`PodCheck`):
  what admission refuses only at pod creation (Pod Security, a missing PriorityClass, quota,
  LimitRange, a webhook on pods) then never reaches a StatefulSet, so no pod is deleted for
  a template whose pods cannot be created;
- a stored StatefulSet is written a new pod template only in its group's rollout turn
  (groups.decide, `Decision.turn`; a new group is created with it): every other group keeps
  its stored template, so a group healed meanwhile comes back on the revision it ran, not
  on one whose pods the API server may refuse at creation (a quota used up meanwhile, a
  policy that refuses only real creates or only some pods) or that fails to start;
- each StatefulSet records the spec it was built from (BUILT_FROM_ANNOTATION, `Recorded`),
  and a ControllerRevision keeps each such record beyond the StatefulSets (`revision`,
  `_keep_records`: deleted once no StatefulSet records it and no pod runs what it builds):
  while the desired revision is known to fail (`_desired_fails`), a missing StatefulSet
  (deleted by hand, or with --cascade=orphan) is created on the revision its orphaned pods
  run, from the record that builds it (`_adopting`), else on the revision a group not rolled
  yet runs, built from the spec that group's StatefulSet records (`_on_old_revisions`), never
  on the failing one; with none recorded it waits for the rollout to go on;
- a group whose pods the API server refused at creation stays known to fail, in status
  (status.groups[].failedCreate), until it has all its pods of its template: FailedCreate
  events, the only word the StatefulSet controller gives, stop after a burst (25 per
  object, then one per 5 minutes) and expire after an hour; a StatefulSet that observed its
  template and still lacks a pod FAILED_CREATE_GRACE later counts as refused with no event
  (`_pod_creation_failures`);
- a group is rolled only when its stored StatefulSet's template, as the StatefulSet
  controller has observed it, is the desired one and carries a pod-spec hash its pods lack,
  or a pod of it was made from another revision than that template's (its
  controller-revision-hash label against status.updateRevision, `_current_revisions`: a
  template changed by hand and put back leaves the pods made from it meanwhile with the
  same hash) (groups.decide); a new group size is written only once the group's pods run the new
  template (`_sized_in_turn`);
- a stored StatefulSet not written the desired template (not in its turn, or kept by a
  scale-down) is what the spec it records builds on its stored template (`_as_recorded`):
  its group serves only at that size (`_sizes`), and a field the operator sets changed by
  hand is put back from it (`_put_back`), never onto the new revision;
- stale children are removed only when stored, owned by this resource and no longer desired;
  a scale-down keeps the lowest group it removes that serves (its StatefulSet's pods or
  those it left behind) or was kept before (by the last plan, or as status.groups says
  after a restart), else the lowest that is restarting within its budget on a revision
  not known to fail, while no group that stays serves (`_kept_serving`, the one place of that
  rule); a kept group is healed as the others are (groups.decide) but never rolled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from sglang_operator import builders, naming, runs
from sglang_operator.advice import advice
from sglang_operator.api import (
    DEFAULT_STARTUP_TIMEOUT_SECONDS,
    SGLangDeploymentSpec,
    format_validation_error,
    parse_quantity,
    parse_spec,
)
from sglang_operator.conditions import (
    ADVISORY,
    DEGRADED,
    MAX_API_MESSAGE,
    PROGRESSING,
    READY,
    Condition,
    Reason,
    bounded,
    find,
    merge_conditions,
    pod_creation_problem,
)
from sglang_operator.groups import (
    Decision,
    FailedCreate,
    GroupMemory,
    GroupView,
    Healing,
    broken,
    decide,
    format_time,
    live_pods,
    on_lost,
    parse_time,
    pod_hash,
    pod_problem,
    rank,
    serves,
)
from sglang_operator.ownership import conflict, may_manage, owned_by, owner_reference, with_owner

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (kind, namespace, name) of a child

APPLIED_ANNOTATION = naming.APPLIED_HASH_ANNOTATION
BUILT_FROM_ANNOTATION = naming.BUILT_FROM_ANNOTATION
# Kubernetes refuses an object whose annotations, keys and values, total over 256 KiB
# (apimachinery's TotalAnnotationSizeLimitB); the operator's other annotations on a
# StatefulSet take under 200 bytes. A larger spec is not recorded (`recorded_spec`).
MAX_RECORDED_SPEC_BYTES = 256 * 1024 - 1024

# Kinds removed when no longer desired. PersistentVolumeClaims are never pruned: a weights
# cache can take hours to fill; it goes with the SGLangDeployment (owner reference) only.
PRUNED_KINDS = ("StatefulSet", "Service")
# Why a new pod template, or the groups of a scale-up, wait when the dry run of their pods is
# refused: how such a problem's message begins (`held_back_message`).
NOT_ROLLED_OUT = "the new pod template is not rolled out"
SCALE_UP_HELD = "the scale-up waits"
# Set by the StatefulSet controller on each pod it creates.
STATEFULSET_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
# How a StatefulSet re-created from a spec a StatefulSet records was built (Plan.reverted),
# in the words of its Created event: "created StatefulSet(s) NAMES <how>".
ON_OLD_REVISION = (
    "on the revision a group not rolled yet runs, from the spec its StatefulSet records ({why})"
)
GROWN_COPY = "a copy of the scale-up, rolled in its turn once the rollout goes on"
GROWN = (
    "on the revision the groups not rolled yet run, from the spec a StatefulSet records "
    "({why}): " + GROWN_COPY
)
ADOPTING = (
    "on the revision its orphaned pods run, from the spec recorded for it ({why}): it takes "
    "them back"
)
KEPT_REBUILT = (
    "on the revision it ran, from the spec it recorded: the scale-down keeps its group, "
    "which no group that stays replaces yet"
)
# How long a StatefulSet that observed its template may lack one of its pods before its pods
# count as refused at creation with no FailedCreate event (`_pod_creation_failures`): the
# StatefulSet controller creates every missing pod of a Parallel StatefulSet in the sync
# that follows its change, within a second when the API server admits them.
FAILED_CREATE_GRACE = timedelta(seconds=30)
# How long a StatefulSet that observed its template may lack a pod, with no FailedCreate event,
# before the names of its missing pods are looked up (`Plan.look_up`): the StatefulSet
# controller records no event when a pod's name is taken (kubernetes
# pkg/controller/statefulset/stateful_pod_control.go sinks AlreadyExists), and a pod it
# released (a label of its selector changed by hand, e.g. app.kubernetes.io/instance, after
# which no cache of ours holds it) keeps that name for good. The controller backs off each
# failed sync of the StatefulSet (5 ms doubling, up to 1000 s), so the sooner the name is
# freed, the sooner the pod is back; a pod deleted is re-created in far less than this.
LOOK_UP_AFTER = timedelta(seconds=5)
# A pod name the StatefulSet lacks, held by a pod it did not make (plan.taken), is read
# again this often: the user deletes that pod as Degraded says, and nothing tells the
# operator (the pod is not its) nor the StatefulSet controller, which backs off for up to
# 1000 s; once it is gone the StatefulSet is stamped (naming.RESYNC_ANNOTATION).
TAKEN_RECHECK = timedelta(seconds=10)
# A pod's name as a StatefulSet names it: `<StatefulSet name>-<ordinal>`, and a group's
# StatefulSet `<...>-<group>` (naming.group_name).
_POD_NAME = re.compile(r"(?P<statefulset>.+-(?P<group>0|[1-9][0-9]*))-(?P<rank>0|[1-9][0-9]*)")


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


@dataclass(frozen=True)
class LookedUp:
    """What reading the names of the pods a StatefulSet lacks found (`Plan.look_up`):
    `since`, when it has been short of a pod since (RFC 3339; read once per such time),
    `taken`: the names held by pods it did not make and the operator leaves alone (`taken`),
    read again TAKEN_RECHECK after `read` (RFC 3339) while any is."""

    since: str
    taken: tuple[str, ...] = ()
    read: str = ""


@dataclass(frozen=True)
class Refusal:
    """Something the API server refused: a child (its applied intent) or, in a server-side
    dry run, a pod of the desired templates (their `template_intent`); the API server's
    message, how many times in a row, and when it may be sent again."""

    intent: str
    message: str
    attempts: int
    retry_at: datetime


@dataclass(frozen=True)
class Admitted:
    """The API server admitted, in a server-side dry run, a pod of the desired templates
    (their `template_intent`), or said nothing about it (see reconcile._check_pods)."""

    intent: str


# The answer to a dry run of the desired templates' pods (`Plan.check_pod`): a refusal is
# asked again when its `retry_at` comes (a quota or a PriorityClass may appear meanwhile).
PodCheck = Admitted | Refusal


@dataclass(frozen=True)
class Accepted:
    """How the last spec the operator accepted heals groups: what healing goes on with while
    a newer spec is refused (InvalidSpec). When the operator has accepted none since it
    started (reconcile.Memory keeps it in-process), the newest spec a StatefulSet records
    (`Recorded`), else the defaults of spec.healing and spec.probes."""

    healing: Healing = field(default_factory=Healing)
    startup_timeout: timedelta = timedelta(seconds=DEFAULT_STARTUP_TIMEOUT_SECONDS)

    @classmethod
    def of(cls, spec: SGLangDeploymentSpec) -> Accepted:
        h = spec.healing
        return cls(
            Healing(
                restart_budget=h.restart_budget,
                restart_window=timedelta(seconds=h.restart_window_seconds),
                backoff_base=timedelta(seconds=h.restart_backoff_seconds),
                backoff_max=timedelta(seconds=h.restart_backoff_max_seconds),
                unreachable_timeout=timedelta(seconds=h.unreachable_node_timeout_seconds),
            ),
            timedelta(seconds=spec.probes.startup_timeout_seconds),
        )


@dataclass(frozen=True)
class Snapshot:
    """One SGLangDeployment and everything of it the API server stored, from the caches.

    `children`: objects carrying the deployment's instance label (owned or not; ownership is
    checked here), `pods`: pods carrying it, `failed_creates`: uid of a StatefulSet -> the
    (RFC 3339 time, message) of its newest FailedCreate event, `refusals`: children the API
    server refused lately (the operator's memory), `unreachable`: node name -> since when
    it is unreachable (groups.NODE_GONE when deleted), `now`: the time decisions are made at,
    `pod_check`: the last dry run of the deployment's pods, `accepted`: how the last
    accepted spec heals, `replaced`: uid of a StatefulSet -> when (RFC 3339) the operator
    last deleted its group's pods to restart or roll it, `short_since`: uid of a StatefulSet
    -> (its template's pod-spec hash, since when (RFC 3339) it has been seen short of a pod
    while observed at its generation), `kept`: the groups the last plan's scale-down kept,
    each with its StatefulSet as then stored (Plan.kept_statefulsets), `looked_up`: uid of
    a StatefulSet -> what reading its missing pods' names found (Plan.look_up), while it is
    short of a pod since the same time (all six the operator's memory).
    """

    sgld: Mapping[str, Any]
    children: Sequence[Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    now: datetime
    failed_creates: runs.FailedCreates = field(default_factory=dict)
    refusals: Mapping[Key, Refusal] = field(default_factory=dict)
    unreachable: Mapping[str, datetime] = field(default_factory=dict)
    pod_check: PodCheck | None = None
    accepted: Accepted | None = None
    replaced: Mapping[str, str] = field(default_factory=dict)
    short_since: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    kept: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    looked_up: Mapping[str, LookedUp] = field(default_factory=dict)


@dataclass
class Plan:
    """What one reconcile does. `apply`: children to server-side apply (owner reference on),
    `delete`: stale children as (kind, namespace, name, uid), `delete_pods`: (name, uid) of
    pods deleted to restart or roll their group, `force_delete_pods`: pods on unreachable
    nodes deleted with no grace period, `problems`: Degraded reasons and messages,
    `events`: (type, reason, message), `requeue_after`: seconds until a time-based decision
    is due (None: nothing is), `spec`: None when the spec is invalid (then `invalid` says why),
    `advice`: sentences of advice on the spec (advice.py), for the Advisory condition,
    `check_pod`: (template intent, pod) to create in a server-side dry run before the
    StatefulSets whose pod template changes are written (they are left out of `apply` until
    `Snapshot.pod_check` answers for that intent), `replaced`: uid of a StatefulSet -> now,
    for each group whose pods `delete_pods` deletes (`Snapshot.replaced` from then on),
    `short_since`: the StatefulSets short of a pod now (`Snapshot.short_since` from then on),
    `reverted`: missing StatefulSets in `apply` built from a spec a StatefulSet records,
    not the desired one (`_on_old_revisions`, `_rebuilt_kept`), each with how, in the words
    of its Created event, `kept_statefulsets`: the StatefulSet of each group a scale-down
    keeps (`Snapshot.kept` from then on; a deleted one's as last stored), `relabel_pods`:
    (name, uid, labels) of pods of ours whose identity labels were changed by hand, to
    merge-patch back (`reclaim`), `resync`: (name, uid) of StatefulSets to sync again once
    `delete_pods` is done (`resync_after`), `look_up`: names of pods a StatefulSet has
    lacked for LOOK_UP_AFTER with no FailedCreate event, to read (a pod of ours holding the
    name that no cache holds is then reclaimed), `looked_up`: `Snapshot.looked_up` from then
    on.
    """

    spec: SGLangDeploymentSpec | None
    invalid: str | None = None
    apply: list[Obj] = field(default_factory=list)
    delete: list[tuple[str, str, str, str]] = field(default_factory=list)
    delete_pods: list[tuple[str, str]] = field(default_factory=list)
    force_delete_pods: list[tuple[str, str]] = field(default_factory=list)
    decision: Decision = field(default_factory=lambda: Decision([], [], [], [], [], None))
    problems: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    advice: list[str] = field(default_factory=list)
    check_pod: tuple[str, Obj] | None = None
    replaced: dict[str, str] = field(default_factory=dict)
    short_since: dict[str, tuple[str, str]] = field(default_factory=dict)
    reverted: dict[Key, str] = field(default_factory=dict)
    kept_statefulsets: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    relabel_pods: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    resync: list[tuple[str, str]] = field(default_factory=list)
    look_up: list[str] = field(default_factory=list)
    looked_up: dict[str, LookedUp] = field(default_factory=dict)

    @property
    def kept(self) -> list[int]:
        """Groups a scale-down removes that are kept because they serve and no group that
        stays does (`_kept_serving`; observed in `decision.kept`)."""
        return [v.index for v in self.decision.kept]


def intent_hash(obj: Mapping[str, Any]) -> str:
    """Hash of a built object as the operator would apply it (without the hash itself)."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "annotations"}
    annotations = {
        k: v
        for k, v in (obj["metadata"].get("annotations") or {}).items()
        if k != APPLIED_ANNOTATION
    }
    body = {**obj, "metadata": {**meta, "annotations": annotations}}
    return naming.short_hash(json.dumps(body, sort_keys=True, separators=(",", ":")), 16)


def stamped(obj: Obj) -> Obj:
    """The object with its intent hash annotation, as it is applied."""
    meta = obj["metadata"]
    annotations = {**(meta.get("annotations") or {}), APPLIED_ANNOTATION: intent_hash(obj)}
    return {**obj, "metadata": {**meta, "annotations": annotations}}


def recorded_spec(sgld: Mapping[str, Any]) -> str | None:
    """What the StatefulSets built from `sgld`'s spec now record (BUILT_FROM_ANNOTATION):
    `{"generation": N, "spec": {...}}` as compact JSON with sorted keys (UTF-8; the spec as
    the API server stores it, defaults not filled in). None when it is over
    MAX_RECORDED_SPEC_BYTES (`UNRECORDED_ADVICE` says what that costs)."""
    text = json.dumps(
        {"generation": int(sgld["metadata"].get("generation") or 0), "spec": sgld.get("spec")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return text if len(text.encode()) <= MAX_RECORDED_SPEC_BYTES else None


def applied(sgld: Mapping[str, Any], built: Sequence[Obj], record: str | None) -> list[Obj]:
    """Built children as the operator applies them: owned by `sgld`, each StatefulSet
    recording `record` (`recorded_spec` of the spec it was built from; nothing when None),
    stamped with their intent."""
    owner = owner_reference(sgld)
    return [stamped(with_owner(_recording(obj, record), owner)) for obj in built]


def _recording(obj: Obj, record: str | None) -> Obj:
    if obj["kind"] != "StatefulSet" or record is None:
        return obj
    meta = obj["metadata"]
    annotations = {**(meta.get("annotations") or {}), BUILT_FROM_ANNOTATION: record}
    return {**obj, "metadata": {**meta, "annotations": annotations}}


def desired_children(sgld: Mapping[str, Any], spec: SGLangDeploymentSpec) -> list[Obj]:
    """The children builders.desired_objects builds for `sgld` with its (parsed) `spec`, as
    the operator applies them (`applied`), with the ControllerRevision keeping the spec the
    StatefulSets record (`revision`; none when it is not recorded)."""
    meta = sgld["metadata"]
    built = builders.desired_objects(spec, meta["name"], meta["namespace"])
    record = recorded_spec(sgld)
    kept = [revision(sgld, record)] if record is not None and spec.mode == "server" else []
    return [*kept, *applied(sgld, built, record)]


def revision(sgld: Mapping[str, Any], record: str) -> Obj:
    """The ControllerRevision (apps/v1) that keeps `record` (`recorded_spec`) beyond the
    StatefulSets that carry it, as the operator applies it: `data` the record's object
    (`{"generation": N, "spec": {...}}`), `revision` its generation, named by a hash of it
    (naming.revision_name), owned by `sgld` (the garbage collector removes it with it),
    labelled to be cached with the other children but claimed by no StatefulSet."""
    meta = sgld["metadata"]
    data = json.loads(record)
    built: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": naming.revision_name(meta["name"], record),
            "namespace": meta["namespace"],
            "labels": naming.labels(meta["name"], naming.COMPONENT_REVISION),
        },
        "data": data,
        "revision": int(data["generation"]),
    }
    return applied(sgld, [built], None)[0]


@dataclass(frozen=True)
class Recorded:
    """A spec a stored StatefulSet records it was built from (BUILT_FROM_ANNOTATION): the
    SGLangDeployment's generation then, the spec parsed, and the annotation's text."""

    generation: int
    spec: SGLangDeploymentSpec
    text: str

    @classmethod
    def of(cls, statefulset: Mapping[str, Any]) -> Recorded | None:
        """What `statefulset` records, or None: nothing (written by an operator version
        before the annotation, or the spec was too large) or a spec this operator version
        does not accept (it is then unknown, as if not recorded)."""
        text = (statefulset["metadata"].get("annotations") or {}).get(BUILT_FROM_ANNOTATION)
        return cls.parsed(str(text)) if text else None

    @classmethod
    def kept_by(cls, revision: Mapping[str, Any]) -> Recorded | None:
        """What a ControllerRevision of `revision()` keeps, or None, as `of` says."""
        data = revision.get("data")
        if not isinstance(data, Mapping):
            return None
        return cls.parsed(
            json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        )

    @classmethod
    def parsed(cls, text: str) -> Recorded | None:
        """A record's text (`recorded_spec`) parsed, or None when this operator version does
        not accept it."""
        try:
            found = json.loads(text)
            return cls(int(found["generation"]), parse_spec(found["spec"] or {}), text)
        except (ValueError, TypeError, KeyError, AttributeError, ValidationError):
            return None

    def statefulset(
        self, sgld: Mapping[str, Any], group: int, *, grown: bool = False
    ) -> Obj | None:
        """Group `group`'s StatefulSet built from this spec, as applied (recording it); None
        when the spec has no such group, unless `grown` (the spec as if scaled up to it: a
        group's StatefulSet does not depend on spec.replicas)."""
        if self.spec.mode != "server" or (group >= self.spec.replicas and not grown):
            return None
        meta = sgld["metadata"]
        built = builders.statefulset(self.spec, meta["name"], meta["namespace"], group)
        return applied(sgld, [built], self.text)[0]


def contains(stored: Any, built: Any) -> bool:
    """Every field of `built` is in `stored` with the same value. The API server adds
    defaults (ignored here) and writes numbers of quantities as strings (`2` -> "2")."""
    if isinstance(built, Mapping):
        if not isinstance(stored, Mapping):
            return not built
        return all(
            contains(stored.get(k), v) if k in stored else _empty(v) for k, v in built.items()
        )
    if isinstance(built, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(built)
            and all(contains(s, b) for s, b in zip(stored, built, strict=True))
        )
    return bool(stored == built or (stored is not None and str(stored) == str(built)))


def _empty(value: Any) -> bool:
    return value is None or value in ({}, [])


def in_sync(stored: Mapping[str, Any], built: Mapping[str, Any]) -> bool:
    """A stored child needs no write: same applied intent and no managed field changed."""
    annotations = stored["metadata"].get("annotations") or {}
    if annotations.get(APPLIED_ANNOTATION) != built["metadata"]["annotations"][APPLIED_ANNOTATION]:
        return False
    return all(contains(stored.get(part), built[part]) for part in built if part != "status")


def group_of(obj: Mapping[str, Any]) -> int | None:
    """The group index a child or pod is labelled with (None: not a group's)."""
    value = (obj["metadata"].get("labels") or {}).get(naming.GROUP_LABEL)
    return int(value) if value is not None and value.isdigit() else None


def _controlled_by(pod: Mapping[str, Any], kind: str, name: str) -> bool:
    return any(
        ref.get("controller") and ref.get("kind") == kind and ref.get("name") == name
        for ref in pod["metadata"].get("ownerReferences") or []
    )


def template_hash(statefulset: Mapping[str, Any]) -> str | None:
    """The pod-spec hash on a StatefulSet's pod template: what its next pods will carry."""
    template = (statefulset.get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(
        naming.POD_SPEC_HASH_ANNOTATION
    )
    return str(value) if value is not None else None


def _sized_in_turn(built: Obj, stored: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Obj:
    """A group's StatefulSet, keeping its stored size until its pods run the new template.

    With Parallel pod management a new size takes effect at once: new-revision ranks would
    join a group whose other ranks run the old one (every group at once, too). So the new
    template is written with the old size; the group's rollout turn replaces its pods from
    that template (already stored, and seen by the StatefulSet controller); then, with every
    pod on it, the new size is written."""
    size = (stored.get("spec") or {}).get("replicas")
    if size == built["spec"]["replicas"]:
        return built
    new = template_hash(built)
    if all(pod_hash(p) == new for p in live_pods(pods)):
        return built
    return stamped({**built, "spec": {**built["spec"], "replicas": size}})


def _sized(
    built: Obj,
    ours: Mapping[Key, Mapping[str, Any]],
    pods: Mapping[int, Sequence[Mapping[str, Any]]],
) -> Obj:
    """A built child as it is sent: a stored group's StatefulSet `_sized_in_turn`."""
    existing = ours.get(key_of(built))
    group = group_of(built)
    if built["kind"] != "StatefulSet" or existing is None or group is None:
        return built
    return _sized_in_turn(built, existing, pods.get(group, ()))


def _in_turn(
    obj: Mapping[str, Any], existing: Mapping[str, Any] | None, decision: Decision
) -> bool:
    """Whether a StatefulSet may be written now: a new one, one whose stored template is
    already the desired one, or the one of the group whose rollout turn it is. Any other
    keeps its stored template, so a group healed before its turn comes back on the
    revision it ran, never on one that other groups' pods fail with."""
    return (
        existing is None
        or template_hash(existing) == template_hash(obj)
        or (group_of(obj) is not None and group_of(obj) == decision.turn)
    )


def template_intent(desired: Sequence[Mapping[str, Any]]) -> str:
    """What a pod check answers for: the pod-spec hashes of every desired StatefulSet's
    template. One dry run per new spec (or scale-up, or operator version that builds other
    pods), whichever groups are written when."""
    hashes = [str(template_hash(o)) for o in desired if o["kind"] == "StatefulSet"]
    return naming.short_hash(",".join(hashes), 16)


def dry_run_pod(statefulset: Mapping[str, Any]) -> Obj:
    """The pod of ordinal 0 as the StatefulSet controller would create it from this
    StatefulSet, as far as admission can tell: the template's labels (with the controller's
    pod-name and pod-index labels) and annotations, hostname and subdomain, a volume per
    claim template. `generateName`, so that it can never collide with a real pod."""
    meta, spec = statefulset["metadata"], statefulset["spec"]
    template = spec["template"]
    pod_name = f"{meta['name']}-0"
    claims = [
        {
            "name": c["metadata"]["name"],
            "persistentVolumeClaim": {"claimName": f"{c['metadata']['name']}-{pod_name}"},
        }
        for c in spec.get("volumeClaimTemplates") or []
    ]
    pod_spec = dict(template["spec"])
    pod_spec.update(hostname=pod_name, subdomain=spec["serviceName"])
    if claims:
        pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), *claims]
    labels = {
        **(template["metadata"].get("labels") or {}),
        STATEFULSET_POD_NAME_LABEL: pod_name,
        naming.POD_INDEX_LABEL: "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(template["metadata"].get("annotations") or {}),
        },
        "spec": pod_spec,
    }


def refusal_problem(kind: str, name: str, message: str) -> tuple[str, str]:
    return Reason.APPLY_FAILED, f"{kind} {name}: {message}"


def held_back(reason: str, message: str) -> bool:
    """Whether a problem says that StatefulSets wait because admission refuses their pods in
    a dry run (`held_back_message`)."""
    return reason == Reason.POD_CREATION_FAILED and message.startswith(
        (NOT_ROLLED_OUT, SCALE_UP_HELD)
    )


def statefulset_refused(problems: Sequence[tuple[str, str]]) -> bool:
    """Whether a StatefulSet of the current spec is refused (its `refusal_problem` is among
    `problems`) or held back because admission refuses its pods (`held_back`): the spec's
    generation then does not run, whatever the groups serve."""
    return any(
        (reason == Reason.APPLY_FAILED and message.startswith("StatefulSet "))
        or held_back(reason, message)
        for reason, message in problems
    )


def _parsed(sgld: Mapping[str, Any]) -> SGLangDeploymentSpec | str:
    """The resource's spec, or why the operator refuses it (its name: `naming.name_problem`,
    or its spec's validation)."""
    taken = naming.name_problem(sgld["metadata"]["name"])
    if taken is not None:
        return taken
    try:
        return parse_spec(sgld.get("spec") or {})
    except ValidationError as exc:
        return bounded(format_validation_error(exc))


def plan(snapshot: Snapshot) -> Plan:
    """Everything one reconcile decides, from the snapshot alone."""
    sgld = snapshot.sgld
    meta = sgld["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    spec = _parsed(sgld)
    if isinstance(spec, str):
        return _heal_only(snapshot, spec)
    result = Plan(spec=spec, advice=advice(spec))
    _advise(sgld, result)
    stored = {key_of(c): c for c in snapshot.children}
    record = recorded_spec(sgld)
    if record is None:
        result.advice.append(UNRECORDED_ADVICE)
    desired = applied(
        sgld,
        [
            *builders.desired_objects(spec, name, namespace),
            *runs.run_objects(spec, name, namespace),
        ],
        record,
    )
    ours = {
        key: existing
        for o in desired
        if (existing := stored.get(key := key_of(o))) is not None and may_manage(existing, sgld)
    }
    pods = _pods_by_group(snapshot)
    sent = {key_of(o): _sized(o, ours, pods) for o in desired}
    statefulsets = _stored_statefulsets(snapshot, ours)
    stale = _stale(snapshot, desired)
    failures: list[tuple[str, str]] = []
    reverted: dict[Key, Obj | None] = {}
    held: str | None = None
    kept: list[int] = []
    # The group a scale-down keeps, with a StatefulSet or only its orphaned pods: never pruned.
    spared: list[int] = []
    recorded: dict[int, Obj] = {}
    if spec.mode == "server":
        recorded, sizes, result.kept_statefulsets, spared = _kept_serving(
            snapshot, spec, statefulsets, stale, desired=_desired_hashes(sent), pods=pods
        )
        kept = sorted(result.kept_statefulsets)
        # A kept group is decided as the others are (healed, never rolled).
        statefulsets = {**statefulsets, **result.kept_statefulsets}
        failures = _decide(snapshot, spec, sent, statefulsets, result, sizes=sizes, kept=kept)
        held = _desired_fails(snapshot, sent, statefulsets, result.decision)
        if held is not None and statefulsets:
            reverted = _on_old_revisions(
                snapshot,
                {
                    key: g
                    for key, o in sent.items()
                    if o["kind"] == "StatefulSet"
                    and key not in stored
                    and (g := group_of(o)) is not None
                },
                statefulsets,
                result.decision,
                _desired_hashes(sent),
                history=_records(snapshot),
            )
    wakeups = _writes(snapshot, sent, ours, result, reverted)
    wakeups += _put_back(snapshot, {g: recorded[g] for g in statefulsets if g in recorded}, result)
    wakeups += _rebuilt_kept(snapshot, {g: recorded[g] for g in kept if g in recorded}, result)

    if spec.mode == "server":
        _tell_scale_up(ours, stored, spec, result)

    _prune(snapshot, stale, spared, spec, result)
    _keep_records(snapshot, record if spec.mode == "server" else None, result, wakeups)
    if spec.mode == "server":
        _carry_out(snapshot, statefulsets, failures, result)
        waiting = sorted(
            g for k, o in reverted.items() if o is None and (g := group_of(sent[k])) is not None
        )
        if waiting and held is not None:
            result.problems.append((held, missing_waits_message(waiting)))
    if result.decision.requeue_after is not None:
        wakeups.append(result.decision.requeue_after)
    result.requeue_after = max(1.0, min(wakeups)) if wakeups else None
    return result


def _tell_scale_up(
    ours: Mapping[Key, Mapping[str, Any]],
    stored: Mapping[Key, Mapping[str, Any]],
    spec: SGLangDeploymentSpec,
    result: Plan,
) -> None:
    """The Scaled event of a scale-up, when `result.apply` creates a new group's StatefulSet
    (`ours`: the stored children this deployment manages; `stored`: all stored, by key)."""
    stored_groups = {
        g: c for k, c in ours.items() if k[0] == "StatefulSet" and (g := group_of(c)) is not None
    }
    groups_now = sorted(stored_groups)
    # A group is new when beyond the copies the stored StatefulSets were built for (their
    # records; else those stored): not a StatefulSet deleted by hand and created again, nor
    # one created by a pass before the caches showed it (each of which said "scaling up").
    # A kept group's StatefulSet put back is stored, not ours (beyond spec.replicas): no
    # new group.
    built_for = max(
        (r.spec.replicas for c in stored_groups.values() if (r := Recorded.of(c)) is not None),
        default=len(groups_now),
    )
    new_groups = [
        g
        for o in result.apply
        if o["kind"] == "StatefulSet"
        and key_of(o) not in stored
        and (key_of(o) not in result.reverted or result.reverted[key_of(o)].endswith(GROWN_COPY))
        and (g := group_of(o)) is not None
        and g >= built_for
    ]
    if groups_now and new_groups:
        result.events.append(
            (
                "Normal",
                Reason.SCALED,
                f"scaling up from {len(groups_now)} to {spec.replicas} replica(s)",
            )
        )


def _desired_hashes(sent: Mapping[Key, Obj]) -> dict[int, str]:
    """Each group's desired pod-spec hash, from the StatefulSets as `sent`."""
    return {
        g: str(template_hash(o))
        for o in sent.values()
        if o["kind"] == "StatefulSet" and (g := group_of(o)) is not None
    }


def _refusal_of(snapshot: Snapshot, key: Key, obj: Mapping[str, Any]) -> Refusal | None:
    """The API server's refusal of `obj` as it is now meant (its intent hash), if any."""
    refusal = snapshot.refusals.get(key)
    if refusal is not None and refusal.intent == obj["metadata"]["annotations"][APPLIED_ANNOTATION]:
        return refusal
    return None


def _waits_for_retry(
    snapshot: Snapshot, key: Key, obj: Mapping[str, Any], result: Plan, wakeups: list[float]
) -> bool:
    """Whether `obj` waits for the retry of the API server's refusal of it (a refusal of it
    is reported meanwhile, and its retry is among the `wakeups`)."""
    refusal = _refusal_of(snapshot, key, obj)
    if refusal is None:
        return False
    result.problems.append(refusal_problem(key[0], key[2], refusal.message))
    if snapshot.now < refusal.retry_at:
        wakeups.append((refusal.retry_at - snapshot.now).total_seconds())
        return True
    return False


def _writes(
    snapshot: Snapshot,
    sent: Mapping[Key, Obj],
    ours: Mapping[Key, Mapping[str, Any]],
    result: Plan,
    reverted: Mapping[Key, Obj | None],
) -> list[float]:
    """The children to apply (`result.apply`), of those `sent` (each desired child as it is
    sent), and why others wait: a conflict, a refusal backing off, a StatefulSet not in its
    rollout turn or held by the pod gate. `reverted`: missing StatefulSets sent as built
    on an older revision instead (`_on_old_revisions`; None: not created now).
    Returns the wakeups (seconds) of the waits."""
    wakeups: list[float] = []
    stored = {key_of(c): c for c in snapshot.children}
    gate = _PodGate(snapshot, template_intent(list(sent.values())))
    for key, desired in sent.items():
        existing = stored.get(key)
        if existing is not None and key not in ours:
            result.problems.append(conflict(key[0], key[2]))
            continue
        old = key in reverted
        obj = reverted[key] if old else desired
        if obj is None:
            continue
        if _waits_for_retry(snapshot, key, obj, result, wakeups):
            continue
        if existing is not None and in_sync(existing, obj):
            continue
        # An older revision's pods ran: the dry run of the desired pods says nothing of them.
        if not old and obj["kind"] == "StatefulSet":
            if not _in_turn(obj, existing, result.decision):
                gate.hold(obj, existing)
                continue
            if not gate.admits(obj, existing):
                continue
        result.apply.append(obj)
        if old:
            result.reverted[key] = _rebuilt_how(snapshot, obj, "the new revision fails")
    created = {
        g
        for o in result.apply
        if o["kind"] == "StatefulSet" and key_of(o) not in stored and (g := group_of(o)) is not None
    }
    gate.report(result, wakeups, scaling=any(k[0] == "StatefulSet" for k in ours), created=created)
    return wakeups


# Advice when the spec is too large to be recorded on the StatefulSets.
UNRECORDED_ADVICE = (
    f"the spec is over {MAX_RECORDED_SPEC_BYTES // 1024} KiB, too large for the StatefulSets "
    "to record it (Kubernetes' limit on annotations): a group's StatefulSet deleted while a "
    "rollout is held then waits for the rollout to go on, instead of coming back on the "
    "revision its group ran"
)


def missing_waits_message(groups: Sequence[int]) -> str:
    """Why missing StatefulSets are not created while the desired revision fails: no stored
    StatefulSet records the revision the groups not rolled yet run."""
    return (
        f"the StatefulSet(s) of group(s) {_listed(groups)} are missing and wait for the "
        "rollout to go on: the new revision fails, and no StatefulSet of a group not rolled "
        "yet records the revision it runs"
    )


def _desired_fails(
    snapshot: Snapshot,
    sent: Mapping[Key, Obj],
    statefulsets: Mapping[int, Mapping[str, Any]],
    decision: Decision,
) -> str | None:
    """Whether the desired revision is known to fail, and so the rollout is held; the
    Degraded reason that says so, else None: a dry run of its pods refused (`PodCheck`), a
    StatefulSet of it refused, its pods refused at creation (status.groups[].failedCreate),
    or a group on it failing (`Decision.holding`)."""
    check = snapshot.pod_check
    if isinstance(check, Refusal) and check.intent == template_intent(list(sent.values())):
        return str(Reason.POD_CREATION_FAILED)
    desired = _desired_hashes(sent)
    if any(
        _refusal_of(snapshot, key, obj) is not None
        for key, obj in sent.items()
        if obj["kind"] == "StatefulSet" and group_of(obj) is not None
    ):
        return str(Reason.APPLY_FAILED)
    for memory in decision.memory:
        failed = memory.failed_create
        if failed is not None and failed.template == desired.get(memory.index):
            return str(Reason.POD_CREATION_FAILED)
    for view in decision.views:
        sts = statefulsets.get(view.index)
        if (
            view.index in decision.holding
            and sts is not None
            and template_hash(sts) == desired.get(view.index)
        ):
            return view.problem.reason if view.problem else str(Reason.GROUP_RESTART_BACKOFF)
    return None


def _on_old_revisions(
    snapshot: Snapshot,
    missing: Mapping[Key, int],
    statefulsets: Mapping[int, Mapping[str, Any]],
    decision: Decision,
    desired: Mapping[int, str],
    *,
    history: Sequence[Recorded],
) -> dict[Key, Obj | None]:
    """While the desired revision fails (`_desired_fails`), or no spec is valid (`desired`
    empty), each `missing` StatefulSet (key -> group; deleted by hand, or with
    --cascade=orphan) built on the revision the groups not rolled yet run, so that it comes
    back serving on what worked, not on what fails: from the spec a stored sibling records
    it was built from (`Recorded`), a sibling whose stored template is not the desired one
    (`desired`: each group's pod-spec hash), is not known to fail, and is what that spec
    builds for it (else this operator version builds other pods from it: unknown).

    First, though: the revision the group's orphaned pods run, when a spec of `history`
    (`_records`: the ControllerRevisions' and the StatefulSets' records) builds it for the
    group (`_adopting`: they are adopted, not replaced, and it is what the group ran). Else,
    with several siblings' revisions: a serving sibling's, the newest, the lowest group.
    None when no such sibling builds the group, but it existed (some stored StatefulSet
    records a spec with it, or its orphaned pods run another revision: a kept group whose
    StatefulSet went while the operator was down, then scaled back up) or there is no
    telling (none records a spec): it waits for the rollout to go on, its orphaned pods
    serving meanwhile. Groups new in a scale-up (beyond the replicas of every spec a
    StatefulSet records, and no orphaned pods) are built from such a sibling's spec as if
    scaled up (`Recorded.statefulset`, grown): a copy on what works, not one that cannot
    start, rolled in its turn once the rollout goes on. Left out (created on the desired
    revision, as when nothing fails): such groups with no such sibling, and groups whose
    orphaned pods run the desired revision."""
    sgld = snapshot.sgld
    known = {m.index: m.failed_create.template for m in decision.memory if m.failed_create}
    records = {g: r for g, sts in statefulsets.items() if (r := Recorded.of(sts)) is not None}
    sources = [
        (group, record)
        for group, record in sorted(records.items())
        if template_hash(sts := statefulsets[group]) not in (desired.get(group), known.get(group))
        and template_hash(record.statefulset(sgld, group) or {}) == template_hash(sts)
    ]
    ready = {v.index for v in decision.views if v.ready}
    orphans = _orphaned_hashes(snapshot)
    found: dict[Key, Obj | None] = {}
    for key, group in missing.items():
        ran = orphans.get(group, set())
        if desired.get(group) in ran:
            continue
        adopting = _adopting(sgld, history, group, ran - {known.get(group)})
        if adopting is not None:
            found[key] = adopting
            continue
        built = [
            (sibling, record, obj)
            for sibling, record in sources
            if (obj := record.statefulset(sgld, group)) is not None
        ]
        if not built and not (
            not records
            or orphans.get(group)
            or any(group < r.spec.replicas for r in records.values())
        ):
            # New in a scale-up: on what works too, rolled in its turn once the rollout
            # goes on.
            built = [
                (sibling, record, obj)
                for sibling, record in sources
                if (obj := record.statefulset(sgld, group, grown=True)) is not None
            ]
        if built:
            _, _, found[key] = min(built, key=lambda b: (b[0] not in ready, -b[1].generation, b[0]))
        elif (
            not records
            or orphans.get(group)
            or any(group < r.spec.replicas for r in records.values())
        ):
            found[key] = None
    return found


def _rebuilt_how(snapshot: Snapshot, obj: Obj, why: str) -> str:
    """How a missing StatefulSet `obj`, built on an older revision because `why`, was built
    (`Plan.reverted`): on the revision of its group's orphaned pods (it adopts them), or on
    a sibling's, for a group it has (or a new one of a scale-up: GROWN)."""
    group = group_of(obj)
    if group is not None and str(template_hash(obj)) in _orphaned_hashes(snapshot).get(group, ()):
        return ADOPTING.format(why=why)
    record = Recorded.of(obj)
    if group is not None and record is not None and group >= record.spec.replicas:
        return GROWN.format(why=why)
    return ON_OLD_REVISION.format(why=why)


def _orphaned_hashes(snapshot: Snapshot) -> dict[int, set[str]]:
    """The pod-spec hashes of each group's pods its StatefulSet left behind
    (`_orphans_by_group`): a StatefulSet of their template adopts them."""
    return {
        g: {h for p in pods if (h := pod_hash(p)) is not None}
        for g, pods in _orphans_by_group(snapshot).items()
    }


def _records(snapshot: Snapshot) -> list[Recorded]:
    """Every spec recorded for this deployment that this operator version accepts, newest
    first, each once: kept in its ControllerRevisions (`revision`), which outlive the
    StatefulSets, and on its stored StatefulSets (`Recorded.of`; those of an operator
    version before the revisions record one that no revision keeps)."""
    uid = snapshot.sgld["metadata"]["uid"]
    found: dict[str, Recorded] = {}
    for child in snapshot.children:
        if not owned_by(child, uid):
            continue
        if child["kind"] == "ControllerRevision":
            record = Recorded.kept_by(child)
        elif child["kind"] == "StatefulSet":
            record = Recorded.of(child)
        else:
            continue
        if record is not None:
            found.setdefault(record.text, record)
    return sorted(found.values(), key=lambda r: -r.generation)


def _adopting(
    sgld: Mapping[str, Any], records: Sequence[Recorded], group: int, ran: Collection[str]
) -> Obj | None:
    """Group `group`'s StatefulSet built from the newest of `records` (`_records`) that
    builds a template its orphaned pods run (`ran`: their pod-spec hashes), as applied: it
    adopts them, on the revision they run. None when none does."""
    for record in records:
        obj = record.statefulset(sgld, group)
        if obj is not None and template_hash(obj) in ran:
            return obj
    return None


def _orphans_by_group(snapshot: Snapshot) -> dict[int, list[Mapping[str, Any]]]:
    """Each group's pods that its StatefulSet left behind: pods of ours (`made_by_group`)
    that no controller owns, not being deleted. Its StatefulSet was deleted with
    --cascade=orphan, or released them when a label of its selector was changed on them by
    hand (`reclaim` puts it back). By the group their name gives, not their group label,
    which may be the label changed."""
    name = snapshot.sgld["metadata"]["name"]
    found: dict[int, list[Mapping[str, Any]]] = {}
    for pod in snapshot.pods:
        at = made_by_group(name, pod)
        if at is not None and _orphaned(pod):
            found.setdefault(at[0], []).append(pod)
    return found


def made_by_group(name: str, pod: Mapping[str, Any]) -> tuple[int, int] | None:
    """(group, rank) of a pod that a group's StatefulSet of deployment `name` made, else
    None: named as it names its pods (`ordinal`), with a mark of it that a hand would have
    to remove too: our pod-spec hash from its template, or both labels its controller sets,
    the pod-name label (that name) and the revision label (`<StatefulSet>-<hash>`). A pod
    that merely carries our labels under another name (made by hand from `sglang-operator
    render`'s template), or one of that name with the pod-name label alone (someone
    else's), is not one."""
    meta = pod["metadata"]
    at = ordinal(name, meta["name"])
    if at is None:
        return None
    labels = meta.get("labels") or {}
    statefulset = naming.group_name(name, at[0])
    made = labels.get(STATEFULSET_POD_NAME_LABEL) == meta["name"] and str(
        labels.get(naming.POD_REVISION_LABEL) or ""
    ).startswith(f"{statefulset}-")
    return at if made or pod_hash(pod) is not None else None


def ordinal(name: str, pod_name: str) -> tuple[int, int] | None:
    """(group, rank) of the pod `pod_name` if a group's StatefulSet of deployment `name`
    names its pods so (`<StatefulSet name>-<ordinal>`: the StatefulSet controller claims no
    pod of another name, whatever its labels), else None."""
    found = _POD_NAME.fullmatch(pod_name)
    if found is None or naming.group_name(name, int(found["group"])) != found["statefulset"]:
        return None
    return int(found["group"]), int(found["rank"])


def identity_labels(name: str, pod: Mapping[str, Any]) -> dict[str, str]:
    """The labels a pod a group's StatefulSet of deployment `name` made (`made_by_group`)
    lacks (absent, or changed) of those its StatefulSet claims it by (its selector:
    naming.group_selector_labels) and the client Service selects rank 0 by
    (naming.POD_INDEX_LABEL), with their values; {} when it has them all or is not such a
    pod. Changed by hand, they take the pod out of its group: its StatefulSet releases it
    (and, the name being taken, can never create that rank again), or the Service drops
    it."""
    at = made_by_group(name, pod)
    if at is None:
        return {}
    want = {**naming.group_selector_labels(name, at[0]), naming.POD_INDEX_LABEL: str(at[1])}
    labels = pod["metadata"].get("labels") or {}
    return {k: v for k, v in want.items() if labels.get(k) != v}


def taken(
    snapshot: Snapshot, found: Sequence[Mapping[str, Any]], reclaimed: Reclaimed
) -> dict[str, tuple[str, ...]]:
    """Of the pods `found` by the names their StatefulSets lack (`Plan.look_up`), those that
    hold a name of one and that it does not control and `reclaimed` leaves alone (made by
    hand, or by another controller), by the uid of that StatefulSet."""
    name = snapshot.sgld["metadata"]["name"]
    touched = {n for n, *_ in (*reclaimed.relabel, *reclaimed.delete)}
    statefulsets = {
        c["metadata"]["name"]: c["metadata"]["uid"]
        for c in snapshot.children
        if c["kind"] == "StatefulSet"
    }
    by_uid: dict[str, tuple[str, ...]] = {}
    for pod in found:
        at = ordinal(name, pod["metadata"]["name"])
        owner = naming.group_name(name, at[0]) if at is not None else ""
        if (
            owner in statefulsets
            and pod["metadata"]["name"] not in touched
            and not _controlled_by(pod, "StatefulSet", owner)
        ):
            uid = statefulsets[owner]
            by_uid[uid] = (*by_uid.get(uid, ()), pod["metadata"]["name"])
    return by_uid


@dataclass
class Reclaimed:
    """What `reclaim` decides for pods of ours changed by hand: `relabel` (name, uid, the
    labels to put back), `delete` (name, uid), `resync` (`resync_after` of those deleted),
    `events` (type, reason, message)."""

    relabel: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)
    resync: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)


def reclaim(snapshot: Snapshot, pods: Sequence[Mapping[str, Any]]) -> Reclaimed:
    """The pods among `pods` that a group's StatefulSet made (`made_by_group`), not being
    deleted, with no controller but that StatefulSet, whose identity labels were changed by
    hand (`identity_labels`). One its StatefulSet still owns lacks only the pod index: put
    back. One it released has its labels put back (the StatefulSet adopts it again) when it
    rejoins its group: the only rank of it, one of the members status.groups remembers while
    all the others run, or one of a group with no pod its StatefulSet owns (all released)
    and not restarted or rolled since it was made; else (its group restarted without it,
    or is restarting) it is deleted, which frees its name for a new pod of the group's
    incarnation. Never a pod someone else's controller owns."""
    name = snapshot.sgld["metadata"]["name"]
    memory = _groups_remembered(snapshot.sgld.get("status") or {})
    live = {
        p["metadata"]["uid"]
        for p in (*snapshot.pods, *pods)
        if not p["metadata"].get("deletionTimestamp")
    }
    statefulsets = {
        g: c
        for c in snapshot.children
        if c["kind"] == "StatefulSet" and (g := group_of(c)) is not None
    }
    # Groups with a live pod their StatefulSet owns: a released pod of a group with none
    # (all its pods released) is not one its group went on without, unless the group was
    # restarted or rolled since the pod was made (its StatefulSet makes no pod beside a
    # rank 0 whose name is taken: it creates them in order and stops at the first refused).
    going_on = {g for g, pods in _pods_by_group(snapshot).items() if live_pods(pods)}

    def replaced_since(group: int, pod: Mapping[str, Any]) -> bool:
        """Whether the group's pods were deleted (a restart, status.groups[].restarts, or a
        rollout step, Snapshot.replaced) after `pod` was created, or in its second (both
        times have whole seconds): a pod kept beside a new incarnation breaks it, one of
        the new incarnation deleted costs a restart more."""
        sts = statefulsets.get(group)
        times = [
            *(memory[group].restarts if group in memory else ()),
            snapshot.replaced.get(sts["metadata"]["uid"], "") if sts else "",
        ]
        made = str(pod["metadata"].get("creationTimestamp") or "")
        return any(t and parse_time(t) >= parse_time(made) for t in times if made)

    found = Reclaimed()
    for pod in pods:
        meta = pod["metadata"]
        at = made_by_group(name, pod)
        missing = identity_labels(name, pod)
        if at is None or not missing or meta.get("deletionTimestamp"):
            continue
        group = at[0]
        released = _orphaned(pod)
        if not released and not _controlled_by(pod, "StatefulSet", naming.group_name(name, group)):
            continue
        remembered = memory[group].members if group in memory else []
        sts = statefulsets.get(group)
        if (
            not released
            or sts is None
            or int((sts.get("spec") or {}).get("replicas") or 0) <= 1
            or (meta["uid"] in remembered and live.issuperset(remembered))
            or (group not in going_on and not replaced_since(group, pod))
        ):
            found.relabel.append((meta["name"], meta["uid"], missing))
            found.events.append(
                (
                    "Normal",
                    Reason.POD_RELABELED,
                    f"put back label(s) {naming.format_selector(missing)} on pod {meta['name']}"
                    f" of group {group}, changed by hand: "
                    + (
                        "its StatefulSet released it, and can create no pod of its name while "
                        "it exists"
                        if released
                        else "its StatefulSet and the client Service tell the group's pods by them"
                    ),
                )
            )
        else:
            found.delete.append((meta["name"], meta["uid"]))
            found.events.append(
                (
                    "Warning",
                    Reason.RELEASED_POD_DELETED,
                    f"deleted pod {meta['name']} of group {group}: its StatefulSet released it "
                    f"(label(s) {', '.join(sorted(missing))} changed by hand) and could never "
                    "create its name again, and its group went on without it",
                )
            )
    deleted = {uid for _, uid in found.delete}
    found.resync = resync_after(snapshot, [p for p in pods if p["metadata"]["uid"] in deleted])
    return found


def resync_after(snapshot: Snapshot, deleted: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The stored StatefulSets (name, uid) to have synced again once the pods `deleted` are:
    those of the pods among them that their StatefulSet released (no controller). Its
    controller is not told when an orphan goes, and may back off for minutes after failing
    to create the name it held (naming.RESYNC_ANNOTATION)."""
    name = snapshot.sgld["metadata"]["name"]
    stored = {
        c["metadata"]["name"]: c["metadata"]["uid"]
        for c in snapshot.children
        if c["kind"] == "StatefulSet" and not c["metadata"].get("deletionTimestamp")
    }
    found: dict[str, str] = {}
    for pod in deleted:
        at = made_by_group(name, pod)
        owner = naming.group_name(name, at[0]) if at is not None else ""
        if _orphaned(pod) and owner in stored:
            found[owner] = stored[owner]
    return sorted(found.items())


def _groups_remembered(status: Mapping[str, Any]) -> dict[int, GroupMemory]:
    """Each group's memory as status.groups keeps it, by group index."""
    return {m.index: m for m in map(GroupMemory.from_status, status.get("groups") or [])}


def _pods_size(pods: Sequence[Mapping[str, Any]]) -> int:
    """A group's size as its pods say, when no StatefulSet does: the group size in their
    container env (naming.GROUP_SIZE_ENV), else their highest rank + 1."""
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            for env in container.get("env") or []:
                if (
                    env.get("name") == naming.GROUP_SIZE_ENV
                    and str(env.get("value") or "").isdigit()
                ):
                    return int(env["value"])
    return max((rank(p) for p in pods), default=-1) + 1


def _orphaned(pod: Mapping[str, Any]) -> bool:
    """A pod no controller owns and that is not being deleted."""
    meta = pod["metadata"]
    refs = meta.get("ownerReferences") or []
    return not meta.get("deletionTimestamp") and not any(ref.get("controller") for ref in refs)


class _PodGate:
    """Holds back StatefulSets whose pod template changes until a server-side dry run of one
    of their pods is answered (`Snapshot.pod_check`) for the desired templates' intent, and
    for good while the API server refuses that pod (retried when `retry_at` comes, by the
    next StatefulSet that may take the new template). `held`: a stored StatefulSet kept its
    stored template (here, or waiting for its rollout turn), `new_groups`: groups whose
    StatefulSet is not created; a refusal is reported for either."""

    def __init__(self, snapshot: Snapshot, intent: str) -> None:
        self.intent, self.now = intent, snapshot.now
        check = snapshot.pod_check
        self.check = check if check is not None and check.intent == intent else None
        self.pod: Obj | None = None
        self.held = False
        # Groups of a scale-up whose StatefulSet is not created.
        self.new_groups: list[int] = []

    def admits(self, obj: Mapping[str, Any], existing: Mapping[str, Any] | None) -> bool:
        if existing is not None and template_hash(existing) == template_hash(obj):
            return True
        check = self.check
        if isinstance(check, Admitted):
            return True
        if check is None or self.now >= check.retry_at:
            self.pod = self.pod or dry_run_pod(obj)
        self.hold(obj, existing)
        return False

    def hold(self, obj: Mapping[str, Any], existing: Mapping[str, Any] | None) -> None:
        """This StatefulSet keeps its stored template, or is not created."""
        group = group_of(obj)
        if existing is None and group is not None:
            self.new_groups.append(group)
        else:
            self.held = True

    def report(
        self, result: Plan, wakeups: list[float], *, scaling: bool, created: Collection[int]
    ) -> None:
        """The dry run to ask, or why StatefulSets wait. `scaling`: groups are stored
        already (else the groups held back are a new deployment's, whose new template is
        what is not rolled out). `created`: groups whose StatefulSet the plan creates (on an
        older revision), coming up, not down."""
        if self.pod is not None:
            result.check_pod = (self.intent, self.pod)
        elif (self.held or self.new_groups) and isinstance(self.check, Refusal):
            down = [
                v.index
                for v in result.decision.views
                if not v.ready and v.index not in self.new_groups and v.index not in created
            ]
            subject = held_back_message(
                rolling=self.held or not scaling,
                down=down,
                new_groups=self.new_groups if scaling else [],
            )
            result.problems.append(pod_creation_problem(subject, self.check.message))
            wakeups.append((self.check.retry_at - self.now).total_seconds())


def held_back_message(*, rolling: bool, down: Sequence[int], new_groups: Sequence[int]) -> str:
    """What waits while the API server refuses, in a dry run, the pods of the desired
    templates: the new template of stored groups (`rolling`), saying whether groups are
    down meanwhile (`down`: not ready for another reason, e.g. their own template's pods
    refused too), and the groups of a scale-up (`new_groups`)."""
    parts = []
    if rolling:
        touched = (
            f", and group(s) {_listed(down)} are down meanwhile"
            if down
            else " (nothing running was touched)"
        )
        parts.append(NOT_ROLLED_OUT + touched)
    if new_groups:
        waits = "the scale-up waits for it" if rolling else SCALE_UP_HELD
        parts.append(f"{waits}: group(s) {_listed(new_groups)} are not created")
    return "; ".join(parts) + ": the API server refuses its pods"


def _listed(groups: Sequence[int]) -> str:
    return ", ".join(str(g) for g in groups)


def advisory_message(found: Sequence[str]) -> str:
    return bounded("; ".join(found))


def _advise(sgld: Mapping[str, Any], result: Plan) -> None:
    """A Warning event when the advice differs from the Advisory condition in status: new
    advice, or other advice (none left: the condition goes, silently)."""
    if not result.advice:
        return
    message = advisory_message(result.advice)
    shown = find((sgld.get("status") or {}).get("conditions") or [], ADVISORY)
    if shown is None or shown.get("message") != message:
        result.events.append(("Warning", Reason.SPEC_ADVICE, message))


def _stale(snapshot: Snapshot, desired: Sequence[Obj]) -> list[Mapping[str, Any]]:
    """Stored, owned StatefulSets and Services no longer desired (scale-down, mode change),
    not being deleted already."""
    uid = snapshot.sgld["metadata"]["uid"]
    keep = {key_of(o) for o in desired}
    return [
        c
        for c in snapshot.children
        if c["kind"] in PRUNED_KINDS
        and owned_by(c, uid)
        and key_of(c) not in keep
        and not c["metadata"].get("deletionTimestamp")
    ]


def _prune(
    snapshot: Snapshot,
    stale: Sequence[Mapping[str, Any]],
    kept: Collection[int],
    spec: SGLangDeploymentSpec,
    result: Plan,
) -> None:
    """Removes the `stale` children, highest group first, but those of the group a
    scale-down keeps (`kept`, `_kept_serving`, with a StatefulSet or only the pods one left
    behind) until a group that stays serves; and the pods a removed group's StatefulSet left
    behind (deleted by hand with --cascade=orphan, or released, not kept): no StatefulSet
    would ever delete them, nor any owner; those no cache holds are read by name
    (`Plan.look_up`). The Scaled event names the groups
    whose StatefulSet or pods it removes (not one whose StatefulSet someone else deleted,
    of which only the headless Service is left)."""
    staying = set(range(spec.replicas)) if spec.mode == "server" else set()
    removed = sorted(
        (c for c in stale if group_of(c) not in kept),
        key=lambda o: group_of(o) or 0,
        reverse=True,
    )
    left = {
        g: pods for g, pods in _orphans_by_group(snapshot).items() if g not in staying | set(kept)
    }
    orphans = [p for pods in left.values() for p in pods]
    result.delete += [(*key_of(c), c["metadata"]["uid"]) for c in (*removed, *orphans)]
    # A removed StatefulSet's pods that no cache holds (released: a label changed by hand)
    # are read by name: nothing else would delete them once it is gone (no owner), and they
    # hold their GPUs. Those found come back as its orphans (`reclaim`), pruned above.
    present = {p["metadata"]["name"] for p in snapshot.pods}
    result.look_up += [
        n
        for c in removed
        if c["kind"] == "StatefulSet"
        for r in range(int((c.get("spec") or {}).get("replicas") or 0))
        if (n := f"{c['metadata']['name']}-{r}") not in present
    ]
    groups = sorted(
        {*left, *(g for o in removed if o["kind"] != "Service" and (g := group_of(o)) is not None)},
        reverse=True,
    )
    if groups:
        result.events.append(
            (
                "Normal",
                Reason.SCALED,
                f"scaled to {spec.replicas} replica(s): removed group(s) "
                + ", ".join(str(g) for g in groups),
            )
        )


def _keep_records(
    snapshot: Snapshot, record: str | None, result: Plan, wakeups: list[float]
) -> None:
    """The ControllerRevisions (`revision`) that keep the recorded specs: one is created for
    each record that a stored StatefulSet, one written now or one the operator remembers a
    kept group by (`Snapshot.kept`) carries and that none keeps yet (first in
    `result.apply`, so no StatefulSet records a spec that nothing keeps); each is written
    once (what it keeps never changes; a refusal waits for its retry, its wakeup in
    `wakeups`). One is deleted once nothing needs it, as stored: no such StatefulSet records
    it, it is not `record` (the spec's; None: not recorded, or not in server mode), and no
    pod of the deployment (orphaned or not) runs a template it builds for the pod's group
    (pods a StatefulSet built from it would adopt)."""
    sgld = snapshot.sgld
    meta = sgld["metadata"]
    uid = meta["uid"]
    stored = {
        c["metadata"]["name"]: c
        for c in snapshot.children
        if c["kind"] == "ControllerRevision" and owned_by(c, uid)
    }
    statefulsets = [c for c in snapshot.children if c["kind"] == "StatefulSet" and owned_by(c, uid)]
    carried = [
        *statefulsets,
        *(o for o in result.apply if o["kind"] == "StatefulSet"),
        *snapshot.kept.values(),
    ]
    texts = {
        t
        for o in carried
        if (t := (o["metadata"].get("annotations") or {}).get(BUILT_FROM_ANNOTATION))
    }
    needed = {naming.revision_name(meta["name"], t): t for t in texts}
    created = []
    for name, text in sorted(needed.items()):
        # A record edited by hand into one this operator version cannot read is not kept.
        if name in stored or Recorded.parsed(text) is None:
            continue
        obj = revision(sgld, text)
        if not _waits_for_retry(snapshot, key_of(obj), obj, result, wakeups):
            created.append(obj)
    result.apply[:0] = created
    # The templates pods run that no stored StatefulSet holds with a record of its own (one
    # removed by hand records nothing): a revision building one stays.
    running = {
        (g, h) for p in snapshot.pods if (g := group_of(p)) is not None and (h := pod_hash(p))
    }
    running -= {(group_of(c), template_hash(c)) for c in statefulsets if Recorded.of(c)}
    current = naming.revision_name(meta["name"], record) if record is not None else None
    for name, rev in sorted(stored.items()):
        if name in needed or name == current or rev["metadata"].get("deletionTimestamp"):
            continue
        kept = Recorded.kept_by(rev) if running else None
        if kept is not None and any(
            template_hash(kept.statefulset(sgld, g) or {}) == h for g, h in running
        ):
            continue
        result.delete.append((*key_of(rev), rev["metadata"]["uid"]))


def _kept_serving(
    snapshot: Snapshot,
    spec: SGLangDeploymentSpec,
    staying: Mapping[int, Mapping[str, Any]],
    stale: Sequence[Mapping[str, Any]],
    *,
    desired: Mapping[int, str],
    pods: Mapping[int, Sequence[Mapping[str, Any]]],
) -> tuple[dict[int, Obj], dict[int, int], dict[int, Mapping[str, Any]], list[int]]:
    """The group a scale-down keeps. The rule, in this one place: while no group that stays
    (`staying`: their stored StatefulSets) serves (e.g. group 0 on a revision whose pods are
    refused, or restarting), and the spec asks for at least one copy, the lowest removed
    group (beyond spec.replicas) that has a StatefulSet (stored among `stale`, or one the
    last plan kept, deleted by hand since: `snapshot.kept`, rebuilt as last stored if it can
    be built again as it was; or one deleted with --cascade=orphan and not remembered, built
    from the recorded spec of the revision its pods run, `_adopting`) or pods its
    StatefulSet left behind (--cascade=orphan), and that either serves (groups.serves on its
    live pods, its StatefulSet's and the orphaned ones, at its size: `_sizes`, for orphaned
    pods alone `_pods_size`) or was kept before
    with no pod on an unreachable node. Kept before: the last plan kept it (`snapshot.kept`,
    in-process) or the stored status says so (status.groups lists it while
    status.observedGeneration is the resource's generation: a plan of this spec decided it,
    and only a kept group is listed beyond spec.replicas; so an operator restart forgets
    nothing). A kept group restarting (a pod deleted or evicted: minutes to load a model) is
    not serving meanwhile, and removing it then would take the deployment from serving to
    not serving for a spec that asks for fewer copies, not for none. Else (none serves or
    was kept) the lowest removed group with a StatefulSet that is restarting within its
    budget on a revision not known to fail (`restarting`: its pods re-created or loading,
    none with a problem): it is the only one that could serve soon, and it costs its
    resources until a group that stays serves. None once a group that
    stays serves, nor when scaled to zero (a mode change removes every group: not called).
    Returns the stored groups `_as_recorded` (`desired`: each group's pod-spec hash; `pods`:
    by group), their sizes (`_sizes`), the kept group's StatefulSet (decided as a group:
    healed, never rolled; none when only orphaned pods are left of it, which are then only
    spared), and the kept group (spared by `_prune`: its StatefulSet, Service and pods)."""
    going = {g: c for c in stale if c["kind"] == "StatefulSet" and (g := group_of(c)) is not None}
    # Those stored: a StatefulSet that re-creates its group's pods.
    stored = set(going)
    # A kept group's StatefulSet deleted by hand (or being deleted): as last stored.
    gone = {g: sts for g, sts in snapshot.kept.items() if g >= spec.replicas and g not in going}
    orphans = _orphans_by_group(snapshot)
    # A removed group's StatefulSet deleted with --cascade=orphan that no memory of the
    # operator holds (deleted while it was down, or after it restarted): as the recorded spec
    # of the revision its pods run builds it, if one does.
    left = {
        g: ran
        for g, ran in _orphaned_hashes(snapshot).items()
        if g >= spec.replicas and g not in going and g not in gone
    }
    history = _records(snapshot) if left else []
    gone.update(
        {
            g: obj
            for g, ran in left.items()
            if (obj := _adopting(snapshot.sgld, history, g, ran)) is not None
        }
    )
    recorded = _as_recorded(snapshot, {**staying, **going, **gone}, desired, pods)
    going.update({g: sts for g, sts in gone.items() if g in recorded})
    sizes = _sizes(spec.parallelism.nodes, {**staying, **going}, desired, recorded)

    def live(group: int) -> list[Mapping[str, Any]]:
        return live_pods([*pods.get(group, ()), *orphans.get(group, ())])

    status = snapshot.sgld.get("status") or {}
    memory = _groups_remembered(status)

    def serving(group: int) -> bool:
        size = sizes[group] if group in sizes else _pods_size(orphans.get(group, ()))
        remembered = memory[group].members if group in memory else ()
        pods = live(group)
        return serves(pods, size, snapshot.unreachable) and not broken(pods, size, remembered)

    if spec.replicas == 0 or any(serving(g) for g in staying):
        return recorded, sizes, {}, []
    generation = snapshot.sgld["metadata"].get("generation")
    current = generation is not None and status.get("observedGeneration") == generation
    listed = {int(g.get("index", -1)) for g in status.get("groups") or []} if current else set()
    before = {*snapshot.kept, *listed}
    removed = sorted({*going, *(g for g in orphans if g >= spec.replicas)})
    healing = Accepted.of(spec).healing

    def restarting(group: int) -> bool:
        """Coming back within its restart budget on a revision not known to fail: its
        StatefulSet stored, none of its pods with a problem (crash loop, image pull, no
        node fits...), not out of restart budget, its stored template's pods not refused
        at creation (status.groups[].failedCreate)."""
        mem = memory.get(group, GroupMemory(group))
        refused = mem.failed_create
        recent = [r for r in mem.restarts if snapshot.now - parse_time(r) < healing.restart_window]
        return (
            group in stored
            and len(recent) < healing.restart_budget
            and not (refused and refused.template == template_hash(going[group]))
            and not any(pod_problem(p) for p in live(group))
        )

    def lost(group: int) -> bool:
        return bool(on_lost(live(group), snapshot.unreachable))

    # What serves or was kept before first; else what is restarting (its model loading).
    chosen = next(
        (g for g in removed if serving(g) or (g in before and not lost(g))),
        next((g for g in removed if restarting(g) and not lost(g)), None),
    )
    if chosen is None:
        return recorded, sizes, {}, []
    return recorded, sizes, ({chosen: going[chosen]} if chosen in going else {}), [chosen]


def _pods_by_group(snapshot: Snapshot) -> dict[int, list[Mapping[str, Any]]]:
    """The pods of each group's StatefulSet. Only pods of our own StatefulSets: a pod that
    merely carries our labels (a copy of `sglang-operator render` applied by hand) is never
    restarted or counted. By the group their name gives (`ordinal`), not their labels: one
    whose labels were changed by hand is its StatefulSet's until it releases it, then an
    orphan (`_orphans_by_group`), a member either way."""
    name = snapshot.sgld["metadata"]["name"]
    by_group: dict[int, list[Mapping[str, Any]]] = {}
    for pod in snapshot.pods:
        at = ordinal(name, pod["metadata"]["name"])
        if at is not None and _controlled_by(pod, "StatefulSet", naming.group_name(name, at[0])):
            by_group.setdefault(at[0], []).append(pod)
    return by_group


def _observed(statefulset: Mapping[str, Any]) -> bool:
    """Whether the StatefulSet controller has seen the stored StatefulSet (status
    observedGeneration caught up): only then are pods recreated from its template."""
    seen = int((statefulset.get("status") or {}).get("observedGeneration") or 0)
    return seen >= int(statefulset["metadata"].get("generation") or 0)


def _heal_only(snapshot: Snapshot, invalid: str) -> Plan:
    """The plan for a spec the operator refuses: no rollout step; what runs is still healed
    (restarts, forced deletions on lost nodes) as the last accepted spec said
    (`Snapshot.accepted`; after an operator restart, the newest spec a StatefulSet records),
    on the groups and templates the StatefulSets store, at the sizes they were built with
    (`_sizes`). The only writes: a missing StatefulSet of a group of that spec that
    status.groups still tracks (the groups of the last spec the operator acted on: a record
    can be older, e.g. written before a held scale-down, or edited), built on the revision
    a sibling runs (`_on_old_revisions`), and a StatefulSet a field of which was changed by
    hand, put back from the spec it records (`_put_back`: no group is in its rollout turn)."""
    result = Plan(spec=None, invalid=invalid)
    statefulsets = _stored_statefulsets(snapshot, _ours(snapshot))
    recorded = _as_recorded(snapshot, statefulsets, {}, _pods_by_group(snapshot))
    sizes = _sizes(0, statefulsets, {}, recorded)
    records = [r for sts in statefulsets.values() if (r := Recorded.of(sts)) is not None]
    last = max(records, key=lambda r: r.generation, default=None)
    accepted = snapshot.accepted or (Accepted.of(last.spec) if last else Accepted())
    failures = _decide_groups(
        snapshot,
        result,
        replicas=max(sizes, default=-1) + 1,
        nodes=sizes,
        settings=accepted,
        statefulsets=statefulsets,
        roll=False,
    )
    if last is not None and last.spec.mode == "server":
        meta = snapshot.sgld["metadata"]
        stored = {key_of(c) for c in snapshot.children}
        tracked = {
            int(g.get("index", -1)) for g in (snapshot.sgld.get("status") or {}).get("groups") or []
        }
        missing = {
            key: g
            for g in range(last.spec.replicas)
            if g in tracked
            and (key := ("StatefulSet", meta["namespace"], naming.group_name(meta["name"], g)))
            not in stored
        }
        rebuilt = _on_old_revisions(
            snapshot, missing, statefulsets, result.decision, {}, history=_records(snapshot)
        )
        for key, obj in rebuilt.items():
            if obj is None or (
                (refusal := _refusal_of(snapshot, key, obj)) is not None
                and snapshot.now < refusal.retry_at
            ):
                continue
            result.apply.append(obj)
            result.reverted[key] = _rebuilt_how(snapshot, obj, "the spec is invalid")
    _carry_out(snapshot, statefulsets, failures, result)
    # Healing's own timers (a restart's backoff, a lost node's timeout) wake the operator.
    wakeups = _put_back(snapshot, recorded, result)
    if result.decision.requeue_after is not None:
        wakeups.append(result.decision.requeue_after)
    result.requeue_after = max(1.0, min(wakeups)) if wakeups else None
    return result


def _ours(snapshot: Snapshot) -> dict[Key, Mapping[str, Any]]:
    """The stored children this deployment may manage."""
    return {key_of(c): c for c in snapshot.children if may_manage(c, snapshot.sgld)}


def _stored_statefulsets(
    snapshot: Snapshot, ours: Mapping[Key, Mapping[str, Any]]
) -> dict[int, Mapping[str, Any]]:
    """Each group's stored StatefulSet among `ours`. One being deleted (a scale-down, then a
    scale-up before it was gone) is left out: neither rolled nor restarted, its pods go with
    it; its group shows no pods, so it counts as not ready and holds a rollout back; once it
    is gone it is created anew."""
    return {
        g: c
        for k, c in ours.items()
        if k[0] == "StatefulSet"
        and (g := group_of(c)) is not None
        and not c["metadata"].get("deletionTimestamp")
    }


def _as_recorded(
    snapshot: Snapshot,
    statefulsets: Mapping[int, Mapping[str, Any]],
    desired: Mapping[int, str],
    pods: Mapping[int, Sequence[Mapping[str, Any]]],
) -> dict[int, Obj]:
    """The stored StatefulSets that do not hold the desired template (`desired`: each
    group's pod-spec hash; groups not rolled yet, or kept by a scale-down), each as the
    operator built it: from the spec it records (`Recorded`), on its stored template, sized
    as `_sized_in_turn` says for the pods its group runs. When its record does not build
    its stored template (removed or edited by hand), the newest recorded spec that does
    (`_records`: its ControllerRevisions), so the record is put back too. Left out when
    none does (none recorded, or this operator version builds other pods from them): what
    it should hold is then unknown."""
    sgld = snapshot.sgld
    found = {}
    history: list[Recorded] | None = None
    for group, sts in statefulsets.items():
        stored = template_hash(sts)
        if group in desired and stored == desired[group]:
            continue
        record = Recorded.of(sts)
        # Grown: a group a held scale-up built on an older spec (`_on_old_revisions`).
        built = record.statefulset(sgld, group, grown=True) if record else None
        if built is None or template_hash(built) != stored:
            history = _records(snapshot) if history is None else history
            built = _adopting(sgld, history, group, {str(stored)})
        if built is not None:
            found[group] = _sized_in_turn(built, sts, pods.get(group, ()))
    return found


def _sizes(
    nodes: int,
    statefulsets: Mapping[int, Mapping[str, Any]],
    desired: Mapping[int, str],
    recorded: Mapping[int, Obj],
) -> dict[int, int]:
    """Each stored group's size (its pods when whole): `nodes` (the spec's) once its
    StatefulSet stores the desired template (`desired`: each group's pod-spec hash), else
    the size it was built with (`recorded`, `_as_recorded`: it runs the revision it ran;
    never a size changed by hand, which would make half a group count as serving), else
    its stored one."""
    return {
        g: nodes
        if g in desired and template_hash(sts) == desired[g]
        else int(((recorded.get(g) or sts).get("spec") or {}).get("replicas") or 0)
        for g, sts in statefulsets.items()
    }


def _put_back(snapshot: Snapshot, recorded: Mapping[int, Obj], result: Plan) -> list[float]:
    """The stored StatefulSets not written the desired template (`recorded`: as built,
    `_as_recorded`; the group in its rollout turn is written by `_writes`) whose fields the
    operator sets were changed by hand (a size, the update strategy, labels: `in_sync`),
    put back as built, on their own template: never rolled out of turn. A refusal waits
    for its retry, as every write does. Returns the wakeups (seconds) of those waits."""
    stored = {key_of(c): c for c in snapshot.children}
    wakeups: list[float] = []
    for group, obj in sorted(recorded.items()):
        key = key_of(obj)
        existing = stored.get(key)
        if (
            group == result.decision.turn
            or existing is None
            or existing["metadata"].get("deletionTimestamp")
            or in_sync(existing, obj)
        ):
            continue
        if not _waits_for_retry(snapshot, key, obj, result, wakeups):
            result.apply.append(obj)
    return wakeups


def _rebuilt_kept(snapshot: Snapshot, recorded: Mapping[int, Obj], result: Plan) -> list[float]:
    """The StatefulSet of each group a scale-down keeps (`recorded`: as built, `_as_recorded`)
    that is missing (deleted by hand, or with --cascade=orphan: its pods are then adopted),
    created again as it was: while no group that stays serves, the deployment keeps
    serving. A refusal waits for its retry. Returns the wakeups (seconds) of those waits."""
    stored = {key_of(c) for c in snapshot.children}
    wakeups: list[float] = []
    for obj in recorded.values():
        key = key_of(obj)
        if key not in stored and not _waits_for_retry(snapshot, key, obj, result, wakeups):
            result.apply.append(obj)
            result.reverted[key] = KEPT_REBUILT
    return wakeups


def _decide(
    snapshot: Snapshot,
    spec: SGLangDeploymentSpec,
    sent: Mapping[Key, Obj],
    statefulsets: Mapping[int, Mapping[str, Any]],
    result: Plan,
    *,
    sizes: Mapping[int, int],
    kept: Collection[int],
) -> list[tuple[str, str]]:
    """The groups' decision for a valid spec (`result.decision`), before anything is
    written: whose rollout turn it is decides which StatefulSet takes a new template. Each
    group is sized as `sizes` says (`_sizes`; a group not stored yet as the spec says);
    `kept`: the groups a scale-down keeps (`_kept_serving`), healed but never rolled.
    Returns the pod creation failures."""
    held = {
        group
        for key, obj in sent.items()
        if obj["kind"] == "StatefulSet"
        and (group := group_of(obj)) is not None
        and (refusal := _refusal_of(snapshot, key, obj)) is not None
        and snapshot.now < refusal.retry_at
    }
    groups = [*range(spec.replicas), *kept]
    return _decide_groups(
        snapshot,
        result,
        replicas=spec.replicas,
        nodes={g: sizes.get(g, spec.parallelism.nodes) for g in groups},
        settings=Accepted.of(spec),
        statefulsets=statefulsets,
        desired=_desired_hashes(sent),
        held=held,
        kept=kept,
        revisions=_current_revisions(sent, statefulsets),
    )


def _current_revisions(
    sent: Mapping[Key, Obj], statefulsets: Mapping[int, Mapping[str, Any]]
) -> dict[int, str]:
    """The current revision (status.updateRevision) of each stored StatefulSet whose template
    holds every field of the template `sent` for its group (a template changed by hand is
    put back first: its pods are judged against the revision put back, not the one that
    goes) and that the StatefulSet controller observed at its generation (its
    updateRevision is then that template's). Kept groups are not sent: never rolled."""
    built = {
        g: o for o in sent.values() if o["kind"] == "StatefulSet" and (g := group_of(o)) is not None
    }
    return {
        g: str(current)
        for g, sts in statefulsets.items()
        if g in built
        and _observed(sts)
        and (current := (sts.get("status") or {}).get("updateRevision"))
        and contains((sts.get("spec") or {}).get("template"), built[g]["spec"]["template"])
    }


def _decide_groups(
    snapshot: Snapshot,
    result: Plan,
    *,
    replicas: int,
    nodes: Mapping[int, int],
    settings: Accepted,
    statefulsets: Mapping[int, Mapping[str, Any]],
    desired: Mapping[int, str] | None = None,
    held: Collection[int] = (),
    roll: bool = True,
    kept: Collection[int] = (),
    revisions: Mapping[int, str] | None = None,
) -> list[tuple[str, str]]:
    """Restarts, the rollout turn and step, and forced deletions of the groups
    (groups.decide, `result.decision`), and why groups lack pods (returned; the StatefulSets
    short of a pod in `result.short_since`). `desired`: each group's desired pod-spec
    hash (None: none, the spec is invalid); `held`: groups whose StatefulSet the API server
    refuses until its retry; `roll`: False holds every rollout step (no valid spec);
    `kept`: groups a scale-down keeps (their StatefulSets among `statefulsets`), healed but
    never rolled; `revisions`: `_current_revisions`."""
    pods = _pods_by_group(snapshot)
    # A group's pods its StatefulSet left behind (deleted with --cascade=orphan, until the
    # one rebuilt adopts them; or released, a label of its selector changed by hand, until
    # `reclaim` puts it back) are its members still, not pods gone: else the group is
    # restarted while it serves, and a released pod keeps its name from the pod that would
    # replace it.
    orphans = _orphans_by_group(snapshot)
    pods.update({g: [*pods.get(g, ()), *orphans[g]] for g in orphans})
    status = snapshot.sgld.get("status") or {}
    memory = [GroupMemory.from_status(g) for g in status.get("groups") or []]
    creations = _pod_creation_failures(snapshot, statefulsets, pods, memory)
    decision = decide(
        replicas=replicas,
        nodes=nodes,
        stored_hashes={g: template_hash(sts) or "" for g, sts in statefulsets.items()},
        startup_timeout=settings.startup_timeout,
        pods_by_group={g: p for g, p in pods.items() if g in statefulsets},
        memory=memory,
        now=snapshot.now,
        healing=settings.healing,
        unreachable=snapshot.unreachable,
        roll=roll,
        desired_hashes=desired,
        # Every StatefulSet observed at its generation first: a rollout step taken while
        # one is not would pick groups in the order the StatefulSet controller observes
        # them (seen: 2, 0, 1), not from group 0 on.
        unobserved={g for g, sts in statefulsets.items() if g not in kept and not _observed(sts)},
        refused=creations.known,
        held=held,
        kept=kept,
        revisions=revisions,
    )
    if creations.wakeup is not None:
        decision.requeue_after = max(
            1.0, min(decision.requeue_after or creations.wakeup, creations.wakeup)
        )
    result.decision, result.short_since = decision, creations.short_since
    result.look_up, result.looked_up = creations.look_up, creations.looked_up
    return list(creations.problems.values())


def _carry_out(
    snapshot: Snapshot,
    statefulsets: Mapping[int, Mapping[str, Any]],
    failures: Sequence[tuple[str, str]],
    result: Plan,
) -> None:
    """The groups' decision (`result.decision`) as pod deletions, events and problems, and
    the pods of ours changed by hand that are not deleted otherwise put back (`reclaim`)."""
    decision = result.decision
    for action in decision.force_deletes:
        result.force_delete_pods += action.pod_names
        result.events.append(("Warning", action.kind, action.message))
    for action in decision.actions:
        result.delete_pods += action.pod_names
        # A kept group's StatefulSet built from its record, not stored yet, has no uid.
        uid = statefulsets[action.index]["metadata"].get("uid")
        if uid is not None:
            result.replaced[uid] = format_time(snapshot.now)
        kind = "Warning" if action.kind == Reason.GROUP_RESTARTED else "Normal"
        result.events.append((kind, action.kind, action.message))
    result.problems += failures
    going = {uid for *_, uid in result.delete} | {uid for _, uid in result.delete_pods}
    reclaimed = reclaim(snapshot, [p for p in snapshot.pods if p["metadata"]["uid"] not in going])
    result.relabel_pods += reclaimed.relabel
    result.delete_pods += reclaimed.delete
    # A pod its StatefulSet released, deleted (reclaimed, or with its group restarted).
    deleted = {uid for _, uid in result.delete_pods}
    result.resync = resync_after(
        snapshot, [p for p in snapshot.pods if p["metadata"]["uid"] in deleted]
    )
    result.events += reclaimed.events


@dataclass
class _Creations:
    """Groups whose pods the API server refused at creation (`_pod_creation_failures`).
    `known`: the refused template of each (status.groups[].failedCreate), `problems`: the
    Degraded reason of those whose stored template is the refused one, `short_since`: the
    StatefulSets short of a pod (Plan.short_since), `wakeup`: seconds until one of them
    has been short for LOOK_UP_AFTER or FAILED_CREATE_GRACE, `look_up` and `looked_up`: as
    Plan's."""

    known: dict[int, FailedCreate] = field(default_factory=dict)
    problems: dict[int, tuple[str, str]] = field(default_factory=dict)
    short_since: dict[str, tuple[str, str]] = field(default_factory=dict)
    wakeup: float | None = None
    look_up: list[str] = field(default_factory=list)
    looked_up: dict[str, LookedUp] = field(default_factory=dict)

    def wake(self, seconds: float) -> None:
        self.wakeup = min(self.wakeup or seconds, seconds)


def _pod_creation_failures(
    snapshot: Snapshot,
    statefulsets: Mapping[int, Mapping[str, Any]],
    pods_by_group: Mapping[int, Sequence[Mapping[str, Any]]],
    memory: Sequence[GroupMemory],
) -> _Creations:
    """Which groups' pods the API server refuses at creation (Pod Security admission, a
    missing PriorityClass, a quota, a webhook...), from three sources, by group:

    - a FailedCreate event of its StatefulSet not older than the group's newest pod nor than
      the operator's last deletion of the group's pods (`Snapshot.replaced`: an event from
      before that is about older pods), while the StatefulSet, observed at its generation,
      lacks a pod;
    - its StatefulSet, observed at its generation, lacking a pod for FAILED_CREATE_GRACE
      with no such event: kube-controller-manager's spam filter keeps 25 events per object
      (then one per 5 minutes) and the API server drops them after an hour, so after a few
      updates the events are gone while the pods are still refused;
    - the memory in status (`GroupMemory.failed_create`), which outlives both the events and
      the operator: kept until the group has all its pods of its stored template.

    Each group's StatefulSet's stored size and template decide: what its controller makes.
    A group whose remembered template is not its stored one (a new template written since)
    still counts as failing (`known`), so no group is moved onto a revision before its pods
    are made, but is not reported: its new template's pods are not known to be refused."""
    found = _Creations()
    remembered = {m.index: m.failed_create for m in memory}
    stored = {c["metadata"]["uid"] for c in snapshot.children}
    for group, sts in sorted(statefulsets.items()):
        meta = sts["metadata"]
        if meta.get("uid") not in stored:
            # A kept group's StatefulSet deleted by hand (as last stored, or built from its
            # record, with no uid): it makes no pods until rebuilt.
            continue
        template = template_hash(sts) or ""
        pods = pods_by_group.get(group, ())
        size = int((sts.get("spec") or {}).get("replicas") or 0)
        made = [p for p in pods if pod_hash(p) == template]
        if len(made) >= size:
            continue
        previous = remembered.get(group)
        # Until its controller has seen its size and template, a StatefulSet's missing pod
        # is not refused: a FailedCreate event is from before (e.g. replicas put back
        # after a hand scale).
        lacking = len(pods) < size and _observed(sts)
        why = _failed_create_event(snapshot, sts, pods) if lacking else None
        if lacking:
            uid = meta["uid"]
            short = snapshot.short_since.get(uid)
            since = parse_time(short[1]) if short and short[0] == template else snapshot.now
            found.short_since[uid] = (template, format_time(since))
            names = {p["metadata"]["name"] for p in pods}
            missing = [n for r in range(size) if (n := f"{meta['name']}-{r}") not in names]
            if why is None:
                why = _read_names(snapshot, uid, since, missing, found)
            due = since + FAILED_CREATE_GRACE
            if snapshot.now < due:
                found.wake((due - snapshot.now).total_seconds())
            elif why is None and not (previous and previous.template == template):
                why = (
                    f"pod(s) {', '.join(missing)} missing for "
                    f"{int(FAILED_CREATE_GRACE.total_seconds())}s and no FailedCreate event "
                    "left to say why (they stop after a burst and expire after an hour); "
                    "check what admits pods in the namespace (ResourceQuota, Pod Security, "
                    "admission policies and webhooks)"
                )
        if why is not None:
            found.known[group] = FailedCreate(template, bounded(why, MAX_API_MESSAGE))
        elif previous is not None:
            found.known[group] = previous
        else:
            continue
        settling = _quota_settling(snapshot, meta["uid"], why)
        if settling is not None:
            found.wake(settling)
        elif found.known[group].template == template:
            found.problems[group] = pod_creation_problem(
                f"StatefulSet {meta['name']} cannot create pods", found.known[group].message
            )
    return found


def _read_names(
    snapshot: Snapshot, uid: str, since: datetime, missing: Sequence[str], found: _Creations
) -> str | None:
    """Plans reading the names of the pods the StatefulSet `uid`, short of a pod `since`,
    lacks (`missing`; Plan.look_up): LOOK_UP_AFTER on, once per such time, and again each
    TAKEN_RECHECK while a name is taken by a pod it did not make (`LookedUp`). The reason
    the StatefulSet cannot create its pods when a read found a name taken, else None."""
    looked = snapshot.looked_up.get(uid)
    if looked is None or looked.since != format_time(since):
        if snapshot.now >= since + LOOK_UP_AFTER:
            # What a read finds is dealt with then (`reclaim`, `taken`).
            found.look_up += missing
            found.looked_up[uid] = LookedUp(format_time(since), read=format_time(snapshot.now))
        else:
            found.wake((since + LOOK_UP_AFTER - snapshot.now).total_seconds())
        return None
    found.looked_up[uid] = looked
    if not looked.taken:
        return None
    # Read again while taken: nothing tells the operator, nor the StatefulSet controller,
    # when that pod goes (reconcile stamps the StatefulSet then).
    again = parse_time(looked.read) + TAKEN_RECHECK
    if snapshot.now >= again:
        found.look_up += missing
        found.looked_up[uid] = replace(looked, read=format_time(snapshot.now))
        found.wake(TAKEN_RECHECK.total_seconds())
    else:
        found.wake((again - snapshot.now).total_seconds())
    return (
        f"pod(s) {', '.join(looked.taken)} exist but are not its own (made by hand, or by "
        "another controller): it cannot create pods of those names while they exist; "
        "delete them"
    )


# The quota admission plugin's words for usage over a hard limit (k8s
# plugin/pkg/admission/resourcequota/controller.go: "exceeded quota: %s, requested: %s,
# used: %s, limited: %s", each a sorted "resource=quantity" list joined by ",").
_EXCEEDED_QUOTA = re.compile(
    r"exceeded quota: [^,]*, requested: (?P<requested>\S*), used: \S*, limited: (?P<limited>\S*)"
)


def quota_exceeded_by_others(message: str) -> bool:
    """Whether a pod's refusal `message` is a quota exceeded only beside what runs: the
    deployment's own pods count in `used`, and a rollout frees a group's pods before it
    re-creates them, so such a pod may well fit then. One whose own request is over the
    quota's hard limit for some resource can never fit: a refusal, as is the plugin's other
    one ("failed quota: NAME: must specify ...", about the template). Quantities that do not
    parse count as fitting (the refusal is then not held)."""
    found = _EXCEEDED_QUOTA.search(message)
    if found is None:
        return False
    requested, limited = (
        dict(item.split("=", 1) for item in found[group].split(",") if "=" in item)
        for group in ("requested", "limited")
    )
    for resource, amount in requested.items():
        with suppress(ValueError, ArithmeticError):
            if resource in limited and parse_quantity(amount) > parse_quantity(limited[resource]):
                return False
    return True


def _quota_settling(snapshot: Snapshot, uid: str, why: str | None) -> float | None:
    """Seconds until a FailedCreate of a StatefulSet's pods (`why`) is reported, when it may
    be the quota's usage of the pods the operator itself deleted (to restart or roll their
    group; `Snapshot.replaced`) that the quota controller has not released yet: a quota
    exceeded only beside what runs (`quota_exceeded_by_others`), FAILED_CREATE_GRACE after
    that deletion. The StatefulSet controller re-creates the pods at once and retries a
    refused one within seconds. Meanwhile the group counts as failing (no other group goes
    onto its revision). None: reported now."""
    replaced = snapshot.replaced.get(uid)
    if why is None or replaced is None or not quota_exceeded_by_others(why):
        return None
    due = parse_time(replaced) + FAILED_CREATE_GRACE
    return (due - snapshot.now).total_seconds() if snapshot.now < due else None


def _failed_create_event(
    snapshot: Snapshot, sts: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]
) -> str | None:
    """The message of the StatefulSet's newest FailedCreate event if it is not older than
    the group's newest pod nor than the operator's last deletion of its pods."""
    failure = snapshot.failed_creates.get(sts["metadata"]["uid"])
    if failure is None:
        return None
    since = max(
        (
            *(str(p["metadata"]["creationTimestamp"]) for p in pods),
            snapshot.replaced.get(sts["metadata"]["uid"], ""),
        ),
        key=lambda t: t[:19],
    )
    when, message = failure
    return message if when[:19] >= since[:19] else None


# ---- status ---------------------------------------------------------------------------------


def serving(spec: SGLangDeploymentSpec, decision: Decision) -> bool:
    """Every group ready on the current revision: what a benchmark may measure."""
    views = decision.views
    return (
        bool(views)
        and len(views) == spec.replicas
        and all(v.ready and not v.outdated and v.problem is None for v in views)
    )


def invalid_status(
    status: Mapping[str, Any],
    generation: int,
    message: str,
    now: str,
    decision: Decision | None = None,
) -> Obj:
    """Status of a spec the operator refuses: what ran keeps running, and why it waits.

    As for a child the API server refused (ApplyFailed): Ready keeps saying whether the
    deployment serves, Degraded=True carries the refusal. With the `decision` of the healing
    that goes on meanwhile (`_heal_only`), Ready, the counts and the groups' memory come from
    it; without one, Ready is the last observed Ready condition (False with reason
    InvalidSpec only when there is none yet). The phase is Degraded while groups serve or
    are being healed (the `decision` has groups: a restart takes a group's pods away for a
    moment, and the operator goes on), Failed when nothing serves and no group is left
    (PHASE_MEANING: the operator cannot go on)."""
    message = bounded(message)
    conditions = [
        Condition(PROGRESSING, "False", Reason.INVALID_SPEC, "waiting for a valid spec"),
        Condition(DEGRADED, "True", Reason.INVALID_SPEC, message),
    ]
    observed: Obj = {}
    if decision is not None and decision.views:
        views = decision.views
        conditions.insert(0, _ready_condition(len(views), views))
        observed = {
            "replicas": sum(1 for v in views if v.pods),
            "readyReplicas": sum(1 for v in views if v.ready),
            "groups": _groups_memory(decision),
        }
    elif decision is not None:
        # No StatefulSet is left: nothing serves, whatever the last status said.
        conditions.insert(0, Condition(READY, "False", Reason.INVALID_SPEC, message))
        observed = {"replicas": 0, "readyReplicas": 0}
    elif find(status.get("conditions") or [], READY) is None:
        conditions.insert(0, Condition(READY, "False", Reason.INVALID_SPEC, message))
    ready = bool(observed.get("readyReplicas", status.get("readyReplicas")))
    healed = decision is not None and bool(decision.views)
    return {
        **status,
        **observed,
        "observedGeneration": generation,
        "phase": "Degraded" if ready or healed else "Failed",
        "message": bounded(f"invalid spec: {message}"),
        "conditions": merge_conditions(status.get("conditions") or [], conditions, generation, now),
    }


def status_memory(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a status a later pass decides from, as opposed to what it observes again:
    the groups' memory (members, restarts, failedCreate; an empty entry counts as none;
    readiness left out), the benchmark's record and condition, the Advisory message and the
    reason of a Degraded True (a Warning event marks each new one: _advise,
    reconcile._publish), and the generation of a rollout under way (`_rollout_generation`:
    `status` reads it back). Two statuses with the same memory
    differ only in what the next pass derives again from its own snapshot (counts, messages,
    other conditions), so a write of one may be left to that pass."""
    conditions = status.get("conditions") or []
    groups = []
    for raw in status.get("groups") or []:
        kept = {k: v for k, v in raw.items() if k not in ("ready", "index") and v}
        if kept:
            groups.append((raw.get("index"), sorted(kept.items(), key=lambda kv: kv[0])))
    degraded = find(conditions, DEGRADED) or {}
    return (
        json.dumps(groups, sort_keys=True),
        json.dumps(status.get("benchmark"), sort_keys=True),
        json.dumps(find(conditions, runs.BENCHMARK), sort_keys=True),
        (find(conditions, ADVISORY) or {}).get("message"),
        degraded.get("reason") if degraded.get("status") == "True" else None,
        _rollout_generation(status),
    )


def same_memory(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a later pass decides the same from status `old` as from `new`, so that a
    write of `new` may be left to it: the same `status_memory` once each group whose members
    `new` forgets keeps `old`'s. A group's members are forgotten (groups._membership_failure)
    only when none of them runs any more or the group's size changed, and members none of
    which run, or of another size, are a past incarnation to a later pass as none are:
    neither is a replaced member (groups._replaced), so the write of each step of a group's
    return (pods gone, then some back) is not a write a later pass needs first."""
    kept = {g.get("index"): g.get("members") for g in old.get("groups") or [] if g.get("members")}
    groups = [
        {**g, "members": kept[g.get("index")]}
        if not g.get("members") and g.get("index") in kept
        else g
        for g in new.get("groups") or []
    ]
    return status_memory(old) == status_memory({**new, "groups": groups})


def _rollout_generation(status: Mapping[str, Any]) -> Any:
    """The generation whose rollout the status says is under way (Progressing RolloutStep
    or RolloutHeld), else None."""
    progressing = find(status.get("conditions") or [], PROGRESSING) or {}
    if progressing.get("reason") in (Reason.ROLLOUT_STEP, Reason.ROLLOUT_HELD):
        return progressing.get("observedGeneration")
    return None


def failed_status(status: Mapping[str, Any], generation: int, message: str, now: str) -> Obj:
    """Status when the cluster could not be written: the last known state, and why."""
    conditions = [Condition(DEGRADED, "True", Reason.APPLY_FAILED, message)]
    return {
        **status,
        "message": bounded(message),
        "conditions": merge_conditions(status.get("conditions") or [], conditions, generation, now),
    }


def _counted(
    replicas: int, views: Sequence[GroupView], kept: Sequence[GroupView] = ()
) -> tuple[int, str]:
    """How many groups serve, among the spec's (`views`) and those a scale-down keeps
    (`kept`), and 'N/M groups ready' of the `replicas` the spec asks for (the kept groups
    that serve named)."""
    ready = sum(1 for v in (*views, *kept) if v.ready)
    counted = f"{ready}/{replicas} groups ready"
    serving = [v.index for v in kept if v.ready]
    if serving:
        counted += f" (group(s) {_listed(serving)} kept by the scale-down)"
    return ready, counted


def _ready_condition(
    replicas: int, views: Sequence[GroupView], kept: Sequence[GroupView] = ()
) -> Condition:
    """Ready of a server: as many groups serve as the spec's `replicas`, of whichever
    revision: the spec's groups (`views`) and the groups a scale-down keeps serving while
    none of those does (`kept`: the endpoint is served by as many copies as asked for;
    Progressing says that the scale-down waits)."""
    if replicas == 0:
        return Condition(READY, "True", Reason.SCALED_TO_ZERO, "scaled to zero")
    ready, counted = _counted(replicas, views, kept)
    if ready >= replicas:
        return Condition(READY, "True", Reason.GROUPS_READY, counted)
    return Condition(READY, "False", Reason.GROUPS_NOT_READY, counted)


def _groups_memory(decision: Decision) -> list[Obj]:
    """status.groups: what must be remembered of each group decided (groups.GroupMemory),
    the groups a scale-down keeps too (`Decision.kept`; nothing is remembered of a group
    that goes), with whether it serves."""
    ready = {v.index: v.ready for v in (*decision.views, *decision.kept)}
    return [
        {
            "index": m.index,
            "ready": ready.get(m.index, False),
            "members": m.members,
            "restarts": m.restarts,
            **(
                {"failedCreate": {m.failed_create.template: m.failed_create.message}}
                if m.failed_create
                else {}
            ),
        }
        for m in decision.memory
    ]


def _server_conditions(
    spec: SGLangDeploymentSpec,
    decision: Decision,
    diagnostics: Sequence[tuple[str, str]],
    rolling: bool = False,
) -> tuple[str, Condition, Condition]:
    """Phase, Ready and Progressing of a server: Ready means as many groups serve as the
    spec asks for (`_ready_condition`, counting the groups a scale-down keeps,
    `Decision.kept`, which Progressing names). `rolling`: the last status said RolloutStep
    or RolloutHeld for this generation, so groups of the new revision that are not ready
    yet are the rollout's last step coming up (with replicas 1, the only one). A rollout
    is held (RolloutHeld, still Progressing: it has not finished) while a group of the new
    revision fails (`Decision.holding`) or the new template is not written (refused, or
    its pods refused in the dry run: `statefulset_refused`); Degraded says why."""
    views = decision.views
    kept = [v.index for v in decision.kept]
    outdated = [v.index for v in views if v.outdated]
    ready = _ready_condition(spec.replicas, views, decision.kept)
    _, counted = _counted(spec.replicas, views, decision.kept)
    stepping = any(a.kind == Reason.ROLLOUT_STEP for a in decision.actions)
    holding = [] if stepping else decision.holding
    held = not stepping and statefulset_refused(diagnostics)
    why_held = _why_held(holding, bool(diagnostics))

    if diagnostics:
        phase = "Degraded"
    elif ready.status == "True":
        # Serving every copy; a rollout between steps shows as Progressing, not in the phase.
        phase = "Ready"
    else:
        phase = "Initializing" if any(v.running for v in (*views, *decision.kept)) else "Pending"

    if outdated and (holding or held):
        progressing = Condition(
            PROGRESSING,
            "True",
            Reason.ROLLOUT_HELD,
            f"the rollout of the new revision is held: {why_held}; group(s) "
            f"{_listed(outdated)} still run the old one",
        )
    elif outdated:
        progressing = Condition(
            PROGRESSING,
            "True",
            Reason.ROLLOUT_STEP,
            f"rolling out the new revision; group(s) {_listed(outdated)} still run the old one",
        )
    elif rolling and ready.status == "False" and not decision.budget_exhausted:
        coming = _listed([v.index for v in views if not v.ready])
        progressing = (
            Condition(
                PROGRESSING,
                "True",
                Reason.ROLLOUT_HELD,
                f"the rollout of the new revision is held: {why_held} ({counted})",
            )
            if holding or held
            else Condition(
                PROGRESSING,
                "True",
                Reason.ROLLOUT_STEP,
                f"rolling out the new revision; group(s) {coming} coming up on it ({counted})",
            )
        )
    elif kept and (holding or held):
        # Every staying group is on the new revision and fails on it: a scale-down keeps an
        # old one serving, and the rollout is as held as before the scale-down.
        progressing = Condition(
            PROGRESSING,
            "True",
            Reason.ROLLOUT_HELD,
            f"the rollout of the new revision is held: {why_held} ({counted})",
        )
    elif ready.status == "False" and not decision.budget_exhausted:
        progressing = Condition(PROGRESSING, "True", Reason.RECONCILING, counted)
    else:
        progressing = Condition(PROGRESSING, "False", Reason.AS_EXPECTED, counted)
    gated = [v for v in views if v.gates and not v.ready]
    if gated and progressing.status == "True":
        names = sorted({g for v in gated for g in v.gates})
        waits = (
            f"group(s) {_listed([v.index for v in gated])} wait on schedulingGates "
            f"{', '.join(names)} (lifted by whatever set them, e.g. a queue such as Kueue)"
        )
        progressing = replace(progressing, message=f"{progressing.message}; {waits}")
    if kept:
        reason = progressing.reason if progressing.status == "True" else Reason.RECONCILING
        # One group is kept at a time; it restarts (its model loading) or is coming back.
        does = "serve(s)" if all(v.ready for v in decision.kept) else "is restarting"
        waits = (
            f"the scale-down to {spec.replicas} replica(s) keeps group(s) {_listed(kept)}, "
            f"which {does}, until a group that stays serves"
        )
        progressing = Condition(PROGRESSING, "True", reason, f"{progressing.message}; {waits}")
    return phase, ready, progressing


def _why_held(holding: Sequence[int], degraded: bool) -> str:
    """Why a rollout is held, in a few words; the Degraded condition has the details. Not
    `degraded`: a group fails only by pods refused at creation that are not reported yet
    (a quota's usage not released yet: `_quota_settling`)."""
    if holding and not degraded:
        return (
            f"group(s) {_listed(holding)} wait(s) for pods that the API server refused at "
            "creation, retried meanwhile"
        )
    if holding:
        return f"group(s) {_listed(holding)} fail(s) on it (see Degraded)"
    return "its pod template is not written (see Degraded)"


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


def status(
    current: Mapping[str, Any],
    *,
    generation: int,
    spec: SGLangDeploymentSpec,
    sgld: Mapping[str, Any],
    decision: Decision,
    problems: Sequence[tuple[str, str]],
    run: runs.RunState,
    now: str,
    advice: Sequence[str] = (),
) -> Obj:
    """The new status: conditions, phase, counts and the groups' memory; the groups a
    scale-down keeps while no group that stays serves (`decision.kept`) are named in
    Progressing.

    `replicas` and `readyReplicas` are observed counts (kstatus and the scale subresource
    read them so): groups with at least one pod, and groups serving, among the spec's and
    those a scale-down keeps (as a Deployment's counts exceed spec.replicas while it
    scales down, until the old pods are gone). The Advisory condition
    is there only while there is `advice`, the Benchmark condition only with a benchmark
    (mode server, benchmark enabled); Ready, Progressing and Degraded never depend on them.
    """
    meta = sgld["metadata"]
    views = decision.views
    diagnostics = list(problems)
    diagnostics += [(p.reason, p.message) for p in decision.budget_exhausted]
    diagnostics += [(p.reason, p.message) for p in decision.backoff]
    diagnostics += [
        (v.problem.reason, v.problem.message) for v in (*views, *decision.kept) if v.problem
    ]
    if run.offline_phase == "Failed":
        diagnostics.append((Reason.JOB_FAILED, run.offline_message))

    if spec.mode == "offline":
        phase, ready, progressing = _offline_conditions(run)
        if phase != "Failed" and problems:
            phase = "Degraded"
    else:
        phase, ready, progressing = _server_conditions(
            spec,
            decision,
            diagnostics,
            rolling=_rollout_generation(current) == generation,
        )
    if diagnostics:
        # Many groups with the same trouble: the first ones say enough.
        message = bounded("; ".join(m for _, m in diagnostics))
        degraded = Condition(DEGRADED, "True", diagnostics[0][0], message)
    else:
        degraded = Condition(DEGRADED, "False", Reason.AS_EXPECTED, "no problems found")

    conditions = [ready, progressing, degraded]
    if run.condition is not None:
        conditions.append(run.condition)
    if advice:
        conditions.append(Condition(ADVISORY, "True", Reason.SPEC_ADVICE, advisory_message(advice)))
    gone = set() if advice else {ADVISORY}
    if spec.mode != "server" or not spec.benchmark.enabled:
        gone.add(runs.BENCHMARK)
    staying = [c for c in current.get("conditions") or [] if c.get("type") not in gone]
    new: Obj = {
        **current,
        "observedGeneration": generation,
        "phase": phase,
        "message": degraded.message if diagnostics else ready.message,
        "conditions": merge_conditions(staying, conditions, generation, now),
        "replicas": sum(1 for v in (*views, *decision.kept) if v.pods),
        "readyReplicas": sum(1 for v in (*views, *decision.kept) if v.ready),
        "nodes": spec.parallelism.nodes,
        "gpus": spec.total_gpus,
        "endpoint": naming.client_endpoint(
            meta["name"], meta["namespace"], spec.server.port, spec.network.cluster_domain
        )
        if spec.mode == "server"
        else None,
        "selector": naming.server_selector(meta["name"]),
        "groups": _groups_memory(decision),
    }
    if run.benchmark is not None:
        new["benchmark"] = run.benchmark
    return new
