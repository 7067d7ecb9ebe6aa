"""Runs that finish: the serving benchmark Job and the offline Indexed Jobs (apply/observe).

A Job's pod template cannot change, and a benchmark must run once per spec generation, not
on every reconcile; so Jobs are not part of the desired-state apply loop. Each Job carries
the generation it ran for: a Job of an older generation is deleted and, once the server is
Ready again (benchmark) or at once (offline), a new one is created. While a finished Job
exists its pod's termination message is the truth for `status.benchmark`, so the status is
level-triggered like everything else; once the Job is gone the last result stays.

Jobs and pods are read from the caches (`jobs` by name, `pods` of the deployment). A Job is
written only when it is missing, and a results ConfigMap only once per finished run, through
`apply` (reconcile's applier: owner reference, intent hash, a refusal reported per object
and retried with backoff, like every child); the API is called directly only to delete a
stale Job and to read a finished run's log once.

The Benchmark condition is the serving benchmark's: an offline run reports through the phase
and Ready (its results land in status.benchmark all the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sglang_operator import benchmark, naming
from sglang_operator.api import SGLangDeploymentSpec
from sglang_operator.builders import CONTAINER_NAME
from sglang_operator.conditions import Condition, Reason, now_rfc3339, pod_creation_problem
from sglang_operator.kube import Kube, Ref
from sglang_operator.ownership import conflict, owned_by

BENCHMARK = "Benchmark"  # condition type, beside Ready/Progressing/Degraded
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"

Obj = dict[str, Any]
# Writes a child (reconcile's applier): the object as stored, or None when it was refused
# (reported in status, retried later) or belongs to someone else.
Apply = Callable[[Obj], Mapping[str, Any] | None]
# uid of a child -> (RFC 3339 time, message) of its newest FailedCreate event.
FailedCreates = Mapping[str, tuple[str, str]]


@dataclass
class RunState:
    """What the runs add to status; None leaves the current value as it is."""

    benchmark: Obj | None = None
    condition: Condition | None = None
    offline_phase: str | None = None
    offline_message: str = ""
    problems: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)


def _generation_of(job: Mapping[str, Any]) -> int | None:
    value = (job["metadata"].get("annotations") or {}).get(benchmark.GENERATION_ANNOTATION)
    return int(value) if value and value.isdigit() else None


def _finished(job: Mapping[str, Any]) -> str | None:
    """ "Complete" or "Failed" once the Job controller has decided, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _termination_message(pod: Mapping[str, Any] | None, container: str) -> str:
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            terminated = (cs.get("state") or {}).get("terminated") or {}
            return str(terminated.get("message") or "")
    return ""


def _succeeded_for(status: Mapping[str, Any], generation: int) -> bool:
    """status.benchmark already holds this generation's successful result (final)."""
    last = status.get("benchmark") or {}
    return last.get("generation") == generation and last.get("requestThroughput") is not None


def _finished_at(pod: Mapping[str, Any] | None) -> str:
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        finished = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            return str(finished)
    return str(((pod or {}).get("metadata") or {}).get("creationTimestamp") or now_rfc3339())


def _outcome(
    kube: Kube,
    sgld: Mapping[str, Any],
    *,
    apply: Apply,
    pod: Mapping[str, Any] | None,
    container: str,
    generation: int,
) -> tuple[Obj, Condition]:
    """status.benchmark and the Benchmark condition from a finished run's pod."""
    meta = sgld["metadata"]
    outcome = benchmark.read_termination_message(
        _termination_message(pod, container), generation=generation
    )
    if outcome.result is None:
        # The pod's finish time, not now: status must not change on every reconcile.
        failed = {"generation": generation, "completedAt": _finished_at(pod)}
        return failed, Condition(BENCHMARK, "False", Reason.BENCHMARK_FAILED, outcome.message)
    result = outcome.result
    log = kube.pod_log(meta["namespace"], pod["metadata"]["name"], container) if pod else None
    report = benchmark.read_result_log_line(log) if log else None
    if report is not None:
        # The full JSON and madengine's perf.csv row, where the pod log could be read.
        results = benchmark.results_configmap(meta["name"], meta["namespace"], report)
        if apply(results) is not None:
            result = result.model_copy(update={"results_config_map": results["metadata"]["name"]})
    summary = (
        f"{result.request_throughput} requests/s, {result.output_throughput} output tokens/s, "
        f"{result.completed} completed, {result.failed or 0} failed"
    )
    return result.wire(), Condition(BENCHMARK, "True", Reason.BENCHMARK_SUCCEEDED, summary)


