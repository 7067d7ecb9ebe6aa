"""Status conditions in the `metav1.Condition` shape, and the reasons the operator uses.

One place writes conditions so that every one carries `observedGeneration` and so that
`lastTransitionTime` moves only when a condition's status flips (cert-manager's rule): tools
such as `kubectl wait`, kstatus and ArgoCD read these, and a time that moved on every
reconcile would make every status write look like news.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED)
# Present only while the spec gets advice (advice.py); never changes the three above.
ADVISORY = "Advisory"

Status = Literal["True", "False", "Unknown"]

# Far below the CRD's 32768 for condition messages, so a status write is never refused
# whatever the user wrote or the API server answered.
MAX_MESSAGE = 4096
_CUT = " ...(cut)"


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` cut to at most `limit` characters, marked where it was cut. Every message built
    from user input or from an API answer passes here before it reaches status or a log."""
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


class Reason:
    """CamelCase reasons shared by conditions and events, so a user can search one word."""

    # Lifecycle.
    RECONCILING = "Reconciling"
    CREATED = "Created"
    SCALED = "Scaled"
    GROUPS_READY = "GroupsReady"
    GROUPS_NOT_READY = "GroupsNotReady"
    SCALED_TO_ZERO = "ScaledToZero"
    AS_EXPECTED = "AsExpected"
    # Rollouts.
    ROLLOUT_STEP = "RolloutStep"
    ROLLOUT_HELD = "RolloutHeld"
    ROLLOUT_COMPLETE = "RolloutComplete"
    # Self-healing.
    GROUP_RESTARTED = "GroupRestarted"
    GROUP_RESTART_BACKOFF = "GroupRestartBackoff"
    GROUP_RESTART_BUDGET_EXHAUSTED = "GroupRestartBudgetExhausted"
    NODE_UNREACHABLE = "NodeUnreachable"
    POD_FORCE_DELETED = "PodForceDeleted"
    POD_RELABELED = "PodRelabeled"
    RELEASED_POD_DELETED = "ReleasedPodDeleted"
    # Diagnostics a user acts on.
    INVALID_SPEC = "InvalidSpec"
    UNSCHEDULABLE = "Unschedulable"
    OOM_KILLED = "OOMKilled"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    CRASH_LOOP = "CrashLoopBackOff"
    STARTUP_TIMEOUT = "StartupTimeout"
    CONFLICTING_OBJECT = "ConflictingObject"
    APPLY_FAILED = "ApplyFailed"
    POD_CREATION_FAILED = "PodCreationFailed"
    # Offline mode and benchmarks.
    COMPLETED = "Completed"
    JOB_FAILED = "JobFailed"
    BENCHMARK_STARTED = "BenchmarkStarted"
    BENCHMARK_SUCCEEDED = "BenchmarkSucceeded"
    BENCHMARK_FAILED = "BenchmarkFailed"
    # Advice on a valid spec (the Advisory condition); never a problem.
    SPEC_ADVICE = "SpecAdvice"


# An API server's answer quoted per refused object: enough for its reason, and several
# refused objects still fit one condition message.
MAX_API_MESSAGE = 512


def pod_creation_problem(subject: str, message: str) -> tuple[str, str]:
    """A Degraded reason for pods the API server refuses to create: `subject` (who cannot
    create which pods), then the API server's words, bounded by MAX_API_MESSAGE."""
    return Reason.POD_CREATION_FAILED, f"{subject}: {bounded(message, MAX_API_MESSAGE)}"


@dataclass(frozen=True)
class Advice:
    """What a reason means for the user, and what to do about it (docs/reference.md)."""

    meaning: str
    action: str


