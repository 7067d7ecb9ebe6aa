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

Status = Literal["True", "False", "Unknown"]


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
    ROLLOUT_COMPLETE = "RolloutComplete"
    # Self-healing.
    GROUP_RESTARTED = "GroupRestarted"
    GROUP_RESTART_BACKOFF = "GroupRestartBackoff"
    GROUP_RESTART_BUDGET_EXHAUSTED = "GroupRestartBudgetExhausted"
    # Diagnostics a user acts on.
    INVALID_SPEC = "InvalidSpec"
    UNSCHEDULABLE = "Unschedulable"
    OOM_KILLED = "OOMKilled"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    CRASH_LOOP = "CrashLoopBackOff"
    STARTUP_TIMEOUT = "StartupTimeout"
    CONFLICTING_OBJECT = "ConflictingObject"
    APPLY_FAILED = "ApplyFailed"
    # Offline mode and benchmarks.
    COMPLETED = "Completed"
    JOB_FAILED = "JobFailed"
    BENCHMARK_STARTED = "BenchmarkStarted"
    BENCHMARK_SUCCEEDED = "BenchmarkSucceeded"
    BENCHMARK_FAILED = "BenchmarkFailed"


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
                "message": cond.message,
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
