"""Benchmark and offline runs on the real control plane. kwok finishes a Job's pods at once
and writes no termination message, so the test plays the reporter's part: it puts the
message a real reporter writes on the finished pod, and checks what the operator makes of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Cluster
from kubernetes import client
from story import apply, condition, events, get_sgld, manifest, wait_ready, wait_reason

from sglang_operator import reporter
from sglang_operator.benchmark import BENCHMARK_CONTAINER, GENERATION_ANNOTATION
from sglang_operator.builders import CONTAINER_NAME
from sglang_operator.naming import benchmark_job_name, offline_job_name

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

Wait = Callable[..., Any]

SERVING_RESULT = {
    "request_throughput": 12.5,
    "output_throughput": 3200.0,
    "input_throughput": 6400.0,
    "total_throughput": 9600.0,
    "median_ttft_ms": 85.0,
    "p99_ttft_ms": 240.0,
    "median_itl_ms": 9.5,
    "p99_itl_ms": 31.0,
    "completed": 200,
    "duration": 16.0,
}


def finished_pod(kube: Any, namespace: str, selector: str, wait_until: Wait) -> Any:
    def done() -> Any:
        items = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=selector)
        return next((p for p in items.items if p.status.phase == "Succeeded"), None)

    return wait_until(done, timeout=90, what=f"a finished pod for {selector}")


def write_termination_message(kube: Any, pod: Any, container: str, message: str) -> None:
    """What the kubelet does when a container exits: its terminated state with the message."""
    statuses = [
        {
            "name": cs.name,
            "image": cs.image,
            "imageID": cs.image_id or "",
            "ready": False,
            "restartCount": cs.restart_count,
            "state": {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "message": message if cs.name == container else "",
                    "startedAt": pod.status.start_time.isoformat().replace("+00:00", "Z"),
                    "finishedAt": pod.status.start_time.isoformat().replace("+00:00", "Z"),
                }
            },
        }
        for cs in pod.status.container_statuses
    ]
    client.CoreV1Api(kube).patch_namespaced_pod_status(
        pod.metadata.name, pod.metadata.namespace, {"status": {"containerStatuses": statuses}}
    )


def summary_message(kind: str, result: dict[str, Any], num_prompts: int) -> str:
    context = reporter.Context(kind=kind, num_prompts=num_prompts)
    return reporter.termination_message(reporter.summarize(result, context))


def reported_throughput(kube: Any, namespace: str, name: str, wait_until: Wait) -> Any:
    """Waits for status.benchmark.requestThroughput (from a termination message)."""
    return wait_until(
        lambda: (
            get_sgld(kube, namespace, name)
            .get("status", {})
            .get("benchmark", {})
            .get("requestThroughput")
        ),
        timeout=60,
        what=f"status.benchmark of {name}",
    )


def jobs(kube: Any, namespace: str) -> list[Any]:
    items: list[Any] = client.BatchV1Api(kube).list_namespaced_job(namespace).items
    return items


def test_benchmark_runs_once_after_ready_and_lands_in_status(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("bench", nodes=1)
    obj["spec"]["benchmark"] = {"enabled": True, "numPrompts": 200}
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "bench")

    job_name = benchmark_job_name("bench")
    job = wait_until(
        lambda: next((j for j in jobs(kube, namespace) if j.metadata.name == job_name), None),
        timeout=60,
        what="the benchmark Job",
    )
    sgld = get_sgld(kube, namespace, "bench")
    ready_at = condition(sgld, "Ready")["lastTransitionTime"]
    created_at = job.metadata.creation_timestamp.isoformat().replace("+00:00", "Z")
    assert created_at >= ready_at
    assert job.metadata.annotations[GENERATION_ANNOTATION] == str(sgld["metadata"]["generation"])

    # kwok finished the pod without a message: a failed benchmark, serving unaffected.
    failed = wait_reason(kube, namespace, "bench", "Benchmark", "BenchmarkFailed")
    assert failed["status"] == "False"
    sgld = get_sgld(kube, namespace, "bench")
    assert sgld["status"]["phase"] == "Ready"
    assert condition(sgld, "Ready")["status"] == "True"
    assert condition(sgld, "Degraded")["status"] == "False"

    pod = finished_pod(kube, namespace, f"batch.kubernetes.io/job-name={job_name}", wait_until)
    write_termination_message(
        kube, pod, BENCHMARK_CONTAINER, summary_message("serving", SERVING_RESULT, 200)
    )
    bench = reported_throughput(kube, namespace, "bench", wait_until)
    assert bench == 12.5
    status = get_sgld(kube, namespace, "bench")["status"]
    assert status["benchmark"]["outputThroughput"] == 3200.0
    assert status["benchmark"]["p99TtftMs"] == 240.0
    assert status["benchmark"]["medianItlMs"] == 9.5
    assert status["benchmark"]["completed"] == 200
    assert status["benchmark"]["failed"] == 0
    assert status["benchmark"]["generation"] == sgld["metadata"]["generation"]
    assert condition(get_sgld(kube, namespace, "bench"), "Benchmark")["status"] == "True"
    printed = cluster.kubectl("get", "-n", namespace, "sgld", "bench", "-o", "wide").stdout
    assert "3200" in printed

    # Unrelated reconciles (a label on the resource, a child touched) run nothing again.
    cluster.kubectl("label", "-n", namespace, "sgld/bench", "touched=yes")
    cluster.kubectl("annotate", "-n", namespace, f"pod/{pod.metadata.name}", "touched=yes")
    uid = job.metadata.uid
    wait_until(
        lambda: get_sgld(kube, namespace, "bench")["metadata"]["labels"].get("touched"),
        timeout=10,
        what="label applied",
    )
    assert [j.metadata.uid for j in jobs(kube, namespace)] == [uid]

    # A new generation runs a new benchmark.
    obj["spec"]["benchmark"]["numPrompts"] = 100
    apply(cluster, namespace, obj)
    generation = get_sgld(kube, namespace, "bench")["metadata"]["generation"]
    new_job = wait_until(
        lambda: next(
            (
                j
                for j in jobs(kube, namespace)
                if j.metadata.uid != uid
                and j.metadata.annotations.get(GENERATION_ANNOTATION) == str(generation)
            ),
            None,
        ),
        timeout=90,
        what="a benchmark Job for the new generation",
    )
    assert new_job.metadata.name == job_name


def test_offline_mode_runs_indexed_jobs_and_succeeds(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Wait
) -> None:
    obj = manifest("batch", nodes=2)
    obj["spec"]["mode"] = "offline"
    obj["spec"]["offline"] = {"numPrompts": 64}
    apply(cluster, namespace, obj)

    job_name = offline_job_name("batch", 0)
    job = wait_until(
        lambda: next((j for j in jobs(kube, namespace) if j.metadata.name == job_name), None),
        timeout=60,
        what="the offline Indexed Job",
    )
    assert job.spec.completion_mode == "Indexed"
    assert (job.spec.completions, job.spec.parallelism) == (2, 2)
    apps = client.AppsV1Api(kube)
    assert not apps.list_namespaced_stateful_set(namespace).items

    wait_until(
        lambda: get_sgld(kube, namespace, "batch").get("status", {}).get("phase") == "Succeeded",
        timeout=90,
        what="phase Succeeded",
    )
    sgld = get_sgld(kube, namespace, "batch")
    assert condition(sgld, "Ready")["reason"] == "Completed"
    assert "endpoint" not in sgld["status"]

    pod = finished_pod(
        kube,
        namespace,
        f"batch.kubernetes.io/job-name={job_name},batch.kubernetes.io/job-completion-index=0",
        wait_until,
    )
    offline_result = {
        "request_throughput": 45.23,
        "output_throughput": 5789.12,
        "input_throughput": 11000.0,
        "total_throughput": 16789.12,
        "successful_requests": 64,
        "total_latency": 1.4,
    }
    write_termination_message(
        kube, pod, CONTAINER_NAME, summary_message("offline", offline_result, 64)
    )
    throughput = reported_throughput(kube, namespace, "batch", wait_until)
    assert throughput == 45.23
    finished = get_sgld(kube, namespace, "batch")["status"]
    assert finished["phase"] == "Succeeded"
    # The result is in status.benchmark; the Benchmark condition is the serving benchmark's.
    assert {c["type"] for c in finished["conditions"]} == {"Ready", "Progressing", "Degraded"}
    assert not events(kube, namespace, "BenchmarkSucceeded")