NOTHING = "Nothing."
# One entry per Reason value; a test fails for a reason without one.
ADVICE: dict[str, Advice] = {
    Reason.RECONCILING: Advice("The operator is creating or updating objects.", NOTHING),
    Reason.CREATED: Advice("An event: the operator created these objects.", NOTHING),
    Reason.SCALED: Advice("An event: copies were added or removed.", NOTHING),
    Reason.GROUPS_READY: Advice(
        "As many copies (groups) serve as spec.replicas asks for; during a scale-down that "
        "keeps a copy serving until one that stays does, that copy counts (the message "
        "names it).",
        NOTHING,
    ),
    Reason.GROUPS_NOT_READY: Advice(
        "Some copies do not serve yet (pods starting, the model loading).",
        "Wait; the Degraded condition says if something is wrong.",
    ),
    Reason.SCALED_TO_ZERO: Advice("replicas is 0: the resource stays, nothing runs.", NOTHING),
    Reason.AS_EXPECTED: Advice("No problem found, no change in progress.", NOTHING),
    Reason.ROLLOUT_STEP: Advice(
        "A spec change replaces whole groups, one at a time; the message names the groups "
        "still on the old revision.",
        "Nothing; the next group goes once the previous one is Ready again.",
    ),
    Reason.ROLLOUT_HELD: Advice(
        "On Progressing (still True: the rollout has not finished): the rollout cannot go on. "
        "A group on the new revision fails (pods refused at creation, crashing, "
        "unschedulable...), so no other group is moved onto it; or the new pod template is "
        "not written (the API server refuses the StatefulSet, or a dry run of its pods). The "
        "message names the groups still on the old revision, which keep serving.",
        "Read the Degraded condition: it says why. Fix the cause or change the spec back; "
        "the rollout goes on by itself once the cause is gone.",
    ),
    Reason.ROLLOUT_COMPLETE: Advice("Every group runs the current revision.", NOTHING),
    Reason.GROUP_RESTARTED: Advice(
        "A pod of a group failed, restarted or disappeared: the operator deleted all the "
        "group's pods so they start again together.",
        "Find the cause in the pod logs (`kubectl logs POD --previous`).",
    ),
    Reason.GROUP_RESTART_BACKOFF: Advice(
        "A group failed again and waits before its next restart (see Restart timing).",
        "Nothing yet; find the cause in the pod logs.",
    ),
    Reason.GROUP_RESTART_BUDGET_EXHAUSTED: Advice(
        "A group used its restart budget and is left alone until the window lets it restart again.",
        "Fix the cause, then change the spec (a new revision replaces the group) or delete "
        "the group's pods.",
    ),
    Reason.INVALID_SPEC: Advice(
        "The spec passed the CRD's checks but the operator refuses it; running objects are "
        "left untouched and Ready still says whether they serve.",
        "Fix every field the message names (it lists all it found).",
    ),
    Reason.UNSCHEDULABLE: Advice(
        "A pod cannot be placed; the message names the short resource, often amd.com/gpu. "
        "Or no scheduler has answered a pod for 30 s (no PodScheduled condition): the "
        "schedulerName it names does not run.",
        "Free GPUs, add nodes or lower gpu.perNode; check nodeSelector, tolerations, RDMA "
        "resources, an unbound PersistentVolumeClaim (`kubectl get pvc`) and that the device "
        "plugin runs (`kubectl describe node`); for a scheduler, its spelling in "
        "spec.schedulerName and that it runs.",
    ),
    Reason.OOM_KILLED: Advice(
        "A container used more host memory than its limit (resources.limits.memory; a "
        "memory-backed /dev/shm counts against it). GPU memory is another matter: running "
        "out of it makes SGLang exit with an error in its log (CrashLoopBackOff).",
        "Raise resources.limits.memory or remove the limit. For GPU memory, lower "
        "server.memFractionStatic or server.contextLength, or use more GPUs (tp).",
    ),
    Reason.IMAGE_PULL_FAILED: Advice(
        "The image cannot be pulled.",
        "Check spec.image and, for a private registry, imagePullSecrets. The ROCm images "
        "are large: pre-pull them on air-gapped nodes.",
    ),
    Reason.CRASH_LOOP: Advice(
        "SGLang exits soon after it starts, again and again.",
        "`kubectl logs POD --previous`. Common causes: tp not dividing the model's "
        "attention heads (docs/models.md), --trust-remote-code missing, a gated model "
        "without hfTokenSecret, GPU memory too small.",
    ),
    Reason.STARTUP_TIMEOUT: Advice(
        "A group was not ready probes.startupTimeoutSeconds after its pods started.",
        "Multi-node: check that rank 0's DNS name resolves and network.ncclSocketIfname "
        "names a real interface (NCCL_DEBUG=INFO in env shows RCCL's choice). Slow "
        "downloads: use a weights cache or raise the timeout.",
    ),
    Reason.CONFLICTING_OBJECT: Advice(
        "An object the operator would create exists and is not its own.",
        "Rename the deployment or remove the other object; the operator never touches what "
        "it does not own.",
    ),
    Reason.APPLY_FAILED: Advice(
        "The API server refused an object the operator wrote (the message names it and "
        "quotes the API server), or could not be reached. Nothing that runs is deleted for "
        "it: a group is rolled only once its StatefulSet as stored carries the new revision. "
        "Retried with backoff (5 s doubling to 5 min), at once when the spec changes.",
        "Read the message: often an admission policy or webhook, an invalid label value, a "
        "field inside affinity the API server does not know, or an immutable field (a "
        "PersistentVolumeClaim's size or class).",
    ),
    Reason.POD_CREATION_FAILED: Advice(
        "Pods are refused at creation (Pod Security admission, a missing PriorityClass, a "
        "quota, a webhook): either a new pod template, which the operator creates once as a "
        "server-side dry run before writing it (then nothing is rolled out and what runs is "
        "untouched, the groups of a scale-up are not created, and the message names groups "
        "that are down meanwhile; asked again with backoff; an exceeded quota is not held "
        "back, since a rollout frees a group's pods first), or a StatefulSet, benchmark or "
        "offline Job that "
        "was accepted (the message quotes its FailedCreate event, remembered in "
        "status.groups[].failedCreate until the group has its pods, since the events stop "
        "after a burst and expire; a StatefulSet short of a pod 30 s after it observed its "
        "template counts as refused with no event; one whose pod's name is taken by a pod it "
        "did not make, which it never reports, is named 5 s on; a quota exceeded right after "
        "the operator "
        "deleted a group's pods, whose usage the quota controller releases a moment later, "
        "is reported only if it lasts 30 s). An unknown schedulerName "
        "is not refused: its pods stay Pending (Unschedulable).",
        "Fix the cause the message names (`kubectl get events --field-selector "
        "reason=FailedCreate`).",
    ),
    Reason.NODE_UNREACHABLE: Advice(
        "A pod of the group is on a node that stopped reporting (Ready Unknown) or was "
        "deleted; the group is restarted.",
        "Nothing: the pod is force-deleted after healing.unreachableNodeTimeoutSeconds (a "
        "deleted node's at once). Check the node (`kubectl describe node`).",
    ),
    Reason.POD_FORCE_DELETED: Advice(
        "Event: a pod on an unreachable or deleted node was force-deleted so its group can "
        "be recreated on healthy nodes.",
        NOTHING,
    ),
    Reason.POD_RELABELED: Advice(
        "Event: labels by which a group's StatefulSet claims its pods (its selector) or the "
        "client Service finds rank 0 (the pod index) were changed by hand on a pod and were "
        "put back. A StatefulSet's pod cannot leave it: one it released keeps its name, and "
        "the StatefulSet could never create that rank again.",
        "Nothing. To take a pod out of service, delete it: its group restarts.",
    ),
    Reason.RELEASED_POD_DELETED: Advice(
        "Event: a pod its StatefulSet released (a label of its selector changed by hand) "
        "was deleted: its group had restarted without it, and it held the name of the pod "
        "that replaces it.",
        NOTHING,
    ),
    Reason.COMPLETED: Advice("mode offline: every offline run completed.", NOTHING),
    Reason.JOB_FAILED: Advice(
        "mode offline: an offline run's Job failed.",
        "`kubectl logs job/NAME-offline-0`; change the spec to run again.",
    ),
    Reason.BENCHMARK_STARTED: Advice(
        "On the Benchmark condition: the benchmark Job runs.", NOTHING
    ),
    Reason.BENCHMARK_SUCCEEDED: Advice(
        "On the Benchmark condition: results are in status.benchmark and the results ConfigMap.",
        NOTHING,
    ),
    Reason.BENCHMARK_FAILED: Advice(
        "On the Benchmark condition: the benchmark Job failed. Serving is unaffected.",
        "`kubectl logs job/NAME-bench`.",
    ),
    Reason.SPEC_ADVICE: Advice(
        "On the Advisory condition (and a Warning event when it changes): the spec is valid and "
        "runs, but slower or more fragile than likely meant (e.g. NCCL/RCCL over TCP sockets "
        "under hostNetwork without RDMA devices). Ready and Degraded are unaffected.",
        "Read the message; change the spec if the advice applies (the user guide's RDMA "
        "section), or leave it.",
    ),
}


def reasons() -> list[str]:
    """Every reason the operator uses, in the order `Reason` declares them."""
    return [v for k, v in vars(Reason).items() if k.isupper() and isinstance(v, str)]


@dataclass(frozen=True)
class Condition:
    """A condition as the operator decides it, before times are attached."""

    type: str
    status: Status
    reason: str
    message: str


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Iterable[Mapping[str, Any]],
    desired: Iterable[Condition],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Returns the new condition list: desired ones in order, then unrelated current ones.

    `lastTransitionTime` is kept from the current condition of the same type unless the
    status changed; conditions of other types (written by someone else) are left as they are.
    """
    by_type = {c.get("type"): c for c in current}
    merged: list[dict[str, Any]] = []
    for cond in desired:
        old = by_type.pop(cond.type, None)
        keep_time = old is not None and old.get("status") == cond.status
        merged.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": bounded(cond.message),
                "lastTransitionTime": old.get("lastTransitionTime", now)
                if old is not None and keep_time
                else now,
                "observedGeneration": generation,
            }
        )
    merged.extend(dict(c) for c in by_type.values())
    return merged


def find(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