def _report_changes(state: RunState, previous: Mapping[str, Any] | None) -> None:
    """An event when the Benchmark condition's reason or status changes."""
    cond = state.condition
    if cond is None or (
        previous is not None
        and previous.get("reason") == cond.reason
        and previous.get("status") == cond.status
    ):
        return
    kind = "Warning" if cond.reason == Reason.BENCHMARK_FAILED else "Normal"
    state.events.append((kind, cond.reason, cond.message))


def _pods_of(pods: Sequence[Mapping[str, Any]], job: str, index: str | None = None) -> Obj | None:
    """The newest pod of Job `job` (of completion index `index`, if given)."""
    mine = [
        p
        for p in pods
        if (labels := p["metadata"].get("labels") or {}).get(JOB_NAME_LABEL) == job
        and (index is None or labels.get(COMPLETION_INDEX_LABEL) == index)
    ]
    newest = max(mine, key=lambda p: p["metadata"]["creationTimestamp"], default=None)
    return dict(newest) if newest is not None else None


def _pod_creation_failure(
    job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], failed_creates: FailedCreates
) -> tuple[str, str] | None:
    """Why an unfinished Job has no pod: its pods are refused at creation (Pod Security
    admission, quota, a missing PriorityClass...), which the Job controller says only in
    FailedCreate events on the Job."""
    failure = failed_creates.get(str(job["metadata"].get("uid", "")))
    name = job["metadata"]["name"]
    if failure is None or _finished(job) or _pods_of(pods, name) is not None:
        return None
    return pod_creation_problem(f"Job {name} cannot create pods", failure[1])


@dataclass(frozen=True)
class Runs:
    """What the runs are decided from and written through: the deployment and its `spec`,
    its Jobs by name and its pods (from the caches), reconcile's `apply`, the current
    `status`, and the FailedCreate events of its children."""

    kube: Kube
    sgld: Mapping[str, Any]
    spec: SGLangDeploymentSpec
    jobs: Mapping[str, Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    apply: Apply
    status: Mapping[str, Any]
    failed_creates: FailedCreates


def serving_benchmark(runs: Runs, *, ready: bool, previous: Mapping[str, Any] | None) -> RunState:
    """Creates the benchmark Job once per generation after Ready; reads its result; says
    when its pod is refused at creation. `previous`: the Benchmark condition in status."""
    sgld, spec = runs.sgld, runs.spec
    meta = sgld["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    generation = int(meta.get("generation", 0))
    ref = Ref("Job", namespace, naming.benchmark_job_name(name))
    job = runs.jobs.get(ref.name)
    state = RunState()
    if job is not None and not owned_by(job, meta["uid"]):
        state.problems.append(conflict("Job", ref.name))
        return state
    if job is not None and job["metadata"].get("deletionTimestamp"):
        # Going away; its deletion event brings the next pass.
        return state
    stale = job is not None and (
        _generation_of(job) != generation or spec.mode != "server" or not spec.benchmark.enabled
    )
    if job is not None and stale:
        runs.kube.delete(ref, background=True)
        job = None
    if spec.mode != "server" or not spec.benchmark.enabled:
        return state

    recorded = (runs.status.get("benchmark") or {}).get("generation") == generation
    if job is None:
        if recorded or not ready:
            return state
        if runs.apply(benchmark.benchmark_job(spec, name, namespace, generation)) is None:
            return state
        state.condition = Condition(
            BENCHMARK,
            "Unknown",
            Reason.BENCHMARK_STARTED,
            f"running {benchmark.SERVING_MODULE} against the endpoint (generation {generation})",
        )
    elif (refused := _pod_creation_failure(job, runs.pods, runs.failed_creates)) is not None:
        state.problems.append(refused)
    elif _finished(job) and not _succeeded_for(runs.status, generation):
        # A success is final; a failure is read again while its Job exists (a termination
        # message is what the pod says, and the pod may still say it).
        pod = _pods_of(runs.pods, ref.name)
        state.benchmark, state.condition = _outcome(
            runs.kube,
            sgld,
            apply=runs.apply,
            pod=pod,
            container=benchmark.BENCHMARK_CONTAINER,
            generation=generation,
        )
    _report_changes(state, previous)
    return state


def offline_runs(runs: Runs) -> RunState:
    """One Indexed Job per replica group; the phase follows them, results from group 0
    (status.benchmark, no Benchmark condition); says when their pods are refused at
    creation."""
    sgld, spec = runs.sgld, runs.spec
    meta = sgld["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    generation = int(meta.get("generation", 0))
    state = RunState()
    wanted = (
        {naming.offline_job_name(name, g): g for g in range(spec.replicas)}
        if spec.mode == "offline"
        else {}
    )
    component = naming.COMPONENT_OFFLINE
    for old in runs.jobs.values():
        if (
            (old["metadata"].get("labels") or {}).get(naming.COMPONENT_LABEL) == component
            and owned_by(old, meta["uid"])
            and not old["metadata"].get("deletionTimestamp")
            and (old["metadata"]["name"] not in wanted or _generation_of(old) != generation)
        ):
            runs.kube.delete(Ref("Job", namespace, old["metadata"]["name"]), background=True)
    if not wanted:
        return state

    outcomes: list[str | None] = []
    for job_name, group in wanted.items():
        existing = runs.jobs.get(job_name)
        if existing is not None and not owned_by(existing, meta["uid"]):
            state.problems.append(conflict("Job", job_name))
            outcomes.append("Failed")
            continue
        if existing is not None and existing["metadata"].get("deletionTimestamp"):
            # The previous generation's Job is going away; its deletion event requeues us.
            outcomes.append(None)
            continue
        job = existing or runs.apply(
            benchmark.offline_job(spec, name, namespace, group, generation)
        )
        if job is None:
            # Refused (the reason is in runs.status; retried with backoff).
            outcomes.append(None)
            continue
        outcomes.append(_finished(job))
        if (refused := _pod_creation_failure(job, runs.pods, runs.failed_creates)) is not None:
            state.problems.append(refused)
        if group == 0 and _finished(job) and not _succeeded_for(runs.status, generation):
            pod = _pods_of(runs.pods, job_name, "0")
            state.benchmark, _ = _outcome(
                runs.kube,
                sgld,
                apply=runs.apply,
                pod=pod,
                container=CONTAINER_NAME,
                generation=generation,
            )

    done = sum(1 for o in outcomes if o == "Complete")
    if "Failed" in outcomes:
        state.offline_phase = "Failed"
        state.offline_message = (
            f"{outcomes.count('Failed')} of {len(outcomes)} offline run(s) failed: see "
            f"`kubectl logs job/{naming.offline_job_name(name, outcomes.index('Failed'))}`"
        )
    elif done == len(outcomes):
        state.offline_phase = "Succeeded"
        state.offline_message = f"{done} offline run(s) completed"
    else:
        state.offline_phase = "Initializing"
        state.offline_message = f"{done}/{len(outcomes)} offline run(s) completed"
    return state


def run_objects(spec: SGLangDeploymentSpec, name: str, namespace: str) -> Sequence[Obj]:
    """The long-lived objects runs need, applied with the server objects (written only when
    they differ): the headless Services of offline groups (so pruning keeps them) and the
    reporter script of offline runs and of the serving benchmark."""
    if spec.mode == "server":
        return [benchmark.reporter_configmap(name, namespace)] if spec.benchmark.enabled else []
    return [
        *(benchmark.offline_service(spec, name, namespace, g) for g in range(spec.replicas)),
        benchmark.reporter_configmap(name, namespace),
    ]
